"""Following an alias: its versions kept verified on local disk, swapped in when it moves.

A follower polls its alias (see :mod:`aioversioned._watch`). When the alias names new
versions, they are downloaded and verified first, in the background, while the old
ones keep being served; then the follower swaps its routing (the alias and the files of
the versions it names) in one assignment, so a pick sees the old routing or the new
one, never a mix; then ``on_change(old_alias, new_alias)`` runs. A failed download
changes nothing: the old routing stays, and the download is tried again with a backoff
(at once for a newer alias).

Retention: the files a swap retired stay on disk for ``retain`` seconds after that swap
(and until the follower closes at the latest), so a pick handed out before the swap can
still open its file during that time. A file opened before it is deleted stays readable
on POSIX systems. A retired version that the alias routes to again within that time is
swapped back in without a download (a rollback).
"""

from __future__ import annotations

import contextlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio
from anyio.abc import TaskGroup

from . import _callbacks, _keys, _validate
from ._copies import LocalCopies
from ._models import Alias, Artifact
from ._tasks import gather, task_group
from ._watch import AliasWatch, retry_delay
from .errors import AioVersionedError, InvalidInputError

logger = logging.getLogger("aioversioned")

OnChange = Callable[[Alias | None, Alias], Any]
"""``on_change(old_alias, new_alias)``: sync (run in a worker thread) or async."""
MAX_RETAIN = 86_400.0
TRANSIENT = (AioVersionedError, OSError)
"""Download failures a follower outlives (InvalidInputError aside, which is a bug)."""


def named_versions(alias: Alias) -> list[str]:
    """The versions an alias names: its version, and its secondary one if any."""
    if alias.secondary_version is None:
        return [alias.version]
    return [alias.version, alias.secondary_version]


@dataclass(frozen=True, eq=False)  # compared by identity: each swap makes a new one
class Routing:
    """An alias and the verified local copy of each version it names."""

    alias: Alias
    files: dict[str, tuple[Artifact, Path]]  # version -> (artifact, file)

    def holds(self) -> list[str]:
        """The sha256 of each held copy, once per version (a hold each)."""
        return [artifact.sha256 for artifact, _ in self.files.values()]


def check_on_change(on_change: object) -> OnChange | None:
    """``on_change`` as given, if it is None or a callable."""
    if on_change is not None and not callable(on_change):
        raise InvalidInputError("on_change", f"must be None or a callable, got {on_change!r}")
    return on_change


class AsyncAliasFollower:
    """Keeps the versions an alias names downloaded and verified, and follows its moves.

    Made by ``AsyncRepository.follow_alias``; use as ``async with repo.follow_alias(...)
    as follower:``. Entering reads the alias, downloads what it names, calls
    ``on_change(None, alias)`` and starts following in the background; errors on entry
    are raised (AliasNotFoundError, IntegrityError, ...). Later failures are logged
    (logger ``aioversioned``) and shown in :attr:`error`; the follower keeps serving
    what it has and keeps trying.
    """

    def __init__(
        self,
        copies: LocalCopies,
        watch: AliasWatch,
        *,
        on_change: OnChange | None = None,
        retain: float = 60.0,
        rng: random.Random | None = None,
    ) -> None:
        self._copies = copies
        self._watch = watch
        self._on_change = check_on_change(on_change)
        self._retain = _validate.seconds(retain, "retain", MAX_RETAIN)
        self._rng = rng or random.Random()
        self._routing: Routing | None = None
        self._retired: list[Routing] = []
        self._error: BaseException | None = None
        self._stack: contextlib.AsyncExitStack | None = None
        self._tasks: TaskGroup | None = None

    # -- what request handlers call (plain reads: safe from any thread) ------------------

    @property
    def name(self) -> str:
        """The artifact whose alias is followed."""
        return self._watch.name

    @property
    def alias(self) -> Alias:
        """The alias being served: the last one whose versions are all on disk."""
        return self._current().alias

    @property
    def error(self) -> BaseException | None:
        """The last failure (a poll, a download, ``on_change``); None after a success."""
        return self._error or self._watch.error

    def pick(self, key: str | None = None) -> Artifact:
        """The version to serve, by the alias's weights (see ``Alias.pick_version``).

        Without ``key`` the pick is random; with one (a user id) it is sticky. The
        version's file is on disk and verified: :meth:`path` gives it.
        """
        routing = self._current()
        return routing.files[routing.alias.pick_version(key)][0]

    def path(self, version: _keys.VersionLike) -> Path:
        """The verified local file of ``version``: one the alias names, or one a swap
        retired less than ``retain`` seconds ago. InvalidInputError for any other."""
        wanted = _keys.version_str(_keys.parse_version(version))
        current = self._current()
        for routing in (current, *reversed(self._retired)):
            if wanted in routing.files:
                return routing.files[wanted][1]
        kept = ", ".join(current.files)
        raise InvalidInputError("version", f"{wanted} is not on disk here (the alias names {kept})")

    def _current(self) -> Routing:
        if self._routing is None:
            raise RuntimeError("use 'async with repo.follow_alias(...) as follower:' first")
        return self._routing

    # -- life ------------------------------------------------------------------------------

    async def __aenter__(self) -> AsyncAliasFollower:
        if self._stack is not None:
            raise RuntimeError("this follower is already open")
        async with contextlib.AsyncExitStack() as stack:
            await self._copies.open()
            stack.push_async_callback(self._copies.close)
            stack.callback(self._watch.close)  # the shared poll's lease passes on
            first = await self._watch.first()
            self._routing = await self._prepare(first)
            stack.push_async_callback(self._release_all)
            if self._on_change is not None:
                await _callbacks.call(self._on_change, None, first)
            tasks = await stack.enter_async_context(task_group())
            tasks.start_soon(self._follow)
            self._tasks = tasks
            self._stack = stack.pop_all()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop following and delete the files (they are not served any more)."""
        stack, self._stack = self._stack, None
        if stack is None:
            return
        if self._tasks is not None:
            self._tasks.cancel_scope.cancel()
        await stack.aclose()

    async def _release_all(self) -> None:
        routings = [r for r in (self._routing, *self._retired) if r is not None]
        self._retired.clear()
        for routing in routings:
            for sha256 in routing.holds():
                self._copies.release(sha256)

    # -- following -------------------------------------------------------------------------

    async def _prepare(self, alias: Alias) -> Routing:
        """Hold a verified copy of every version ``alias`` names; all or none."""
        versions = named_versions(alias)
        held: list[tuple[Artifact, Path]] = []

        async def one(version: str) -> tuple[Artifact, Path]:
            found = await self._copies.acquire(self.name, version, alias.revision)
            held.append(found)
            return found

        try:
            found = await gather(partial(one, version) for version in versions)
        except BaseException:
            for artifact, _ in held:
                self._copies.release(artifact.sha256)
            raise
        return Routing(alias, dict(zip(versions, found, strict=True)))

    async def _follow(self) -> None:
        """Poll, and swap in each new alias once its versions are on disk."""
        failures, failed, retry_at = 0, None, 0.0
        while True:
            wanted = await self._watch.poll_when_due()
            if wanted is None or wanted.revision == self._current().alias.revision:
                continue
            if wanted.revision == failed and anyio.current_time() < retry_at:
                continue  # backing off this alias; a newer one is tried at once
            try:
                routing = await self._prepare(wanted)
            except InvalidInputError:
                raise  # a bug, not a fault: the follower stops
            except TRANSIENT as err:
                failures = failures + 1 if wanted.revision == failed else 1
                failed = wanted.revision
                delay = retry_delay(self._watch.interval, failures, self._rng.random())
                retry_at = anyio.current_time() + delay
                self._error = err
                logger.warning(
                    "follower of alias %r of %r: keeps serving %s; version download failed "
                    "(%d in a row), retrying: %s",
                    self._watch.alias,
                    self.name,
                    ", ".join(self._current().files),
                    failures,
                    err,
                )
                continue
            failures, failed, self._error = 0, None, None
            old = self._swap(routing)
            if self._on_change is not None:
                try:
                    await _callbacks.call(self._on_change, old.alias, routing.alias)
                except Exception as err:  # the user's code: reported, never fatal
                    self._error = err
                    logger.exception("follower of alias %r: on_change failed", self._watch.alias)

    def _swap(self, routing: Routing) -> Routing:
        """Serve ``routing`` from now on; the old one is retired and released later."""
        old, self._routing = self._current(), routing
        self._retired.append(old)
        if self._tasks is not None:
            self._tasks.start_soon(self._retire, old)
        return old

    async def _retire(self, routing: Routing) -> None:
        await anyio.sleep(self._retain)
        if any(r is routing for r in self._retired):  # not released by aclose() meanwhile
            self._retired.remove(routing)
            for sha256 in routing.holds():
                self._copies.release(sha256)
