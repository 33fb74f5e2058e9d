"""A bucket shared with ``versioned`` 1.0.1, the AWS CLI, s3fs and obstore (issue 10).

Every foreign write here is made by the real tool: the peer library in process, the AWS
CLI as a subprocess, s3fs and obstore pointed at the test server.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from aioversioned import (
    AliasNotFoundError,
    ArtifactNotFoundError,
    AsyncRepository,
    CorruptDocumentError,
    IntegrityError,
    InvalidInputError,
    VersionInUseError,
    _deletion,
    _keys,
)
from aioversioned._s3 import ObjectInfo
from aioversioned._transfer import transfer_config
from tests.conftest import Weed
from tests.foreign import aws_cp, bsm_for, endpoint_of, obstore_of, peer_of, s3fs_of
from tests.s3log import RequestLog
from tests.test_transfer import open_uploads


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


# -- 2. objects without artifact_sha256 -------------------------------------------------------


async def test_a_version_the_aws_cli_wrote_is_learned_once_and_then_read_from_its_record(
    any_repo: AsyncRepository, tmp_path: Path
) -> None:
    repo = any_repo
    for content in (b"one", b"two"):
        await repo.put_artifact("app", content)
        await repo.publish_artifact_version("app")
    planted = tmp_path / "three.bin"
    planted.write_bytes(b"three" * 1000)
    aws_cp(repo, planted, repo.layout.version_key("app", 3))  # no metadata at all
    await repo.put_artifact("app", b"four")

    listed = await repo.list_artifact_versions("app")
    assert [(a.version, a.sha256) for a in listed] == [
        ("LATEST", sha(b"four")),
        ("3", sha(b"three" * 1000)),
        ("2", sha(b"two")),
        ("1", sha(b"one")),
    ]
    log = RequestLog(repo)
    assert await repo.list_artifact_versions("app") == listed  # remembered: nothing streamed
    assert "GetObject" not in log.sent and "PutObject" not in log.sent
    assert (await repo.get_artifact_version("app", 3)).sha256 == sha(b"three" * 1000)
    assert await repo.get_artifact_content("app", 3) == b"three" * 1000
    _, doomed = await repo.purge_artifact_versions("app", 0, 0, dry_run=True)
    assert [a.version for a in doomed] == ["3", "2", "1"]
    # The next publish is 4: the planted version keeps its number.
    assert (await repo.publish_artifact_version("app")).version == "4"
    _, deleted = await repo.purge_artifact_versions("app", 1, 0)
    assert [a.version for a in deleted] == ["3", "2", "1"]
    with pytest.MonkeyPatch.context() as patch:  # past the grace period: bytes and records go
        patch.setattr(_deletion, "GRACE", timedelta(0))
        await repo.purge_artifact_versions("app", 1, 0)
    assert await repo._s3.list_all(repo.layout.published_prefix("app", 3)) == []


async def test_a_latest_without_sha256_is_published_with_it_and_versioned_reads_the_version(
    any_repo: AsyncRepository, tmp_path: Path
) -> None:
    repo = any_repo
    bsm = bsm_for(endpoint_of(repo))
    data = b"uploaded by the aws cli"
    planted = tmp_path / "model.bin"
    planted.write_bytes(data)
    aws_cp(repo, planted, repo.layout.version_key("app", None), "--metadata", "team=ml")

    # versioned 1.0.1 fails on it (KeyError 'artifact_sha256') after copying version 1.
    old = peer_of(repo)
    with pytest.raises(KeyError):
        old.publish_artifact_version(bsm, name="app")
    assert (await repo.get_artifact_version("app")).sha256 == sha(data)
    listed = await repo.list_artifact_versions("app")
    assert [(a.version, a.sha256) for a in listed] == [("LATEST", sha(data)), ("1", sha(data))]
    assert (await repo.publish_artifact_version("app")).version == "1"  # the same bytes

    planted.write_bytes(data + b" v2")
    aws_cp(repo, planted, repo.layout.version_key("app", None), "--content-type", "text/x-model")
    v2 = await repo.publish_artifact_version("app")
    assert (v2.version, v2.sha256) == ("2", sha(data + b" v2"))
    info = await repo._s3.head(repo.layout.version_key("app", 2))
    assert info is not None and info.metadata["artifact_sha256"] == sha(data + b" v2")
    assert info.content_type == "text/x-model"
    # versioned 1.0.1 reads the version we published (it needs the metadata).
    assert old.get_artifact_version(bsm, name="app", version=2).sha256 == sha(data + b" v2")
    assert old.get_artifact_version(bsm, name="app", version=2).get_content(bsm) == data + b" v2"


async def test_s3fs_setxattr_spelling_is_the_same_key(
    any_repo: AsyncRepository,
) -> None:
    repo = any_repo
    await repo.put_artifact("app", b"payload")
    await repo.publish_artifact_version("app")
    fs = s3fs_of(repo)
    path = f"{repo.layout.bucket}/{repo.layout.version_key('app', 1)}"
    fs.setxattr(path, artifact_sha256=sha(b"payload"), note="via s3fs")
    assert "artifact-sha256" in (await repo._s3.head(repo.layout.version_key("app", 1))).metadata  # type: ignore[union-attr]
    await repo._s3.delete(
        [*(i.key for i in await repo._s3.list_all(repo.layout.published_dir("app")))]
    )
    log = RequestLog(repo)
    assert (await repo.get_artifact_version("app", 1)).sha256 == sha(b"payload")
    # The version's HEAD and its tombstones' listing: the sha256 read from the metadata,
    # not streamed.
    assert sorted(log.sent) == ["HeadObject", "ListObjectsV2"]
    assert await repo.get_artifact_content("app", 1) == b"payload"


async def test_obstore_objects_are_read_streamed_and_downloaded_verified(
    any_repo: AsyncRepository, tmp_path: Path
) -> None:
    import obstore

    repo = any_repo
    store = obstore_of(repo)
    data = bytes(range(256)) * 64
    obstore.put(store, repo.layout.version_key("app", None), data)
    chunks = [c async for c in repo.iter_artifact_content("app", chunk_size=1000)]
    assert b"".join(chunks) == data
    log = RequestLog(repo)
    assert await repo.get_artifact_content("app") == data  # learned by the stream above
    assert "PutObject" not in log.sent
    out = tmp_path / "out.bin"
    assert (await repo.download_artifact("app", out)).sha256 == sha(data)
    assert out.read_bytes() == data

    # A record that lies about the bytes is caught: the learned hash is what is verified.
    obstore.put(store, repo.layout.version_key("app", None), b"other")
    latest = await repo._s3.head(repo.layout.version_key("app", None))
    assert latest is not None
    await repo._s3.put(repo.layout.published_key("app", None, latest.etag, sha(b"lie")), b"")
    with pytest.raises(IntegrityError):
        await repo.get_artifact_content("app")


async def test_a_cache_learns_the_sha256_of_a_foreign_latest_from_its_one_download(
    endpoint_url: str, bucket: str, tmp_path: Path
) -> None:
    async with AsyncRepository(bucket, endpoint_url=endpoint_url, cache_dir=tmp_path) as repo:
        await repo.bootstrap()
        planted = tmp_path.parent / f"{tmp_path.name}-src"
        planted.write_bytes(b"cached foreign bytes")
        aws_cp(repo, planted, repo.layout.version_key("app", None))
        log = RequestLog(repo)
        assert await repo.get_artifact_content("app") == b"cached foreign bytes"
        assert log.sent.count("GetObject") == 1
        log.clear()
        assert await repo.get_artifact_content("app") == b"cached foreign bytes"
        assert "GetObject" not in log.sent  # served from the cache by its learned sha256


# -- 3. the same bytes without metadata, 4. servers that rewrite content types ---------------


async def head_latest(repo: AsyncRepository) -> ObjectInfo:
    info = await repo._s3.head(repo.layout.version_key("app", None))
    assert info is not None
    return info


async def test_the_same_bytes_without_metadata_keep_latests_metadata_and_content_type(
    any_repo: AsyncRepository,
) -> None:
    repo = any_repo
    await repo.put_artifact("app", b"same", content_type="text/x-a", metadata={"foo": "bar"})
    before = await head_latest(repo)
    log = RequestLog(repo)
    again = await repo.put_artifact("app", b"same")
    # As versioned 1.x: nothing uploaded (LATEST and the record of its sha256 are read).
    assert sorted(log.sent) == ["HeadObject", "ListObjectsV2"]
    assert (again.sha256, again.update_at) == (sha(b"same"), before.last_modified)
    after = await head_latest(repo)
    assert (after.etag, after.metadata["foo"], after.content_type) == (
        before.etag,
        "bar",
        "text/x-a",
    )
    await repo.publish_artifact_version("app")
    v1 = await repo._s3.head(repo.layout.version_key("app", 1))
    assert v1 is not None and (v1.metadata["foo"], v1.content_type) == ("bar", "text/x-a")

    # versioned 1.0.1 treats it the same way.
    bsm = bsm_for(endpoint_of(repo))
    peer_of(repo).put_artifact(bsm, name="app", content=b"same")
    assert (await head_latest(repo)).etag == before.etag

    # metadata={} clears, and keeps the content type; a new type keeps the metadata.
    await repo.put_artifact("app", b"same", metadata={})
    cleared = await head_latest(repo)
    assert ("foo" not in cleared.metadata, cleared.content_type) == (True, "text/x-a")
    await repo.put_artifact("app", b"same", metadata={"k": "v"})
    await repo.put_artifact("app", b"same", content_type="text/x-b")
    moved = await head_latest(repo)
    assert (moved.metadata["k"], moved.content_type) == ("v", "text/x-b")
    # New bytes start afresh.
    await repo.put_artifact("app", b"new")
    fresh = await head_latest(repo)
    assert ("k" not in fresh.metadata, fresh.content_type) == (True, "application/octet-stream")


@pytest.mark.seaweedfs
@pytest.mark.parametrize("suffix", [".zip", ".tar.gz"])
@pytest.mark.parametrize("content_type", [None, "application/octet-stream"])
async def test_a_content_type_the_server_rewrites_does_not_make_identical_puts_upload(
    weed_server: Weed, bucket: str, suffix: str, content_type: str | None
) -> None:
    data = b"PK\x03\x04" + bytes(2000)  # a zip header: SeaweedFS sniffs it too
    async with AsyncRepository(
        bucket, suffix=suffix, endpoint_url=weed_server.endpoint_url, aws_region="us-east-1"
    ) as repo:
        await repo.bootstrap()
        await repo.put_artifact("app", data, content_type=content_type)
        first = await head_latest(repo)
        assert first.content_type != "application/octet-stream"  # what SeaweedFS does
        log = RequestLog(repo)
        for _ in range(3):
            await repo.put_artifact("app", data, content_type=content_type)
            await repo.put_artifact("app", stream(data), content_type=content_type)
        assert "PutObject" not in log.sent and "CopyObject" not in log.sent
        assert (await head_latest(repo)).etag == first.etag
        # A type really asked for is still written.
        await repo.put_artifact("app", data, content_type="application/x-custom")
        assert (await head_latest(repo)).content_type == "application/x-custom"


async def stream(data: bytes) -> AsyncIterator[bytes]:
    yield data


# -- 6. purged names ---------------------------------------------------------------------------


async def test_a_folder_without_a_version_is_not_an_artifact(
    any_repo: AsyncRepository, tmp_path: Path
) -> None:
    repo = any_repo
    for name in ("kept", "purged", "gone"):
        await repo.put_artifact(name, b"x")
        await repo.publish_artifact_version(name)
        await repo.put_alias(name, "prod", 1)
    assert await repo.list_artifact_names() == ["gone", "kept", "purged"]  # all indexed
    await repo.purge_artifact("purged")  # SeaweedFS keeps the empty folders
    bsm = bsm_for(endpoint_of(repo))
    peer_of(repo).purge_artifact(bsm, name="gone")
    note = tmp_path / "alias.json"
    note.write_bytes((await repo.get_alias("kept", "prod")).to_document())
    aws_cp(repo, note, repo.layout.aliases_dir("orphan") + "prod.json")  # aliases only
    stray = repo.layout.versions_dir("stray") + "readme.txt"
    await repo._s3.put(stray, b"not a version")
    # versioned's purge leaves the name in this library's names index; where the server
    # keeps the empty folder (SeaweedFS) it is listed until purged here (docs: _names.py).
    kept_folder = repo.layout.artifact_dir("gone") in await repo._s3.list_dirs(repo.layout.root)
    assert await repo.list_artifact_names() == (["gone", "kept"] if kept_folder else ["kept"])
    await repo.purge_artifact("gone")
    assert await repo.list_artifact_names() == ["kept"]
    await repo.put_artifact("purged", b"back")
    assert await repo.list_artifact_names() == ["kept", "purged"]


# -- 5. multipart ETags ------------------------------------------------------------------------


async def test_a_multipart_latest_is_published_with_its_etag_and_versioned_publishes_nothing(
    any_repo: AsyncRepository,
) -> None:
    repo = any_repo
    # A multipart LATEST of 3 parts of 8 MiB without sending 64 MiB (the default threshold).
    repo._config = transfer_config(16 << 20, 8 << 20)
    data = os.urandom(20 << 20)
    await repo.put_artifact("app", data)
    latest = await head_latest(repo)
    assert latest.etag.endswith('-3"')
    log = RequestLog(repo)
    v1 = await repo.publish_artifact_version("app")
    copied = await repo._s3.head(repo.layout.version_key("app", 1))
    # The version has LATEST's ETag: moto (5.2.6 on, as S3) gives a CopyObject of a
    # multipart object an MD5 ETag, so the copy is made in LATEST's parts; SeaweedFS's
    # part ETags are not MD5s, so its upload is aborted after one part and a CopyObject,
    # which keeps the ETag there, copies it whole.
    assert copied is not None and copied.etag == latest.etag
    copies = [op for op in log.sent if op in ("CopyObject", "UploadPartCopy")]
    assert copies in (["UploadPartCopy"] * 3, ["UploadPartCopy", "CopyObject"]), copies
    assert not await open_uploads(repo)
    # versioned 1.0.1 compares the ETags: its publish right after ours is a no-op.
    bsm = bsm_for(endpoint_of(repo))
    assert peer_of(repo).publish_artifact_version(bsm, name="app").version == "1"
    assert await versions(repo, "app") == ["LATEST", "1"]
    # The put's record of LATEST, and one of the version that matches it: listings need
    # no HEAD.
    records = await repo._s3.list_all(repo.layout.published_dir("app"))
    assert [r.key for r in records] == [
        repo.layout.published_key("app", None, latest.etag, v1.sha256),
        repo.layout.published_key("app", 1, copied.etag, v1.sha256),
    ]
    log = RequestLog(repo)
    await repo.list_artifact_versions("app")
    assert log.sent.count("HeadObject") == 1  # LATEST's, as always
    assert await repo.get_artifact_content("app", 1) == data


# -- 7. intended differences, as listed in the migration guide ----------------------------------


def listed_differences() -> set[str]:
    """The ids of the rows under the guide's ``differences`` marker."""
    page = (Path(__file__).parent.parent / "docs/guides/migrating.md").read_text()
    table = page.split("<!-- differences:", 1)[1].split("\n\n", 1)[0]
    return {row.split("|")[1].strip() for row in table.splitlines()[3:] if row.startswith("|")}


async def test_the_listed_differences_from_versioned_are_the_real_ones(
    repo: AsyncRepository,
) -> None:
    from versioned import exc as peer_exc

    bsm = bsm_for(endpoint_of(repo))
    old = peer_of(repo)
    await repo.put_artifact("app", b"one")
    await repo.publish_artifact_version("app")
    await repo.put_artifact("app", b"two")
    await repo.publish_artifact_version("app")
    checked = set()

    with pytest.raises(peer_exc.ArtifactS3BackendError):
        old.delete_artifact_version(bsm, name="app", version="LATEST")
    with pytest.raises(InvalidInputError) as refused:
        await repo.delete_artifact_version("app", "LATEST")
    assert isinstance(refused.value, ValueError)
    checked.add("delete-latest")

    with pytest.raises(TypeError):
        old.put_alias(bsm, name="app", alias="p", version=1, secondary_version=2,
                      secondary_version_weight=5.0)  # type: ignore[arg-type]  # fmt: skip
    with pytest.raises(InvalidInputError):
        await repo.put_alias("app", "p", 1, 2, 5.0)  # type: ignore[arg-type]
    checked.add("weight-type")

    assert old.list_artifact_versions(bsm, name="no-such-name") == []
    with pytest.raises(ArtifactNotFoundError):
        await repo.list_artifact_versions("no-such-name")
    checked.add("missing-artifact")

    ours = await repo.put_alias("app", "prod", 1)
    theirs = old.put_alias(bsm, name="app", alias="staging", version=1)
    stored = await repo._s3.head(repo.layout.alias_key("app", "staging"))
    assert stored is not None
    assert datetime.fromisoformat(theirs.update_at) == stored.last_modified
    assert datetime.fromisoformat(old.get_alias(bsm, name="app", alias="staging").update_at) == (
        stored.last_modified
    )
    assert (await repo.get_alias("app", "prod")).update_at == ours.update_at
    prod = await repo._s3.head(repo.layout.alias_key("app", "prod"))
    assert prod is not None and ours.update_at != prod.last_modified  # not the server's
    checked.add("alias-update-at")

    assert listed_differences() == checked


# -- all of them, in any order ----------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_three_writers_in_a_random_order_never_dangle_an_alias_nor_break_a_listing(
    repo: AsyncRepository, tmp_path: Path, seed: int
) -> None:
    """versioned 1.0.1, the AWS CLI and aioversioned write one artifact in a seeded order;
    after every step no alias document points to a missing version and listings work.
    (Deletes by versioned itself are left out: it protects nothing, by design.)"""
    rng = random.Random(seed)
    bsm = bsm_for(endpoint_of(repo))
    old = peer_of(repo)
    planted = tmp_path / "planted.bin"
    log: list[str] = []

    async def numbers() -> list[int]:
        listed = await repo.list_artifact_versions("app")
        return [int(a.version) for a in listed if a.version != "LATEST"]

    async def ours_put() -> None:
        await repo.put_artifact("app", rng.randbytes(rng.choice([10, 100])))

    async def ours_publish() -> None:
        await repo.publish_artifact_version("app")

    async def ours_alias() -> None:
        if found := await numbers():
            await repo.put_alias("app", rng.choice(["prod", "canary"]), rng.choice(found))

    async def ours_purge() -> None:
        await repo.purge_artifact_versions("app", keep_last_n=rng.choice([0, 1]),
                                           purge_older_than_secs=0)  # fmt: skip

    async def ours_delete() -> None:
        if found := await numbers():
            with contextlib.suppress(VersionInUseError):
                await repo.delete_artifact_version("app", rng.choice(found))

    async def peer_put() -> None:
        with contextlib.suppress(KeyError):  # versioned fails over the CLI's LATEST too
            old.put_artifact(bsm, name="app", content=rng.randbytes(10))

    async def peer_publish() -> None:
        with contextlib.suppress(KeyError):  # a LATEST without artifact_sha256 (the CLI's)
            old.publish_artifact_version(bsm, name="app")

    async def peer_alias() -> None:
        if found := await numbers():
            name = rng.choice(["2024_release", "prod.blue", "team/canary"])
            old.put_alias(bsm, name="app", alias=name, version=rng.choice(found))

    async def cli_latest() -> None:
        planted.write_bytes(rng.randbytes(50))
        aws_cp(repo, planted, repo.layout.version_key("app", None))

    async def cli_alias_copy() -> None:
        if aliases := await repo.list_aliases("app"):
            planted.write_bytes(rng.choice(aliases).to_document())
            aws_cp(repo, planted, repo.layout.aliases_dir("app") + "copy-of-one.json")

    steps = [ours_put, ours_publish, ours_alias, ours_purge, ours_delete, peer_put,
             peer_publish, peer_alias, cli_latest, cli_alias_copy]  # fmt: skip
    await repo.put_artifact("app", b"first")
    for _ in range(30):
        step = rng.choice(steps)
        log.append(step.__name__)
        await step()
        existing = {None, *await numbers()}  # the listing works after every step
        for info in await repo._s3.list_all(repo.layout.aliases_dir("app")):
            found = await repo._s3.get(info.key, limit=None)  # every document, read as JSON
            assert found is not None
            document = json.loads(found[0])
            for target in (document["version"], document["secondary_version"]):
                if target is not None:
                    assert _keys.parse_version(target) in existing, (info.key, target, log)
