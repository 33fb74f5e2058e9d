"""Moving large bytes: multipart uploads, server-side copies and ranged downloads.

Memory stays bounded whatever the size: a transfer holds at most ``PARTS_IN_FLIGHT``
parts in flight plus the one being read, each of the part size. Every request still
goes through the repository's bound on requests in flight.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import IO, cast

import anyio
import anyio.to_thread

from ._cache import new_temp_file
from ._s3 import S3, ObjectInfo, WriteResult
from ._tasks import gather, task_group
from .errors import AioVersionedError, IntegrityError, InvalidInputError

MiB = 1 << 20
GiB = 1 << 30
MIN_PART_SIZE = 5 * MiB  # S3's smallest part, except the last one
MAX_PART_SIZE = 5 * GiB
MAX_PARTS = 10_000
COPY_LIMIT = 5 * GiB  # the largest object one CopyObject request copies (tests lower it)
PARTS_IN_FLIGHT = 6
READ_SIZE = MiB  # the pieces of streamed downloads and of hashing passes

Content = bytes | bytearray | memoryview | os.PathLike[str] | IO[bytes] | AsyncIterable[bytes]
"""What put_artifact accepts."""
OnProgress = Callable[[int, int | None], object]
"""``on_progress(done_bytes, total_bytes)``; ``total_bytes`` is None for a stream."""
Source = bytes | Path | IO[bytes] | AsyncIterable[bytes]


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
    if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 1:
        raise InvalidInputError("multipart_threshold", f"must be an int >= 1, got {threshold!r}")
    if (
        isinstance(chunksize, bool)
        or not isinstance(chunksize, int)
        or not MIN_PART_SIZE <= chunksize <= MAX_PART_SIZE
    ):
        raise InvalidInputError(
            "multipart_chunksize", f"must be an int from 5 MiB to 5 GiB, got {chunksize!r}"
        )
    return TransferConfig(threshold, chunksize)


def check_content(content: object) -> Source:
    """Classify what put_artifact received; InvalidInputError before any request."""
    if isinstance(content, bytes | bytearray | memoryview):
        return bytes(content)
    if isinstance(content, str):
        raise InvalidInputError(
            "content", "a str is neither bytes nor taken as a path; pass pathlib.Path for a file"
        )
    if isinstance(content, os.PathLike):
        path = Path(os.fsdecode(content))
        if not path.is_file():
            raise InvalidInputError("content", f"{str(path)!r} is not a file")
        return path
    if isinstance(content, AsyncIterable):
        return cast(AsyncIterable[bytes], content)
    if hasattr(content, "read"):
        mode = getattr(content, "mode", None)
        if isinstance(content, io.TextIOBase) or (isinstance(mode, str) and "b" not in mode):
            raise InvalidInputError("content", "a file must be opened in binary mode ('rb')")
        return cast(IO[bytes], content)
    raise InvalidInputError(
        "content",
        "must be bytes, a path, a binary file or an async iterable of bytes, "
        f"got {type(content).__name__}",
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


def _as_bytes(piece: object) -> bytes:
    if isinstance(piece, bytes):
        return piece
    if isinstance(piece, bytearray | memoryview):
        return bytes(piece)
    raise InvalidInputError("content", f"must provide bytes, got {type(piece).__name__}")


def _read_full(file: IO[bytes], size: int) -> bytes:
    """``size`` bytes of ``file``, fewer only at its end (a raw file may return less)."""
    pieces = []
    wanted = size
    while wanted > 0 and (piece := _as_bytes(file.read(wanted))):
        pieces.append(piece)
        wanted -= len(piece)
    return b"".join(pieces)


@dataclass(frozen=True)
class Measured:
    """Content whose sha256 and size are known before it is sent.

    ``data`` holds the whole content, or is None for a seekable ``file``, positioned
    where the content starts, that is read again.
    """

    sha256: str
    size: int
    data: bytes | None
    file: IO[bytes] | None = None


class Chunks:
    """A stream of unknown size and sha256, read in parts."""

    def __init__(self, pull: Callable[[], Awaitable[bytes | None]]) -> None:
        self._pull = pull  # the next non-empty piece, or None at the end
        self._buffer = bytearray()
        self._ended = False

    def unread(self, data: bytes) -> None:
        self._buffer[:0] = data

    async def read(self, size: int) -> bytes:
        """The next ``size`` bytes, fewer only at the end of the stream."""
        while len(self._buffer) < size and not self._ended:
            piece = await self._pull()
            if piece is None:
                self._ended = True
            else:
                self._buffer += piece
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data


def _file_pull(file: IO[bytes], size: int) -> Callable[[], Awaitable[bytes | None]]:
    async def pull() -> bytes | None:
        return _as_bytes(await anyio.to_thread.run_sync(file.read, size)) or None

    return pull


def _stream_pull(stream: AsyncIterable[bytes]) -> Callable[[], Awaitable[bytes | None]]:
    iterator = aiter(stream)

    async def pull() -> bytes | None:
        while True:
            try:
                piece = _as_bytes(await anext(iterator))
            except StopAsyncIteration:
                return None
            if piece:
                return piece

    return pull


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _seekable(file: IO[bytes]) -> bool:
    seekable = getattr(file, "seekable", None)  # a minimal file-like may only have read()
    return bool(seekable and seekable())


def _hash_rest(file: IO[bytes], head: bytes, start: int) -> tuple[str, int]:
    """sha256 and size of ``head`` and the rest of ``file``, then rewind to ``start``."""
    digest = hashlib.sha256(head)
    size = len(head)
    while piece := _as_bytes(file.read(READ_SIZE)):
        digest.update(piece)
        size += len(piece)
    file.seek(start)
    return digest.hexdigest(), size


@contextlib.asynccontextmanager
async def measured(source: Source, config: TransferConfig) -> AsyncIterator[Measured | Chunks]:
    """Read enough of ``source`` to know how to send it.

    Bytes, and content that ends within the threshold, are hashed in memory; a
    seekable file is hashed in a first pass and read again to be sent; anything else
    is a stream (Chunks) whose sha256 is known only once it was sent. A path is
    opened here and closed on exit.
    """
    if isinstance(source, bytes):
        yield Measured(await anyio.to_thread.run_sync(_sha256, source), len(source), source)
        return
    with contextlib.ExitStack() as stack:
        if isinstance(source, Path):
            file: IO[bytes] | None = stack.enter_context(
                await anyio.to_thread.run_sync(source.open, "rb")
            )
        else:
            file = None if isinstance(source, AsyncIterable) else source
        if file is not None and await anyio.to_thread.run_sync(_seekable, file):
            start = await anyio.to_thread.run_sync(file.tell)
            head = await anyio.to_thread.run_sync(_read_full, file, config.threshold + 1)
            if len(head) <= config.threshold:
                yield Measured(await anyio.to_thread.run_sync(_sha256, head), len(head), head)
                return
            digest, size = await anyio.to_thread.run_sync(_hash_rest, file, head, start)
            del head  # do not hold it while the file is sent
            yield Measured(digest, size, None, file)
            return
        if file is not None:
            chunks = Chunks(_file_pull(file, config.chunksize))
        else:
            chunks = Chunks(_stream_pull(cast(AsyncIterable[bytes], source)))
        head = await chunks.read(config.threshold + 1)
        if len(head) <= config.threshold:
            yield Measured(await anyio.to_thread.run_sync(_sha256, head), len(head), head)
            return
        chunks.unread(head)
        del head  # unread() copied it
        yield chunks


async def upload_parts(
    s3: S3,
    key: str,
    read_part: Callable[[], Awaitable[bytes]],
    *,
    metadata: Mapping[str, str],
    content_type: str | None,
    progress: Callable[[int], None],
) -> WriteResult:
    """Multipart upload of the parts ``read_part`` returns until b"", several at a time.

    Nothing is visible at ``key`` until the upload completes; on any error or
    cancellation the upload is aborted.
    """
    upload_id = await s3.create_multipart(key, metadata=metadata, content_type=content_type)
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
            part = _read_full(file, part_size)
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
        s3, key, read_part, metadata=metadata, content_type=content_type, progress=progress
    )
    return ObjectInfo(key, written.etag, written.last_modified, size), digest.hexdigest()


def part_ranges(size: int, part_size: int) -> list[tuple[int, int]]:
    """Inclusive byte ranges that cover ``size`` bytes in parts of ``part_size``."""
    return [(first, min(first + part_size, size) - 1) for first in range(0, size, part_size)]


async def copy_object(
    s3: S3,
    source: ObjectInfo,
    target: str,
    part_size: int,
    *,
    metadata: Mapping[str, str] | None = None,
    content_type: str | None = None,
    if_none_match: bool,
) -> WriteResult:
    """Server-side copy of ``source`` while it keeps its ETag: CopyObject up to COPY_LIMIT,
    above it a multipart upload of UploadPartCopy parts, completed atomically.

    Without ``metadata`` the source's metadata and content type are kept.
    """
    if source.size <= COPY_LIMIT:
        return await s3.copy(
            source.key,
            target,
            source_etag=source.etag,
            metadata=metadata,
            content_type=content_type,
            if_none_match=if_none_match,
        )
    if metadata is None:
        metadata, content_type = source.metadata, source.content_type
    upload_id = await s3.create_multipart(target, metadata=metadata, content_type=content_type)
    try:
        etags = await gather(
            partial(
                s3.copy_part,
                target,
                upload_id,
                number,
                source=source.key,
                source_etag=source.etag,
                first=first,
                last=last,
            )
            for number, (first, last) in enumerate(part_ranges(source.size, part_size), 1)
        )
        return await s3.complete_multipart(target, upload_id, etags, if_none_match=if_none_match)
    except BaseException:
        await _abort(s3, target, upload_id)
        raise


def target_path(path: object) -> Path:
    """Check download_artifact's ``path`` before any request."""
    if not isinstance(path, str | os.PathLike) or not os.fspath(path):
        raise InvalidInputError("path", f"must be a path (str or os.PathLike), got {path!r}")
    target = Path(os.fsdecode(path))
    if target.is_dir():
        raise InvalidInputError("path", f"{str(target)!r} is a directory")
    if not target.parent.is_dir():
        raise InvalidInputError("path", f"directory {str(target.parent)!r} does not exist")
    return target


def _finish(file: IO[bytes], temp: Path, target: Path) -> None:
    with file:
        file.flush()
        os.fsync(file.fileno())
    os.replace(temp, target)


@contextlib.asynccontextmanager
async def replacing(target: Path) -> AsyncIterator[IO[bytes]]:
    """A new temporary file next to ``target``, renamed onto it only if the block succeeds."""
    temp, file = await anyio.to_thread.run_sync(
        new_temp_file, target.parent, f".{target.name}.part-"
    )
    try:
        yield file
        await anyio.to_thread.run_sync(_finish, file, temp, target)
    except BaseException:
        file.close()
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise


def _write_at(file: IO[bytes], offset: int, data: bytes) -> None:
    file.seek(offset)
    file.write(data)


def _file_sha256(file: IO[bytes]) -> str:
    file.flush()
    file.seek(0)
    digest = hashlib.sha256()
    while piece := file.read(READ_SIZE):
        digest.update(piece)
    return digest.hexdigest()


async def download(
    s3: S3,
    info: ObjectInfo,
    file: IO[bytes],
    config: TransferConfig,
    progress: Callable[[int], None],
) -> str:
    """Write the bytes of ``info`` into ``file``, pinned to its ETag; returns their sha256.

    Above the threshold, concurrent ranged GETs write their parts at their offsets and
    the file is hashed afterwards; below it, one GET is hashed as it streams. Raises
    VersionConflictError when the object changes meanwhile.
    """
    if info.size <= config.threshold:
        digest = hashlib.sha256()

        def write(piece: bytes) -> None:
            digest.update(piece)
            file.write(piece)

        async with s3.open(info.key, if_match=info.etag) as (_, read):
            while piece := await read(READ_SIZE):
                await anyio.to_thread.run_sync(write, piece)
                progress(len(piece))
        return digest.hexdigest()

    slots = anyio.Semaphore(PARTS_IN_FLIGHT)
    writing = anyio.Lock()

    async def fetch(first: int, last: int) -> None:
        try:
            data = await s3.get_range(info.key, first, last, if_match=info.etag)
            async with writing:
                await anyio.to_thread.run_sync(_write_at, file, first, data)
        finally:
            slots.release()
        progress(len(data))

    async with task_group() as tg:
        for first, last in part_ranges(info.size, config.part_size(info.size)):
            await slots.acquire()
            tg.start_soon(fetch, first, last)
    return await anyio.to_thread.run_sync(_file_sha256, file)
