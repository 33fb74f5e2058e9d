"""What put_artifact accepts, and how much of it must be read to know how to send it.

Pure input handling: nothing here sends a request.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast

import anyio
import anyio.to_thread

from .errors import InvalidInputError

Content = bytes | bytearray | memoryview | os.PathLike[str] | IO[bytes] | AsyncIterable[bytes]
"""What put_artifact accepts."""
Source = bytes | Path | IO[bytes] | AsyncIterable[bytes]
_HASH_PIECE = 1 << 20


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


def _as_bytes(piece: object) -> bytes:
    if isinstance(piece, bytes):
        return piece
    if isinstance(piece, bytearray | memoryview):
        return bytes(piece)
    raise InvalidInputError("content", f"must provide bytes, got {type(piece).__name__}")


def read_full(file: IO[bytes], size: int) -> bytes:
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


# Hashing this much takes about 0.1 ms, less CPU than a hop to a worker thread and back.
INLINE_HASH_BYTES = 256 * 1024


async def sha256_of(data: bytes) -> str:
    """The sha256 of ``data``: on the event loop when small, else in a worker thread."""
    if len(data) <= INLINE_HASH_BYTES:
        return _sha256(data)
    return await anyio.to_thread.run_sync(_sha256, data)


def _seekable(file: IO[bytes]) -> bool:
    seekable = getattr(file, "seekable", None)  # a minimal file-like may only have read()
    return bool(seekable and seekable())


def _hash_rest(file: IO[bytes], head: bytes, start: int) -> tuple[str, int]:
    """sha256 and size of ``head`` and the rest of ``file``, then rewind to ``start``."""
    digest = hashlib.sha256(head)
    size = len(head)
    while piece := _as_bytes(file.read(_HASH_PIECE)):
        digest.update(piece)
        size += len(piece)
    file.seek(start)
    return digest.hexdigest(), size


@contextlib.asynccontextmanager
async def measured(
    source: Source, threshold: int, chunksize: int
) -> AsyncIterator[Measured | Chunks]:
    """Read enough of ``source`` to know how to send it.

    Bytes, and content that ends within the threshold, are hashed in memory; a
    seekable file is hashed in a first pass and read again to be sent; anything else
    is a stream (Chunks) whose sha256 is known only once it was sent. A path is
    opened here and closed on exit.
    """
    if isinstance(source, bytes):
        yield Measured(await sha256_of(source), len(source), source)
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
            head = await anyio.to_thread.run_sync(read_full, file, threshold + 1)
            if len(head) <= threshold:
                yield Measured(await sha256_of(head), len(head), head)
                return
            digest, size = await anyio.to_thread.run_sync(_hash_rest, file, head, start)
            del head  # do not hold it while the file is sent
            yield Measured(digest, size, None, file)
            return
        if file is not None:
            chunks = Chunks(_file_pull(file, chunksize))
        else:
            chunks = Chunks(_stream_pull(cast(AsyncIterable[bytes], source)))
        head = await chunks.read(threshold + 1)
        if len(head) <= threshold:
            yield Measured(await sha256_of(head), len(head), head)
            return
        chunks.unread(head)
        del head  # unread() copied it
        yield chunks
