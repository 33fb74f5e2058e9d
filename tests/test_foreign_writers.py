"""A bucket shared with ``versioned`` 1.0.1, the AWS CLI, s3fs and obstore (issue 10).

Every foreign write here is made by the real tool: the peer library in process, the AWS
CLI as a subprocess, s3fs and obstore pointed at the test server.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from aioversioned import (
    AliasNotFoundError,
    AsyncRepository,
    CorruptDocumentError,
    InvalidInputError,
    VersionInUseError,
)
from tests.foreign import aws_cp, bsm_for, endpoint_of, peer_of


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def versions(repo: AsyncRepository, name: str) -> list[str]:
    return [a.version for a in await repo.list_artifact_versions(name)]


# -- 1. aliases the peer wrote ----------------------------------------------------------------

PEER_NAMES = ["2024_release", "prod.blue", "team/canary", "LATEST", "café"]


async def test_aliases_versioned_wrote_are_listed_readable_and_protect_their_versions(
    any_repo: AsyncRepository,
) -> None:
    repo = any_repo
    bsm = bsm_for(endpoint_of(repo))
    old = peer_of(repo)
    for i in range(1, 7):
        old.put_artifact(bsm, name="app", content=f"v{i}".encode())
        old.publish_artifact_version(bsm, name="app")
    old.put_alias(bsm, name="app", alias="2024_release", version=1)
    old.put_alias(bsm, name="app", alias="prod.blue", version=2)
    old.put_alias(
        bsm, name="app", alias="team/canary", version=3, secondary_version=4,
        secondary_version_weight=10,
    )  # fmt: skip
    old.put_alias(bsm, name="app", alias="LATEST", version=5)
    old.put_alias(bsm, name="app", alias="café")  # LATEST
    await repo.put_alias("app", "prod", 5)

    listed = await repo.list_aliases("app")
    assert sorted(a.alias for a in listed) == sorted([*PEER_NAMES, "prod"])
    blue = await repo.get_alias("app", "prod.blue")
    assert (blue.version, blue.revision is not None) == ("2", True)
    canary = await repo.get_alias("app", "team/canary")
    assert (canary.version, canary.secondary_version) == ("3", "4")
    assert await repo.get_alias_content("app", "2024_release") == b"v1"

    # Purging everything it may: only version 6, which no alias references, goes.
    _, deleted = await repo.purge_artifact_versions("app", keep_last_n=0, purge_older_than_secs=0)
    assert [a.version for a in deleted] == ["6"]
    assert await versions(repo, "app") == ["LATEST", "5", "4", "3", "2", "1"]
    with pytest.raises(VersionInUseError) as info:
        await repo.delete_artifact_version("app", 1)
    assert info.value.aliases == ("2024_release",)
    with pytest.raises(VersionInUseError) as info:
        await repo.delete_artifact_version("app", 4)
    assert info.value.aliases == ("team/canary",)

    # Names only the peer writes are read, never created by this library.
    for alias in ("prod.blue", "2024_release", "LATEST", "team/canary"):
        with pytest.raises(InvalidInputError):
            await repo.put_alias("app", alias, 1)
    with pytest.raises(AliasNotFoundError):  # no history exists for a peer-only name
        await repo.get_alias("app", "prod.blue", at=blue.update_at)
    # ... and the peer still reads every alias.
    assert sorted(a.alias for a in old.list_aliases(bsm, name="app")) == sorted(
        [*PEER_NAMES, "prod"]
    )


@pytest.mark.parametrize("alias", ["prod-x", "", "a//b", "a/../b", "x\n", "A" * 513])
async def test_names_no_peer_writes_are_refused_before_any_request(
    repo: AsyncRepository, alias: str
) -> None:
    with pytest.raises(InvalidInputError) as info:
        await repo.get_alias("app", alias)
    assert info.value.argument == "alias"


async def test_an_unreadable_alias_document_stops_purges_and_deletes_naming_its_key(
    repo: AsyncRepository, tmp_path: Path
) -> None:
    for i in range(1, 4):
        await repo.put_artifact("app", f"v{i}".encode())
        await repo.publish_artifact_version("app")
    # The AWS CLI writes two documents no library writes: one that parses (a hyphen in
    # its name: it protects version 1) and one that does not (it may reference anything).
    doc = (await repo.put_alias("app", "prod", 3)).to_document()
    valid = tmp_path / "valid.json"
    valid.write_bytes(doc.replace(b'"3"', b'"1"').replace(b"000003", b"000001"))
    aws_cp(repo, valid, repo.layout.aliases_dir("app") + "blue-green.json")
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"note": "not an alias"}))
    broken_key = repo.layout.aliases_dir("app") + "notes/readme.json"
    aws_cp(repo, broken, broken_key)

    for attempt in (
        lambda: repo.purge_artifact_versions("app", keep_last_n=0, purge_older_than_secs=0),
        lambda: repo.purge_artifact_versions("app", 0, 0, dry_run=True),
        lambda: repo.delete_artifact_version("app", 2),
    ):
        with pytest.raises(CorruptDocumentError) as info:
            await attempt()
        assert info.value.key == broken_key
        assert "no version was deleted" in str(info.value)
    assert await versions(repo, "app") == ["LATEST", "3", "2", "1"]

    aws_cp(repo, valid, broken_key)  # repaired: now a valid copy naming version 1
    _, deleted = await repo.purge_artifact_versions("app", keep_last_n=0, purge_older_than_secs=0)
    assert [a.version for a in deleted] == ["2"]
    with pytest.raises(VersionInUseError) as info:
        await repo.delete_artifact_version("app", 1)
    # Named by their keys (both bodies say "prod": they are copies).
    assert info.value.aliases == ("blue-green", "notes/readme")
    # The hyphenated name protects, but is not listed: get_alias refuses the name.
    listed = await repo.list_aliases("app")
    assert [(a.alias, a.version) for a in listed] == [("notes/readme", "1"), ("prod", "3")]
    assert (await repo.get_alias("app", "notes/readme")).alias == "notes/readme"
    await repo.delete_artifact_version("app", 1, force=True)
    assert await versions(repo, "app") == ["LATEST", "3"]
