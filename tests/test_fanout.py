"""Concurrent reads of one version share one read: one GET, one bytes object.

In one process through the repository's flights (with and without a cache), and across
processes sharing a cache directory through its fill lock.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from aioversioned import AsyncRepository, Repository, StorageError
from aioversioned._cache import LOCK_PREFIX, ContentCache
from tests.interpose import Interposer
from tests.s3log import RequestLog

DATA = os.urandom(256 * 1024)
READERS = 50


@pytest.fixture(params=["no cache", "cache"])
async def reader(
    request: pytest.FixtureRequest, endpoint_url: str, bucket: str, tmp_path: Path
) -> AsyncIterator[AsyncRepository]:
    cache_dir = tmp_path / "cache" if request.param == "cache" else None
    async with AsyncRepository(bucket, endpoint_url=endpoint_url, cache_dir=cache_dir) as r:
        await r.bootstrap()
        await r.put_artifact("m", DATA)
        await r.publish_artifact_version("m")
        yield r


async def read_all(repo: AsyncRepository, version: object, count: int) -> list[bytes]:
    results: list[bytes] = []

    async def read() -> None:
        results.append(await repo.get_artifact_content("m", version))  # type: ignore[arg-type]

    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            for _ in range(count):
                tg.start_soon(read)
    return results


@pytest.mark.parametrize("version", [1, None])
async def test_concurrent_readers_share_one_get_and_one_bytes_object(
    reader: AsyncRepository, version: int | None
) -> None:
    log = RequestLog(reader)
    results = await read_all(reader, version, READERS)
    assert len(results) == READERS
    assert results[0] == DATA
    assert all(result is results[0] for result in results)
    assert log.sent.count("GetObject") == 1
    # The flight is over: the next read is a new one.
    assert await reader.get_artifact_content("m", version) == DATA
    assert log.sent.count("GetObject") == (1 if reader._cache else 2)


async def test_a_latest_read_never_joins_a_download_begun_before_it(
    repo: AsyncRepository,
) -> None:
    await repo.put_artifact("m", b"old")
    log = RequestLog(repo)
    answered, release = anyio.Event(), anyio.Event()

    async def hold_first_answer(**_: object) -> None:
        if not answered.is_set():  # the server has read "old"; its body waits here
            answered.set()
            await release.wait()

    repo._s3._client.meta.events.register("after-call.s3.GetObject", hold_first_answer)
    got: dict[str, bytes] = {}

    async def read(label: str) -> None:
        got[label] = await repo.get_artifact_content("m")

    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            tg.start_soon(read, "before")
            await answered.wait()
            await repo.put_artifact("m", b"new")  # returned: every later read sees it
            tg.start_soon(read, "after")
            await anyio.sleep(0.1)
            release.set()
    assert got == {"before": b"old", "after": b"new"}
    assert log.sent.count("GetObject") == 2


async def test_a_cancelled_reader_leaves_the_download_to_the_others(
    reader: AsyncRepository,
) -> None:
    log = RequestLog(reader)
    faults = Interposer(reader)
    held = faults.hold("GetObject", reader.layout.version_key("m", 1))
    scopes = [anyio.CancelScope() for _ in range(3)]
    got: dict[int, bytes] = {}

    async def read(index: int) -> None:
        with scopes[index]:
            got[index] = await reader.get_artifact_content("m", 1)

    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            for index in range(3):
                tg.start_soon(read, index)
            await held.arrived.wait()
            scopes[0].cancel()  # the reader that started the download
            await anyio.sleep(0.1)
            held.release()
    assert got == {1: DATA, 2: DATA}
    assert got[1] is got[2]
    assert log.sent.count("GetObject") == 1


async def test_a_read_nobody_waits_for_is_cancelled(repo: AsyncRepository) -> None:
    await repo.put_artifact("m", DATA)
    faults = Interposer(repo)
    held = faults.hold("GetObject", repo.layout.version_key("m", None))
    with anyio.fail_after(30):
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as tg:
                tg.start_soon(repo.get_artifact_content, "m")
                await held.arrived.wait()
                scope.cancel()
        assert repo._flights._flights == {}
        held.release()
        assert await repo.get_artifact_content("m") == DATA


async def test_a_failed_download_fails_its_readers_and_the_next_read_retries(
    reader: AsyncRepository,
) -> None:
    log = RequestLog(reader)
    faults = Interposer(reader)
    faults.fail("GetObject", reader.layout.version_key("m", 1), status=403)
    errors: list[BaseException] = []

    async def read() -> None:
        try:
            await reader.get_artifact_content("m", 1)
        except StorageError as err:
            errors.append(err)

    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(read)
    assert len(errors) == 5
    assert all(isinstance(err, StorageError) for err in errors)
    assert log.sent.count("GetObject") == 1
    assert await reader.get_artifact_content("m", 1) == DATA
    assert log.sent.count("GetObject") == 2


_PROCESS = """
import asyncio, hashlib, json, os, sys, time
from aioversioned import AsyncRepository

endpoint, bucket, cache_dir, folder, index = sys.argv[1:6]

async def main():
    gets = 0
    async with AsyncRepository(bucket, endpoint_url=endpoint, cache_dir=cache_dir) as repo:
        async def slow_get(**_):
            nonlocal gets
            gets += 1
            await asyncio.sleep(0.5)  # a download long enough for the others to miss
        repo._s3._client.meta.events.register("before-send.s3.GetObject", slow_get)
        await repo._s3.ensure_bucket()  # the client is connected before the start
        open(os.path.join(folder, f"ready-{index}"), "w").close()
        deadline = time.monotonic() + 60
        while not os.path.exists(os.path.join(folder, "go")):
            if time.monotonic() > deadline:
                raise SystemExit("no go")
            await asyncio.sleep(0.01)
        data = await repo.get_artifact_content("m", 1)
    print(json.dumps({"gets": gets, "sha256": hashlib.sha256(data).hexdigest()}))

asyncio.run(main())
"""


def test_processes_sharing_a_cache_download_once(
    sync_repo: Repository, endpoint_url: str, bucket: str, tmp_path: Path
) -> None:
    sync_repo.put_artifact("m", DATA)
    sync_repo.publish_artifact_version("m")
    cache_dir, folder = tmp_path / "cache", tmp_path / "signals"
    folder.mkdir()
    where = [endpoint_url, bucket, str(cache_dir), str(folder)]
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _PROCESS, *where, str(index)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for index in range(4)
    ]
    try:
        deadline = time.monotonic() + 120
        while len(list(folder.glob("ready-*"))) < 4:
            assert time.monotonic() < deadline, "the processes did not start"
            assert all(p.poll() is None for p in processes), "a process ended early"
            time.sleep(0.05)
        (folder / "go").touch()
        outputs = [p.communicate(timeout=120) for p in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(10)
    assert [p.returncode for p in processes] == [0] * 4, [err for _, err in outputs]
    reports = [json.loads(out) for out, _ in outputs]
    assert {report["sha256"] for report in reports} == {hashlib.sha256(DATA).hexdigest()}
    assert sum(report["gets"] for report in reports) == 1
    assert not list(cache_dir.glob(f"{LOCK_PREFIX}*"))  # every holder removed its lock file


def test_a_fill_lock_is_exclusive_and_removed_by_its_holder(tmp_path: Path) -> None:
    cache = ContentCache(tmp_path, 1 << 20)
    sha = hashlib.sha256(b"x").hexdigest()
    first = cache.try_lock_fill(sha)
    assert first is not None and first.fd is not None
    assert cache.try_lock_fill(sha) is None  # held (flock conflicts across descriptors)
    cache.unlock_fill(first)
    assert not (tmp_path / f"{LOCK_PREFIX}{sha}").exists()
    again = cache.try_lock_fill(sha)
    assert again is not None and again.fd is not None
    cache.unlock_fill(again)
    assert cache.try_lock_fill("../etc/passwd") is not None  # not an entry: never a path
    assert not (tmp_path.parent / "etc").exists()
