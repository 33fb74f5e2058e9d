"""list_artifact_names: two listings, whatever the number of names (see aioversioned/_names.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial

import pytest

from aioversioned import AsyncRepository, StorageError
from aioversioned._tasks import gather
from tests.foreign import bsm_for, endpoint_of, peer_of
from tests.interpose import Interposer

MARKER = ".aioversioned-name-"


async def stream(data: bytes) -> AsyncIterator[bytes]:
    yield data


def per_name_listings(faults: Interposer) -> list[str]:
    return [prefix for prefix in faults.sent("ListObjectsV2") if prefix.endswith("/versions/")]


async def test_names_are_two_listings_not_one_per_name(any_repo: AsyncRepository) -> None:
    repo = any_repo
    names = [f"a{i:02d}" for i in range(12)]
    for name in names[:-1]:
        await repo.put_artifact(name, name.encode())
    await repo.put_artifact(names[-1], stream(b"streamed"))  # created through a copy
    await repo.publish_artifact_version(names[0])
    faults = Interposer(repo)
    assert await repo.list_artifact_names() == names
    assert faults.sent("ListObjectsV2") == [repo.layout.root]  # markers and folders: one page
    assert faults.sent("PutObject") == []


async def strays(repo: AsyncRepository, count: int) -> None:
    """``count`` markers without a folder, sorting after those of real names."""
    keys = [f"{repo.layout.root}{MARKER}zz{i:04d}" for i in range(count)]
    await gather((partial(repo._s3.put, key, b"") for key in keys), 32)


async def test_a_first_page_of_markers_only_is_followed_by_two_listings_at_once(
    repo: AsyncRepository,
) -> None:
    for name in ("a", "b"):
        await repo.put_artifact(name, b"1")
    await strays(repo, 1_000)  # the first page holds markers only
    faults = Interposer(repo)
    assert await repo.list_artifact_names() == ["a", "b"]
    listed = faults.sent("ListObjectsV2")
    assert listed[0] == repo.layout.root
    assert sorted(listed[1:]) == [repo.layout.root, repo.layout.root + MARKER]
    assert per_name_listings(faults) == []


async def test_a_first_page_with_folders_is_followed_by_the_folders(
    repo: AsyncRepository,
) -> None:
    names = [f"n{i:02d}" for i in range(12)]
    for name in names:
        await repo.put_artifact(name, b"1")
    await strays(repo, 980)  # 992 markers, then the first folders, in the first page
    faults = Interposer(repo)
    assert await repo.list_artifact_names() == names
    assert faults.sent("ListObjectsV2") == [repo.layout.root, repo.layout.root]
    assert per_name_listings(faults) == []


async def test_a_name_written_by_versioned_is_asked_once_then_marked(
    any_repo: AsyncRepository,
) -> None:
    repo = any_repo
    await repo.put_artifact("ours", b"1")
    peer_of(repo).put_artifact(bsm_for(endpoint_of(repo)), name="theirs", content=b"2")
    faults = Interposer(repo)
    assert await repo.list_artifact_names() == ["ours", "theirs"]
    assert per_name_listings(faults) == [repo.layout.versions_dir("theirs")]
    assert faults.sent("PutObject") == [repo.layout.name_marker_key("theirs")]
    faults.log.clear()
    assert await repo.list_artifact_names() == ["ours", "theirs"]
    assert per_name_listings(faults) == []
    # versioned still sees folders only: the markers are objects beside them.
    assert sorted(peer_of(repo).list_artifact_names(bsm_for(endpoint_of(repo)))) == [
        "ours",
        "theirs",
    ]


async def test_credentials_that_may_only_read_still_list_and_try_one_marker(
    repo: AsyncRepository,
) -> None:
    for name in ("x", "y", "z"):
        await repo.put_artifact(name, b"1")
        await repo._s3.delete([repo.layout.name_marker_key(name)])  # as before markers
    faults = Interposer(repo)
    faults.fail("PutObject", MARKER, status=403, times=None)
    for _ in range(2):
        faults.log.clear()
        assert await repo.list_artifact_names() == ["x", "y", "z"]
        assert len(per_name_listings(faults)) == 3
        assert len(faults.sent("PutObject")) == 1  # the first marker failed: no more tried
    assert [
        info.key async for page in repo._s3.pages(repo.layout.root + MARKER) for info in page
    ] == []


async def test_purged_and_hostile_markers_are_not_names(any_repo: AsyncRepository) -> None:
    repo = any_repo
    await repo.put_artifact("kept", b"1")
    await repo.put_artifact("purged", b"2")
    await repo.purge_artifact("purged")
    assert await repo._s3.head(repo.layout.name_marker_key("purged")) is None
    for stray in ("nofolder", "..", "-x", "a/b", "\u0663", "x" * 200):
        await repo._s3.put(repo.layout.root + MARKER + stray, b"")
    await repo._s3.put(repo.layout.root + ".hidden/versions/000000_LATEST", b"3")
    assert await repo.list_artifact_names() == ["kept"]
    await repo.put_artifact("purged", b"again")  # created again: marked again
    assert await repo._s3.head(repo.layout.name_marker_key("purged")) is not None
    assert await repo.list_artifact_names() == ["kept", "purged"]


async def test_a_purge_that_stops_after_the_marker_is_still_listed(repo: AsyncRepository) -> None:
    await repo.put_artifact("m", b"1")
    faults = Interposer(repo)
    faults.fail("DeleteObjects", repo.layout.artifact_dir("m"), times=None)
    faults.fail("ListObjectsV2", repo.layout.artifact_dir("m"), times=None)
    with pytest.raises(StorageError):  # the listing of the artifact's keys failed
        await repo.purge_artifact("m")
    faults.rules.clear()
    assert await repo._s3.head(repo.layout.name_marker_key("m")) is None
    assert await repo.list_artifact_names() == ["m"]  # asked, found, marked again
    assert await repo._s3.head(repo.layout.name_marker_key("m")) is not None
