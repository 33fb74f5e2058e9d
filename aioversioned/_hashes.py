"""The sha256 of version objects, those that other tools wrote without one included.

``versioned`` 1.x and aioversioned store the sha256 in the object's metadata. An object
that ``aws s3 cp``, s3fs or obstore wrote, or that a failed ``versioned`` 1.x publish
left (it copies, then raises), has none; s3fs's ``setxattr`` spells the key
``artifact-sha256``. Such an object's sha256 is learned by streaming it once (memory
bounded by one chunk, pinned to its ETag) and remembered in a record whose key holds
the version, the ETag and the sha256 (``.aioversioned/published/``, LATEST's records
too): a record only speaks for the object while it keeps that ETag.

LATEST is the one object whose metadata is not believed for decisions: any tool may
overwrite it, and one that keeps or copies ``artifact_sha256`` leaves a claim its bytes
do not match. ``put_artifact`` therefore records the ETag it wrote with its sha256 (and
deletes LATEST's older records), and a publish, or a put deciding that the bytes are the
same, takes LATEST's sha256 from that record only; without one, LATEST is streamed
(publish) or written again (put).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import partial

import anyio.to_thread

from . import _keys
from ._keys import Layout
from ._s3 import S3, ObjectInfo, ObjectMissing
from ._tasks import both
from .errors import StorageError, VersionConflictError

_CHUNK = 1 << 20
_LEARN_ATTEMPTS = 3
_FIRST_PAGE = 16  # keys of the listing that finds LATEST's and the newest records
_LATEST_ATTEMPTS = 8  # as many as a publish copies LATEST while it changes


@dataclass(frozen=True)
class Records:
    """The sha256 records of one artifact, from one listing: ``(etag, sha256, key)``
    by version number (None for LATEST)."""

    by_version: Mapping[int | None, tuple[tuple[str, str, str], ...]]

    @classmethod
    def parse(cls, layout: Layout, name: str, listed: Iterable[ObjectInfo]) -> Records:
        found: dict[int | None, list[tuple[str, str, str]]] = {}
        for info in listed:
            with contextlib.suppress(ValueError):
                number, etag, sha256 = layout.parse_record_key(name, info.key)
                found.setdefault(number, []).append((etag, sha256, info.key))
        return cls({number: tuple(items) for number, items in found.items()})

    def sha256(self, number: int | None, etag: str) -> str | None:
        """The recorded sha256 of the version while it has ``etag``, or None."""
        for recorded, sha256, _ in self.by_version.get(number, ()):
            if recorded == etag.strip('"'):
                return sha256
        return None

    def keys(self, number: int | None) -> list[str]:
        """Every record of version ``number`` (they all go when it is deleted)."""
        return [key for _, _, key in self.by_version.get(number, ())]


class Hashes:
    """The sha256 of the versions of one artifact: metadata, records, or learned."""

    def __init__(self, s3: S3, layout: Layout, name: str) -> None:
        self._s3 = s3
        self._layout = layout
        self._name = name

    async def records(self, number: int | None) -> Records:
        """The records of one version (one listing)."""
        listed = await self._s3.list_all(self._layout.published_prefix(self._name, number))
        return Records.parse(self._layout, self._name, listed)

    async def latest_and_newest(self) -> tuple[Records, tuple[int, ObjectInfo] | None]:
        """LATEST's records and the newest numbered version's record (its number and
        listing), from one listing in most cases: LATEST's records sort before every
        numbered one, and numbered ones newest first, so a short page holds them all
        and the newest record unless stale LATEST records fill it."""
        latest_prefix = self._layout.published_prefix(self._name, None)
        latest: list[ObjectInfo] = []
        pages = self._s3.pages(self._layout.published_dir(self._name), page_size=_FIRST_PAGE)
        async for page in pages:
            for info in page:
                if info.key.startswith(latest_prefix):
                    latest.append(info)
                    continue
                with contextlib.suppress(ValueError):  # a foreign key: the next one
                    number = self._layout.parse_published_key(self._name, info.key)[0]
                    return Records.parse(self._layout, self._name, latest), (number, info)
        return Records.parse(self._layout, self._name, latest), None

    async def known(self, number: int | None, info: ObjectInfo) -> str | None:
        """The sha256 from the object's metadata, else from a record of its ETag; None
        when neither has it (nothing is streamed)."""
        if sha256 := _keys.stored_sha256(info.metadata):
            return sha256
        return (await self.records(number)).sha256(number, info.etag)

    async def of(self, number: int | None, info: ObjectInfo) -> tuple[str, ObjectInfo] | None:
        """The sha256 of the object ``info`` describes (and what it describes by then):
        known, else learned by streaming it. None when the object is gone."""
        if sha256 := await self.known(number, info):
            return sha256, info
        return await self.learn(number, info)

    async def learn(self, number: int | None, info: ObjectInfo) -> tuple[str, ObjectInfo] | None:
        """Stream the object (while it keeps its ETag), hash it and record the sha256.

        An object replaced meanwhile is read again as it is then (at most 3 times:
        VersionConflictError after); None when it is gone.
        """
        for _ in range(_LEARN_ATTEMPTS):
            try:
                sha256, etag = await self.stream(info)
            except ObjectMissing:
                return None
            except VersionConflictError:
                current = await self._s3.head(info.key)
                if current is None:
                    return None
                info = current
                if stored := _keys.stored_sha256(info.metadata):
                    return stored, info
                continue
            await self.remember(number, etag, sha256)
            return sha256, info
        raise VersionConflictError(info.key, "kept changing while its sha256 was being read")

    async def latest_sha256(
        self, info: ObjectInfo, records: Records
    ) -> tuple[str, ObjectInfo] | None:
        """The sha256 that LATEST's bytes (``info``) are known to have, and what LATEST is
        by then: the record of its ETag (``records``, LATEST's), else learned by streaming
        it. None when it is gone.

        LATEST's ``artifact_sha256`` metadata is not taken: another tool may have written
        other bytes under it, and a publish would freeze them with a sha256 they do not
        have. Every put_artifact records the ETag it wrote (:meth:`vouch_latest`), so
        only a LATEST written by another tool is streamed, once.
        """
        for _ in range(_LATEST_ATTEMPTS):
            if sha256 := records.sha256(None, info.etag):
                return sha256, info
            try:
                sha256, etag = await self.stream(info)
            except ObjectMissing:
                return None
            except VersionConflictError:
                # Replaced while it was read: by a put whose record may be there by now.
                current, records = await both(
                    partial(self._s3.head, info.key), partial(self.records, None)
                )
                if current is None:
                    return None
                info = current
                continue
            await self.remember(None, etag, sha256)
            return sha256, info
        raise VersionConflictError(info.key, "kept changing while its sha256 was being read")

    async def vouch_latest(self, etag: str, sha256: str, records: Records) -> None:
        """Record that LATEST, as this call wrote it (``etag``), holds ``sha256``, and
        delete LATEST's other ``records`` (of ETags it no longer has), at once; a failure
        only costs the next publish a stream, or the next put of these bytes an upload."""
        kept = self._layout.published_key(self._name, None, etag, sha256)
        stale = [key for key in records.keys(None) if key != kept]

        async def delete() -> None:
            with contextlib.suppress(StorageError):
                await self._s3.delete(stale)

        if stale:
            await both(partial(self.remember, None, etag, sha256), delete)
        else:
            await self.remember(None, etag, sha256)

    async def stream(self, info: ObjectInfo) -> tuple[str, str]:
        """The sha256 of the object's bytes while it has ``info``'s ETag, and that ETag.

        Raises ObjectMissing when it is gone, VersionConflictError when it was replaced.
        """
        digest = hashlib.sha256()
        async with self._s3.open(info.key, if_match=info.etag) as (opened, read):
            while chunk := await read(_CHUNK):
                await anyio.to_thread.run_sync(digest.update, chunk)
        return digest.hexdigest(), opened.etag

    async def remember(self, number: int | None, etag: str, sha256: str) -> None:
        """Record a sha256; a failure (read-only credentials) only costs a later stream."""
        key = self._layout.published_key(self._name, number, etag, sha256)
        with contextlib.suppress(StorageError, VersionConflictError):
            await self._s3.put(key, b"")
