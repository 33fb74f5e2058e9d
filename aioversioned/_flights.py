"""Single-flight reads: concurrent reads of one version share one download and its bytes.

A flight is one read of one version (a download, or a read of the content cache) that
every caller asking for that version meanwhile waits for; they all get the same
``bytes`` object, so fifty readers of a 16 MiB version hold 16 MiB, not 800.

Which flight a caller may join depends on whether the version can change:

* A numbered version never changes (its number is claimed once and never reused), so
  a caller joins any flight of it in progress: whatever that flight returns is the
  version's content.
* LATEST changes with every ``put_artifact``. A caller may only get bytes that were
  LATEST at some moment after it asked: after ``put_artifact`` returns, a read that
  starts must not return the previous content, even if a download of it is still in
  flight. So a LATEST caller joins only a flight that has not begun (sent no request
  yet); if the current one has begun, it joins or starts the next one, which begins
  when the current one ends. Readers that ask together share one download; readers
  that keep arriving during downloads make at most two flights of one key at a time
  (the one running and the one waiting), so memory stays at two copies.

A flight runs in its own asyncio task, not in the task of the caller that started it:
a caller that is cancelled stops waiting, and the download goes on for the others
(aiobotocore runs on asyncio only, so the library already needs asyncio; anyio has no
task that outlives its group). When the last waiter is gone, the flight is cancelled:
nobody wants its bytes. A flight that fails raises its error in every waiter, and is
forgotten at once, so the next call starts a new one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class _Flight(Generic[T]):
    def __init__(self, work: Callable[[], Awaitable[T]], after: asyncio.Task[T] | None) -> None:
        self.begun = False
        self.waiters = 0
        self.task = asyncio.get_running_loop().create_task(self._run(work, after))
        # Read the outcome even when every waiter left, so asyncio never logs it as lost.
        self.task.add_done_callback(lambda task: task.cancelled() or task.exception())

    async def _run(self, work: Callable[[], Awaitable[T]], after: asyncio.Task[T] | None) -> T:
        if after is not None:  # a LATEST flight begins once the one before it ended
            await asyncio.wait([after])
        self.begun = True
        return await work()


class Flights(Generic[T]):
    """The flights in progress of one repository, by key (see the module doc)."""

    def __init__(self) -> None:
        self._flights: dict[Hashable, _Flight[T]] = {}  # the newest flight of each key
        self._tasks: set[asyncio.Task[T]] = set()  # every flight not ended, for aclose

    async def share(self, key: Hashable, work: Callable[[], Awaitable[T]], *, fresh: bool) -> T:
        """The result of ``work()``, shared with the other callers of ``key`` meanwhile.

        ``fresh``: only join a flight that has not begun (LATEST). Raises what ``work``
        raises; the caller's own cancellation leaves the flight to the other waiters.
        """
        flight = self._flights.get(key)
        if flight is None or (fresh and flight.begun):
            flight = _Flight(work, None if flight is None else flight.task)
            self._flights[key] = flight
            self._tasks.add(flight.task)
            flight.task.add_done_callback(lambda _: self._forget(key, flight))
        flight.waiters += 1
        try:
            # shield: cancelling this waiter cancels its wait, not the shared task.
            return await asyncio.shield(flight.task)
        finally:
            flight.waiters -= 1
            if flight.waiters == 0 and not flight.task.done():
                self._forget(key, flight)  # first: a new caller must not join a cancelled one
                flight.task.cancel()

    def _forget(self, key: Hashable, flight: _Flight[T]) -> None:
        if flight.task.done():
            self._tasks.discard(flight.task)
        if self._flights.get(key) is flight:
            del self._flights[key]

    async def aclose(self) -> None:
        """Cancel the flights in progress and wait until they ended (the client closes next)."""
        tasks = list(self._tasks)
        self._flights.clear()
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
