"""Alias operations of AsyncRepository: documents, compare-and-swap, history.

Split from ``_repository.py`` to keep modules small; ``AsyncRepository`` inherits them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import uuid
from datetime import datetime, timezone
from functools import partial

import anyio

from . import _keys, _validate
from ._alias_index import AliasIndex
from ._deletion import is_retired
from ._documents import ALIAS_LIMIT
from ._history import (
    CREATED_KEY,
    RESTORES_KEY,
    SEQUENCE_KEY,
    AliasHistory,
    AliasState,
    deletion,
    revision,
)
from ._keys import Layout, VersionLike
from ._models import Alias, AliasChange, parse_alias_document
from ._s3 import (
    NOT_MODIFIED,
    S3,
    TOKEN_KEY,
    LostWrite,
    ObjectInfo,
    RetriedConflict,
    WriteResult,
)
from ._tasks import both, gather
from .errors import (
    AliasNotFoundError,
    ArtifactNotFoundError,
    InvalidInputError,
    RepositoryStateError,
    VersionConflictError,
)

ABSENT = "absent"
# How often a last-writer-wins alias write re-reads and tries again when another
# writer changed the alias between its read and its conditional write.
_WRITE_ATTEMPTS = 16
_REVISION_RE = re.compile(r"[A-Za-z0-9._:+/=-]{1,128}")


def _write_condition(expected_revision: object) -> tuple[bool, str | None] | None:
    """``(if_none_match, if_match)`` for a write that expects ``expected_revision``, or
    None for a last-writer-wins write."""
    if expected_revision is None:
        return None
    if not isinstance(expected_revision, str) or not expected_revision:
        raise InvalidInputError(
            "expected_revision", f"must be a revision str or 'absent', got {expected_revision!r}"
        )
    if expected_revision == ABSENT:
        return True, None
    if not _REVISION_RE.fullmatch(revision(expected_revision)):
        raise InvalidInputError(
            "expected_revision", f"{expected_revision!r} is not a revision (an Alias.revision)"
        )
    return False, f'"{revision(expected_revision)}"'


def _written_info(
    key: str, written: WriteResult, body: bytes, metadata: dict[str, str]
) -> ObjectInfo:
    """What a read of a document this call just wrote would tell."""
    return ObjectInfo(
        key=key,
        etag=written.etag,
        last_modified=written.last_modified,
        size=len(body),
        metadata={**metadata, **({TOKEN_KEY: written.token} if written.token else {})},
    )


def _is_md5(body: bytes, etag: str) -> bool:
    """Whether ``etag`` is the MD5 of ``body``: the index's copy is the listed document
    (a server whose ETags are no MD5, SSE-KMS, is read document by document)."""
    return hashlib.md5(body, usedforsecurity=False).hexdigest() == etag.strip('"')


def _located(found: Alias, name: str, alias: str) -> Alias:
    """A document as the key it was read from names it: a copy made under another key
    (``aws s3 cp``) is the alias of that key, whatever its body says."""
    if (found.name, found.alias) == (name, alias):
        return found
    return found.model_copy(update={"name": name, "alias": alias})


class AliasOperations:
    """Alias methods and the request helpers they share with the rest of the repository."""

    layout: Layout
    _s3_client: S3 | None
    _loop: asyncio.AbstractEventLoop | None  # the loop the client was opened on
    _alias_memo: dict[str, tuple[Alias, str, float]]  # key -> (alias, ETag, when read)

    @property
    def _s3(self) -> S3:
        if self._s3_client is None:
            raise RepositoryStateError(
                "use 'async with AsyncRepository(...) as repo:' before calling it"
            )
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:  # a plain read from synchronous code (endpoint_url)
            loop = None
        if loop is not None and loop is not self._loop:
            # The client's connections belong to the loop it was opened on; on another
            # one aiohttp fails deep inside with an AttributeError.
            raise RepositoryStateError(
                "this AsyncRepository was opened on another event loop (each asyncio.run()"
                " starts a new one); open it with 'async with' inside the asyncio.run() that"
                " uses it, or use the blocking Repository"
            )
        return self._s3_client

    async def _not_found(self, name: str, number: int | None) -> ArtifactNotFoundError:
        await self._s3.ensure_bucket()
        return ArtifactNotFoundError(name, _keys.version_str(number))

    async def _head_version(self, name: str, number: int | None) -> ObjectInfo:
        info = await self._s3.head(self.layout.version_key(name, number))
        if info is None:
            raise await self._not_found(name, number)
        return info

    async def _head_target(self, name: str, number: int | None) -> ObjectInfo:
        """A version asked for by its number (an alias target, a description): it exists
        and is not deleted (retired)."""
        if number is None:
            return await self._head_version(name, None)
        info, retired = await both(
            partial(self._head_version, name, number),
            partial(is_retired, self._s3, self.layout, name, number),
        )
        if retired:
            raise ArtifactNotFoundError(name, _keys.version_str(number))
        return info

    def _uri(self, name: str, version: str | None) -> str | None:
        if version is None:
            return None
        return self.layout.s3uri(self.layout.version_key(name, _keys.parse_version(version)))

    def _history(self, name: str, alias: str) -> AliasHistory:
        return AliasHistory(self._s3, self.layout, name, alias)

    async def put_alias(
        self,
        name: str,
        alias: str,
        version: VersionLike = None,
        secondary_version: VersionLike = None,
        secondary_version_weight: int | None = None,
        expected_revision: str | None = None,
    ) -> Alias:
        """Create or move ``alias`` to ``version`` (None means LATEST).

        With ``secondary_version``, ``secondary_version_weight`` (int 0-99) percent of
        picks go to it. Both versions must exist (ArtifactNotFoundError otherwise).
        With ``expected_revision`` (an ``Alias.revision``) the write happens only if the
        alias is still at that revision, with ``"absent"`` only if it does not exist;
        otherwise VersionConflictError and nothing changes. Without it the last writer
        wins. Every change is recorded in the alias history, in the order the server
        applied the writes. If a version it points to is being deleted meanwhile, the
        alias is put back to its previous target (both changes are recorded), or
        deleted when it is new or that target is being deleted too, and
        VersionConflictError is raised.
        """
        return await self._put_alias(
            name, alias, version, secondary_version, secondary_version_weight, expected_revision
        )

    async def _put_alias(
        self,
        name: str,
        alias: str,
        version: VersionLike,
        secondary_version: VersionLike,
        secondary_version_weight: int | None,
        expected_revision: str | None,
        restores: int | None = None,
    ) -> Alias:
        """put_alias; ``restores`` marks a rollback's write (see _rollback.py)."""
        self.layout.check_name(name)
        _keys.validate_alias(alias)
        number = _keys.parse_version(version)
        secondary = _validate.secondary(number, secondary_version, secondary_version_weight)
        condition = _write_condition(expected_revision)
        targets = [number] if secondary is None else [number, secondary]
        history = self._history(name, alias)
        (state, (newest, _)), _ = await both(
            partial(both, history.read, history.newest),
            partial(gather, [partial(self._head_target, name, n) for n in targets]),
        )
        secondary_str = None if secondary is None else _keys.version_str(secondary)
        document = Alias(
            name=name,
            alias=alias,
            update_at=datetime.now(timezone.utc),  # shown to users, decides nothing
            version=_keys.version_str(number),
            secondary_version=secondary_str,
            secondary_version_weight=secondary_version_weight if secondary is not None else None,
            version_s3uri=self.layout.s3uri(self.layout.version_key(name, number)),
            secondary_version_s3uri=self._uri(name, secondary_str),
        )
        # From the write on, an interrupt would leave a change unchecked (an alias on a
        # version being deleted) or unrecorded: the rest runs to its end.
        with anyio.CancelScope(shield=True):
            stored = await self._write_alias(
                history, state, newest, document, condition, targets, restores
            )
        return stored

    async def _write_alias(
        self,
        history: AliasHistory,
        state: AliasState | None,
        newest: int,
        document: Alias,
        condition: tuple[bool, str | None] | None,
        targets: list[int | None],
        restores: int | None = None,
    ) -> Alias:
        """The write of put_alias and what must follow it: the steps, in their order."""
        token = uuid.uuid4().hex
        lost = False  # a create of this call went unanswered: it may still land late
        for _ in range(_WRITE_ATTEMPTS):
            # 1. Record what is there before replacing it, so the history has no hole.
            sequence = await history.before_write(state, newest)
            if sequence is None:  # it changed while being recorded
                (state, (newest, _)) = await both(history.read, history.newest)
                continue
            # 2. The write, conditional even for last-writer-wins: it names the document
            #    it replaces, which is what numbers the history in write order. A write
            #    into an absence can not name it: its number is settled in step 4.
            if_none_match, if_match = condition or (
                (True, None) if state is None else (False, state.info.etag)
            )
            metadata = {SEQUENCE_KEY: str(sequence)}
            if if_none_match:
                metadata[CREATED_KEY] = "1"
            if restores is not None:
                metadata[RESTORES_KEY] = str(restores)
            body = document.to_document()
            try:
                written = await self._s3.put(
                    history.key,
                    body,
                    metadata=metadata,
                    content_type="application/json",
                    if_none_match=if_none_match,
                    if_match=if_match,
                    token=token,
                    resend_lost=False,
                    lost_before=lost,
                )
                break
            except VersionConflictError as err:
                if isinstance(err, RetriedConflict) and (
                    landed := await history.find_token(token, sequence)
                ):
                    return self._alias_of_change(landed)  # ours won, then was replaced
                if isinstance(err, LostWrite):
                    # Not in place and not recorded: it never landed (every delete
                    # records the document it deletes first), or it is still on its way.
                    lost = True
                elif condition is not None:
                    raise VersionConflictError(
                        history.key, await self._conflict_detail(history)
                    ) from err
                (state, (newest, _)) = await both(history.read, history.newest)
                document = document.model_copy(update={"update_at": datetime.now(timezone.utc)})
        else:
            raise VersionConflictError(history.key, "the alias kept changing; not written")
        stored = document.model_copy(update={"revision": revision(written.etag)})
        self._alias_memo.pop(history.key, None)  # our own change is seen at once
        ours = AliasState(stored, _written_info(history.key, written, body, metadata))
        # 3. None of its versions was deleted meanwhile (see _targets_safe).
        safe = await self._targets_safe(document.name, targets)
        # 4. Its own record (the next writer writes it too if this one is lost). An
        #    unsafe write was live too: the history shows it, then its undo.
        number = await history.record_written(ours, written.last_modified)
        if not safe:
            undone = "another writer has changed it since"
            if number is not None:  # else another writer replaced it already
                undone = await self._undo(history, state, stored, number)
            raise VersionConflictError(
                history.key,
                f"a version {document.alias!r} points to was deleted meanwhile; {undone}",
            )
        return stored

    async def _conflict_detail(self, history: AliasHistory) -> str:
        current = await history.read()
        if current is None:
            return "the alias does not exist (expected_revision names a revision)"
        return f"the alias is at revision {current.revision}, not the one expected"

    async def _targets_safe(self, name: str, targets: list[int | None]) -> bool:
        """After an alias write: its versions exist and none was deleted meanwhile.

        A delete writes its tombstones before it reads the aliases again (see
        _deletion): either it reads this write and keeps the version, or this read,
        which follows the write, finds the tombstone.
        """
        numbers = sorted({number for number in targets if number is not None})  # LATEST stays

        async def live(number: int) -> bool:
            head, retired = await both(
                partial(self._s3.head, self.layout.version_key(name, number)),
                partial(is_retired, self._s3, self.layout, name, number),
            )
            return head is not None and not retired

        return all(await gather(partial(live, n) for n in numbers))

    async def _undo(
        self, history: AliasHistory, previous: AliasState | None, written: Alias, sequence: int
    ) -> str:
        """Put the alias back to ``previous``'s target, only over our own revision; what
        became of it, for the caller's error.

        A moved alias gets a new document with the previous target, If-Match our
        revision (new bytes, so a writer still holding the previous revision can not
        mistake it for the old document), checked like any alias write: when that
        target was deleted too (a delete read the alias while it held our write), the
        alias is deleted If-Match that document. A new alias, or one whose previous
        document could not be read, is deleted If-Match our revision. If another writer
        replaced ours first, theirs stays.
        """
        ours = f'"{written.revision}"'
        if previous is not None and previous.alias is not None:
            restored = previous.alias.model_copy(
                update={"update_at": datetime.now(timezone.utc), "revision": None}
            )
            metadata = {SEQUENCE_KEY: str(sequence + 1)}
            body = restored.to_document()
            try:
                put = await self._s3.put(
                    history.key,
                    body,
                    metadata=metadata,
                    content_type="application/json",
                    if_match=ours,
                )
            except VersionConflictError:
                return "another writer has changed it since"
            back = restored.model_copy(update={"revision": revision(put.etag)})
            info = _written_info(history.key, put, body, metadata)
            number = await history.record_written(AliasState(back, info), put.last_modified)
            targets = [_keys.parse_version(v) for v in (back.version, back.secondary_version) if v]
            # A delete that read the alias while it held our write may have retired that
            # target: the tombstones tell.
            if await self._targets_safe(back.name, targets):
                return "alias put back to its previous target"
            if number is None:
                return "another writer has changed it since"
            ours, sequence = f'"{back.revision}"', number
        when = await self._s3.delete_if(history.key, ours)
        if when is None:
            return "another writer has changed it since"
        await history.record(deletion(history.name, history.alias, sequence + 1, when), None)
        return "alias deleted: it did not exist before, or its previous target is gone too"

    def _alias_of_change(self, change: AliasChange) -> Alias:
        if change.version is None:
            raise ValueError("a deletion has no alias")
        return Alias(
            name=change.name,
            alias=change.alias,
            update_at=change.update_at,
            version=change.version,
            secondary_version=change.secondary_version,
            secondary_version_weight=change.secondary_version_weight,
            version_s3uri=self.layout.s3uri(
                self.layout.version_key(change.name, _keys.parse_version(change.version))
            ),
            secondary_version_s3uri=self._uri(change.name, change.secondary_version),
            revision=change.revision,
        )

    async def _read_alias(self, key: str) -> Alias | None:
        found = await self._s3.get(key, limit=ALIAS_LIMIT)
        if found is None:
            return None
        body, info = found
        return parse_alias_document(body, key, info.last_modified, revision(info.etag))

    async def _read_alias_cached(self, key: str, max_age: float) -> Alias | None:
        """``_read_alias`` answered from memory for ``max_age`` seconds, then revalidated
        by a conditional GET: a 304 (no body) renews the answer for another ``max_age``."""
        now = anyio.current_time()
        memo = self._alias_memo.get(key)
        if memo is None:
            found = await self._s3.get(key, limit=ALIAS_LIMIT)
        elif now - memo[2] < max_age:
            return memo[0]
        else:
            changed = await self._s3.get_if_changed(key, memo[1], limit=ALIAS_LIMIT)
            if changed is NOT_MODIFIED:
                self._alias_memo[key] = (memo[0], memo[1], now)
                return memo[0]
            found = changed
        if found is None:
            self._alias_memo.pop(key, None)
            return None
        body, info = found
        alias = parse_alias_document(body, key, info.last_modified, revision(info.etag))
        self._alias_memo[key] = (alias, info.etag, now)
        return alias

    async def get_alias(
        self, name: str, alias: str, at: datetime | None = None, *, max_age: float | None = None
    ) -> Alias:
        """Read one alias, or with ``at`` (a tz-aware datetime) what it pointed to then.

        Raises AliasNotFoundError if it does not exist (or did not exist at ``at``).
        Point-in-time answers come from the alias history, which covers the changes
        made through aioversioned. With ``max_age`` (seconds) the answer may come from
        this repository's memory and be up to that old, even after this repository
        changed the alias; an older answer is revalidated with a conditional GET,
        which costs no body when the alias did not change. Names that ``versioned`` 1.x
        writes and this library does not (``2024_release``, ``prod.blue``) are read too.
        """
        self.layout.check_name(name)
        _keys.readable_alias(alias)
        if max_age is not None:
            _validate.seconds(max_age, "max_age")
        if max_age is not None and at is not None:
            raise InvalidInputError("max_age", "can not be combined with at")
        if at is not None:
            if not isinstance(at, datetime) or at.tzinfo is None:
                raise InvalidInputError("at", f"must be a timezone-aware datetime, got {at!r}")
            try:
                _keys.validate_alias(alias)
            except InvalidInputError:  # a name only versioned 1.x writes: it has no history
                raise AliasNotFoundError(name, alias) from None
            change = await self._history(name, alias).change_at(at)
            if change is None or change.version is None:
                raise AliasNotFoundError(name, alias)
            return self._alias_of_change(change)
        key = self.layout.alias_key(name, alias)
        if max_age is None:
            found = await self._read_alias(key)
        else:
            found = await self._read_alias_cached(key, max_age)
        if found is None:
            await self._s3.ensure_bucket()
            raise AliasNotFoundError(name, alias)
        return _located(found, name, alias)

    async def list_alias_history(
        self, name: str, alias: str, limit: int | None = None
    ) -> list[AliasChange]:
        """Recorded changes of one alias, newest first (at most ``limit`` of them).

        The order is the order in which the server applied the alias writes.
        """
        self.layout.check_name(name)
        _keys.validate_alias(alias)
        if limit is not None:
            _validate.at_least(limit, "limit", 1)
        return await self._history(name, alias).changes(limit)

    async def list_aliases(self, name: str) -> list[Alias]:
        """All aliases of ``name``, sorted by alias name; documents are read concurrently.

        Lists every name get_alias reads, those ``versioned`` 1.x wrote included. A
        document that does not parse raises CorruptDocumentError naming its key.
        """
        self.layout.check_name(name)
        return (await self._aliases_timed(name))[0]

    async def _aliases_timed(
        self, name: str, every: bool = False
    ) -> tuple[list[Alias], datetime | None]:
        """The aliases, and the server's time when they were listed (None if unknown).

        With ``every``, every ``aliases/**.json`` document whatever its name (what keeps
        versions alive: another tool may have written it), else the names get_alias reads.
        """
        index = AliasIndex(self._s3, self.layout, name)
        (listed, now), _ = await both(
            partial(self._s3.list_timed, self.layout.aliases_dir(name)), index.load
        )
        named = []
        for info in listed:
            with contextlib.suppress(ValueError):  # InvalidInputError is one too
                alias = self.layout.parse_any_alias_key(name, info.key)
                if not every:
                    _keys.readable_alias(alias)
                named.append((alias, info))
        named.sort(key=lambda item: item[0])
        documents: dict[str, tuple[str, bytes]] = {}

        def parse(body: bytes, info: ObjectInfo) -> Alias:
            documents[info.key] = (info.etag, body)
            return parse_alias_document(body, info.key, info.last_modified, revision(info.etag))

        async def read(info: ObjectInfo) -> Alias | None:
            etag, body = index.documents.get(info.key, ("", b""))
            if etag == info.etag and _is_md5(body, etag):  # as indexed
                return parse(body, info)
            found = await self._s3.get(info.key, limit=ALIAS_LIMIT)
            return None if found is None else parse(*found)

        found = await gather(partial(read, info) for _, info in named)
        await index.store(documents)
        located = [
            _located(alias, name, alias_name)
            for (alias_name, _), alias in zip(named, found, strict=True)
            if alias is not None
        ]
        return located, now

    async def delete_alias(self, name: str, alias: str) -> None:
        """Delete an alias (recorded in its history); a missing alias is a no-op."""
        self.layout.check_name(name)
        _keys.validate_alias(alias)
        with anyio.CancelScope(shield=True):  # a delete is recorded, even when interrupted
            await self._delete_alias(self._history(name, alias))

    async def _delete_alias(self, history: AliasHistory) -> None:
        for _ in range(_WRITE_ATTEMPTS):
            state, (newest, _) = await both(history.read, history.newest)
            if state is None:
                return
            sequence = await history.before_write(state, newest)
            if sequence is None:  # it changed while being recorded
                continue
            # If-Match: delete the document we read and recorded, not a newer one.
            when = await self._s3.delete_if(history.key, state.info.etag)
            if when is not None:
                break
            recorded = await history.change(sequence)
            if recorded is not None and recorded[0].version is None:
                return  # that document was deleted (by this call's lost attempt, say)
        else:
            raise VersionConflictError(history.key, "the alias kept changing; not deleted")
        self._alias_memo.pop(history.key, None)
        await history.record(deletion(history.name, history.alias, sequence, when), None)
