"""What a bucket holds is untrusted: metadata never reaches the local file system.

A LATEST whose ``artifact_sha256`` is a path, or a cache directory with a planted link,
must never make the library open, replace or delete a file outside its cache directory.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from aioversioned import AsyncRepository
from aioversioned._cache import TEMP_PREFIX, ContentCache
from tests.s3log import RequestLog

DATA = b"the real content " * 100
SHA = hashlib.sha256(DATA).hexdigest()
VICTIM_BYTES = b"precious local file"
OLD = 1_000_000.0  # an mtime the test can recognise


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    path = tmp_path / "victim"
    write_victim(path, VICTIM_BYTES)
    return path


@pytest.fixture
def victim_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "victim-dir"
    directory.mkdir()
    (directory / "inside").write_bytes(VICTIM_BYTES)
    return directory


@pytest.fixture
async def cached(endpoint_url: str, bucket: str, tmp_path: Path) -> AsyncIterator[AsyncRepository]:
    cache = tmp_path / "cache"
    cache.mkdir()  # so that "../victim" resolves from it
    async with AsyncRepository(bucket, endpoint_url=endpoint_url, cache_dir=cache) as repo:
        await repo.bootstrap()
        yield repo


def assert_untouched(victim: Path, victim_dir: Path) -> None:
    assert_victim(victim, VICTIM_BYTES)
    assert (victim_dir / "inside").read_bytes() == VICTIM_BYTES


def write_victim(victim: Path, content: bytes) -> None:
    victim.write_bytes(content)
    os.utime(victim, (OLD, OLD))


def assert_victim(victim: Path, content: bytes) -> None:
    """Same bytes, same mtime, no other name (the cache holds no link to it)."""
    assert victim.read_bytes() == content
    assert victim.stat().st_mtime == OLD
    assert victim.stat().st_nlink == 1


def cache_listing(repo: AsyncRepository) -> list[str]:
    assert repo._cache is not None
    return sorted(os.listdir(repo._cache.directory))


async def hostile_latest(repo: AsyncRepository, sha256: str) -> str:
    """Write LATEST behind the library's back, with ``sha256`` as its recorded digest."""
    key = repo.layout.version_key("m", None)
    await repo._s3.put(key, DATA, metadata={"artifact_name": "m", "artifact_sha256": sha256})
    return key


HOSTILE = {
    "absolute file": lambda tmp: str(tmp / "victim"),
    "relative file": lambda tmp: "../victim",
    "absolute directory": lambda tmp: str(tmp / "victim-dir"),
    "relative directory": lambda tmp: "../victim-dir",
    "file in a directory": lambda tmp: "../victim-dir/inside",
    "64 non-hex": lambda tmp: "z" * 64,
    "64 upper hex": lambda tmp: SHA.upper(),
    "63 hex": lambda tmp: SHA[:-1],
    "65 hex": lambda tmp: SHA + "0",
    "empty": lambda tmp: "",
}


@pytest.mark.parametrize("case", list(HOSTILE))
async def test_a_malformed_sha256_is_no_sha256_and_touches_nothing(
    cached: AsyncRepository, tmp_path: Path, victim: Path, victim_dir: Path, case: str
) -> None:
    """Not 64 lowercase hex digits: treated as missing (issue 10), so the real sha256 is
    learned from the bytes; the planted value never names a file."""
    await hostile_latest(cached, HOSTILE[case](tmp_path))
    assert await cached.get_artifact_content("m") == DATA
    out = tmp_path / "out.bin"
    assert (await cached.download_artifact("m", out)).sha256 == SHA
    assert out.read_bytes() == DATA
    assert (await cached.get_artifact_version("m")).sha256 == SHA
    published = await cached.publish_artifact_version("m")
    assert published.sha256 == SHA
    info = await cached._s3.head(cached.layout.version_key("m", 1))
    assert info is not None and info.metadata["artifact_sha256"] == SHA  # the real one
    assert_untouched(victim, victim_dir)
    assert cache_listing(cached) == [SHA]


async def test_without_a_cache_a_malformed_sha256_is_learned_too(
    repo: AsyncRepository, tmp_path: Path
) -> None:
    await hostile_latest(repo, str(tmp_path / "victim"))
    assert await repo.get_artifact_content("m") == DATA
    assert [a.sha256 for a in await repo.list_artifact_versions("m")] == [SHA]
    assert (await repo.download_artifact("m", tmp_path / "out.bin")).sha256 == SHA
    assert not (tmp_path / "victim").exists()


@pytest.mark.parametrize("victim_bytes", [VICTIM_BYTES, DATA], ids=["other bytes", "same bytes"])
async def test_a_planted_symlink_is_never_followed(
    cached: AsyncRepository, tmp_path: Path, victim: Path, victim_bytes: bytes
) -> None:
    write_victim(victim, victim_bytes)
    await cached.put_artifact("m", DATA)
    assert cached._cache is not None
    entry = cached._cache.directory / SHA
    entry.symlink_to(victim)
    log = RequestLog(cached)
    assert await cached.get_artifact_content("m") == DATA
    assert log.sent == ["HeadObject", "GetObject"]  # served from S3, not from the link
    assert_victim(victim, victim_bytes)
    assert not entry.is_symlink() and entry.read_bytes() == DATA  # cached as a regular file

    entry.unlink()
    entry.symlink_to(victim)
    log.clear()
    out = tmp_path / "out.bin"
    assert (await cached.download_artifact("m", out)).sha256 == SHA
    assert out.read_bytes() == DATA
    assert log.sent == ["HeadObject", "GetObject"]
    assert_victim(victim, victim_bytes)
    assert not entry.is_symlink() and entry.read_bytes() == DATA
    assert cache_listing(cached) == [SHA]


async def test_a_planted_hard_link_is_dropped_and_its_target_untouched(
    cached: AsyncRepository, tmp_path: Path, victim: Path
) -> None:
    write_victim(victim, DATA)  # even the right bytes: they are not the cache's own file
    await cached.put_artifact("m", DATA)
    assert cached._cache is not None
    entry = cached._cache.directory / SHA
    os.link(victim, entry)
    log = RequestLog(cached)
    assert await cached.get_artifact_content("m") == DATA
    assert log.sent == ["HeadObject", "GetObject"]
    assert_victim(victim, DATA)  # the cache's entry is a file of its own now
    assert entry.read_bytes() == DATA


async def test_a_directory_with_an_entry_name_is_a_miss_and_is_left_alone(
    cached: AsyncRepository, tmp_path: Path
) -> None:
    await cached.put_artifact("m", DATA)
    assert cached._cache is not None
    planted = cached._cache.directory / SHA
    planted.mkdir()
    (planted / "inside").write_bytes(VICTIM_BYTES)
    assert await cached.get_artifact_content("m") == DATA  # not IsADirectoryError
    out = tmp_path / "out.bin"
    assert (await cached.download_artifact("m", out)).sha256 == SHA
    assert out.read_bytes() == DATA
    assert (planted / "inside").read_bytes() == VICTIM_BYTES
    assert cache_listing(cached) == [SHA]  # no temporary file left behind


# -- the cache alone ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["absolute", "../victim", "..", "", "a" * 64 + "/..", SHA.upper(), SHA + "\n"]
)
def test_the_cache_only_uses_entry_names(tmp_path: Path, victim: Path, name: str) -> None:
    # Only paths under tmp_path: on a broken cache this test replaces what it names.
    name = str(victim) if name == "absolute" else name
    cache = ContentCache(tmp_path / "cache", 1 << 20)
    (tmp_path / "cache").mkdir()
    assert cache.read(name) is None
    with (tmp_path / "out").open("w+b") as out:
        assert not cache.copy_into(name, out)
    cache.store_bytes(name, b"overwrite")
    source = tmp_path / "source"
    source.write_bytes(b"overwrite")
    cache.store_file(name, source)
    assert_victim(victim, VICTIM_BYTES)
    assert os.listdir(tmp_path / "cache") == []


def test_a_fifo_with_an_entry_name_is_a_miss_without_blocking(tmp_path: Path) -> None:
    cache = ContentCache(tmp_path, 1 << 20)
    fifo = tmp_path / SHA
    os.mkfifo(fifo)
    found: list[bytes | None] = []
    reader = threading.Thread(target=lambda: found.append(cache.read(SHA)))
    reader.start()
    reader.join(5)
    if reader.is_alive():
        with fifo.open("wb"):
            pass  # a writer that closes at once releases the blocked reader
        reader.join()
        pytest.fail("reading a FIFO with an entry's name blocked")
    assert found == [None]
    with (tmp_path.parent / f"{tmp_path.name}-out").open("w+b") as out:
        assert not cache.copy_into(SHA, out)
    cache.store_bytes(SHA, DATA)  # replaces the FIFO: an entry name is the cache's own
    assert cache.read(SHA) == DATA


def test_a_failed_store_skips_caching_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    cache = ContentCache(tmp_path, 1 << 20)
    (tmp_path / SHA).mkdir()
    (tmp_path / SHA / "inside").write_bytes(b"x")
    cache.store_bytes(SHA, DATA)  # os.replace onto a directory fails: no OSError raised
    assert sorted(os.listdir(tmp_path)) == [SHA]
    assert not any(name.startswith(TEMP_PREFIX) for name in os.listdir(tmp_path))
    assert (tmp_path / SHA / "inside").read_bytes() == b"x"


def test_a_cache_directory_that_is_a_file_only_skips_caching(tmp_path: Path) -> None:
    (tmp_path / "cache").write_bytes(b"not a directory")
    cache = ContentCache(tmp_path / "cache", 1 << 20)
    assert cache.read(SHA) is None
    cache.store_bytes(SHA, DATA)
    assert (tmp_path / "cache").read_bytes() == b"not a directory"
