"""Large artifacts: every input kind, multipart uploads and copies, atomicity, downloads."""

from __future__ import annotations

import hashlib
import inspect
import io
import itertools
import random
import re
import threading
import time
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp.payload
import anyio
import pytest
from aiobotocore._endpoint_helpers import _IOBaseWrapper

from aioversioned import (
    ArtifactNotFoundError,
    AsyncRepository,
    IntegrityError,
    InvalidInputError,
    Repository,
    StorageError,
    VersionConflictError,
    _download,
    _sources,
    _transfer,
)
from aioversioned._s3 import S3, _BytesPayload, _BytesReader
from tests.faultproxy import FaultProxy
from tests.s3log import RequestLog

MiB = 1 << 20
THRESHOLD = 5 * MiB + 1
BIG = random.Random(7).randbytes(12 * MiB)  # three parts of 5, 5 and 2 MiB
MULTIPART_ETAG = re.compile(r'"[0-9a-f]{32}-(\d+)"')


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
async def big(endpoint_url: str, bucket: str) -> AsyncIterator[AsyncRepository]:
    """A repository that switches to multipart above 5 MiB, in 5 MiB parts."""
    async with AsyncRepository(
        bucket,
        endpoint_url=endpoint_url,
        multipart_threshold=THRESHOLD,
        multipart_chunksize=5 * MiB,
    ) as r:
        await r.bootstrap()
        yield r


async def pieces(data: bytes, size: int = 777_777) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


class ReadOnly:
    """A file-like object that can only read: not seekable, so it is a stream."""

    def __init__(self, data: bytes) -> None:
        self._file = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        return self._file.read(min(size, 100_000))  # short reads, as a pipe gives


async def latest(repo: AsyncRepository) -> Any:
    return await repo._s3.head(repo.layout.version_key("m", None))


async def open_uploads(repo: AsyncRepository) -> list[Any]:
    resp = await repo._s3._client.list_multipart_uploads(Bucket=repo.layout.bucket)
    return list(resp.get("Uploads", []))


async def keys(repo: AsyncRepository) -> list[str]:
    """Every key but the sha256 records (each put records the LATEST it wrote)."""
    records = repo.layout.published_dir("m")
    return [info.key for info in await repo._s3.list_all("") if not info.key.startswith(records)]


def files(directory: Path) -> list[Path]:
    return sorted(directory.iterdir())


def content_kinds(data: bytes, tmp_path: Path) -> Iterator[tuple[str, Any]]:
    path = tmp_path / "content.bin"
    path.write_bytes(data)
    yield "bytes", data
    yield "bytearray", bytearray(data)
    yield "path", path
    yield "binary file", path.open("rb")
    yield "BytesIO", io.BytesIO(data)
    yield "read-only file", ReadOnly(data)
    yield "async iterable", pieces(data)


@pytest.mark.parametrize("size", [0, 1000, 12 * MiB], ids=["empty", "small", "multipart"])
async def test_every_input_kind_round_trips(
    big: AsyncRepository, tmp_path: Path, size: int
) -> None:
    data = BIG[:size]
    for kind, content in content_kinds(data, tmp_path):
        await big.purge_all()
        art = await big.put_artifact("m", content, metadata={"kind": kind.replace(" ", "-")})
        assert art.sha256 == sha(data), kind
        assert await big.get_artifact_content("m") == data, kind
        info = await latest(big)
        assert info.metadata["artifact_sha256"] == sha(data), kind
        assert info.size == size, kind
        assert await keys(big) == [big.layout.version_key("m", None)], kind
        if isinstance(content, io.BufferedReader):
            content.close()


async def test_seekable_file_is_read_from_its_position(big: AsyncRepository) -> None:
    file = io.BytesIO(b"header" + BIG)
    file.seek(6)
    assert (await big.put_artifact("m", file)).sha256 == sha(BIG)
    assert await big.get_artifact_content("m") == BIG


async def test_str_and_text_files_are_rejected_before_any_request(
    repo: AsyncRepository, tmp_path: Path
) -> None:
    path = tmp_path / "exists.txt"
    path.write_text("text")
    log = RequestLog(repo)
    with path.open() as text_file:
        for content in (str(path), "plain text", text_file, io.StringIO("x"), tmp_path / "nope"):
            with pytest.raises(InvalidInputError) as info:
                await repo.put_artifact("m", content)  # type: ignore[arg-type]
            assert info.value.argument == "content"
    assert log.sent == []


async def test_a_stream_of_str_fails_and_changes_nothing(repo: AsyncRepository) -> None:
    await repo.put_artifact("m", b"old")

    async def text() -> AsyncIterator[Any]:
        yield "not bytes"

    with pytest.raises(InvalidInputError, match=r"^content: "):
        await repo.put_artifact("m", text())
    assert await repo.get_artifact_content("m") == b"old"


@pytest.mark.parametrize("kind", ["bytes", "path"])
async def test_multipart_upload_above_the_threshold(
    big: AsyncRepository, tmp_path: Path, kind: str
) -> None:
    path = tmp_path / "big.bin"
    path.write_bytes(BIG)
    seen: list[tuple[int, int | None]] = []
    log = RequestLog(big)
    art = await big.put_artifact(
        "m",
        BIG if kind == "bytes" else path,
        metadata={"k": "v"},
        on_progress=lambda done, total: seen.append((done, total)),
    )
    assert art.sha256 == sha(BIG)
    info = await latest(big)
    match = MULTIPART_ETAG.fullmatch(info.etag)
    assert match is not None and match[1] == "3", info.etag
    assert dict(info.metadata) == {"artifact_name": "m", "artifact_sha256": sha(BIG), "k": "v"}
    assert log.sent.count("UploadPart") == 3
    assert log.sent.count("PutObject") == 1  # the record of LATEST's sha256, not content
    assert sorted(seen) == [(5 * MiB, len(BIG)), (10 * MiB, len(BIG)), (len(BIG), len(BIG))]
    assert await big.get_artifact_content("m") == BIG


async def test_unchanged_file_is_not_uploaded_again(big: AsyncRepository, tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    path.write_bytes(BIG)
    await big.put_artifact("m", path)
    etag = (await latest(big)).etag
    log = RequestLog(big)
    await big.put_artifact("m", path)
    assert sorted(log.sent) == ["HeadObject", "ListObjectsV2"]  # LATEST and its records
    assert (await latest(big)).etag == etag


async def test_stream_goes_through_a_temporary_key_then_a_copy(big: AsyncRepository) -> None:
    log = RequestLog(big)
    seen: list[tuple[int, int | None]] = []
    art = await big.put_artifact(
        "m", pieces(BIG), on_progress=lambda done, total: seen.append((done, total))
    )
    assert art.sha256 == sha(BIG)
    assert log.sent.count("UploadPart") == 3
    assert "CopyObject" in log.sent and "DeleteObjects" in log.sent
    assert sorted(seen)[-1] == (len(BIG), None)
    assert await keys(big) == [big.layout.version_key("m", None)]  # temporary key deleted
    assert (await latest(big)).metadata["artifact_sha256"] == sha(BIG)
    assert await big.get_artifact_content("m") == BIG
    # The same stream again: uploaded (its sha256 is unknown up front), but not copied.
    etag = (await latest(big)).etag
    log.clear()
    await big.put_artifact("m", pieces(BIG, 3 * MiB))
    assert "CopyObject" not in log.sent
    assert (await latest(big)).etag == etag
    assert await keys(big) == [big.layout.version_key("m", None)]
    assert await open_uploads(big) == []


async def test_a_failing_stream_leaves_latest_and_no_upload(big: AsyncRepository) -> None:
    await big.put_artifact("m", b"old")

    async def breaks_after_two_parts() -> AsyncIterator[bytes]:
        yield BIG[: 10 * MiB + 1]
        await anyio.sleep(0.2)  # let the parts reach the server
        raise RuntimeError("source failed")

    with pytest.raises(RuntimeError, match="source failed"):
        await big.put_artifact("m", breaks_after_two_parts())
    assert await big.get_artifact_content("m") == b"old"
    assert await open_uploads(big) == []
    assert await keys(big) == [big.layout.version_key("m", None)]


async def test_a_cancelled_upload_leaves_latest_and_no_upload(big: AsyncRepository) -> None:
    await big.put_artifact("m", b"old")
    two_parts_read = anyio.Event()

    async def stalls() -> AsyncIterator[bytes]:
        yield BIG[: 10 * MiB + 1]
        two_parts_read.set()
        await anyio.sleep_forever()
        yield b""  # pragma: no cover

    async with anyio.create_task_group() as tg:
        tg.start_soon(big.put_artifact, "m", stalls())
        await two_parts_read.wait()
        await anyio.sleep(0.3)
        tg.cancel_scope.cancel()
    assert await big.get_artifact_content("m") == b"old"
    assert await open_uploads(big) == []
    assert await keys(big) == [big.layout.version_key("m", None)]


async def test_a_file_changed_while_uploading_is_refused(
    big: AsyncRepository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await big.put_artifact("m", b"old")
    path = tmp_path / "big.bin"
    path.write_bytes(BIG)
    real = _sources._hash_rest

    def hash_then_change(file: Any, head: bytes, start: int) -> tuple[str, int]:
        result = real(file, head, start)
        with path.open("r+b") as writer:
            writer.seek(len(BIG) - 1)
            writer.write(b"!")
        return result

    monkeypatch.setattr(_sources, "_hash_rest", hash_then_change)
    with pytest.raises(IntegrityError) as info:
        await big.put_artifact("m", path)
    assert info.value.expected == sha(BIG)
    assert await big.get_artifact_content("m") == b"old"
    assert await open_uploads(big) == []


async def test_publish_above_the_copy_limit_uses_upload_part_copy(
    big: AsyncRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_transfer, "COPY_LIMIT", 6 * MiB)
    await big.put_artifact("m", BIG, content_type="application/zip", metadata={"k": "v"})
    log = RequestLog(big)
    v1 = await big.publish_artifact_version("m")
    assert (v1.version, v1.sha256) == ("1", sha(BIG))
    assert log.sent.count("UploadPartCopy") == 3
    assert "CopyObject" not in log.sent
    info = await big._s3.head(big.layout.version_key("m", 1))
    assert info is not None and MULTIPART_ETAG.fullmatch(info.etag)
    assert dict(info.metadata) == {"artifact_name": "m", "artifact_sha256": sha(BIG), "k": "v"}
    assert info.content_type == "application/zip"
    assert await big.get_artifact_content("m", 1) == BIG
    assert (await big.publish_artifact_version("m")).version == "1"  # unchanged: no copy
    assert await open_uploads(big) == []


async def test_a_failed_part_copy_is_aborted_and_publish_retries(
    big: AsyncRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_transfer, "COPY_LIMIT", 6 * MiB)
    await big.put_artifact("m", BIG)
    real = S3.copy_part
    failures = [VersionConflictError("k", "LATEST changed")]

    async def flaky(self: S3, *args: Any, **kwargs: Any) -> str:
        if kwargs["first"] > 0 and failures:
            raise failures.pop()
        return await real(self, *args, **kwargs)

    monkeypatch.setattr(S3, "copy_part", flaky)
    assert (await big.publish_artifact_version("m")).version == "1"
    assert failures == []
    assert await open_uploads(big) == []
    assert await big.get_artifact_content("m", 1) == BIG


async def test_stream_above_the_copy_limit_is_copied_in_parts(
    big: AsyncRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_transfer, "COPY_LIMIT", 6 * MiB)
    log = RequestLog(big)
    await big.put_artifact("m", pieces(BIG))
    assert log.sent.count("UploadPartCopy") == 3
    assert await big.get_artifact_content("m") == BIG
    assert await keys(big) == [big.layout.version_key("m", None)]


@pytest.fixture
def slow_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stream is slow (0.3 s a piece) and the probe says ranges pay."""
    monkeypatch.setattr(_download, "ranges_pay", lambda *_: True)
    write = _download._Stream._write

    def slow(self: Any, piece: bytes) -> None:
        time.sleep(0.3)  # in its worker thread
        write(self, piece)

    monkeypatch.setattr(_download._Stream, "_write", slow)


@pytest.fixture
def fast_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    """The probe says ranges do not pay: the stream fetches everything."""
    monkeypatch.setattr(_download, "ranges_pay", lambda *_: False)


def test_ranges_pay_when_a_second_connection_adds_half_again() -> None:
    # The stream alone: 100 MB/s. With the probe beside it, for 1 s:
    assert _download.ranges_pay(100e6, 200_000_000, 1.0)  # S3: each connection its own
    assert _download.ranges_pay(100e6, 150_000_000, 1.0)
    assert not _download.ranges_pay(100e6, 110_000_000, 1.0)  # a busy server shares
    assert not _download.ranges_pay(100e6, 8_000_000, 1.0)  # moto: the probe waits its turn


FIVE = random.Random(8).randbytes(22 * MiB)  # parts of 5, 5, 5, 5 and 2 MiB
LAST = f"bytes={20 * MiB}-{22 * MiB - 1}"  # the probe's part


@pytest.mark.parametrize("stream", ["fast_stream", "slow_stream"])
@pytest.mark.parametrize("size", [0, 1000, 22 * MiB], ids=["empty", "small", "ranged"])
async def test_download_artifact(
    any_endpoint: str,
    bucket: str,
    tmp_path: Path,
    size: int,
    stream: str,
    request: pytest.FixtureRequest,
) -> None:
    request.getfixturevalue(stream)
    data = FIVE[:size]
    async with AsyncRepository(
        bucket,
        endpoint_url=any_endpoint,
        multipart_threshold=THRESHOLD,
        multipart_chunksize=5 * MiB,
    ) as big:
        await big.bootstrap()
        await big.put_artifact("m", data)
        await big.publish_artifact_version("m")
        target = tmp_path / "out.bin"
        target.write_bytes(b"previous file")
        seen: list[tuple[int, int | None]] = []
        log = RequestLog(big)
        art = await big.download_artifact(
            "m", target, 1, on_progress=lambda done, total: seen.append((done, total))
        )
    assert (art.version, art.sha256) == ("1", sha(data))
    assert target.read_bytes() == data
    assert files(tmp_path) == [target]  # no temporary file left
    parts = [f"bytes={first}-{first + 5 * MiB - 1}" for first in (10 * MiB, 15 * MiB)]
    steps = [b - a for a, b in itertools.pairwise([0, *(done for done, _ in seen)])]
    if size > THRESHOLD and stream == "slow_stream" and "seaweedfs" in request.node.name:
        # The stream brought two parts (a third if the probe came back while it read
        # it), then stopped at a part's end; the probe the last part; ranges the others.
        assert LAST in log.ranges and set(log.ranges) <= {LAST, *parts}
        assert log.sent == ["HeadObject", "GetObject", *["GetObject"] * len(log.ranges)]
        streamed = 22 - 5 * (len(log.ranges) - 1) - 2
        assert steps[:streamed] == [MiB] * streamed  # the stream's pieces, then the parts
        assert sum(steps[streamed:]) == (22 - streamed) * MiB
    elif size > THRESHOLD and stream == "slow_stream":
        # moto serves one request at a time: the probe only once the stream was sent,
        # so the stream went on further.
        assert set(log.ranges) <= {LAST, *parts}
        assert log.sent.count("GetObject") == 1 + len(log.ranges)
    elif size > THRESHOLD:
        # One stream brought everything; the probe was cancelled or its part dropped.
        assert set(log.ranges) <= {LAST}
        assert log.sent.count("GetObject") == 1 + len(log.ranges)
        assert steps == [MiB] * 22
    else:
        assert log.ranges == []
        assert log.sent == ["HeadObject", "GetObject"]
    if size:
        assert max(seen) == (size, size)
        assert {total for _, total in seen} == {size}


@pytest.mark.parametrize("stream", ["fast_stream", "slow_stream"])
@pytest.mark.parametrize("size", [1000, 12 * MiB], ids=["small", "ranged"])
async def test_download_of_tampered_bytes_leaves_the_target_alone(
    big: AsyncRepository, tmp_path: Path, size: int, stream: str, request: pytest.FixtureRequest
) -> None:
    request.getfixturevalue(stream)
    await big.put_artifact("m", BIG[:size])
    key = big.layout.version_key("m", None)
    info = await big._s3.head(key)
    assert info is not None
    await big._s3.put(key, bytes(size), metadata=info.metadata)  # same sha256 recorded
    kept = tmp_path / "kept.bin"
    kept.write_bytes(b"old file")
    for target in (tmp_path / "new.bin", kept):
        with pytest.raises(IntegrityError) as caught:
            await big.download_artifact("m", target)
        assert caught.value.expected == sha(BIG[:size])
        assert caught.value.actual == sha(bytes(size))
    assert not (tmp_path / "new.bin").exists()
    assert kept.read_bytes() == b"old file"
    assert files(tmp_path) == [kept]


async def test_latest_overwritten_during_a_ranged_download(
    big: AsyncRepository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, slow_stream: None
) -> None:
    await big.put_artifact("m", FIVE)
    real = S3.get_range
    overwritten = False

    async def overwrite_first(self: S3, key: str, *args: Any, **kwargs: Any) -> bytes:
        nonlocal overwritten
        if not overwritten:
            overwritten = True
            await self.put(key, b"new", metadata={"artifact_sha256": sha(b"new")})
        return await real(self, key, *args, **kwargs)

    monkeypatch.setattr(S3, "get_range", overwrite_first)
    target = tmp_path / "out.bin"
    with pytest.raises(VersionConflictError):
        await big.download_artifact("m", target)
    assert files(tmp_path) == []


async def test_latest_deleted_during_a_ranged_download(
    big: AsyncRepository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, slow_stream: None
) -> None:
    await big.put_artifact("m", FIVE)
    real = S3.get_range

    async def delete_first(self: S3, key: str, *args: Any, **kwargs: Any) -> bytes:
        await self.delete([key])
        return await real(self, key, *args, **kwargs)

    monkeypatch.setattr(S3, "get_range", delete_first)
    with pytest.raises(ArtifactNotFoundError):
        await big.download_artifact("m", tmp_path / "out.bin")
    assert files(tmp_path) == []


async def test_download_rejects_bad_paths_before_any_request(
    repo: AsyncRepository, tmp_path: Path
) -> None:
    log = RequestLog(repo)
    for path in (tmp_path, tmp_path / "missing" / "x.bin", 42, ""):
        with pytest.raises(InvalidInputError) as info:
            await repo.download_artifact("m", path)  # type: ignore[arg-type]
        assert info.value.argument == "path"
    with pytest.raises(InvalidInputError, match=r"^on_progress: "):
        await repo.download_artifact("m", tmp_path / "x", on_progress=3)  # type: ignore[arg-type]
    assert log.sent == []
    with pytest.raises(ArtifactNotFoundError):
        await repo.download_artifact("m", tmp_path / "x")
    assert files(tmp_path) == []


async def test_iter_artifact_content(big: AsyncRepository) -> None:
    await big.put_artifact("m", BIG)
    chunks = [chunk async for chunk in big.iter_artifact_content("m", chunk_size=4 * MiB)]
    assert [len(c) for c in chunks] == [4 * MiB, 4 * MiB, 4 * MiB]
    assert b"".join(chunks) == BIG
    with pytest.raises(ArtifactNotFoundError):
        [c async for c in big.iter_artifact_content("m", 3)]
    with pytest.raises(InvalidInputError, match=r"^chunk_size: "):
        [c async for c in big.iter_artifact_content("m", chunk_size=0)]


async def test_iter_artifact_content_raises_after_the_last_tampered_chunk(
    repo: AsyncRepository,
) -> None:
    await repo.put_artifact("m", b"genuine bytes")
    key = repo.layout.version_key("m", None)
    info = await repo._s3.head(key)
    assert info is not None
    await repo._s3.put(key, b"tampered bytes", metadata=info.metadata)
    received = []
    with pytest.raises(IntegrityError):
        async for chunk in repo.iter_artifact_content("m", chunk_size=4):
            received.append(chunk)
    assert b"".join(received) == b"tampered bytes"


async def test_closing_the_iterator_early_frees_its_request_slot(
    endpoint_url: str, bucket: str
) -> None:
    async with AsyncRepository(bucket, endpoint_url=endpoint_url, max_concurrency=1) as repo:
        await repo.bootstrap()
        await repo.put_artifact("m", BIG[:MiB])
        chunks = repo.iter_artifact_content("m", chunk_size=1000)
        assert len(await anext(chunks)) == 1000
        await chunks.aclose()
        with anyio.fail_after(10):  # the one slot is free again
            assert await repo.get_artifact_content("m") == BIG[:MiB]


def test_sync_transfers(endpoint_url: str, bucket: str, tmp_path: Path) -> None:
    with Repository(
        bucket,
        endpoint_url=endpoint_url,
        max_concurrency=1,
        multipart_threshold=THRESHOLD,
        multipart_chunksize=5 * MiB,
    ) as repo:
        repo.bootstrap()
        path = tmp_path / "in.bin"
        path.write_bytes(BIG)
        seen: list[int] = []
        assert repo.put_artifact("m", path, on_progress=lambda d, t: seen.append(d)).sha256 == sha(
            BIG
        )
        assert max(seen) == len(BIG)
        out = tmp_path / "out.bin"
        assert repo.download_artifact("m", out).sha256 == sha(BIG)
        assert out.read_bytes() == BIG
        assert b"".join(repo.iter_artifact_content("m", chunk_size=5 * MiB)) == BIG
        for chunk in repo.iter_artifact_content("m", chunk_size=1000):
            assert len(chunk) == 1000
            break  # the generator is closed here, freeing the only request slot
        with pytest.raises(IntegrityError):
            key = repo._arepo.layout.version_key("m", None)
            info = repo._call(repo._arepo._s3.head, key)
            repo._call(repo._arepo._s3.put, key, b"x" * 10, metadata=info.metadata)  # type: ignore[union-attr]
            list(repo.iter_artifact_content("m"))


def test_sync_iterator_has_the_async_parameters() -> None:
    sync = inspect.signature(Repository.iter_artifact_content)
    assert sync.parameters == inspect.signature(AsyncRepository.iter_artifact_content).parameters
    assert sync.return_annotation == "Iterator[bytes]"


async def test_memory_of_a_stream_upload_is_bounded_by_the_parts_in_flight(
    big: AsyncRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_transfer, "PARTS_IN_FLIGHT", 2)
    digest = hashlib.sha256()

    async def generated() -> AsyncIterator[bytes]:
        rng = random.Random(3)
        for _ in range(60):  # 60 MiB, made as it is read
            piece = rng.randbytes(MiB)
            digest.update(piece)
            yield piece

    tracemalloc.start()
    try:
        art = await big.put_artifact("m", generated())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert art.sha256 == digest.hexdigest()
    # (2 in flight + 1 being read) parts of 5 MiB, and the copies made while reading them.
    assert peak < 35 * MiB, peak / MiB


def test_multipart_etags_and_part_layouts() -> None:
    assert _transfer.multipart_count('"0123456789abcdef0123456789abcdef-3"') == 3
    for etag in ('"0123456789abcdef0123456789abcdef"', '"x-"', '"x-0"', '"x-10001"', '"x-3a"', ""):
        assert _transfer.multipart_count(etag) is None
    mib = 1 << 20
    assert _transfer.same_parts(20 * mib, 8 * mib, 3)  # 8 + 8 + 4
    assert not _transfer.same_parts(20 * mib, 8 * mib, 2)
    assert not _transfer.same_parts(20 * mib, 4 * mib, 5)  # parts below S3's 5 MiB
    assert _transfer.same_parts(16 * mib, 16 * mib, 1)


def test_the_etag_parts_make() -> None:
    parts = [hashlib.md5(part).hexdigest() for part in (b"a" * 10, b"b")]
    whole = hashlib.md5(b"".join(bytes.fromhex(p) for p in parts)).hexdigest()
    assert _transfer.multipart_etag([f'"{p}"' for p in parts]) == f'"{whole}-2"'
    # SeaweedFS answers UploadPartCopy with ETags of its own: they make no S3 ETag.
    for odd in (
        '"b2d1098fdcddb64c255fb9b10abd0b5f-2"',
        '"0123"',
        '"0123456789ABCDEF0123456789ABCDEF"',
    ):
        assert _transfer.multipart_etag([f'"{parts[0]}"', odd]) is None


async def test_request_bodies_reach_aiohttp_uncopied() -> None:
    """A body goes to aiohttp (in aiobotocore's proxy) as slices of the caller's bytes,
    from where botocore left the file: no copy of it is made, and a rewound file is
    sent again whole."""
    data = bytes(range(256)) * (12 * 1024 + 1)  # 3 MiB and 256 bytes
    reader = _BytesReader(data)
    reader.seek(5)
    payload = aiohttp.payload.get_payload(_IOBaseWrapper(reader))
    assert isinstance(payload, _BytesPayload)
    assert payload.size == len(data) - 5

    class Writer:
        def __init__(self) -> None:
            self.sent: list[memoryview] = []

        async def write(self, chunk: memoryview) -> None:
            self.sent.append(chunk)

    writer = Writer()
    await payload.write(writer)
    assert b"".join(writer.sent) == data[5:]
    assert len(writer.sent) == 4
    assert all(isinstance(piece, memoryview) and piece.obj is data for piece in writer.sent)
    reader.seek(0)
    writer.sent.clear()
    await payload.write(writer)
    assert b"".join(writer.sent) == data


async def test_put_asks_for_latest_while_it_hashes(
    repo: AsyncRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The HEAD of LATEST is sent before the sha256 of the content is known: the hash
    (in a worker thread) waits until the HEAD got to the server."""
    data = b"x" * (_sources.INLINE_HASH_BYTES + 1)
    head_sent = threading.Event()
    real = _sources._sha256

    def hash_after_the_head(content: bytes) -> str:
        assert head_sent.wait(10), "no HEAD while hashing"
        return real(content)

    def on_send(event_name: str, **_: Any) -> None:
        if event_name.endswith("HeadObject"):
            head_sent.set()

    repo._s3._client.meta.events.register("before-send.s3", on_send)
    monkeypatch.setattr(_sources, "_sha256", hash_after_the_head)
    written = await repo.put_artifact("m", data)
    assert written.sha256 == sha(data)
    assert await repo.get_artifact_content("m") == data


# -- a server (or proxy) that ignores Range: a ranged GET answered 200 with the whole body

THIRTY_TWO = random.Random(9).randbytes(32 * MiB)  # 7 parts of 5 MiB (the last 2 MiB)


async def test_a_server_that_ignores_range_still_gives_a_verified_download(
    endpoint_url: str, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The probe's ranged GET gets the whole object (200): the stream goes on alone.

    Before, the probe's 32 MiB were taken as its 2 MiB part and the parts after the
    stream were written at their offsets whole: with fewer slots than parts left (2
    here, as any object of more than PARTS_IN_FLIGHT parts after the stream), the parts
    waiting to be hashed held every slot and the download hung.
    """
    monkeypatch.setattr(_download, "ranges_pay", lambda *_: True)
    monkeypatch.setattr(_download, "PARTS_IN_FLIGHT", 2)
    write = _download._Stream._write

    def slow(self: Any, piece: bytes) -> None:
        time.sleep(0.05)  # in its worker thread: the probe comes back mid-stream
        write(self, piece)

    monkeypatch.setattr(_download._Stream, "_write", slow)
    with FaultProxy(endpoint_url, rate=0.0, strip=("Range",)) as proxy:
        async with AsyncRepository(
            bucket,
            endpoint_url=proxy.url,
            multipart_threshold=THRESHOLD,
            multipart_chunksize=5 * MiB,
        ) as big:
            await big.bootstrap()
            await big.put_artifact("m", THIRTY_TWO)
            target = tmp_path / "out.bin"
            log = RequestLog(big)
            with anyio.fail_after(30):  # 8 s here; it hung before
                art = await big.download_artifact("m", target)
            # A ranged GET answered with the whole object, whatever its Range says.
            info = await big._s3.head(big.layout.version_key("m", None))
            assert info is not None
            with anyio.fail_after(30), pytest.raises(StorageError) as caught:
                await big._s3.get_range(info.key, 0, 9, if_match=info.etag)
    assert (art.sha256, target.read_bytes() == THIRTY_TWO) == (sha(THIRTY_TWO), True)
    assert files(tmp_path) == [target]
    # The probe (the last part) was sent, and its Range taken away, as the last one's.
    assert log.ranges == [f"bytes={30 * MiB}-{32 * MiB - 1}", "bytes=0-9"]
    assert proxy.stripped["range"] == 2
    assert caught.value.code == "RangeIgnored"
    assert "200" in caught.value.detail
