"""Deleting published versions: retired at once, their bytes removed a grace period later.

A delete can not be made atomic with the alias documents it must not break: they are
other keys, an alias write may land long after its writer checked the version (a request
arrives up to 15 minutes after it was signed, by a clock up to 15 minutes off), and a
delete request may land after its caller gave up. So a delete is two steps:

- **Retire** (the delete call): a tombstone ``retired/{number}`` is written for each
  version that no alias references. From then on the version is deleted for the
  library: listings leave it out, publish does not return it, an alias write refuses
  it (and one that wrote it meanwhile puts itself back). Its bytes stay.
- **Collect** (any later delete or purge of the artifact, once ``GRACE`` has passed by
  the server's clock since the tombstone was written): the aliases are read again, and
  the bytes of each retired version that none references are deleted, then its
  tombstone. A retired version that an alias references then (an alias write that
  landed late) is kept: its tombstone is taken back and it is listed again.

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


async def is_retired(s3: S3, layout: Layout, name: str, number: int) -> bool:
    """Whether version ``number`` is deleted (its bytes may not be removed yet)."""
    return await s3.head(layout.retired_key(name, number)) is not None


class Deletion:
    """The delete protocol of one artifact's published versions."""

    def __init__(self, s3: S3, layout: Layout, name: str, alias_users: AliasUsers) -> None:
        self._s3 = s3
        self._layout = layout
        self._name = name
        self._alias_users = alias_users

    async def retired(self) -> tuple[dict[int, ObjectInfo], datetime | None]:
        """The tombstones by version number, and the server's time of the listing."""
        listed, now = await self._s3.list_timed(self._layout.retired_dir(self._name))
        found: dict[int, ObjectInfo] = {}
        for info in listed:
            with contextlib.suppress(ValueError):  # a foreign key names no version
                found[self._layout.parse_retired_key(self._name, info.key)] = info
        return found, now

    async def delete(self, numbers: list[int], users: dict[int, list[str]]) -> dict[int, list[str]]:
        """Retire the versions among ``numbers`` that no alias references, and collect
        what earlier deletes retired; returns the aliases that kept the others.

        ``users`` are the aliases read before (step 1, the caller's). The steps, in
        this order:
        1. claims: the numbers stay taken once their versions are gone; a version in
           ``users`` is refused, nothing is written for it;
        2. the tombstones are listed (their ages, for step 5);
        3. a tombstone for each of the others (a create: one there already is another
           delete's, and the version is deleted either way);
        4. the aliases are read again: an alias write that landed between step 1 and
           step 3 is seen, and the tombstone of its version is taken back (If-Match its
           own, so never another delete's);
        5. collect, with the aliases of step 4, the tombstones of step 2 older than
           GRACE by the server's clock of that listing.
        """
        await self._keep_claimed(numbers)
        (tombstones, now), written = await both(
            self.retired, partial(self._retire, [n for n in numbers if n not in users])
        )
        after = await self._alias_users()
        taken_back = [n for n in written if n in after]
        await gather(
            partial(self._s3.delete_if, self._layout.retired_key(self._name, n), written[n])
            for n in taken_back
        )
        if now is not None:
            old = {n: info for n, info in tombstones.items() if now - info.last_modified >= GRACE}
            # This call's own deletes are done: a failure here leaves the tombstones for
            # the next collection, and is not this call's.
            with contextlib.suppress(AioVersionedError):
                await self._collect(old, after)
        kept = {n: users[n] for n in numbers if n in users}
        kept.update({n: after[n] for n in taken_back})
        return kept

    async def remove_now(self, numbers: list[int]) -> None:
        """Delete the versions' bytes and records at once, whatever references them (a
        forced delete), keeping their numbers claimed."""
        await self._keep_claimed(numbers)
        records = await self._records(set(numbers))
        await self._s3.delete(
            [self._layout.version_key(self._name, n) for n in sorted(numbers)] + records
        )

    async def _retire(self, numbers: list[int]) -> dict[int, str]:
        """Write a tombstone for each number; the ETags of those this call wrote."""

        async def retire(number: int) -> tuple[int, str | None]:
            token = uuid.uuid4().hex  # the body: each tombstone's ETag is its own
            try:
                written = await self._s3.put(
                    self._layout.retired_key(self._name, number),
                    token.encode(),
                    if_none_match=True,
                    token=token,
                )
            except VersionConflictError:  # retired by another delete already
                return number, None
            return number, written.etag

        done = await gather(partial(retire, n) for n in numbers)
        return {number: etag for number, etag in done if etag is not None}

    async def _collect(self, old: dict[int, ObjectInfo], users: dict[int, list[str]]) -> None:
        """Remove the bytes of the retired versions in ``old`` that no alias in ``users``
        references, then their tombstones; take back the tombstones of the others.

        A tombstone goes only once the DeleteObjects of its version was answered: a
        failure leaves it for the next collection.
        """
        if not old:
            return
        unused = sorted(n for n in old if n not in users)
        if unused:
            records = await self._records(set(unused))
            await self._s3.delete(
                [self._layout.version_key(self._name, n) for n in unused] + records
            )
        await gather(partial(self._s3.delete_if, info.key, info.etag) for info in old.values())

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
