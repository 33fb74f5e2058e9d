"""Downloads into a file: one stream, or ranged GETs where they pay; replaced atomically."""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import IO

import anyio
import anyio.to_thread

from ._cache import new_temp_file
from ._s3 import S3, ObjectInfo, RangeIgnored
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


def ranges_pay(alone: float, together: int, seconds: float) -> bool:
    """Whether ranged GETs pay: the stream alone brought ``alone`` bytes a second, and
    with the probe beside it the two brought ``together`` bytes in ``seconds``: half as
    much again, or more (a second connection adds what one connection could not)."""
    return together >= 1.5 * alone * seconds


async def download(
    s3: S3,
    info: ObjectInfo,
    file: IO[bytes],
    config: TransferConfig,
    progress: Callable[[int], None],
    *,
    verified: bool = False,
) -> str:
    """Write the bytes of ``info`` into ``file``, pinned to its ETag; returns their sha256.

    ``verified``: the caller checks that sha256 against one it knew before, so the
    stream leaves the server's checksum unchecked (ranges carry none).

    The strategy follows what the server does. Every download is one GET hashed as it
    streams, as ``iter_artifact_content`` (and so ``get`` to stdout) reads; at or below
    the threshold, only that. Above it, once the stream alone brought its second part
    (its speed measured over that part: the first one is its slow start), one ranged
    GET of the last part runs beside it as a probe. If the two together bring half as
    much again as the stream alone did, a second connection adds what one could not
    (as on S3, where one connection is the limit): the stream stops at the next part
    boundary and concurrent ranged GETs fetch the parts between it and the probe's.
    Otherwise (a server or a machine that is the limit) the stream goes on to the end,
    and the probe is cancelled when the stream ends first.

    Why not always ranges above the threshold: on moto, every ranged GET costs the
    server a read of the whole object, and its one thread serves one request at a
    time, so a 300 MiB download in 8 MiB parts took 11.2 s against 2.1 s for one GET.
    Why not a fixed speed threshold: a loaded machine makes any stream slow, and then
    ranges on moto were slower still (51 s against 18 s, load 10). Why not "the probe
    as fast as the stream": on a busy two-core machine SeaweedFS served the probe as
    fast, yet ranges took 22 s against 17 s for one stream; only a gain in the sum
    tells. Why the second part: SeaweedFS's stream brought its first part at 23-30
    MB/s and the whole 300 MiB at 200 MB/s. The probe costs one part's request; the
    speeds decide how bytes are fetched, never what is accepted: the sha256 covers
    every byte, whoever fetched it. A server that answers the probe with other bytes
    than its range (one that ignores Range sends the whole object) gets the stream
    alone; one that does so later fails the download with a StorageError.
    Raises VersionConflictError when the object changes meanwhile.
    """
    digest = hashlib.sha256()
    part = config.part_size(info.size)
    stream = _Stream(s3, info, file, digest, progress, part, verified)
    if info.size <= config.threshold or info.size <= 3 * part:  # no room to gain
        await stream.run()
        return digest.hexdigest()
    last = part_ranges(info.size, part)[-1]
    probed: dict[int, bytes] = {}

    async def probe(stream_done: anyio.Event) -> None:
        await stream.measured.wait()
        begun, streamed = time.monotonic(), stream.done
        try:
            data = await s3.get_range(info.key, *last, if_match=info.etag, verified=verified)
        except RangeIgnored:
            return  # a server that ignores Range: the stream brings everything
        together, seconds = len(data) + stream.done - streamed, time.monotonic() - begun
        if not stream_done.is_set() and ranges_pay(stream.alone, together, seconds):
            probed[last[0]] = data
            stream.stop_at_part_end()

    stream_done = anyio.Event()
    async with task_group() as tg:

        async def run_stream() -> None:
            await stream.run()
            stream_done.set()
            tg.cancel_scope.cancel()  # the probe, if it still runs, is not needed

        tg.start_soon(probe, stream_done)
        tg.start_soon(run_stream)
    if stream.done < info.size:
        await _ranges(s3, info, file, part, progress, digest, stream.done, probed, verified)
    return digest.hexdigest()


class _Stream:
    """One GET from the start, written and hashed in order; it can be told to stop."""

    def __init__(
        self,
        s3: S3,
        info: ObjectInfo,
        file: IO[bytes],
        digest: hashlib._Hash,
        progress: Callable[[int], None],
        part: int,
        verified: bool,
    ) -> None:
        self._s3, self._info, self._file, self._digest = s3, info, file, digest
        self._progress, self._part, self._verified = progress, part, verified
        self.done = 0  # bytes written and hashed
        self.measured = anyio.Event()  # set once the second part is written
        self.alone = 0.0  # bytes a second over the second part
        self._limit = info.size
        self._stopping = False  # stop at the end of the part being read

    def stop_at_part_end(self) -> None:
        """Stop at the end of the part being read (the rest comes in ranges)."""
        self._stopping = True

    def _write(self, piece: bytes) -> None:
        self._digest.update(piece)
        self._file.write(piece)

    async def run(self) -> None:
        info, part = self._info, self._part
        second: tuple[float, int] | None = None  # when the second part began, and where
        async with self._s3.open(info.key, if_match=info.etag, verified=self._verified) as (
            _,
            read,
        ):
            while self.done < self._limit:
                piece = await read(min(READ_SIZE, self._limit - self.done))
                if not piece:
                    break
                await anyio.to_thread.run_sync(self._write, piece)
                self.done += len(piece)
                self._progress(len(piece))
                if second is None and self.done >= part:
                    second = time.monotonic(), self.done
                elif second is not None and not self.measured.is_set() and self.done >= 2 * part:
                    seconds = max(time.monotonic() - second[0], 1e-6)
                    self.alone = (self.done - second[1]) / seconds
                    self.measured.set()
                if self._stopping:  # whole parts from here: the rest in ranges
                    self._limit = min(self._limit, -(-self.done // part) * part)
        # Leaving early closes the connection with the rest of the body unread.


async def _ranges(
    s3: S3,
    info: ObjectInfo,
    file: IO[bytes],
    part: int,
    progress: Callable[[int], None],
    digest: hashlib._Hash,
    start: int,
    probed: dict[int, bytes],
    verified: bool,
) -> None:
    """Fetch the bytes from ``start`` (a part's start) in concurrent ranged GETs that
    write their parts at their offsets, hashed in order as they arrive; ``probed``
    holds parts fetched already (offset -> bytes), not written yet."""
    slots = anyio.Semaphore(PARTS_IN_FLIGHT)
    # Without positional writes, parts take turns at the file's position.
    writing = anyio.Lock() if _PWRITE is None else contextlib.nullcontext()

    fetched: dict[int, bytes] = {}  # parts written whose earlier parts are on their way
    hashed = start  # bytes hashed, in order
    hashing = anyio.Lock()

    async def fetch(first: int, last: int) -> None:
        nonlocal hashed
        try:
            data = probed.pop(first, None)
            if data is None:
                data = await s3.get_range(
                    info.key, first, last, if_match=info.etag, verified=verified
                )
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
        for first, last in part_ranges(info.size, part):
            if first >= start:
                await slots.acquire()
                tg.start_soon(fetch, first, last)
    if hashed != info.size:  # every part was fetched, so every part was hashed
        raise AssertionError(f"hashed {hashed} of {info.size} bytes")
