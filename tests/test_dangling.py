"""A forced delete names the aliases it leaves pointing at nothing."""

from __future__ import annotations

import pytest

from aioversioned import AsyncRepository, CorruptDocumentError, Repository, VersionInUseError


async def test_a_forced_delete_names_the_aliases_left_dangling(repo: AsyncRepository) -> None:
    for content in (b"one", b"two"):
        await repo.put_artifact("m", content)
        await repo.publish_artifact_version("m")
    await repo.put_alias("m", "prod", 1)
    await repo.put_alias("m", "canary", 2, secondary_version=1, secondary_version_weight=5)
    await repo.put_alias("m", "staging", 2)
    with pytest.raises(VersionInUseError):
        await repo.delete_artifact_version("m", 1)
    assert await repo.delete_artifact_version("m", 1, force=True) == ("canary", "prod")
    assert await repo.delete_artifact_version("m", 1, force=True) == ("canary", "prod")  # no-op
    await repo.delete_alias("m", "staging")
    await repo.delete_alias("m", "canary")
    assert await repo.delete_artifact_version("m", 2) == ()
    assert [a.version for a in await repo.list_artifact_versions("m")] == ["LATEST"]


async def test_an_unreadable_alias_after_a_forced_delete_says_the_version_is_gone(
    repo: AsyncRepository,
) -> None:
    await repo.put_artifact("m", b"one")
    await repo.publish_artifact_version("m")
    await repo._s3.put(repo.layout.alias_key("m", "broken"), b"{not json")
    with pytest.raises(CorruptDocumentError, match="version 1 was deleted"):
        await repo.delete_artifact_version("m", 1, force=True)
    assert [a.version for a in await repo.list_artifact_versions("m")] == ["LATEST"]


def test_blocking_twin(sync_repo: Repository) -> None:
    sync_repo.put_artifact("m", b"one")
    sync_repo.publish_artifact_version("m")
    sync_repo.put_alias("m", "prod", 1)
    assert sync_repo.delete_artifact_version("m", 1, force=True) == ("prod",)
