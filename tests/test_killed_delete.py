"""A delete whose process is SIGKILLed between two requests leaves nothing a later call
misreads: before its tombstone the version is whole; after it the version is deleted for
every reader and writer, its bytes go at a later collection, and its number is never
handed out again (docs/design/protocol.md, "Delete")."""

from __future__ import annotations

import os
import signal
import sys
from datetime import timedelta

import anyio
import pytest

from aioversioned import ArtifactNotFoundError, AsyncRepository
from tests.foreign import endpoint_of

# Dies (SIGKILL: no finally, no cleanup) right before the tombstone's PutObject is sent,
# or right after its answer was parsed, before the request that follows it.
SCRIPT = """
import asyncio, os, signal, sys
from aioversioned import AsyncRepository

endpoint, bucket, point = sys.argv[1:]

def die(**kwargs):
    target = kwargs.get("request") or kwargs.get("http_response")
    url = getattr(target, "url", "")
    if "/.aioversioned/retired/" in url:
        os.kill(os.getpid(), signal.SIGKILL)

async def main():
    async with AsyncRepository(bucket, endpoint_url=endpoint) as repo:
        event = "before-send.s3.PutObject" if point == "before" else "after-call.s3.PutObject"
        repo._s3._client.meta.events.register_first(event, die)
        await repo.delete_artifact_version("m", 2)

asyncio.run(main())
"""


async def _killed_delete(repo: AsyncRepository, point: str) -> None:
    with anyio.fail_after(60):
        done = await anyio.run_process(
            [sys.executable, "-c", SCRIPT, endpoint_of(repo), repo.layout.bucket, point],
            env=dict(os.environ),
            check=False,
        )
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()[-2000:]


async def _published(repo: AsyncRepository, count: int) -> None:
    for i in range(1, count + 1):
        await repo.put_artifact("m", f"v{i}".encode())
        await repo.publish_artifact_version("m")


async def test_killed_before_its_tombstone_the_version_is_whole(repo: AsyncRepository) -> None:
    await _published(repo, 3)
    await _killed_delete(repo, "before")
    assert [a.version for a in await repo.list_artifact_versions("m")] == ["LATEST", "3", "2", "1"]
    assert await repo.get_artifact_content("m", 2) == b"v2"
    assert (await repo.put_alias("m", "prod", 2)).version == "2"


async def test_killed_after_its_tombstone_the_version_is_deleted_then_collected(
    repo: AsyncRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _published(repo, 3)
    await _killed_delete(repo, "after")
    # Deleted for every reader and writer at once, though its bytes are still there.
    assert [a.version for a in await repo.list_artifact_versions("m")] == ["LATEST", "3", "1"]
    with pytest.raises(ArtifactNotFoundError):
        await repo.get_artifact_version("m", 2)
    with pytest.raises(ArtifactNotFoundError):
        await repo.put_alias("m", "prod", 2)
    assert await repo._s3.head(repo.layout.version_key("m", 2)) is not None
    # A later delete collects it once the grace period has passed (by the server's clock).
    monkeypatch.setattr("aioversioned._deletion.GRACE", timedelta(0))
    await repo.delete_artifact_version("m", 1)
    assert await repo._s3.head(repo.layout.version_key("m", 2)) is None
    assert await repo._s3.list_all(repo.layout.retired_prefix("m", 2)) == []
    await repo.put_artifact("m", b"v4")
    assert (await repo.publish_artifact_version("m")).version == "4"  # 2 is never reused
    assert [a.version for a in await repo.list_artifact_versions("m")] == ["LATEST", "4", "3"]
