"""Moving large bytes up: multipart uploads and server-side copies.

Memory stays bounded whatever the size: a transfer holds at most ``PARTS_IN_FLIGHT``
parts in flight plus the one being read, each of the part size. Every request still
goes through the repository's bound on requests in flight.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import IO, cast

import anyio
import anyio.to_thread

from . import _validate
from ._s3 import S3, ObjectInfo, ObjectMissing, WriteResult
from ._sources import Chunks, Measured, read_full
from ._tasks import gather, task_group
from .errors import AioVersionedError, IntegrityError, InvalidInputError, VersionConflictError

MiB = 1 << 20
GiB = 1 << 30
MIN_PART_SIZE = 5 * MiB  # S3's smallest part, except the last one
MAX_PART_SIZE = 5 * GiB
MAX_PARTS = 10_000
COPY_LIMIT = 5 * GiB  # the largest object one CopyObject request copies (tests lower it)
MAX_PUT_SIZE = 5 * GiB  # the largest object one PutObject request uploads
PARTS_IN_FLIGHT = 6
# Defaults of multipart_threshold and multipart_chunksize, from `python -m
# benchmarks.putsizes` (docs/benchmarks.md, "put_artifact sizes"): at 32 and 64 MiB one
# PUT was as fast as 8 or 16 MiB parts or faster on moto and SeaweedFS at 0 and 20 ms
# per request, bar one tie (parts cost two more round trips, create and complete, and
# gain no bandwidth on loopback); above it, parts keep memory bounded (PARTS_IN_FLIGHT
# parts) and use parallel connections, which pays where one connection's bandwidth is
# the limit (S3). On S3 parts are 5 MiB to 5 GiB, at most 10,000: 8 MiB parts reach
# 78 GiB, and larger objects get larger parts (TransferConfig.part_size).
DEFAULT_THRESHOLD = 64 * MiB
DEFAULT_CHUNKSIZE = 8 * MiB

OnProgress = Callable[[int, int | None], object]
"""``on_progress(done_bytes, total_bytes)``; ``total_bytes`` is None for a stream."""


@dataclass(frozen=True)
class TransferConfig:
    """When to switch to multipart transfers, and the size of their parts."""

    threshold: int
    chunksize: int

    def part_size(self, size: int) -> int:
        """Part size for ``size`` bytes: the chunk size, larger if 10,000 parts fall short."""
        return max(self.chunksize, -(-size // MAX_PARTS))


def transfer_config(threshold: object, chunksize: object) -> TransferConfig:
    """Check the constructor's ``multipart_threshold`` and ``multipart_chunksize``."""
    return TransferConfig(
        _validate.int_in(threshold, "multipart_threshold", 1, MAX_PUT_SIZE),
        _validate.int_in(chunksize, "multipart_chunksize", MIN_PART_SIZE, MAX_PART_SIZE),
    )


def check_callback(on_progress: object) -> None:
    if on_progress is not None and not callable(on_progress):
        raise InvalidInputError("on_progress", f"must be callable, got {on_progress!r}")


def progress_counter(on_progress: OnProgress | None, total: int | None) -> Callable[[int], None]:
    """A function that adds sent bytes and reports the running total to ``on_progress``."""
    done = 0

    def advance(size: int) -> None:
        nonlocal done
        done += size
        if on_progress is not None:
            on_progress(done, total)

    return advance


async def upload_parts(
    s3: S3,
    key: str,
    read_part: Callable[[], Awaitable[bytes]],
    *,
    metadata: Mapping[str, str],
    content_type: str | None,
    progress: Callable[[int], None],
    exclusive: bool = False,
) -> WriteResult:
    """Multipart upload of the parts ``read_part`` returns until b"", several at a time.

    Nothing is visible at ``key`` until the upload completes; on any error or
    cancellation the upload is aborted. ``exclusive``: see S3.create_multipart.
    """
    upload_id = await s3.create_multipart(
        key, metadata=metadata, content_type=content_type, exclusive=exclusive
    )
    try:
        etags: list[str] = []
        slots = anyio.Semaphore(PARTS_IN_FLIGHT)

        async def send(number: int, body: bytes) -> None:
            try:
                etags[number - 1] = await s3.upload_part(key, upload_id, number, body)
            finally:
                slots.release()
            progress(len(body))

        async with task_group() as tg:
            while True:
                await slots.acquire()  # before reading, so waiting parts hold no memory
                body = await read_part()
                if not body:
                    slots.release()
                    break
                if len(etags) == MAX_PARTS:
                    raise InvalidInputError(
                        "content", f"needs more than {MAX_PARTS} parts; raise multipart_chunksize"
                    )
                etags.append("")
                tg.start_soon(send, len(etags), body)
                del body  # the task holds it; waiting for a slot must not
        return await s3.complete_multipart(key, upload_id, etags)
    except BaseException:
        await _abort(s3, key, upload_id)
        raise


async def _abort(s3: S3, key: str, upload_id: str) -> None:
    """Abort an unfinished upload, even while the caller is being cancelled.

    A failure to abort is not raised over the error that caused it; the parts are
    then left for the bucket's AbortIncompleteMultipartUpload lifecycle rule.
    """
    with anyio.CancelScope(shield=True), contextlib.suppress(AioVersionedError):
        await s3.abort_multipart(key, upload_id)


async def upload(
    s3: S3,
    key: str,
    body: Measured,
    config: TransferConfig,
    *,
    metadata: Mapping[str, str],
    content_type: str | None,
    progress: Callable[[int], None],
) -> WriteResult:
    """Send measured content: one PUT up to the threshold, else a multipart upload.

    A file that no longer hashes to ``body.sha256`` when read again raises
    IntegrityError and the upload is aborted.
    """
    if body.data is not None and body.size <= config.threshold:
        written = await s3.put(key, body.data, metadata=metadata, content_type=content_type)
        progress(body.size)
        return written
    part_size = config.part_size(body.size)
    if body.data is not None:
        data, offset = body.data, 0

        async def read_part() -> bytes:
            nonlocal offset
            part = data[offset : offset + part_size]
            offset += len(part)
            return part

    else:
        file, digest = cast(IO[bytes], body.file), hashlib.sha256()

        def read_and_hash() -> bytes:
            part = read_full(file, part_size)
            digest.update(part)
            if not part and digest.hexdigest() != body.sha256:
                raise IntegrityError(key, body.sha256, digest.hexdigest())
            return part

        async def read_part() -> bytes:
            return await anyio.to_thread.run_sync(read_and_hash)

    return await upload_parts(
        s3, key, read_part, metadata=metadata, content_type=content_type, progress=progress
    )


async def upload_stream(
    s3: S3,
    key: str,
    chunks: Chunks,
    config: TransferConfig,
    *,
    metadata: Mapping[str, str],
    content_type: str | None,
    progress: Callable[[int], None],
) -> tuple[ObjectInfo, str]:
    """Multipart upload of a stream to ``key``; returns what was written and its sha256."""
    digest = hashlib.sha256()
    size = 0

    async def read_part() -> bytes:
        nonlocal size
        part = await chunks.read(config.chunksize)
        await anyio.to_thread.run_sync(digest.update, part)
        size += len(part)
        return part

    written = await upload_parts(
        s3,
        key,
        read_part,
        metadata=metadata,
        content_type=content_type,
        progress=progress,
        exclusive=True,  # a key of its own
    )
    return ObjectInfo(key, written.etag, written.last_modified, size), digest.hexdigest()


def part_ranges(size: int, part_size: int) -> list[tuple[int, int]]:
    """Inclusive byte ranges that cover ``size`` bytes in parts of ``part_size``."""
    return [(first, min(first + part_size, size) - 1) for first in range(0, size, part_size)]


def multipart_count(etag: str) -> int | None:
    """The number of parts a multipart ETag (``"<md5>-<parts>"``) tells; None for others."""
    _, dash, count = etag.strip('"').rpartition("-")
    if not dash or not (count.isascii() and count.isdigit()) or not 1 <= int(count) <= MAX_PARTS:
        return None
    return int(count)


def same_parts(size: int, first_part: int, count: int) -> bool:
    """Whether parts of ``first_part`` bytes (the last one shorter) make ``count`` parts of
    ``size`` bytes, each a size S3 takes for a part."""
    return (
        MIN_PART_SIZE <= first_part <= MAX_PART_SIZE and len(part_ranges(size, first_part)) == count
    )


def multipart_etag(part_etags: list[str]) -> str | None:
    """The ETag S3 gives an object completed from parts with these ETags (the MD5 of
    their MD5s and the count), or None when a part's ETag is not an MD5."""
    digests = []
    for etag in part_etags:
        hexdigits = etag.strip('"')
        if len(hexdigits) != 32 or not all(c in "0123456789abcdef" for c in hexdigits):
            return None
        digests.append(bytes.fromhex(hexdigits))
    return f'"{hashlib.md5(b"".join(digests)).hexdigest()}-{len(digests)}"'


async def copy_object(
    s3: S3,
    source: ObjectInfo,
    target: str,
    part_size: int,
    *,
    metadata: Mapping[str, str] | None = None,
    content_type: str | None = None,
    if_none_match: bool,
    in_parts: bool = False,
    exclusive: bool = False,
) -> WriteResult:
    """Server-side copy of ``source`` while it keeps its ETag: CopyObject up to COPY_LIMIT,
    above it a multipart upload of UploadPartCopy parts of ``part_size``, completed
    atomically.

    ``in_parts``: copy in parts of ``part_size`` (the source's own parts), so that the
    copy gets the source's multipart ETag, which a CopyObject replaces with an MD5 on S3
    and moto. A server whose part ETags do not make the source's (SeaweedFS, which keeps
    the ETag through CopyObject) gets the upload aborted after its first part and one
    CopyObject instead. Without ``metadata`` the source's metadata and content type are
    kept. ``exclusive``: see S3.create_multipart.
    """
    copy_whole = partial(
        s3.copy,
        source.key,
        target,
        source_etag=source.etag,
        metadata=metadata,
        content_type=content_type,
        if_none_match=if_none_match,
    )
    if source.size <= COPY_LIMIT and not in_parts:
        return await copy_whole()
    if metadata is None:
        metadata, content_type = source.metadata, source.content_type
    upload_id = await s3.create_multipart(
        target, metadata=metadata, content_type=content_type, exclusive=exclusive
    )
    # Where a CopyObject can take over, parts that will not make the source's ETag go.
    keep_etag = in_parts and source.size <= COPY_LIMIT
    try:
        copy_part = partial(
            s3.copy_part, target, upload_id, source=source.key, source_etag=source.etag
        )
        ranges = part_ranges(source.size, part_size)
        etags: list[str] = []
        if keep_etag:  # the first part tells whether the server's part ETags are MD5s
            etags.append(await copy_part(1, first=ranges[0][0], last=ranges[0][1]))
        if not keep_etag or multipart_etag(etags) is not None:
            etags += await gather(
                partial(copy_part, number, first=first, last=last)
                for number, (first, last) in enumerate(ranges[len(etags) :], len(etags) + 1)
            )
        if not keep_etag or multipart_etag(etags) == source.etag:
            return await _complete_copy(s3, source, target, upload_id, etags, if_none_match)
    except BaseException:
        await _abort(s3, target, upload_id)
        raise
    await _abort(s3, target, upload_id)
    return await copy_whole()


async def _complete_copy(
    s3: S3, source: ObjectInfo, target: str, upload_id: str, etags: list[str], if_none_match: bool
) -> WriteResult:
    """Complete a copy in parts if ``source`` still has the ETag its parts were copied at."""
    # Some servers (moto) ignore CopySourceIfMatch on UploadPartCopy: a source
    # replaced meanwhile would leave parts of two contents under the metadata of
    # the first. Complete only if the source still has the ETag it was copied at.
    current = await s3.head(source.key)
    if current is None:
        raise ObjectMissing(source.key)
    if current.etag != source.etag:
        raise VersionConflictError(source.key, "changed while its parts were copied")
    return await s3.complete_multipart(target, upload_id, etags, if_none_match=if_none_match)
