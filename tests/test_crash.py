"""A SeaweedFS server killed in the middle of an upload or a publish leaves no partial version."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from aioversioned import AioVersionedError, AsyncRepository
from tests.conftest import Weed, _aws_test_env, _require_weed

BIG = hashlib.sha256(b"seed").digest() * (40 * 1024 * 1024 // 32)  # 40 MiB


@pytest.fixture
def weed(tmp_path: Path) -> Iterator[Weed]:
    """A SeaweedFS server of this test's own, which the test may kill and restart."""
    _require_weed()
    server = Weed(tmp_path / "weed")
    with _aws_test_env():
        server.start()
    try:
        yield server
    finally:
        server.stop()


async def _kill_during(weed: Weed, work: object, delay: float) -> None:
    async def run() -> None:
        # The server dies under the call: a typed error is an expected outcome.
        with contextlib.suppress(AioVersionedError):
            await work  # type: ignore[misc]  # a coroutine handed in by the test

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        await anyio.sleep(delay)
        weed.kill()
    weed.start()  # same data directory and ports


async def _assert_sound(endpoint: str, bucket: str, allowed: set[bytes]) -> list[str]:
    async with AsyncRepository(bucket, endpoint_url=endpoint) as repo:
        versions = await repo.list_artifact_versions("m")
        for art in versions:
            # get_artifact_content verifies the sha256: a torn object would raise here.
            assert await repo.get_artifact_content("m", art.version) in allowed
        return [art.version for art in versions]


@pytest.mark.parametrize("delay", [0.05, 0.3])
async def test_kill_during_upload(weed: Weed, bucket: str, delay: float) -> None:
    async with AsyncRepository(bucket, endpoint_url=weed.endpoint_url) as repo:
        await repo.bootstrap()
        await repo.put_artifact("m", b"old")
        await repo.publish_artifact_version("m")
        await _kill_during(weed, repo.put_artifact("m", BIG), delay)
    versions = await _assert_sound(weed.endpoint_url, bucket, {b"old", BIG})
    assert versions == ["LATEST", "1"]


async def test_kill_during_publish(weed: Weed, bucket: str) -> None:
    async with AsyncRepository(bucket, endpoint_url=weed.endpoint_url) as repo:
        await repo.bootstrap()
        await repo.put_artifact("m", b"old")
        await repo.publish_artifact_version("m")
        await repo.put_artifact("m", BIG)
        await _kill_during(weed, repo.publish_artifact_version("m"), 0.05)
    versions = await _assert_sound(weed.endpoint_url, bucket, {b"old", BIG})
    assert versions in (["LATEST", "1"], ["LATEST", "2", "1"])
    async with AsyncRepository(bucket, endpoint_url=weed.endpoint_url) as repo:
        claims = await repo._s3.list_all(repo.layout.claims_dir("m"))
        # Version 2 was published (publishing again returns it), or it was never claimed
        # (2 comes next), or the killed publish claimed 2 without copying: then 2 is
        # never handed out and 3 comes next.
        expected = "2" if "2" in versions or len(claims) == 1 else "3"
        assert (await repo.publish_artifact_version("m")).version == expected
        assert await repo.get_artifact_content("m", expected) == BIG
