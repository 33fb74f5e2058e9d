"""The content cache (eviction decisions, disk safety, hits) and the alias cache (304s)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import anyio
import pytest

from aioversioned import (
    AliasNotFoundError,
    AsyncRepository,
    IntegrityError,
    InvalidInputError,
    _cache,
)
from aioversioned._cache import STALE_TEMP_SECONDS, TEMP_PREFIX, ContentCache, Entry, plan_eviction
from tests.s3log import RequestLog

DATA = b"cached content " * 1000
SHA = hashlib.sha256(DATA).hexdigest()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def listing(directory: Path) -> list[str]:
    return sorted(os.listdir(directory)) if os.path.isdir(directory) else []


# -- decisions, without a disk -------------------------------------------------------------


def test_eviction_removes_least_recently_used_until_the_rest_fits() -> None:
    entries = [Entry("a", 10, 1.0), Entry("b", 10, 3.0), Entry("c", 10, 2.0)]
    assert plan_eviction(entries, [], 30, now=10.0) == []
    assert plan_eviction(entries, [], 29, now=10.0) == ["a"]
    assert plan_eviction(entries, [], 10, now=10.0) == ["a", "c"]
    assert plan_eviction(entries, [], 0, now=10.0) == ["a", "c", "b"]
    assert plan_eviction([Entry("y", 5, 1.0), Entry("x", 5, 1.0)], [], 5, now=2.0) == ["x"]


def test_eviction_removes_stale_temporary_files_only() -> None:
    now = 100_000.0
    temps = [Entry(".tmp-old", 1, now - STALE_TEMP_SECONDS - 1), Entry(".tmp-new", 1, now - 5)]
    assert plan_eviction([Entry("a", 1, 1.0)], temps, 10, now) == [".tmp-old"]


# -- the cache on disk -----------------------------------------------------------------------


def test_store_read_and_copy(tmp_path: Path) -> None:
    cache = ContentCache(tmp_path / "cache", 1 << 20)
    assert cache.read(SHA) is None  # the directory does not even exist yet
    cache.store_bytes(SHA, DATA)
    assert cache.read(SHA) == DATA
    with (tmp_path / "out").open("w+b") as out:
        assert cache.copy_into(SHA, out)
        out.seek(0)
        assert out.read() == DATA
    source = tmp_path / "source"
    source.write_bytes(b"from a file")
    cache.store_file(sha(b"from a file"), source)
    assert cache.read(sha(b"from a file")) == b"from a file"
    assert listing(tmp_path / "cache") == sorted([SHA, sha(b"from a file")])


def test_a_damaged_entry_is_a_miss_and_is_dropped(tmp_path: Path) -> None:
    cache = ContentCache(tmp_path, 1 << 20)
    (tmp_path / SHA).write_bytes(DATA[:-1])  # torn, or written by something else
    assert cache.read(SHA) is None
    assert listing(tmp_path) == []
    (tmp_path / SHA).write_bytes(b"wrong")
    with (tmp_path / "out").open("w+b") as out:
        out.write(b"junk")
        assert not cache.copy_into(SHA, out)
        out.seek(0)
        assert out.read() == b""  # emptied for the download that follows
    assert listing(tmp_path) == ["out"]


def test_a_hit_refreshes_the_entry_for_lru(tmp_path: Path) -> None:
    cache = ContentCache(tmp_path, 25)
    first, second = b"1" * 10, b"2" * 10
    cache.store_bytes(sha(first), first)
    cache.store_bytes(sha(second), second)
    os.utime(tmp_path / sha(first), (1, 1))
    os.utime(tmp_path / sha(second), (2, 2))
    assert cache.read(sha(first)) == first  # now the most recently used
    assert (tmp_path / sha(first)).stat().st_mtime > time.time() - 60
    cache.store_bytes(sha(b"3" * 10), b"3" * 10)  # 30 bytes > 25: one must go
    assert listing(tmp_path) == sorted([sha(first), sha(b"3" * 10)])


def test_content_larger_than_the_cache_is_not_stored(tmp_path: Path) -> None:
    cache = ContentCache(tmp_path, 10)
    cache.store_bytes(sha(b"small"), b"small")
    cache.store_bytes(SHA, DATA)
    assert listing(tmp_path) == [sha(b"small")]


_WRITER = """
import sys
from pathlib import Path
from aioversioned._cache import ContentCache
cache = ContentCache(Path(sys.argv[1]), 1 << 30)
data = bytes.fromhex(sys.argv[2])
for _ in range(30):
    cache.store_bytes(sys.argv[3], data)
"""


def test_concurrent_writers_and_readers_never_see_torn_files(tmp_path: Path) -> None:
    data = os.urandom(2 << 20)
    digest = sha(data)
    cache = ContentCache(tmp_path, 1 << 30)
    seen: list[bytes | None] = []
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for _ in range(10):
                cache.store_bytes(digest, data)
        except BaseException as err:  # reported below
            errors.append(err)

    def read() -> None:
        for _ in range(40):
            seen.append(cache.read(digest))

    small = data[:4096]  # the command line carries it to the other processes
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(tmp_path), small.hex(), sha(small)],
        )
        for _ in range(3)
    ]
    threads = [threading.Thread(target=write) for _ in range(6)]
    threads += [threading.Thread(target=read) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(process.wait(timeout=60) == 0 for process in processes)
    assert errors == []
    assert {len(s) for s in seen if s is not None} <= {len(data)}
    assert all(s == data for s in seen if s is not None)
    assert listing(tmp_path) == sorted([digest, sha(small)])  # no temporary file left
    assert cache.read(digest) == data
    assert cache.read(sha(small)) == small


def test_stale_temporary_files_are_swept(tmp_path: Path) -> None:
    old = tmp_path / f"{TEMP_PREFIX}dead-writer"
    old.write_bytes(b"partial")
    os.utime(old, (1, 1))
    fresh = tmp_path / f"{TEMP_PREFIX}live-writer"
    fresh.write_bytes(b"partial")
    ContentCache(tmp_path, 1 << 20).store_bytes(SHA, DATA)
    assert listing(tmp_path) == sorted([SHA, fresh.name])


# -- the repository through the cache --------------------------------------------------------


@pytest.fixture
async def cached(endpoint_url: str, bucket: str, tmp_path: Path) -> AsyncIterator[AsyncRepository]:
    async with AsyncRepository(bucket, endpoint_url=endpoint_url, cache_dir=tmp_path / "c") as r:
        await r.bootstrap()
        yield r


async def test_a_warm_hit_sends_a_head_only(cached: AsyncRepository, tmp_path: Path) -> None:
    await cached.put_artifact("m", DATA)
    log = RequestLog(cached)
    assert await cached.get_artifact_content("m") == DATA
    assert log.sent == ["HeadObject", "GetObject"]
    log.clear()
    assert await cached.get_artifact_content("m") == DATA
    assert log.sent == ["HeadObject"]
    log.clear()
    assert (await cached.download_artifact("m", tmp_path / "out.bin")).sha256 == SHA
    assert (tmp_path / "out.bin").read_bytes() == DATA
    assert log.sent == ["HeadObject"]


async def test_versions_and_aliases_share_entries_by_sha256(cached: AsyncRepository) -> None:
    await cached.put_artifact("m", DATA)
    await cached.publish_artifact_version("m")
    await cached.put_alias("m", "prod", 1)
    assert await cached.get_artifact_content("m", 1) == DATA
    log = RequestLog(cached)
    assert await cached.get_artifact_content("m") == DATA  # LATEST has the same bytes
    assert await cached.get_alias_content("m", "prod") == DATA
    assert log.sent == ["HeadObject", "GetObject", "HeadObject"]  # the GET reads the alias
    log.clear()
    assert await cached.get_alias_content("m", "prod", max_age=60) == DATA
    assert await cached.get_alias_content("m", "prod", "user-1", max_age=60) == DATA
    assert log.sent == ["GetObject", "HeadObject", "HeadObject"]


async def test_a_changed_latest_is_a_miss(cached: AsyncRepository) -> None:
    await cached.put_artifact("m", b"one")
    assert await cached.get_artifact_content("m") == b"one"
    await cached.put_artifact("m", b"two")
    assert await cached.get_artifact_content("m") == b"two"
    assert listing(cached._cache.directory) == sorted([sha(b"one"), sha(b"two")])  # type: ignore[union-attr]


async def test_a_download_fills_the_cache(cached: AsyncRepository, tmp_path: Path) -> None:
    await cached.put_artifact("m", DATA)
    await cached.download_artifact("m", tmp_path / "out.bin")
    log = RequestLog(cached)
    assert await cached.get_artifact_content("m") == DATA
    assert log.sent == ["HeadObject"]


async def test_concurrent_misses_share_one_download(cached: AsyncRepository) -> None:
    await cached.put_artifact("m", DATA)
    log = RequestLog(cached)
    results = []

    async def read() -> None:
        results.append(await cached.get_artifact_content("m"))

    async with anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(read)
    assert results == [DATA] * 20
    # They asked together: one read (a HEAD and a GET) serves them all.
    assert (log.sent.count("HeadObject"), log.sent.count("GetObject")) == (1, 1)


async def test_tampered_content_is_refused_and_not_cached(cached: AsyncRepository) -> None:
    await cached.put_artifact("m", DATA)
    key = cached.layout.version_key("m", None)
    info = await cached._s3.head(key)
    assert info is not None
    await cached._s3.put(key, b"evil", metadata=info.metadata)
    with pytest.raises(IntegrityError):
        await cached.get_artifact_content("m")
    assert listing(cached._cache.directory) == []  # type: ignore[union-attr]


async def test_a_damaged_cache_file_is_downloaded_again(cached: AsyncRepository) -> None:
    await cached.put_artifact("m", DATA)
    await cached.get_artifact_content("m")
    (cached._cache.directory / SHA).write_bytes(b"bit rot")  # type: ignore[union-attr]
    assert await cached.get_artifact_content("m") == DATA
    assert (cached._cache.directory / SHA).read_bytes() == DATA  # type: ignore[union-attr]


async def test_repositories_share_a_cache_directory(
    cached: AsyncRepository, endpoint_url: str, bucket: str, tmp_path: Path
) -> None:
    await cached.put_artifact("m", DATA)
    await cached.get_artifact_content("m")
    async with AsyncRepository(bucket, endpoint_url=endpoint_url, cache_dir=tmp_path / "c") as r:
        log = RequestLog(r)
        assert await r.get_artifact_content("m") == DATA
        assert log.sent == ["HeadObject"]


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"cache_dir": 42}, "cache_dir"),
        ({"cache_dir": ""}, "cache_dir"),
        ({"cache_max_bytes": -1}, "cache_max_bytes"),
        ({"cache_max_bytes": True}, "cache_max_bytes"),
        ({"multipart_threshold": 0}, "multipart_threshold"),
        ({"multipart_chunksize": 5 * 1024 * 1024 - 1}, "multipart_chunksize"),
        ({"multipart_chunksize": 1.5}, "multipart_chunksize"),
    ],
)
def test_bad_transfer_and_cache_arguments(kwargs: dict[str, Any], argument: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        AsyncRepository("ok-bucket", **kwargs)
    assert info.value.argument == argument


# -- the alias cache --------------------------------------------------------------------------


async def test_alias_answered_from_memory_then_revalidated_with_a_304(
    repo: AsyncRepository,
) -> None:
    await repo.put_artifact("m", b"x")
    await repo.publish_artifact_version("m")
    written = await repo.put_alias("m", "prod", 1)
    log = RequestLog(repo)
    assert await repo.get_alias("m", "prod", max_age=60) == written
    assert await repo.get_alias("m", "prod", max_age=60) == written
    assert log.statuses == [("GetObject", 200)]  # the second answer came from memory
    log.clear()
    assert await repo.get_alias("m", "prod", max_age=0) == written  # too old: revalidate
    assert log.statuses == [("GetObject", 304)]
    assert log.sent == ["GetObject"]


async def test_alias_changed_elsewhere_is_seen_after_max_age(
    repo: AsyncRepository, endpoint_url: str, bucket: str
) -> None:
    await repo.put_artifact("m", b"x")
    await repo.publish_artifact_version("m")
    await repo.put_artifact("m", b"y")
    await repo.publish_artifact_version("m")
    await repo.put_alias("m", "prod", 1)
    assert (await repo.get_alias("m", "prod", max_age=60)).version == "1"
    async with AsyncRepository(bucket, endpoint_url=endpoint_url) as other:
        await other.put_alias("m", "prod", 2)
        assert (await repo.get_alias("m", "prod", max_age=60)).version == "1"  # stale, allowed
        log = RequestLog(repo)
        assert (await repo.get_alias("m", "prod", max_age=0)).version == "2"
        assert log.statuses == [("GetObject", 200)]
        await other.delete_alias("m", "prod")
    with pytest.raises(AliasNotFoundError):
        await repo.get_alias("m", "prod", max_age=0)


@pytest.mark.parametrize("max_age", [-1, "10", True, float("nan")])
async def test_bad_max_age(repo: AsyncRepository, max_age: Any) -> None:
    with pytest.raises(InvalidInputError) as info:
        await repo.get_alias("m", "prod", max_age=max_age)
    assert info.value.argument == "max_age"


async def test_max_age_with_at_is_refused(repo: AsyncRepository) -> None:
    with pytest.raises(InvalidInputError) as info:
        await repo.get_alias("m", "prod", datetime.now(timezone.utc), max_age=5)
    assert info.value.argument == "max_age"


async def test_own_alias_changes_bypass_the_alias_cache(repo: AsyncRepository) -> None:
    for content in (b"one", b"two"):
        await repo.put_artifact("m", content)
        await repo.publish_artifact_version("m")
    await repo.put_alias("m", "prod", 1)
    assert (await repo.get_alias("m", "prod", max_age=600)).version == "1"
    await repo.put_alias("m", "prod", 2)
    assert (await repo.get_alias("m", "prod", max_age=600)).version == "2"
    await repo.delete_alias("m", "prod")
    with pytest.raises(AliasNotFoundError):
        await repo.get_alias("m", "prod", max_age=600)


def test_an_entry_replaced_while_it_is_opened_is_read_and_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer replaces the entry between a reader's open and its check of the file:
    the opened file has no link left (st_nlink 0), which was taken for a second link,
    and the reader removed the writer's fresh entry (the suite's torn-files test failed
    so on a loaded machine)."""
    cache = ContentCache(tmp_path, 1 << 30)
    cache.store_bytes(SHA, DATA)
    real_fstat = os.fstat
    calls = []

    def replaced_first(fd: int) -> os.stat_result:
        if not calls:
            calls.append(fd)
            cache.store_bytes(SHA, DATA)  # another writer, between open and fstat
        return real_fstat(fd)

    monkeypatch.setattr(_cache.os, "fstat", replaced_first)
    assert cache.read(SHA) == DATA
    monkeypatch.setattr(_cache.os, "fstat", real_fstat)
    assert calls and listing(tmp_path) == [SHA]
    assert cache.read(SHA) == DATA
