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

A document written into an absence (If-None-Match) can not name what it replaces:
between the writer's read and its write the alias may have been created and deleted
again. Its number is therefore decided once it is in place (marked ``CREATED_KEY``),
from the records as they are while it is still the current document: the newest
record is then either its own, the deletion that made the alias absent, or the
document that deletion removed (whose deletion record is not written yet: it takes the
next number). Everyone who numbers it applies that rule, so they agree.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial

from ._documents import ALIAS_LIMIT, RECORD_LIMIT
from ._keys import MAX_SEQUENCE, Layout
from ._models import Alias, AliasChange, parse_alias_change, parse_alias_document
from ._s3 import S3, TOKEN_KEY, ObjectInfo, TooLarge
from ._tasks import gather
from .errors import AioVersionedError, CorruptDocumentError, StorageError, VersionConflictError

SEQUENCE_KEY = "aioversioned-sequence"  # alias document metadata: its place in the chain
# Alias document metadata of a rollback: the position it restored (see _rollback.py).
RESTORES_KEY = "aioversioned-restores"
ALIAS_TOKEN_KEY = "aioversioned-alias-token"  # record metadata: the token of its document
CREATED_KEY = "aioversioned-created"  # alias document metadata: written into an absence
_NUMBER_ATTEMPTS = 16  # a document re-numbered while other writers record around it
_SEARCH_LIMIT = 64  # records searched for a lost write's token
_READ_BATCH = 16  # history records read at once by a point-in-time lookup


def revision(etag: str) -> str:
    """The public form of an ETag: without quotes."""
    return etag.strip('"')


@dataclass(frozen=True)
class AliasState:
    """A stored alias document as read: the alias, and what its object says of it.

    ``alias`` is None for a document that can not be read (CorruptDocumentError): it
    names no target, and a writer may still replace it (it has a revision).
    """

    alias: Alias | None
    info: ObjectInfo

    @property
    def revision(self) -> str:
        return revision(self.info.etag)

    @property
    def sequence(self) -> int | None:
        """Its number in the chain; None for a document aioversioned did not number."""
        return _sequence(self.info.metadata.get(SEQUENCE_KEY, ""))

    @property
    def token(self) -> str | None:
        return self.info.metadata.get(TOKEN_KEY)

    @property
    def created(self) -> bool:
        """Written into an absence: its number is decided once it is in place."""
        return self.info.metadata.get(CREATED_KEY) == "1"

    def is_described_by(self, change: AliasChange, token: str | None) -> bool:
        """Whether a record (and the document token in its metadata) is of this document."""
        if token is not None and token == self.token:
            return True
        return change.revision is not None and change.revision == self.revision

    @property
    def restores(self) -> int | None:
        """For a rollback's document, the position it restored (see _rollback.py)."""
        return _sequence(self.info.metadata.get(RESTORES_KEY, ""))

    def change(self, name: str, alias: str, sequence: int, when: datetime) -> AliasChange:
        """The record of this document: a document that can not be read is recorded
        without a target (like a deletion), with its revision."""
        if self.alias is None:
            return AliasChange(
                name=name,
                alias=alias,
                sequence=sequence,
                update_at=when,
                version=None,
                revision=self.revision,
            )
        return change_of(self.alias, sequence, when, self.restores)


def _sequence(value: str) -> int | None:
    """A sequence number from object metadata: ASCII digits within the history's range."""
    if value.isascii() and value.isdigit() and len(value) <= 13 and 1 <= int(value) <= MAX_SEQUENCE:
        return int(value)
    return None


def change_of(
    alias: Alias, sequence: int, when: datetime, restores: int | None = None
) -> AliasChange:
    """The record of an alias document (``restores``: a rollback's, see _rollback.py)."""
    return AliasChange(
        name=alias.name,
        alias=alias.alias,
        sequence=sequence,
        update_at=when,
        version=alias.version,
        secondary_version=alias.secondary_version,
        secondary_version_weight=alias.secondary_version_weight,
        revision=alias.revision,
        restores=restores,
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
        """The stored document, or None; one that can not be read has no alias (a writer
        replaces it, see AliasState)."""
        try:
            found = await self._s3.get(self.key, limit=ALIAS_LIMIT)
        except TooLarge as err:
            if err.info is None:
                raise
            return AliasState(None, err.info)
        if found is None:
            return None
        body, info = found
        try:
            alias = parse_alias_document(body, self.key, info.last_modified, revision(info.etag))
        except CorruptDocumentError:
            return AliasState(None, info)
        return AliasState(alias, info)

    async def newest(self) -> tuple[int, ObjectInfo | None]:
        """The highest recorded sequence number (0 without records) and its record."""
        found = await self._s3.first_numbered(
            self.directory, lambda key: self._layout.parse_history_key(self.name, self.alias, key)
        )
        return found if found is not None else (0, None)

    async def read_change(self, key: str) -> AliasChange | None:
        found = await self._s3.get(key, limit=RECORD_LIMIT)
        return None if found is None else parse_alias_change(found[0], key)

    async def change(self, sequence: int) -> tuple[AliasChange, str | None] | None:
        """Record ``sequence`` and the token of the document it describes, or None."""
        key = self._layout.history_key(self.name, self.alias, sequence)
        found = await self._s3.get(key, limit=RECORD_LIMIT)
        if found is None:
            return None
        return parse_alias_change(found[0], key), found[1].metadata.get(ALIAS_TOKEN_KEY)

    async def record(self, change: AliasChange, token: str | None) -> bool:
        """Write the record of ``change`` unless its number is taken; whether the record
        in place is this one (the same document, or both deletions).

        Raises StorageError when it can not be written, CorruptDocumentError when its
        number is past MAX_SEQUENCE.
        """
        key = self._layout.history_key(self.name, self.alias, self._following(change.sequence - 1))
        try:
            await self._s3.put(
                key,
                change.model_dump_json().encode(),
                metadata={ALIAS_TOKEN_KEY: token} if token else None,
                if_none_match=True,
            )
            return True
        except VersionConflictError:
            pass  # written first by someone who read the same document: compare
        except AioVersionedError as err:
            raise StorageError(
                "PutObject",
                self._layout.bucket,
                key,
                "HistoryNotRecorded",
                f"history record {change.sequence} of alias {self.alias!r} "
                f"could not be written: {err}",
            ) from err
        found = await self.change(change.sequence)
        if found is None:
            return False
        if found[0].version is None or change.version is None:
            return found[0].version is None and change.version is None
        return (token is not None and found[1] == token) or found[0].revision == change.revision

    async def number(self, state: AliasState, newest: int) -> tuple[int, bool] | None:
        """The chain number of ``state`` and whether it is recorded; None when the alias
        changed while it was being worked out (read it again).

        ``newest`` may be stale (read beside ``state``): it only chooses the quick path.
        """
        number = state.sequence
        if number is not None and newest <= number <= newest + 1:
            if not state.created:
                # Written If-Match the document it replaced, whose number was settled:
                # only it can have this number.
                return number, number == newest
            found = await self.change(number) if number == newest else None
            if found is not None and state.is_described_by(*found):
                return number, True  # settled by the rule below, by whoever recorded it
        return await self._renumber(state)

    async def _renumber(self, state: AliasState) -> tuple[int, bool] | None:
        """The number of ``state`` worked out from the records, listed after it was read
        and while it is still the current document (read again after the listing)."""
        newest, _ = await self.newest()
        current = await self.read()
        if current is None or current.info.etag != state.info.etag:
            return None
        found = await self.change(newest) if newest else None
        if found is not None and state.is_described_by(*found):
            return newest, True
        number = state.sequence
        if number is not None and not state.created and number == newest + 1:
            return number, False
        if state.created and found is not None and found[0].version is not None:
            # The deletion that made room for it is not recorded yet: it comes first.
            gap = self._following(newest)
            when = datetime.now(timezone.utc)  # when it was noticed: shown, decides nothing
            if not await self.record(deletion(self.name, self.alias, gap, when), None):
                return None
            return gap + 1, False
        return newest + 1, False

    async def _numbered(
        self, below: int | None = None, page_size: int = 1000
    ) -> AsyncIterator[tuple[int, str]]:
        """The number and key of each record (numbered below ``below``), newest first."""
        after = None if below is None else self._layout.history_key(self.name, self.alias, below)
        async for page in self._s3.pages(self.directory, start_after=after, page_size=page_size):
            for info in page:
                try:
                    number = self._layout.parse_history_key(self.name, self.alias, info.key)
                except ValueError:
                    continue  # not a record: another tool's key
                yield number, info.key

    async def find_token(self, token: str, since: int) -> AliasChange | None:
        """The record numbered ``since`` or later of the document with ``token``."""
        numbers: list[int] = []
        async for number, _ in self._numbered(page_size=_READ_BATCH):
            if number < since:
                break
            numbers.append(number)
            if number == since or len(numbers) >= _SEARCH_LIMIT:
                break
        found = await gather(partial(self.change, n) for n in numbers)
        return next((f[0] for f in found if f is not None and f[1] == token), None)

    async def before_write(self, state: AliasState | None, newest: int) -> int | None:
        """Make sure the current document is recorded; the sequence number a write that
        replaces it takes (for a write into an absence: a first guess, see the module
        docstring). None when the alias changed meanwhile: read it again.

        Called before every write that replaces ``state``: the step that keeps the
        history complete when a writer dies between its write and its record.
        """
        if state is None:
            return self._following(newest)
        numbered = await self.number(state, newest)
        if numbered is None:
            return None
        number, recorded = numbered
        following = self._following(number)  # before the record: nothing written in vain
        if not recorded:
            change = state.change(self.name, self.alias, number, state.info.last_modified)
            if not await self.record(change, state.token):
                return None  # someone numbered it differently meanwhile: read again
        return following

    def _following(self, number: int) -> int:
        """The number after ``number``; CorruptDocumentError when there is none (only
        another tool's key can have taken the history that far: see MAX_SEQUENCE)."""
        if number >= MAX_SEQUENCE:
            raise CorruptDocumentError(
                self._layout.history_key(self.name, self.alias, MAX_SEQUENCE),
                f"alias {self.alias!r} has a history record numbered {MAX_SEQUENCE:,}, the"
                " last number: it can not be changed until that record (another tool's?)"
                " is removed",
            )
        return number + 1

    async def record_written(self, state: AliasState, when: datetime) -> int | None:
        """Record a document this call wrote; its number, or None when another writer
        replaced it first (and recorded it: ``before_write``).

        Raises StorageError when its number can not be settled.
        """
        change = state.change(self.name, self.alias, state.sequence or 0, when)
        if not state.created and await self.record(change, state.token):
            return change.sequence
        for _ in range(_NUMBER_ATTEMPTS):
            numbered = await self._renumber(state)
            if numbered is None:
                return None
            number, recorded = numbered
            change = change.model_copy(update={"sequence": number})
            if recorded or await self.record(change, state.token):
                return number
        raise StorageError(
            "PutObject",
            self._layout.bucket,
            self.key,
            "HistoryNotRecorded",
            f"the history record of alias {self.alias!r} kept moving; not recorded",
        )

    async def change_at(self, at: datetime) -> AliasChange | None:
        """The newest change (by sequence) made at or before ``at``.

        A record's own LastModified says nothing about its change's time (the next
        writer may record a change long after it was made): records are read.
        """
        return await self.newest_where(lambda change: change.update_at <= at)

    async def newest_where(
        self, wanted: Callable[[AliasChange], bool], below: int | None = None
    ) -> AliasChange | None:
        """The newest recorded change (numbered below ``below``) that is ``wanted``.

        Records are read newest first, a few at a time.
        """
        batch: list[str] = []
        async for _, key in self._numbered(below):
            batch.append(key)
            if len(batch) == _READ_BATCH:
                if (found := await self._first(batch, wanted)) is not None:
                    return found
                batch = []
        return await self._first(batch, wanted)

    async def _first(
        self, keys: list[str], wanted: Callable[[AliasChange], bool]
    ) -> AliasChange | None:
        """The first of the records at ``keys`` (read at once) that is ``wanted``."""
        for change in await gather(partial(self.read_change, key) for key in keys):
            if change is not None and wanted(change):
                return change
        return None

    async def changes(self, limit: int | None) -> list[AliasChange]:
        """Recorded changes, newest first, with their ``previous_*`` filled."""
        keys: list[str] = []
        async for _, key in self._numbered():
            keys.append(key)
            if limit is not None and len(keys) > limit:
                break
        found = await gather(partial(self.read_change, key) for key in keys)
        return with_previous([c for c in found if c is not None])[:limit]
