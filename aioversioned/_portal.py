"""The event loop thread behind the blocking Repository, and calls an interrupt cancels.

A blocking caller waits for a coroutine that runs on another thread's loop. When the
wait is interrupted (Ctrl-C raises KeyboardInterrupt in the main thread), abandoning
the coroutine would leave it running, an upload going on after the caller was told it
stopped. Instead the coroutine is cancelled on its loop and waited for, so what it does
on cancellation (an upload aborts its multipart upload in a shielded scope) is done
when the interrupt reaches the caller.

The kernel hands a process's SIGINT to any thread that does not block it, and Python
runs its handler in the main thread only when that thread runs Python code; a main
thread blocked on a lock would never see a Ctrl-C given to another thread. So the loop
thread (and the worker threads it starts) block SIGINT, and every wait wakes up every
``POLL`` seconds.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import queue
import signal
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import anyio
from anyio.from_thread import BlockingPortal

T = TypeVar("T")

# How long a cancelled call may take to end: its cleanup is one request (aborting a
# multipart upload), retried on faults. Past this the interrupt is raised anyway.
CANCEL_WAIT = 10.0
START_WAIT = 30.0
STOP_WAIT = 10.0
POLL = 0.1


def _result(future: concurrent.futures.Future[T]) -> T:
    """``future.result()``, returning to Python code every POLL seconds (see above)."""
    while not future.done():
        concurrent.futures.wait([future], timeout=POLL)
    return future.result()


def _get(handoff: queue.Queue[T], timeout: float) -> T:
    """``handoff.get(timeout=timeout)``, returning to Python code every POLL seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return handoff.get(timeout=min(POLL, max(0.0, deadline - time.monotonic())))
        except queue.Empty:
            if time.monotonic() >= deadline:
                raise


class _Call(Generic[T]):
    """One coroutine on the loop that another thread can cancel, then wait for.

    A cancelled ``concurrent.futures.Future`` is done at once; ``done`` is set only when
    the coroutine has ended, its shielded cleanup included.
    """

    def __init__(self, func: Callable[[], Awaitable[T]]) -> None:
        self._func = func
        self._scope: anyio.CancelScope | None = None
        self._cancelled: str | None = None
        self.done = threading.Event()

    async def run(self) -> T:
        try:
            if self._cancelled is None:
                with anyio.CancelScope() as self._scope:
                    return await self._func()
        finally:
            self.done.set()
        # Cancelled; only a thread that close() cancelled still waits for this.
        raise RuntimeError(self._cancelled)

    def cancel(self, reason: str) -> None:
        """Cancel the call (in the loop thread); one that has not started never will."""
        self._cancelled = reason
        if self._scope is not None:
            self._scope.cancel()
        else:
            self.done.set()


def _start() -> tuple[BlockingPortal, threading.Thread]:
    """Run an event loop with a portal in a daemon thread.

    A daemon thread (not anyio's ``start_blocking_portal``, whose worker is joined at
    interpreter exit) so a script that never closes its repository still exits.
    """
    handoff: queue.Queue[BlockingPortal | BaseException] = queue.Queue()
    loops: list[asyncio.AbstractEventLoop] = []

    async def serve() -> None:
        loops.append(asyncio.get_running_loop())
        async with BlockingPortal() as portal:
            handoff.put(portal)
            await portal.sleep_until_stopped()

    def run() -> None:
        if hasattr(signal, "pthread_sigmask"):  # POSIX: leave SIGINT to the main thread
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            anyio.run(serve, backend="asyncio")
        except BaseException as err:  # handed to the waiting constructor
            handoff.put(err)
        finally:
            _join_workers(loops)

    thread = threading.Thread(target=run, name="aioversioned-portal", daemon=True)
    thread.start()
    try:
        started = _get(handoff, START_WAIT)
    except BaseException:
        # Interrupted while the loop starts: stop it once it is up, leave no thread.
        with contextlib.suppress(queue.Empty):
            late = _get(handoff, STOP_WAIT)
            if isinstance(late, BlockingPortal):
                late.call(late.stop, True)
            thread.join(STOP_WAIT)
        raise
    if isinstance(started, BaseException):
        raise started
    return started, thread


def _join_workers(loops: list[asyncio.AbstractEventLoop]) -> None:
    """Wait (``STOP_WAIT`` seconds at most) for the worker threads of the loop to end.

    anyio tells its worker threads to stop when the loop ends, and each ends once the
    call it runs (a file read of a cancelled upload, say) returns: closing waits for
    that, so that nothing of the repository runs once ``close()`` returned. anyio keeps
    its workers' loop in their ``loop`` attribute (tests/test_interrupts.py checks that
    no worker outlives close).
    """
    deadline = time.monotonic() + STOP_WAIT
    for thread in threading.enumerate():
        if loops and getattr(thread, "loop", None) is loops[0]:
            thread.join(max(0.0, deadline - time.monotonic()))


async def _shielded(func: Callable[[], Awaitable[T]]) -> T:
    with anyio.CancelScope(shield=True):
        result = await func()
    return result


class LoopThread:
    """An event loop in its own thread that runs coroutines for blocking callers."""

    def __init__(self) -> None:
        self._calls: set[_Call[Any]] = set()
        self._lock = threading.Lock()
        self._portal, self._thread = _start()

    def run(self, func: Callable[[], Awaitable[T]]) -> T:
        """Run ``func()`` on the loop and return its result or raise its error.

        If the wait is interrupted (KeyboardInterrupt), the call is cancelled and waited
        for (at most ``CANCEL_WAIT`` seconds) before the interrupt is raised again. A
        second interrupt during that wait gives up waiting.
        """
        call = _Call(func)
        future: concurrent.futures.Future[T] | None = None
        with self._lock:
            self._calls.add(call)
        try:
            future = self._portal.start_task_soon(call.run)
            return _result(future)
        except BaseException as err:
            # An error of start_task_soon itself (the portal stopped, a call from the
            # loop thread) started nothing; an interrupt in it may have started the call.
            started = future is not None or not isinstance(err, Exception)
            if started and not call.done.is_set():
                self._cancel([call], "the call was interrupted")
            raise
        finally:
            with self._lock:
                self._calls.discard(call)

    def _cancel(self, calls: list[_Call[Any]], reason: str) -> None:
        def cancel_all() -> None:
            for call in calls:
                call.cancel(reason)

        with contextlib.suppress(RuntimeError):  # stopped: its task group cancels them
            self._portal.call(cancel_all)
        # Once the loop thread has ended, a call that has not ended never started.
        deadline = time.monotonic() + CANCEL_WAIT
        for call in calls:
            while not call.done.wait(POLL) and self._thread.is_alive():
                if time.monotonic() >= deadline:
                    return

    def close(self, aclose: Callable[[], Awaitable[None]]) -> None:
        """Cancel the calls still running, run ``aclose`` to its end, stop the thread.

        Returns once the thread ended, or after ``STOP_WAIT`` seconds at most.
        """
        try:
            with self._lock:
                running = list(self._calls)
            if running:
                self._cancel(running, "the Repository was closed during the call")
            self.run(lambda: _shielded(aclose))
        finally:
            with contextlib.suppress(RuntimeError):  # already stopped
                self._portal.call(self._portal.stop, True)
            self._thread.join(STOP_WAIT)
