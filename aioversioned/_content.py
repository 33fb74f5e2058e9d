"""Content reads of AsyncRepository: bytes, files, streams and alias content.

Split from ``_repository.py`` to keep modules small; ``AsyncRepository`` inherits them.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial

import anyio
import anyio.to_thread

from . import _download, _keys, _transfer, _validate
from ._aliases import AliasOperations
from ._cache import ContentCache
from ._flights import Flights
from ._hashes import Hashes
from ._keys import VersionLike
from ._models import Artifact
from ._s3 import ObjectInfo, ObjectMissing
from ._sources import sha256_of
from ._transfer import OnProgress, TransferConfig
from .errors import ArtifactNotFoundError, IntegrityError, InvalidInputError

DEFAULT_CHUNK_SIZE = 1 << 20
_LOCK_POLL_MAX = 0.25  # seconds between tries of a fill lock another process holds


@asynccontextmanager
async def _filling(cache: ContentCache, sha256: str, size: int) -> AsyncIterator[None]:
    """Hold the cross-process lock on filling ``sha256``, waiting while another process
    fills it (the lock goes with a process that dies, so the wait ends)."""
    if size > cache.max_bytes:  # never stored: waiting would only queue the downloads
        yield
        return
    delay = 0.01
    while (lock := await anyio.to_thread.run_sync(cache.try_lock_fill, sha256)) is None:
        await anyio.sleep(delay)
        delay = min(2 * delay, _LOCK_POLL_MAX)
    try:
        yield
    finally:
        cache.unlock_fill(lock)  # two quick system calls, never skipped by a cancellation


class ContentOperations(AliasOperations):
    """Reading the bytes of versions, through the content cache when there is one."""

    _config: TransferConfig
    _cache: ContentCache | None
    _flights: Flights[bytes]  # reads of versions in progress, shared by their callers
    _artifact: Callable[[str, int | None, ObjectInfo, str | None], Artifact]  # AsyncRepository

    def _hashes(self, name: str) -> Hashes:
        return Hashes(self._s3, self.layout, name)

    async def _described(self, name: str, number: int | None, info: ObjectInfo) -> Artifact:
        """The Artifact of a version object, its sha256 learned (streamed once) if it has
        none; ArtifactNotFoundError if it is deleted meanwhile."""
        found = await self._hashes(name).of(number, info)
        if found is None:
            raise await self._not_found(name, number)
        sha256, info = found
        return self._artifact(name, number, info, sha256)

    async def get_artifact_content(self, name: str, version: VersionLike = None) -> bytes:
        """Download the bytes of one version (default LATEST).

        The bytes are checked against the version's recorded sha256: IntegrityError
        on a mismatch (an object another tool wrote without one is hashed and its
        sha256 recorded, so later reads are checked). With a
        ``cache_dir``, a HEAD finds the version's sha256 and a cached copy is served
        without a GET; processes sharing the directory download a content once.
        Concurrent calls for one version share one read and get the same ``bytes``
        object (a LATEST call only shares a read begun after it was called, so it never
        returns content older than the call); cancelling one call leaves the read to
        the others, and a failed read fails its callers and is not remembered.
        """
        self.layout.check_name(name)
        number = _keys.parse_version(version)
        return await self._flights.share(
            (name, number), partial(self._content, name, number), fresh=number is None
        )

    async def _content(self, name: str, number: int | None) -> bytes:
        """One read of a version's bytes: from the cache, or one GET that fills it."""
        cache = self._cache
        if cache is None:
            return (await self._fetch(name, number))[0]
        info = await self._head_version(name, number)
        sha256 = await self._hashes(name).known(number, info)
        if sha256 is None:  # written by another tool: the download tells its sha256
            body, actual = await self._fetch(name, number, learning=True)
            await anyio.to_thread.run_sync(cache.store_bytes, actual, body)
            return body
        data = await anyio.to_thread.run_sync(cache.read, sha256)
        if data is not None:
            return data
        async with _filling(cache, sha256, info.size):
            data = await anyio.to_thread.run_sync(cache.read, sha256)  # another process's
            if data is None:
                data, actual = await self._fetch(name, number)  # LATEST may have moved on: fine
                await anyio.to_thread.run_sync(cache.store_bytes, actual, data)
        return data

    async def _fetch(
        self, name: str, number: int | None, *, learning: bool = False
    ) -> tuple[bytes, str]:
        """One GET of a version, verified; returns the bytes and their sha256.

        The GET leaves the server's checksum unchecked, as the sha256 checks the bytes.
        A version that tells no sha256 (another tool wrote it) is read again with that
        checksum checked, since those bytes are what its recorded sha256 is learned
        from; ``learning``: the caller found it tells none, so the one GET is checked.
        """
        key = self.layout.version_key(name, number)
        hashes = self._hashes(name)
        found = await self._s3.get(key, limit=None, verified=not learning)
        expected = None if found is None else await hashes.known(number, found[1])
        if found is not None and expected is None and not learning:
            first = found[1].etag
            found = await self._s3.get(key, limit=None)
            if found is not None and found[1].etag != first:  # replaced meanwhile
                expected = await hashes.known(number, found[1])
        if found is None:
            raise await self._not_found(name, number)
        body, info = found
        actual = await sha256_of(body)
        if expected is None:  # written by another tool: learned from these very bytes
            await hashes.remember(number, info.etag, actual)
        elif actual != expected:
            raise IntegrityError(info.key, expected, actual)
        return body, actual

    async def download_artifact(
        self,
        name: str,
        path: str | os.PathLike[str],
        version: VersionLike = None,
        *,
        on_progress: OnProgress | None = None,
    ) -> Artifact:
        """Download one version (default LATEST) into the file ``path``; returns the version.

        The bytes go to a temporary file next to ``path`` that replaces it only once
        their sha256 matched; on IntegrityError (or any error) ``path`` is left as it
        was. One GET streams it; above ``multipart_threshold``, concurrent ranged GETs
        fetch the rest when a probe shows a second connection adds speed (see
        docs/benchmarks.md). Requests are pinned to the object's ETag:
        VersionConflictError if LATEST is overwritten meanwhile (download again).
        ``on_progress(done_bytes, total_bytes)`` is called on the event loop as bytes
        arrive. With a ``cache_dir`` the file is copied from the cache when it holds
        the content, and stored there after a download.
        """
        self.layout.check_name(name)
        number = _keys.parse_version(version)
        target = _download.target_path(path)
        _transfer.check_callback(on_progress)
        info = await self._head_version(name, number)
        hashes = self._hashes(name)
        known = await hashes.known(number, info)  # None: another tool wrote it without
        sha256 = known or ""
        progress = _transfer.progress_counter(on_progress, info.size)
        cache = self._cache
        async with _download.replacing(target) as file:
            hit = (
                cache is not None
                and known is not None
                and await anyio.to_thread.run_sync(cache.copy_into, sha256, file)
            )
            if hit:
                progress(info.size)
            else:
                try:
                    actual = await _download.download(
                        self._s3, info, file, self._config, progress, verified=known is not None
                    )
                except ObjectMissing:  # deleted since the HEAD
                    raise await self._not_found(name, number) from None
                if known is None:  # the download was pinned to the ETag: its sha256
                    await hashes.remember(number, info.etag, actual)
                    sha256 = actual
                elif actual != sha256:
                    raise IntegrityError(info.key, sha256, actual)
        if cache is not None and not hit:
            await anyio.to_thread.run_sync(cache.store_file, sha256, target)
        return self._artifact(name, number, info, sha256)

    async def iter_artifact_content(
        self, name: str, version: VersionLike = None, chunk_size: int = DEFAULT_CHUNK_SIZE
    ) -> AsyncGenerator[bytes, None]:
        """Stream the bytes of one version (default LATEST) in chunks of ``chunk_size``.

        One GET, hashed as it streams: after the last chunk IntegrityError is raised if
        the bytes do not match the recorded sha256, so trust what you received only
        once the iteration ended. Close an iterator you leave early (``aclose()`` or
        ``contextlib.aclosing``) to free its connection. Does not use the cache.
        """
        self.layout.check_name(name)
        number = _keys.parse_version(version)
        _validate.at_least(chunk_size, "chunk_size", 1)
        key = self.layout.version_key(name, number)
        digest = hashlib.sha256()
        hashes = self._hashes(name)
        try:
            async with self._s3.open(key) as (info, read):
                expected = await hashes.known(number, info)
                while chunk := await read(chunk_size):
                    digest.update(chunk)
                    yield chunk
        except ObjectMissing:
            raise await self._not_found(name, number) from None
        if expected is None:  # written by another tool: learned from this stream
            await hashes.remember(number, info.etag, digest.hexdigest())
        elif digest.hexdigest() != expected:
            raise IntegrityError(key, expected, digest.hexdigest())

    async def get_alias_content(
        self, name: str, alias: str, key: str | None = None, *, max_age: float | None = None
    ) -> bytes:
        """The content of the version ``alias`` picks for ``key`` (see Alias.pick_version).

        Without ``key`` the pick is random in the alias's proportion; with one (a user
        id, a host name) the same key keeps getting the same version. ``max_age`` lets
        the alias come from memory as in get_alias; the content comes through the
        content cache when there is one. Raises AliasNotFoundError,
        ArtifactNotFoundError (naming the alias when its version is missing) and
        IntegrityError.
        """
        if key is not None and not isinstance(key, str):
            raise InvalidInputError("key", f"must be None or a str, got {type(key).__name__}")
        found = await self.get_alias(name, alias, max_age=max_age)
        version = found.pick_version(key)
        try:
            return await self.get_artifact_content(name, version)
        except ArtifactNotFoundError:  # deleted with force=True: say which alias led there
            raise ArtifactNotFoundError(name, version, alias) from None
