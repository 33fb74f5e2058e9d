"""Alias operations of AsyncRepository: documents, compare-and-swap, history.

Split from ``_repository.py`` to keep modules small; ``AsyncRepository`` inherits them.
"""

from __future__ import annotations

import contextlib
import json
from datetime import datetime, timedelta, timezone
from functools import partial

import anyio

from . import _keys, _validate
from ._keys import Layout, VersionLike
from ._models import Alias, AliasChange, parse_alias_change, parse_alias_document
from ._s3 import NOT_MODIFIED, S3, ObjectInfo
from ._tasks import both, gather
from .errors import (
    AioVersionedError,
    AliasNotFoundError,
    ArtifactNotFoundError,
    InvalidInputError,
    StorageError,
    VersionConflictError,
)

ABSENT = "absent"
# History records are written just after their alias, so a record's LastModified
# trails the change it describes by about one request.
_HISTORY_SLACK = timedelta(minutes=1)
# A deletion mark older than this was left by a crashed delete and is ignored.
_MARK_TTL = timedelta(minutes=10)


def _revision(etag: str) -> str:
    return etag.strip('"')


def _write_condition(expected_revision: object) -> tuple[bool, str | None]:
    """``(if_none_match, if_match)`` for a write that expects ``expected_revision``."""
    if expected_revision is None:
        return False, None
    if not isinstance(expected_revision, str) or not expected_revision:
        raise InvalidInputError(
            "expected_revision", f"must be a revision str or 'absent', got {expected_revision!r}"
        )
    if expected_revision == ABSENT:
        return True, None
    return False, f'"{_revision(expected_revision)}"'


def _mark_covers(body: bytes, numbers: set[int]) -> bool:
    """Whether a deletion mark names any of ``numbers``; an unreadable mark names all."""
    try:
        named = json.loads(body)
    except ValueError:
        return True
    return not isinstance(named, list) or bool(numbers & {n for n in named if isinstance(n, int)})


class AliasOperations:
    """Alias methods and the request helpers they share with the rest of the repository."""

    layout: Layout
    _s3_client: S3 | None
    _alias_memo: dict[str, tuple[Alias, str, float]]  # key -> (alias, ETag, when read)

    @property
    def _s3(self) -> S3:
        if self._s3_client is None:
            raise RuntimeError("use 'async with AsyncRepository(...) as repo:' before calling it")
        return self._s3_client

    async def _not_found(self, name: str, number: int | None) -> ArtifactNotFoundError:
        await self._s3.ensure_bucket()
        return ArtifactNotFoundError(name, _keys.version_str(number))

    async def _head_version(self, name: str, number: int | None) -> ObjectInfo:
        info = await self._s3.head(self.layout.version_key(name, number))
        if info is None:
            raise await self._not_found(name, number)
        return info

    def _uri(self, name: str, version: str | None) -> str | None:
        if version is None:
            return None
        return self.layout.s3uri(self.layout.version_key(name, _keys.parse_version(version)))

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
        wins. Every change is recorded in the alias history.
        """
        _keys.validate_name(name)
        _keys.validate_alias(alias)
        number = _keys.parse_version(version)
        secondary = _validate.secondary(number, secondary_version, secondary_version_weight)
        if_none_match, if_match = _write_condition(expected_revision)
        targets = [number] if secondary is None else [number, secondary]
        key = self.layout.alias_key(name, alias)
        (previous, newest), _ = await both(
            partial(
                both, partial(self._read_alias, key), partial(self._newest_change, name, alias)
            ),
            partial(gather, [partial(self._head_version, name, n) for n in targets]),
        )
        secondary_str = None if secondary is None else _keys.version_str(secondary)
        document = Alias(
            name=name,
            alias=alias,
            update_at=datetime.now(timezone.utc),
            version=_keys.version_str(number),
            secondary_version=secondary_str,
            secondary_version_weight=secondary_version_weight if secondary is not None else None,
            version_s3uri=self.layout.s3uri(self.layout.version_key(name, number)),
            secondary_version_s3uri=self._uri(name, secondary_str),
        )
        written = await self._s3.put(
            key,
            document.to_document(),
            content_type="application/json",
            if_none_match=if_none_match,
            if_match=if_match,
        )
        stored = document.model_copy(update={"revision": _revision(written.etag)})
        if not await self._targets_safe(name, targets):
            await self._undo(key, previous, stored)
            raise VersionConflictError(
                key, f"a version {alias!r} points to was deleted meanwhile; alias not changed"
            )
        self._alias_memo.pop(key, None)  # our own change is seen at once, max_age or not
        await self._record(name, alias, newest + 1, written.last_modified, previous, stored)
        return stored

    async def _targets_safe(self, name: str, targets: list[int | None]) -> bool:
        """After an alias write: its versions exist and no delete of them is under way."""
        numbers = {number for number in targets if number is not None}  # LATEST stays
        if not numbers:
            return True
        heads, marks = await both(
            partial(
                gather, [partial(self._s3.head, self.layout.version_key(name, n)) for n in numbers]
            ),
            partial(self._s3.list_all, self.layout.deleting_dir(name)),
        )
        if any(head is None for head in heads):
            return False
        fresh = datetime.now(timezone.utc) - _MARK_TTL
        for info in marks:
            with contextlib.suppress(ValueError):
                low, high = self.layout.parse_deleting_key(name, info.key)
                if info.last_modified > fresh and any(low <= n <= high for n in numbers):
                    found = await self._s3.get(info.key)
                    if found is None:  # that delete just finished: did it take ours?
                        return all(
                            await gather(
                                partial(self._s3.head, self.layout.version_key(name, n))
                                for n in numbers
                            )
                        )
                    if _mark_covers(found[0], numbers):
                        return False
        return True

    async def _undo(self, key: str, previous: Alias | None, written: Alias) -> None:
        """Put the alias back as it was before our write (unless someone changed it since)."""
        with anyio.CancelScope(shield=True):
            if previous is None:
                await self._s3.delete([key])
                return
            with contextlib.suppress(VersionConflictError):
                await self._s3.put(
                    key,
                    previous.to_document(),
                    content_type="application/json",
                    if_match=f'"{written.revision}"',
                )

    async def _read_alias(self, key: str) -> Alias | None:
        found = await self._s3.get(key)
        if found is None:
            return None
        body, info = found
        return parse_alias_document(body, key, info.last_modified, _revision(info.etag))

    async def _read_alias_cached(self, key: str, max_age: float) -> Alias | None:
        """``_read_alias`` answered from memory for ``max_age`` seconds, then revalidated
        by a conditional GET: a 304 (no body) renews the answer for another ``max_age``."""
        now = anyio.current_time()
        memo = self._alias_memo.get(key)
        if memo is None:
            found = await self._s3.get(key)
        elif now - memo[2] < max_age:
            return memo[0]
        else:
            changed = await self._s3.get_if_changed(key, memo[1])
            if changed is NOT_MODIFIED:
                self._alias_memo[key] = (memo[0], memo[1], now)
                return memo[0]
            found = changed
        if found is None:
            self._alias_memo.pop(key, None)
            return None
        body, info = found
        alias = parse_alias_document(body, key, info.last_modified, _revision(info.etag))
        self._alias_memo[key] = (alias, info.etag, now)
        return alias

    async def _newest_change(self, name: str, alias: str) -> int:
        found = await self._s3.first_numbered(
            self.layout.history_dir(name, alias),
            partial(self.layout.parse_history_key, name, alias),
        )
        return found[0] if found else 0

    async def _record(
        self,
        name: str,
        alias: str,
        sequence: int,
        when: datetime,
        previous: Alias | None,
        current: Alias | None,
    ) -> None:
        """Append a history record under the first free sequence number."""

        def body(number: int) -> bytes:
            change = AliasChange(
                name=name,
                alias=alias,
                sequence=number,
                update_at=when,
                version=current.version if current else None,
                secondary_version=current.secondary_version if current else None,
                secondary_version_weight=current.secondary_version_weight if current else None,
                revision=current.revision if current else None,
                previous_version=previous.version if previous else None,
                previous_secondary_version=previous.secondary_version if previous else None,
                previous_secondary_version_weight=(
                    previous.secondary_version_weight if previous else None
                ),
                previous_revision=previous.revision if previous else None,
            )
            return change.model_dump_json().encode()

        try:
            await self._s3.create_first_free(
                partial(self.layout.history_key, name, alias), sequence, body
            )
        except AioVersionedError as err:
            raise StorageError(
                "PutObject",
                self.layout.bucket,
                self.layout.history_dir(name, alias),
                "HistoryNotRecorded",
                f"alias {alias!r} was changed, but its history record was not written: {err}",
            ) from err

    async def get_alias(
        self, name: str, alias: str, at: datetime | None = None, *, max_age: float | None = None
    ) -> Alias:
        """Read one alias, or with ``at`` (a tz-aware datetime) what it pointed to then.

        Raises AliasNotFoundError if it does not exist (or did not exist at ``at``).
        Point-in-time answers come from the alias history, which covers the changes
        made through aioversioned. With ``max_age`` (seconds) the answer may come from
        this repository's memory and be up to that old, even after this repository
        changed the alias; an older answer is revalidated with a conditional GET,
        which costs no body when the alias did not change.
        """
        _keys.validate_name(name)
        _keys.validate_alias(alias)
        if max_age is not None:
            _validate.seconds(max_age, "max_age")
        if max_age is not None and at is not None:
            raise InvalidInputError("max_age", "can not be combined with at")
        if at is not None:
            if not isinstance(at, datetime) or at.tzinfo is None:
                raise InvalidInputError("at", f"must be a timezone-aware datetime, got {at!r}")
            change = await self._change_at(name, alias, at)
            if change is None or change.version is None:
                raise AliasNotFoundError(name, alias)
            return Alias(
                name=name,
                alias=alias,
                update_at=change.update_at,
                version=change.version,
                secondary_version=change.secondary_version,
                secondary_version_weight=change.secondary_version_weight,
                version_s3uri=self.layout.s3uri(
                    self.layout.version_key(name, _keys.parse_version(change.version))
                ),
                secondary_version_s3uri=self._uri(name, change.secondary_version),
                revision=change.revision,
            )
        key = self.layout.alias_key(name, alias)
        if max_age is None:
            found = await self._read_alias(key)
        else:
            found = await self._read_alias_cached(key, max_age)
        if found is None:
            await self._s3.ensure_bucket()
            raise AliasNotFoundError(name, alias)
        return found

    async def _change_at(self, name: str, alias: str, at: datetime) -> AliasChange | None:
        """The newest recorded change made at or before ``at``."""
        async for page in self._s3.pages(self.layout.history_dir(name, alias)):
            for info in page:
                if info.last_modified > at + _HISTORY_SLACK:
                    continue  # certainly made after ``at``: skip without reading it
                change = await self._read_change(info.key)
                if change is not None and change.update_at <= at:
                    return change
        return None

    async def _read_change(self, key: str) -> AliasChange | None:
        found = await self._s3.get(key)
        return None if found is None else parse_alias_change(found[0], key)

    async def list_alias_history(
        self, name: str, alias: str, limit: int | None = None
    ) -> list[AliasChange]:
        """Recorded changes of one alias, newest first (at most ``limit`` of them)."""
        _keys.validate_name(name)
        _keys.validate_alias(alias)
        if limit is not None:
            _validate.at_least(limit, "limit", 1)
        directory = self.layout.history_dir(name, alias)
        keys: list[str] = []
        async for page in self._s3.pages(directory):
            for info in page:
                with contextlib.suppress(ValueError):
                    self.layout.parse_history_key(name, alias, info.key)
                    keys.append(info.key)
            if limit is not None and len(keys) >= limit:
                break
        changes = await gather(partial(self._read_change, key) for key in keys[:limit])
        return [change for change in changes if change is not None]

    async def list_aliases(self, name: str) -> list[Alias]:
        """All aliases of ``name``, sorted by alias name; documents are read concurrently."""
        _keys.validate_name(name)
        keys = []
        for info in await self._s3.list_all(self.layout.aliases_dir(name)):
            with contextlib.suppress(ValueError):
                self.layout.parse_alias_key(name, info.key)
                keys.append(info.key)
        found = await gather(partial(self._read_alias, key) for key in keys)
        return [alias for alias in found if alias is not None]

    async def delete_alias(self, name: str, alias: str) -> None:
        """Delete an alias (recorded in its history); a missing alias is a no-op."""
        _keys.validate_name(name)
        _keys.validate_alias(alias)
        key = self.layout.alias_key(name, alias)
        previous, newest = await both(
            partial(self._read_alias, key), partial(self._newest_change, name, alias)
        )
        if previous is None:
            return
        when = await self._s3.delete([key])
        self._alias_memo.pop(key, None)
        await self._record(name, alias, newest + 1, when, previous, None)
