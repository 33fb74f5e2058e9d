"""The blocking twins of the live-alias objects: a watch iterator and a follower.

A follower's background task must run in the task that entered it, for as long as the
``with`` block lasts, while the blocking repository runs one coroutine per call. So a
follower's whole life (enter, follow, exit) is one call, made by a helper thread that
waits in it; entering the ``with`` block waits until the follower is up, leaving it
cancels that call and waits for it to end. Reads (``alias``, ``pick``, ``path``) touch
only an immutable snapshot and need no hop to the event loop.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import anyio

from ._follow import AsyncAliasFollower
from ._keys import VersionLike
from ._models import Alias, Artifact

T = TypeVar("T")
Run = Callable[[Callable[[], Awaitable[Any]]], Any]
"""Runs a coroutine function on the repository's event loop and returns its result."""

POLL = 0.1  # waits wake up this often, so that Ctrl-C reaches the main thread
STOP_WAIT = 30.0


async def next_or_none(items: AsyncIterator[T]) -> T | None:
    """The next item, or None at the end (the items are never None)."""
    try:
        return await anext(items)
    except StopAsyncIteration:
        return None


class AliasFollower:
    """Blocking twin of :class:`AsyncAliasFollower`: use as ``with repo.follow_alias(...)
    as follower:``; ``alias``, ``error``, ``pick()`` and ``path()`` as there.

    ``on_change`` runs in a worker thread of the repository (an async one on its event
    loop). Closing the repository stops its followers.
    """

    def __init__(self, run: Run, follower: AsyncAliasFollower) -> None:
        self._run = run
        self._follower = follower
        self._entered: queue.Queue[BaseException | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._scope: anyio.CancelScope | None = None
        self._stopping = False
        self._failure: BaseException | None = None

    @property
    def name(self) -> str:
        """The artifact whose alias is followed."""
        return self._follower.name

    @property
    def alias(self) -> Alias:
        """The alias being served: the last one whose versions are all on disk."""
        return self._follower.alias

    @property
    def error(self) -> BaseException | None:
        """The last failure (a poll, a download, ``on_change``); None after a success.

        A failure that stopped the follower (a bug; its files are gone then) is shown
        here at once, and ``close()`` raises it.
        """
        return self._failure or self._follower.error

    def pick(self, key: str | None = None) -> Artifact:
        """The version to serve, by the alias's weights (see ``Alias.pick_version``)."""
        return self._follower.pick(key)

    def path(self, version: VersionLike) -> Path:
        """The verified local file of ``version`` (see ``AsyncAliasFollower.path``)."""
        return self._follower.path(version)

    def __enter__(self) -> AliasFollower:
        if self._thread is not None:
            raise RuntimeError("this follower is already open")
        self._stopping, self._scope = False, None
        self._thread = threading.Thread(
            target=self._live, name="aioversioned-follower", daemon=True
        )
        self._thread.start()
        try:
            while True:
                try:
                    failure = self._entered.get(timeout=POLL)
                    break
                except queue.Empty:
                    continue
        except BaseException:  # interrupted while the follower starts
            self._stop()
            raise
        if failure is not None:
            self._stop()
            self._failure = None
            raise failure
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop following and delete the files (idempotent)."""
        self._stop()
        failure, self._failure = self._failure, None
        if failure is not None:
            raise failure

    def _live(self) -> None:
        """The helper thread: the follower's whole life is this one call."""
        try:
            self._run(self._lifetime)
        except BaseException as err:  # handed to the thread that entered or exits
            self._failure = err
            self._entered.put(err)

    async def _lifetime(self) -> None:
        if self._stopping:
            return
        with anyio.CancelScope() as self._scope:
            async with self._follower:
                self._entered.put(None)
                await anyio.sleep_forever()

    async def _cancel(self) -> None:
        self._stopping = True
        if self._scope is not None:
            self._scope.cancel()

    def _stop(self) -> None:
        thread = self._thread
        if thread is None:
            return
        with contextlib.suppress(RuntimeError):  # the repository closed: it cancelled it
            self._run(self._cancel)
        deadline = time.monotonic() + STOP_WAIT
        while thread.is_alive() and time.monotonic() < deadline:
            thread.join(POLL)
        self._thread = None
