"""list_artifact_names: the folders and the names index, whatever the number of names
(see aioversioned/_names.py)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import anyio
import pytest

from aioversioned import AsyncRepository, StorageError
from tests.foreign import bsm_for, endpoint_of, peer_of
from tests.interpose import Interposer

INDEX = ".aioversioned-names.json"


async def stream(data: bytes) -> AsyncIterator[bytes]:
    yield data


def per_name_listings(faults: Interposer) -> list[str]:
    return [prefix for prefix in faults.sent("ListObjectsV2") if prefix.endswith("/versions/")]


async def indexed(repo: AsyncRepository) -> list[str] | None:
    found = await repo._s3.get(repo.layout.names_index_key, limit=None)
    return None if found is None else list(json.loads(found[0])["names"])


async def test_names_are_one_listing_and_one_read_once_indexed(any_repo: AsyncRepository) -> None:
    repo = any_repo
    names = [f"a{i:02d}" for i in range(12)]
    for name in names[:-1]:
        await repo.put_artifact(name, name.encode())
    await repo.put_artifact(names[-1], stream(b"streamed"))
    await repo.publish_artifact_version(names[0])
    faults = Interposer(repo)
    assert await repo.list_artifact_names() == names  # asks each folder, then indexes them
    assert len(per_name_listings(faults)) == 12
    assert await indexed(repo) == names
    faults.log.clear()
    assert await repo.list_artifact_names() == names
    assert faults.sent("ListObjectsV2") == [repo.layout.root]
    assert faults.sent("GetObject") == [repo.layout.names_index_key]
    assert faults.sent("PutObject") == []


async def test_a_name_written_by_versioned_is_asked_once_then_indexed(
    any_repo: AsyncRepository,
) -> None:
    repo = any_repo
    await repo.put_artifact("ours", b"1")
    assert await repo.list_artifact_names() == ["ours"]
    peer_of(repo).put_artifact(bsm_for(endpoint_of(repo)), name="theirs", content=b"2")
    faults = Interposer(repo)
    assert await repo.list_artifact_names() == ["ours", "theirs"]
    assert per_name_listings(faults) == [repo.layout.versions_dir("theirs")]
    faults.log.clear()
    assert await repo.list_artifact_names() == ["ours", "theirs"]
    assert per_name_listings(faults) == []
    # versioned lists folders only: the index is an object beside them.
    peer_names = peer_of(repo).list_artifact_names(bsm_for(endpoint_of(repo)))
    assert sorted(peer_names) == ["ours", "theirs"]


async def test_each_suffix_has_an_index_of_its_own(repo: AsyncRepository) -> None:
    endpoint = endpoint_of(repo)
    async with AsyncRepository(repo.layout.bucket, suffix=".zip", endpoint_url=endpoint) as zipped:
        await zipped.put_artifact("z", b"x")
        await repo.put_artifact("m", b"x")
        for _ in range(2):  # asked, then from each one's index
            assert await repo.list_artifact_names() == ["m"]
            assert await zipped.list_artifact_names() == ["z"]
        assert zipped.layout.names_index_key != repo.layout.names_index_key
        assert await indexed(zipped) == ["z"]


async def test_credentials_that_may_only_read_still_list(repo: AsyncRepository) -> None:
    for name in ("x", "y", "z"):
        await repo.put_artifact(name, b"1")
    faults = Interposer(repo)
    faults.fail("PutObject", INDEX, status=403, times=None)
    for _ in range(2):
        faults.log.clear()
        assert await repo.list_artifact_names() == ["x", "y", "z"]
        assert len(per_name_listings(faults)) == 3
        assert faults.sent("PutObject") == [repo.layout.names_index_key]
    assert await indexed(repo) is None


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[" * 100_000,
        b'{"format": 1, "token": "t", "names": "kept"}',
        json.dumps(
            {"format": 1, "token": "t", "names": ["gone", "..", "a/b", "\u0663", "x" * 300]}
        ).encode(),
        b'{"format": 1, "token": "t", "names": ["\\ud800"]}',
    ],
)
async def test_a_hostile_index_costs_requests_never_a_wrong_name(
    any_repo: AsyncRepository, body: bytes
) -> None:
    repo = any_repo
    await repo.put_artifact("kept", b"1")
    await repo._s3.put(repo.layout.names_index_key, body)
    assert await repo.list_artifact_names() == ["kept"]
    assert await indexed(repo) == ["kept"]  # rewritten by the listing


async def test_purged_names_leave_the_index(any_repo: AsyncRepository) -> None:
    repo = any_repo
    for name in ("kept", "purged"):
        await repo.put_artifact(name, b"1")
    assert await repo.list_artifact_names() == ["kept", "purged"]
    await repo.purge_artifact("purged")  # SeaweedFS keeps the empty folder
    assert await indexed(repo) == ["kept"]
    assert await repo.list_artifact_names() == ["kept"]
    await repo.put_artifact("purged", b"again")
    assert await repo.list_artifact_names() == ["kept", "purged"]


async def test_a_listing_that_saw_a_version_before_a_purge_does_not_index_it_after(
    repo: AsyncRepository,
) -> None:
    await repo.put_artifact("other", b"1")
    assert await repo.list_artifact_names() == ["other"]
    await repo.put_artifact("m", b"2")
    faults = Interposer(repo)
    held = faults.hold("PutObject", INDEX)
    listed: list[list[str]] = []

    async def lister() -> None:
        listed.append(await repo.list_artifact_names())

    purger = AsyncRepository(repo.layout.bucket, endpoint_url=endpoint_of(repo))
    async with purger, anyio.create_task_group() as tg:
        tg.start_soon(lister)
        with anyio.fail_after(30):
            await held.arrived.wait()  # it read the index, found m, and writes
        # The index's names do not change (m was never in it): only its token does.
        await purger.purge_artifact("m")
        held.release()
    assert listed == [["m", "other"]]  # true when it listed
    assert await indexed(repo) == ["other"]  # its write was refused
    assert await repo.list_artifact_names() == ["other"]


async def test_a_purge_that_stops_after_the_index_leaves_the_name_listed(
    repo: AsyncRepository,
) -> None:
    await repo.put_artifact("m", b"1")
    assert await repo.list_artifact_names() == ["m"]
    faults = Interposer(repo)
    faults.fail("ListObjectsV2", repo.layout.artifact_dir("m"), times=None)
    with pytest.raises(StorageError):  # the listing of the artifact's keys failed
        await repo.purge_artifact("m")
    faults.rules.clear()
    assert await indexed(repo) == []
    assert await repo.list_artifact_names() == ["m"]  # asked, found, indexed again
    assert await indexed(repo) == ["m"]
