"""Alias history: one record per alias change, numbered in the order the server applied them.

Every alias document aioversioned writes carries its sequence number in its object
metadata: one more than the document it replaced, which the writer read first and
names in the write's condition (If-Match its ETag, or If-None-Match when there was
none). A conditional write can only replace the document it read, so the numbers form
one chain in the order the server applied the writes, whatever the clocks and however
slow each writer is. A document without a number (written by ``versioned`` 1.x) joins
the chain as the next number when aioversioned next changes the alias.

Record N (``.aioversioned/history/{alias}/{10**12 - N}``, newest first) describes the
document with sequence N: its target, revision, server time, and in its metadata the
token of the call that wrote it. Its content follows from the document alone, so
anyone who read the document can write the record (If-None-Match: the first copy
stays, and copies are equal). The writer of document N+1 makes sure record N exists
before it writes, so a replaced document is always recorded, even if its own writer
crashed before recording it. A deletion is a record without a target.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial

from ._keys import Layout
from ._models import Alias, AliasChange, parse_alias_change, parse_alias_document
from ._s3 import S3, TOKEN_KEY, ObjectInfo
from ._tasks import gather
from .errors import AioVersionedError, StorageError, VersionConflictError

SEQUENCE_KEY = "aioversioned-sequence"  # alias document metadata: its place in the chain
ALIAS_TOKEN_KEY = "aioversioned-alias-token"  # record metadata: the token of its document
_SEQUENCE_LIMIT = 10**12
_READ_BATCH = 16  # history records read at once by a point-in-time lookup


def revision(etag: str) -> str:
    """The public form of an ETag: without quotes."""
    return etag.strip('"')


@dataclass(frozen=True)
class AliasState:
    """A stored alias document as read: the alias, and what its object says of it."""

    alias: Alias
    info: ObjectInfo

    @property
    def sequence(self) -> int | None:
        """Its number in the chain; None for a document aioversioned did not number."""
        value = self.info.metadata.get(SEQUENCE_KEY, "")
        if value.isascii() and value.isdigit() and 1 <= int(value) < _SEQUENCE_LIMIT - 1:
            return int(value)
        return None

    @property
    def token(self) -> str | None:
        return self.info.metadata.get(TOKEN_KEY)


def change_of(alias: Alias, sequence: int, when: datetime) -> AliasChange:
    """The record of an alias document."""
    return AliasChange(
        name=alias.name,
        alias=alias.alias,
        sequence=sequence,
        update_at=when,
        version=alias.version,
        secondary_version=alias.secondary_version,
        secondary_version_weight=alias.secondary_version_weight,
        revision=alias.revision,
    )


def deletion(name: str, alias: str, sequence: int, when: datetime) -> AliasChange:
    """The record of an alias deleted at ``when``."""
    return AliasChange(name=name, alias=alias, sequence=sequence, update_at=when, version=None)


def with_previous(changes: Sequence[AliasChange]) -> list[AliasChange]:
    """Changes (newest first) with each one's ``previous_*`` taken from the change before it.

    Records hold only the state after their change; the state before is the record
    numbered one less. A record whose predecessor is not in ``changes`` keeps what it
    stored (records written by aioversioned before 0.2 stored both).
    """
    filled = []
    for index, change in enumerate(changes):
        older = changes[index + 1] if index + 1 < len(changes) else None
        if older is not None and older.sequence == change.sequence - 1:
            change = change.model_copy(
                update={
                    "previous_version": older.version,
                    "previous_secondary_version": older.secondary_version,
                    "previous_secondary_version_weight": older.secondary_version_weight,
                    "previous_revision": older.revision,
                }
            )
        filled.append(change)
    return filled


class AliasHistory:
    """The document and the history records of one alias."""

    def __init__(self, s3: S3, layout: Layout, name: str, alias: str) -> None:
        self._s3 = s3
        self._layout = layout
        self.name = name
        self.alias = alias
        self.key = layout.alias_key(name, alias)
        self.directory = layout.history_dir(name, alias)

    async def read(self) -> AliasState | None:
        """The stored document, or None."""
        found = await self._s3.get(self.key)
        if found is None:
            return None
        body, info = found
        return AliasState(
            parse_alias_document(body, self.key, info.last_modified, revision(info.etag)), info
        )

    async def newest(self) -> tuple[int, ObjectInfo | None]:
        """The highest recorded sequence number (0 without records) and its record."""
        found = await self._s3.first_numbered(
            self.directory, lambda key: self._layout.parse_history_key(self.name, self.alias, key)
        )
        return found if found is not None else (0, None)

    async def read_change(self, key: str) -> AliasChange | None:
        found = await self._s3.get(key)
        return None if found is None else parse_alias_change(found[0], key)

    async def change(self, sequence: int) -> tuple[AliasChange, str | None] | None:
        """Record ``sequence`` and the token of the document it describes, or None."""
        key = self._layout.history_key(self.name, self.alias, sequence)
        found = await self._s3.get(key)
        if found is None:
            return None
        return parse_alias_change(found[0], key), found[1].metadata.get(ALIAS_TOKEN_KEY)

    async def sequence_of(self, state: AliasState | None, newest: int) -> int | None:
        """The chain number of the current document, or None when there is none, or
        when it is neither numbered nor recorded (then it becomes ``newest + 1``).

        A number below the newest record's is not believed (metadata is untrusted, and
        a copy of an old document carries an old number) unless that record is this
        very document.
        """
        if state is None:
            return None
        number = state.sequence
        if number is not None and number >= newest:
            return number
        recorded = await self.change(newest) if newest else None
        if recorded and recorded[0].revision == state.alias.revision:
            return newest  # recorded already (by aioversioned before 0.2, say)
        return None

    async def record(self, change: AliasChange, token: str | None) -> None:
        """Write the record of ``change`` unless it exists (then it is an equal one).

        Raises StorageError when it can not be written.
        """
        key = self._layout.history_key(self.name, self.alias, change.sequence)
        try:
            await self._s3.put(
                key,
                change.model_dump_json().encode(),
                metadata={ALIAS_TOKEN_KEY: token} if token else None,
                if_none_match=True,
            )
        except VersionConflictError:
            return  # written by whoever read the same document first
        except AioVersionedError as err:
            raise StorageError(
                "PutObject",
                self._layout.bucket,
                key,
                "HistoryNotRecorded",
                f"history record {change.sequence} of alias {self.alias!r} "
                f"could not be written: {err}",
            ) from err

    async def before_write(self, state: AliasState | None, newest: int) -> int:
        """Make sure the current document is recorded; returns the next sequence number.

        Called before every write that replaces ``state``: the step that keeps the
        history complete when a writer dies between its write and its record.
        """
        number = await self.sequence_of(state, newest)
        if state is None:
            # A document recorded but gone was deleted by a call that has not recorded
            # it yet (or died): record the deletion, or this write would take its number.
            recorded = await self.change(newest) if newest else None
            if recorded is None or recorded[0].version is None:
                return newest + 1
            when = datetime.now(timezone.utc)  # when it was noticed: shown, decides nothing
            await self.record(deletion(self.name, self.alias, newest + 1, when), None)
            return newest + 2
        if number is None:
            number = newest + 1
        if number > newest:
            await self.record(change_of(state.alias, number, state.info.last_modified), state.token)
        return number + 1

    async def change_at(self, at: datetime) -> AliasChange | None:
        """The newest change (by sequence) made at or before ``at``.

        Records are read newest first, a few at a time: a record's own LastModified
        says nothing about its change's time (the next writer may record a change
        long after it was made).
        """
        async for page in self._s3.pages(self.directory):
            keys = []
            for info in page:
                with contextlib.suppress(ValueError):
                    self._layout.parse_history_key(self.name, self.alias, info.key)
                    keys.append(info.key)
            for start in range(0, len(keys), _READ_BATCH):
                batch = keys[start : start + _READ_BATCH]
                for change in await gather(partial(self.read_change, key) for key in batch):
                    if change is not None and change.update_at <= at:
                        return change
        return None

    async def changes(self, limit: int | None) -> list[AliasChange]:
        """Recorded changes, newest first, with their ``previous_*`` filled."""
        keys: list[str] = []
        async for page in self._s3.pages(self.directory):
            for info in page:
                with contextlib.suppress(ValueError):
                    self._layout.parse_history_key(self.name, self.alias, info.key)
                    keys.append(info.key)
            if limit is not None and len(keys) > limit:
                break
        wanted = keys if limit is None else keys[: limit + 1]
        found = await gather(partial(self.read_change, key) for key in wanted)
        return with_previous([c for c in found if c is not None])[:limit]
