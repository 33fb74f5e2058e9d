"""Downloads into a file: ranged GETs written at their offsets, replaced atomically."""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import IO

import anyio
import anyio.to_thread

from ._cache import new_temp_file
from ._s3 import S3, ObjectInfo
from ._tasks import task_group
from ._transfer import PARTS_IN_FLIGHT, TransferConfig, part_ranges
from .errors import InvalidInputError

READ_SIZE = 1 << 20  # the pieces of a streamed download


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
    """Write ``data`` at ``offset``: positional writes where the system has them, so
    that several threads write parts at once (through the file object, one at a time)."""
    if _PWRITE is None:
        file.seek(offset)
        file.write(data)
        return
    view = memoryview(data)
    while view:
        written = _PWRITE(file.fileno(), view, offset)
        view, offset = view[written:], offset + written


_PWRITE = getattr(os, "pwrite", None)  # POSIX only


async def download(
    s3: S3,
    info: ObjectInfo,
    file: IO[bytes],
    config: TransferConfig,
    progress: Callable[[int], None],
) -> str:
    """Write the bytes of ``info`` into ``file``, pinned to its ETag; returns their sha256.

    Above the threshold, concurrent ranged GETs write their parts at their offsets and
    are hashed in order as they arrive; below it, one GET is hashed as it streams. Raises
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
    # Without positional writes, parts take turns at the file's position.
    writing = anyio.Lock() if _PWRITE is None else contextlib.nullcontext()

    digest = hashlib.sha256()
    fetched: dict[int, bytes] = {}  # parts written whose earlier parts are on their way
    hashed = 0  # bytes hashed, in order
    hashing = anyio.Lock()

    async def fetch(first: int, last: int) -> None:
        nonlocal hashed
        try:
            data = await s3.get_range(info.key, first, last, if_match=info.etag)
            async with writing:
                await anyio.to_thread.run_sync(_write_at, file, first, data)
        except BaseException:
            slots.release()
            raise
        progress(len(data))
        fetched[first] = data
        # Hashed in order as the parts arrive, not in a second pass over the file; a
        # part keeps its slot until it is hashed, so at most PARTS_IN_FLIGHT are held.
        async with hashing:
            while (piece := fetched.pop(hashed, None)) is not None:
                await anyio.to_thread.run_sync(digest.update, piece)
                hashed += len(piece)
                slots.release()

    async with task_group() as tg:
        for first, last in part_ranges(info.size, config.part_size(info.size)):
            await slots.acquire()
            tg.start_soon(fetch, first, last)
    if hashed != info.size:  # every part was fetched, so every part was hashed
        raise AssertionError(f"hashed {hashed} of {info.size} bytes")
    return digest.hexdigest()
