"""Deleting published versions: retired at once, their bytes removed a grace period later.

A delete can not be made atomic with the alias documents it must not break: they are
other keys, an alias write may land long after its writer checked the version (a request
arrives up to 15 minutes after it was signed, by a clock up to 15 minutes off), and a
delete request may land after its caller gave up. So a delete is two steps:

- **Retire** (the delete call): each delete writes a tombstone of its own,
  ``retired/{number}/{token}``, for each version that no alias references. From then on
  the version is deleted for the library: listings leave it out, publish does not return
  it, an alias write refuses it (and one that wrote it meanwhile puts itself back). Its
  bytes stay. A delete that then reads an alias on the version takes its own tombstone
  back by emptying it (If-Match its ETag): never another delete's, so a delete that kept
  a version can not undo one that deleted it; emptied, not removed, so that its create,
  landing late, can not bring it back.
- **Collect** (any later delete or purge of the artifact, once ``GRACE`` has passed by
  the server's clock since a tombstone was written): the aliases are read again, and
  the bytes of each retired version that none references are deleted, then its
  tombstones. A retired version that an alias references then (an alias write that
  landed late, or another tool's) is kept: its old tombstones are taken back.

``GRACE`` is longer than any request can arrive late, so an alias write that checked
the version before its tombstone existed has landed by the time the aliases are read
again; only the bytes of versions no alias names at that read are removed, and a late
DeleteObjects removes only such bytes. docs/design/protocol.md has the argument.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from functools import partial

from ._keys import MAX_VERSION, Layout
from ._s3 import S3, ObjectInfo
from ._tasks import both, gather
from .errors import AioVersionedError, VersionConflictError

# Longer than a request can arrive late: SigV4 lets a request land 15 minutes after its
# signed time, which a client clock 15 minutes fast puts 30 minutes after it was sent.
GRACE = timedelta(hours=1)

AliasUsers = Callable[[], Awaitable[dict[int, list[str]]]]
"""Which aliases reference each version: every alias document read anew."""


def _in_force(info: ObjectInfo) -> bool:
    """A tombstone that was not taken back (emptied)."""
    return info.size > 0


async def is_retired(s3: S3, layout: Layout, name: str, number: int) -> bool:
    """Whether version ``number`` is deleted (its bytes may not be removed yet)."""
    return any(map(_in_force, await s3.list_all(layout.retired_prefix(name, number))))


class Deletion:
    """The delete protocol of one artifact's published versions."""

    def __init__(self, s3: S3, layout: Layout, name: str, alias_users: AliasUsers) -> None:
        self._s3 = s3
        self._layout = layout
        self._name = name
        self._alias_users = alias_users

    async def retired(self) -> set[int]:
        """The numbers of the deleted versions (their bytes may not be removed yet)."""
        return set((await self._tombstones())[0])

    async def _tombstones(
        self,
    ) -> tuple[dict[int, list[ObjectInfo]], list[ObjectInfo], datetime | None]:
        """The tombstones in force by version number, those taken back, and the server's
        time of the listing."""
        listed, now = await self._s3.list_timed(self._layout.retired_dir(self._name))
        in_force: dict[int, list[ObjectInfo]] = {}
        taken_back: list[ObjectInfo] = []
        for info in listed:
            try:
                number = self._layout.parse_retired_key(self._name, info.key)
            except ValueError:  # a foreign key names no version
                continue
            if _in_force(info):
                in_force.setdefault(number, []).append(info)
            else:
                taken_back.append(info)
        return in_force, taken_back, now

    async def delete(self, numbers: list[int], users: dict[int, list[str]]) -> dict[int, list[str]]:
        """Retire the versions among ``numbers`` that no alias references, and collect
        what earlier deletes retired; returns the aliases that kept the others.

        ``users`` are the aliases read before (step 1, the caller's). The steps, in
        this order:
        1. claims: the numbers stay taken once their versions are gone; a version in
           ``users`` is refused, nothing is written for it;
        2. the tombstones are listed (their ages, for step 5);
        3. a tombstone of this call's own for each of the others;
        4. the aliases are read again: an alias write that landed between step 1 and
           step 3 is seen, and this call takes its tombstone of that version back;
        5. collect, with the aliases of step 4, what the tombstones of step 2 older than
           GRACE by the server's clock of that listing retired.
        """
        await self._keep_claimed(numbers)
        (in_force, taken_back, now), written = await both(
            self._tombstones, partial(self._retire, [n for n in numbers if n not in users])
        )
        after = await self._alias_users()
        kept_now = [n for n in written if n in after]
        await gather(partial(self._take_back, *written[n]) for n in kept_now)
        if now is not None:
            # This call's own deletes are done: a failure here leaves the tombstones for
            # the next collection, and is not this call's.
            with contextlib.suppress(AioVersionedError):
                await self._collect(in_force, taken_back, now, after, written)
        kept = {n: users[n] for n in numbers if n in users}
        kept.update({n: after[n] for n in kept_now})
        return kept

    async def remove_now(self, numbers: list[int]) -> None:
        """Delete the versions' bytes and records at once, whatever references them (a
        forced delete), keeping their numbers claimed."""
        await self._keep_claimed(numbers)
        records = await self._records(set(numbers))
        await self._s3.delete(
            [self._layout.version_key(self._name, n) for n in sorted(numbers)] + records
        )

    async def _retire(self, numbers: list[int]) -> dict[int, tuple[str, str]]:
        """Write a tombstone of this call's own for each number: their keys and ETags."""

        async def retire(number: int) -> tuple[int, tuple[str, str]]:
            token = uuid.uuid4().hex
            key = self._layout.retired_key(self._name, number, token)
            written = await self._s3.put(key, token.encode(), if_none_match=True, token=token)
            return number, (key, written.etag)

        return dict(await gather(partial(retire, n) for n in numbers))

    async def _take_back(self, key: str, etag: str) -> None:
        """Empty the tombstone ``key`` while it has ``etag``: its version is listed again.

        Emptied, not deleted: its create, if it lands late, then finds the key taken.
        """
        with contextlib.suppress(VersionConflictError):  # taken back or collected meanwhile
            await self._s3.put(key, b"", if_match=etag)

    async def _collect(
        self,
        in_force: dict[int, list[ObjectInfo]],
        taken_back: list[ObjectInfo],
        now: datetime,
        users: dict[int, list[str]],
        own: dict[int, tuple[str, str]],
    ) -> None:
        """Remove the bytes of each version with a tombstone older than GRACE that no
        alias in ``users`` references, then its tombstones (``own``: this call's, which
        the listing may have missed); take back the old tombstones of the others; remove
        the tombstones taken back more than GRACE ago.

        A tombstone goes only once the DeleteObjects of its version was answered: a
        failure leaves it for the next collection. After GRACE no create of a tombstone
        taken back can land any more.
        """

        def aged(info: ObjectInfo) -> bool:
            return now - info.last_modified >= GRACE

        old = sorted(n for n, infos in in_force.items() if any(map(aged, infos)))
        unused = [n for n in old if n not in users]
        if unused:
            records = await self._records(set(unused))
            await self._s3.delete(
                [self._layout.version_key(self._name, n) for n in unused] + records
            )
        gone = {(info.key, info.etag) for n in unused for info in in_force[n]}
        gone.update(own[n] for n in unused if n in own)
        gone.update((info.key, info.etag) for info in taken_back if aged(info))
        kept = [info for n in old if n in users for info in in_force[n] if aged(info)]
        await both(
            partial(gather, [partial(self._s3.delete_if, *key_etag) for key_etag in gone]),
            partial(gather, [partial(self._take_back, info.key, info.etag) for info in kept]),
        )

    async def _records(self, numbers: set[int]) -> list[str]:
        """The keys of the sha256 records of the versions ``numbers``."""
        keys = []
        for info in await self._s3.list_all(self._layout.published_dir(self._name)):
            with contextlib.suppress(ValueError):
                if self._layout.parse_published_key(self._name, info.key)[0] in numbers:
                    keys.append(info.key)
        return keys

    async def _keep_claimed(self, numbers: list[int]) -> None:
        """Make sure each number has its claim before its version goes, so that no
        publish hands it out again (a version that ``versioned`` 1.x published has none).

        Lists only the claims from the highest number to the lowest (claims sort newest
        first), then claims what is missing.
        """
        if not numbers:
            return
        high, low = max(numbers), min(numbers)
        layout, name = self._layout, self._name
        start = layout.claim_key(name, high + 1) if high < MAX_VERSION else None
        claimed: set[int] = set()
        async for page in self._s3.pages(layout.claims_dir(name), start_after=start):
            for info in page:
                with contextlib.suppress(ValueError):
                    claimed.add(layout.parse_claim_key(name, info.key))
            if not page or min(claimed, default=high) <= low:
                break

        async def claim(number: int) -> None:
            with contextlib.suppress(VersionConflictError):  # claimed meanwhile: fine
                await self._s3.put(layout.claim_key(name, number), b"", if_none_match=True)

        await gather(partial(claim, n) for n in sorted(set(numbers) - claimed))
