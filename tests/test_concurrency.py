"""Concurrent publishers never share a number, never overwrite, never reuse."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import anyio
import pytest

from aioversioned import AsyncRepository
from aioversioned._s3 import S3, WriteResult

WRITERS = 16
ROUNDS = 3


@pytest.fixture
async def writers(any_endpoint: str, bucket: str) -> AsyncIterator[list[AsyncRepository]]:
    """One repository (own client and pool) per writer, like separate processes."""
    async with AsyncExitStack() as stack:
        repos = [
            await stack.enter_async_context(AsyncRepository(bucket, endpoint_url=any_endpoint))
            for _ in range(WRITERS)
        ]
        await repos[0].bootstrap()
        yield repos


async def test_sixteen_concurrent_publishers(writers: list[AsyncRepository]) -> None:
    told: list[tuple[str, str]] = []

    async def writer(index: int, repo: AsyncRepository) -> None:
        for round_ in range(ROUNDS):
            await repo.put_artifact("m", f"writer {index} round {round_}".encode())
            art = await repo.publish_artifact_version("m")
            told.append((art.version, art.sha256))

    with anyio.fail_after(120):
        async with anyio.create_task_group() as tg:
            for index, repo in enumerate(writers):
                tg.start_soon(writer, index, repo)

    repo = writers[0]
    shas_per_number: dict[str, set[str]] = defaultdict(set)
    for version, sha in told:
        shas_per_number[version].add(sha)
    # A number is never handed out for two different contents ...
    assert all(len(shas) == 1 for shas in shas_per_number.values()), shas_per_number
    # ... and every version still holds exactly the bytes whose sha256 was reported.
    for version, (sha,) in shas_per_number.items():
        assert hashlib.sha256(await repo.get_artifact_content("m", version)).hexdigest() == sha
    stored = [a.version for a in await repo.list_artifact_versions("m")][1:]
    numbers = sorted(int(v) for v in stored)
    assert numbers == list(range(1, len(numbers) + 1))  # every claim was filled, no gaps
    assert set(shas_per_number) <= set(stored)
    assert len(told) == WRITERS * ROUNDS

    # Deleting the newest never frees its number.
    newest = numbers[-1]
    await repo.delete_artifact_version("m", newest)
    await repo.put_artifact("m", b"after the delete")
    assert (await repo.publish_artifact_version("m")).version == str(newest + 1)


async def test_publishers_that_race_for_one_number_get_two(
    writers: list[AsyncRepository], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both publishers are held until both chose number 1; the conditional write decides."""
    a, b = writers[:2]
    await a.put_artifact("m", b"content")
    arrived = 0
    both_here = anyio.Event()
    claims: list[str] = []
    real_put = S3.put

    async def put(self: S3, key: str, body: bytes, **kwargs: object) -> WriteResult:
        nonlocal arrived
        if "/claims/" in key:
            claims.append(key)
            arrived += 1
            if arrived == 2:
                both_here.set()
            with anyio.fail_after(10):
                await both_here.wait()
        return await real_put(self, key, body, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(S3, "put", put)
    async with anyio.create_task_group() as tg:
        results: list[str] = []

        async def publish(repo: AsyncRepository) -> None:
            results.append((await repo.publish_artifact_version("m")).version)

        tg.start_soon(publish, a)
        tg.start_soon(publish, b)
    assert sorted(results) == ["1", "2"]
    # Both first tried number 1; the loser moved on to 2.
    assert [c.rsplit("/", 1)[1] for c in claims[:2]] == ["999999_000001", "999999_000001"]
    assert claims[2].endswith("999998_000002")
    assert [v.version for v in await a.list_artifact_versions("m")] == ["LATEST", "2", "1"]
