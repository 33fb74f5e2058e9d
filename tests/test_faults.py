"""With 10% of requests failing, work completes or fails typed, and the store stays sound."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator

import anyio
import pytest

from aioversioned import AioVersionedError, AsyncRepository, VersionInUseError
from tests.faultproxy import FaultProxy

WORKERS = 4
ROUNDS = 6


@pytest.fixture
def proxy(any_endpoint: str) -> Iterator[FaultProxy]:
    with FaultProxy(any_endpoint, rate=0.1, seed=7) as running:
        yield running


async def test_workload_through_faults_keeps_the_store_sound(
    proxy: FaultProxy, any_endpoint: str, bucket: str
) -> None:
    told: dict[str, str] = {}  # version -> sha256 the library reported for it
    typed_failures = 0

    async def worker(index: int, repo: AsyncRepository) -> None:
        nonlocal typed_failures
        rng = random.Random(index)
        for round_ in range(ROUNDS):
            try:
                await repo.put_artifact("m", f"worker {index} round {round_}".encode())
                art = await repo.publish_artifact_version("m")
                told.setdefault(art.version, art.sha256)
                assert told[art.version] == art.sha256, "one number, two contents"
                await repo.put_alias("m", rng.choice(["prod", "beta"]), art.version)
                await repo.purge_artifact_versions("m", keep_last_n=2, purge_older_than_secs=0)
            except VersionInUseError:
                typed_failures += 1
            except AioVersionedError:
                typed_failures += 1  # a typed error after botocore's retries ran out

    async with AsyncRepository(bucket, endpoint_url=any_endpoint) as direct:
        await direct.bootstrap()
        async with AsyncRepository(bucket, endpoint_url=proxy.url) as faulty:
            with anyio.fail_after(240):
                async with anyio.create_task_group() as tg:
                    for index in range(WORKERS):
                        tg.start_soon(worker, index, faulty)

        assert sum(proxy.injected.values()) >= 10, proxy.injected  # faults really happened
        assert set(proxy.injected) == {"500", "503", "drop_before", "drop_after"}
        versions = await direct.list_artifact_versions("m")
        assert len(versions) >= 2
        for art in versions:
            content = await direct.get_artifact_content("m", art.version)  # verifies sha256
            assert hashlib.sha256(content).hexdigest() == art.sha256
            if art.version in told:
                assert told[art.version] == art.sha256  # never overwritten
        existing = {a.version for a in versions}
        for alias in await direct.list_aliases("m"):
            assert alias.version in existing, alias  # no alias dangles
        # Numbers are never reused: the next publish is above every number ever told.
        await direct.put_artifact("m", b"final")
        final = await direct.publish_artifact_version("m")
        assert int(final.version) > max(int(v) for v in told)
    assert typed_failures < WORKERS * ROUNDS  # most work got through the retries
