"""AsyncRepository against a real moto server: every operation, outcomes asserted."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import Any

import aiohttp
import anyio
import pytest

from aioversioned import (
    AliasNotFoundError,
    ArtifactNotFoundError,
    AsyncRepository,
    BucketNotFoundError,
    CorruptDocumentError,
    InvalidInputError,
    VersionConflictError,
    _deletion,
)
from aioversioned._tasks import gather
from tests.foreign import put_unrecorded_version
from tests.s3log import RequestLog


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def keys(repo: AsyncRepository) -> list[str]:
    return [info.key for info in await repo._s3.list_all("")]


async def test_put_artifact_writes_latest_with_sha256(repo: AsyncRepository) -> None:
    art = await repo.put_artifact("m", b"v1", content_type="text/plain", metadata={"commit": "abc"})
    assert art.version == "LATEST"
    assert art.sha256 == sha(b"v1")
    assert art.s3uri == f"s3://{repo.layout.bucket}/versioned-artifacts/m/versions/000000_LATEST"
    assert art.update_at.tzinfo is not None
    info = await repo._s3.head("versioned-artifacts/m/versions/000000_LATEST")
    assert info is not None
    assert dict(info.metadata) == {
        "artifact_name": "m",
        "artifact_sha256": sha(b"v1"),
        "commit": "abc",
    }
    assert info.content_type == "text/plain"
    assert await repo.get_artifact_content("m") == b"v1"


async def test_identical_put_uploads_nothing(repo: AsyncRepository) -> None:
    first = await repo.put_artifact("m", b"same", metadata={"k": "v"})
    etag = (await repo._s3.head(repo.layout.version_key("m", None))).etag  # type: ignore[union-attr]
    again = await repo.put_artifact("m", b"same", metadata={"k": "v"})
    assert again.update_at == (await repo.get_artifact_version("m")).update_at
    assert again.sha256 == first.sha256
    assert (await repo._s3.head(repo.layout.version_key("m", None))).etag == etag  # type: ignore[union-attr]


async def test_changed_metadata_or_content_type_is_written(repo: AsyncRepository) -> None:
    await repo.put_artifact("m", b"same", metadata={"k": "v"})
    await repo.put_artifact("m", b"same", metadata={"k": "w"})
    info = await repo._s3.head(repo.layout.version_key("m", None))
    assert info is not None and info.metadata["k"] == "w"
    await repo.put_artifact("m", b"same", metadata={"k": "w"}, content_type="application/zip")
    info = await repo._s3.head(repo.layout.version_key("m", None))
    assert info is not None and info.content_type == "application/zip"


async def test_publish_numbers_versions_and_dedupes(repo: AsyncRepository) -> None:
    await repo.put_artifact("m", b"one")
    v1 = await repo.publish_artifact_version("m")
    assert (v1.version, v1.sha256) == ("1", sha(b"one"))
    assert v1.s3uri.endswith("/m/versions/999999_000001")
    assert (await repo.publish_artifact_version("m")).version == "1"
    await repo.put_artifact("m", b"two")
    v2 = await repo.publish_artifact_version("m")
    assert (v2.version, v2.sha256) == ("2", sha(b"two"))
    assert await repo.get_artifact_content("m", 1) == b"one"
    assert await repo.get_artifact_content("m", "000002") == b"two"
    assert (await repo.get_artifact_version("m", "2")).sha256 == sha(b"two")


async def test_put_and_publish_say_when_they_wrote_nothing(repo: AsyncRepository) -> None:
    assert not (await repo.put_artifact("m", b"one")).unchanged
    assert (await repo.put_artifact("m", b"one")).unchanged
    assert not (await repo.put_artifact("m", b"one", metadata={"k": "v"})).unchanged
    assert (await repo.put_artifact("m", io.BytesIO(b"one"))).unchanged

    async def stream() -> AsyncIterator[bytes]:
        yield b"one"

    assert (await repo.put_artifact("m", stream())).unchanged
    assert not (await repo.publish_artifact_version("m")).unchanged
    assert (await repo.publish_artifact_version("m")).unchanged
    await repo.put_artifact("m", b"one", metadata={"k": "w"})  # same bytes, new ETag
    assert (await repo.publish_artifact_version("m")).unchanged
    assert not any(a.unchanged for a in await repo.list_artifact_versions("m"))


async def test_list_artifact_suffixes_tells_which_suffix_finds_an_artifact(
    repo: AsyncRepository, endpoint_url: str, bucket: str
) -> None:
    async with AsyncRepository(bucket, suffix=".zip", endpoint_url=endpoint_url) as zipped:
        await zipped.put_artifact("z", b"x")
        await zipped.publish_artifact_version("z")
    await repo.put_artifact("z", b"y")
    assert await repo.list_artifact_suffixes("z") == ["", ".zip"]
    assert await repo.list_artifact_suffixes("nosuch") == []
    with pytest.raises(ArtifactNotFoundError):
        await repo.get_artifact_version("nosuch")


async def test_publish_dedupes_by_sha256_when_etags_differ(repo: AsyncRepository) -> None:
    await repo.put_artifact("m", b"one")
    await repo.publish_artifact_version("m")
    # New metadata rewrites LATEST with the same bytes: same sha256, so no new version.
    await repo.put_artifact("m", b"one", metadata={"note": "x"})
    assert (await repo.publish_artifact_version("m")).version == "1"
    assert [a.version for a in await repo.list_artifact_versions("m")] == ["LATEST", "1"]


async def test_publish_without_latest_is_not_found(repo: AsyncRepository) -> None:
    with pytest.raises(ArtifactNotFoundError) as info:
        await repo.publish_artifact_version("nothing")
    assert info.value.version == "LATEST"
    assert await keys(repo) == []


async def test_numbers_are_never_reused_after_deleting_the_newest(repo: AsyncRepository) -> None:
    for i in range(1, 8):
        await repo.put_artifact("m", f"content {i}".encode())
        assert (await repo.publish_artifact_version("m")).version == str(i)
    await repo.delete_artifact_version("m", 7)
    await repo.put_artifact("m", b"content 8")
    assert (await repo.publish_artifact_version("m")).version == "8"
    assert await repo.get_artifact_content("m", 8) == b"content 8"


async def test_publish_asks_for_claims_only_when_the_next_number_is_taken(
    repo: AsyncRepository,
) -> None:
    await repo.put_artifact("m", b"one")
    await repo.publish_artifact_version("m")
    await repo.put_artifact("m", b"two")
    log = RequestLog(repo)
    assert (await repo.publish_artifact_version("m")).version == "2"
    # LATEST, the records (LATEST's and the newest version's in one listing), the
    # newest version and the deleted versions at once; the claim; the copy and its record.
    sent = ["HeadObject", *["ListObjectsV2"] * 3, "PutObject", "CopyObject", "PutObject"]
    assert sorted(log.sent) == sorted(sent)
    log.clear()  # LATEST as published: the same round trip decides, no write
    assert (await repo.publish_artifact_version("m")).unchanged
    assert sorted(log.sent) == sorted(["HeadObject", *["ListObjectsV2"] * 3])
    for number in (2, 1):  # their bytes gone at once: the next number is 1 by the listing
        await repo.delete_artifact_version("m", number, force=True)
    await repo.put_artifact("m", b"three")
    log.clear()
    assert (await repo.publish_artifact_version("m")).version == "3"
    assert log.sent.count("ListObjectsV2") == 4  # claim 1 was lost: the claims were listed
    assert await repo.get_artifact_content("m", 3) == b"three"


async def test_publish_of_the_same_bytes_leaves_the_claimed_number_out(
    repo: AsyncRepository,
) -> None:
    """The claim sent beside the HEAD is never handed back: when the newest version held
    LATEST's bytes after all, its number stays unused."""
    await put_unrecorded_version(repo, "m", 1, b"one")
    await repo.put_artifact("m", b"one")  # same bytes, another ETag
    log = RequestLog(repo)
    assert (await repo.publish_artifact_version("m")).unchanged
    assert "CopyObject" not in log.sent
    await repo.put_artifact("m", b"two")
    assert (await repo.publish_artifact_version("m")).version == "3"
    assert [a.version for a in await repo.list_artifact_versions("m")] == ["LATEST", "3", "1"]


async def test_publish_reads_no_version_of_another_size(repo: AsyncRepository) -> None:
    await put_unrecorded_version(repo, "m", 1, b"one")
    await repo.put_artifact("m", b"three")
    log = RequestLog(repo)
    assert (await repo.publish_artifact_version("m")).version == "2"
    assert log.sent.count("HeadObject") == 1  # LATEST's, not version 1's


@pytest.mark.parametrize("taken", ["version", "claim"])
async def test_publish_after_the_last_number_is_a_typed_conflict(
    repo: AsyncRepository, taken: str
) -> None:
    body = b"old"
    await repo._s3.put(
        repo.layout.version_key("m", 999_998), body, metadata={"artifact_sha256": sha(body)}
    )
    if taken == "version":
        await repo._s3.put(
            repo.layout.version_key("m", 999_999), body, metadata={"artifact_sha256": sha(body)}
        )
    else:
        await repo._s3.put(repo.layout.claim_key("m", 999_999), b"")
    await repo.put_artifact("m", b"new")
    before = await keys(repo)
    with pytest.raises(VersionConflictError, match=r"every version number up to 999,999"):
        await repo.publish_artifact_version("m")
    assert await keys(repo) == before


async def test_create_first_free_stops_at_the_last_number(repo: AsyncRepository) -> None:
    key_of = partial(repo.layout.claim_key, "m")
    await repo._s3.put(key_of(999_999), b"")
    with pytest.raises(VersionConflictError) as info:
        await repo._s3.create_first_free(key_of, 999_999, lambda _: b"")
    assert info.value.key == key_of(999_999)
    assert info.value.detail == "no free number from 999999 to 999999"
    assert await keys(repo) == [key_of(999_999)]


async def test_list_artifact_versions_order_and_missing(repo: AsyncRepository) -> None:
    for i in range(3):
        await repo.put_artifact("m", bytes([i]))
        await repo.publish_artifact_version("m")
    versions = await repo.list_artifact_versions("m")
    assert [a.version for a in versions] == ["LATEST", "3", "2", "1"]
    assert [a.sha256 for a in versions] == [sha(b"\x02"), sha(b"\x02"), sha(b"\x01"), sha(b"\x00")]
    with pytest.raises(ArtifactNotFoundError):
        await repo.list_artifact_versions("other")


async def test_foreign_objects_under_versions_are_skipped(repo: AsyncRepository) -> None:
    await repo.put_artifact("m", b"x")
    await repo.publish_artifact_version("m")
    await repo._s3.put("versioned-artifacts/m/versions/README.txt", b"hi")
    await repo._s3.put("versioned-artifacts/m/versions/000000_000000", b"hi")
    assert [a.version for a in await repo.list_artifact_versions("m")] == ["LATEST", "1"]
    await repo.put_artifact("m", b"y")
    assert (await repo.publish_artifact_version("m")).version == "2"


async def test_object_without_sha256_metadata_is_learned(repo: AsyncRepository) -> None:
    await repo._s3.put(repo.layout.version_key("m", None), b"raw")
    assert (await repo.get_artifact_version("m")).sha256 == sha(b"raw")  # streamed once
    records = await repo._s3.list_all(repo.layout.published_prefix("m", None))
    assert [r.key.rsplit("_", 1)[1] for r in records] == [sha(b"raw")]


async def test_get_missing_versions(repo: AsyncRepository) -> None:
    with pytest.raises(ArtifactNotFoundError) as info:
        await repo.get_artifact_version("m", 3)
    assert (info.value.name, info.value.version) == ("m", "3")
    with pytest.raises(ArtifactNotFoundError):
        await repo.get_artifact_content("m")


async def test_delete_artifact_version(repo: AsyncRepository) -> None:
    await repo.put_artifact("m", b"x")
    await repo.publish_artifact_version("m")
    await repo.delete_artifact_version("m", "1")
    await repo.delete_artifact_version("m", 1)  # missing: a no-op
    assert [a.version for a in await repo.list_artifact_versions("m")] == ["LATEST"]
    with pytest.raises(InvalidInputError, match=r"^version: "):
        await repo.delete_artifact_version("m", "LATEST")
    with pytest.raises(InvalidInputError, match=r"^version: "):
        await repo.delete_artifact_version("m", None)
    assert await repo.get_artifact_content("m") == b"x"


async def test_list_artifact_names(repo: AsyncRepository) -> None:
    assert await repo.list_artifact_names() == []
    for name in ("b", "a", "c.d"):
        await repo.put_artifact(name, b"x")
    await repo._s3.put("versioned-artifacts/not valid/versions/x", b"x")
    assert await repo.list_artifact_names() == ["a", "b", "c.d"]


async def test_aliases_lifecycle(repo: AsyncRepository) -> None:
    await repo.put_artifact("m", b"one")
    await repo.publish_artifact_version("m")
    await repo.put_artifact("m", b"two")
    await repo.publish_artifact_version("m")
    prod = await repo.put_alias("m", "prod", 1)
    assert (prod.version, prod.secondary_version, prod.secondary_version_weight) == (
        "1",
        None,
        None,
    )
    assert prod.version_s3uri.endswith("/m/versions/999999_000001")
    assert await repo.get_alias("m", "prod") == prod

    canary = await repo.put_alias(
        "m", "prod", "1", secondary_version=2, secondary_version_weight=30
    )
    assert (canary.secondary_version, canary.secondary_version_weight) == ("2", 30)
    assert canary.secondary_version_s3uri is not None
    assert canary.secondary_version_s3uri.endswith("/m/versions/999998_000002")
    assert await repo.get_alias("m", "prod") == canary

    dev = await repo.put_alias("m", "dev")
    assert dev.version == "LATEST"
    assert dev.version_s3uri.endswith("/m/versions/000000_LATEST")
    assert [a.alias for a in await repo.list_aliases("m")] == ["dev", "prod"]

    await repo.delete_alias("m", "dev")
    await repo.delete_alias("m", "dev")  # missing: a no-op
    assert [a.alias for a in await repo.list_aliases("m")] == ["prod"]
    with pytest.raises(AliasNotFoundError) as info:
        await repo.get_alias("m", "dev")
    assert (info.value.name, info.value.alias) == ("m", "dev")


async def test_alias_to_missing_version_writes_nothing(repo: AsyncRepository) -> None:
    await repo.put_artifact("m", b"x")
    with pytest.raises(ArtifactNotFoundError):
        await repo.put_alias("m", "prod", 5)
    await repo.publish_artifact_version("m")
    with pytest.raises(ArtifactNotFoundError):
        await repo.put_alias("m", "prod", 1, secondary_version=9, secondary_version_weight=5)
    assert await repo.list_aliases("m") == []


async def test_alias_document_on_disk_is_versioned_1x_shaped(repo: AsyncRepository) -> None:
    await repo.put_artifact("m", b"x")
    await repo.put_alias("m", "prod")
    found = await repo._s3.get("versioned-artifacts/m/aliases/prod.json", limit=None)
    assert found is not None
    doc = json.loads(found[0])
    assert set(doc) == {
        "name",
        "alias",
        "update_at",
        "version",
        "secondary_version",
        "secondary_version_weight",
        "version_s3uri",
        "secondary_version_s3uri",
    }
    assert doc["version"] == "LATEST"


async def test_corrupt_alias_document(repo: AsyncRepository) -> None:
    await repo._s3.put("versioned-artifacts/m/aliases/prod.json", b"{oops")
    with pytest.raises(CorruptDocumentError) as info:
        await repo.get_alias("m", "prod")
    assert info.value.key == "versioned-artifacts/m/aliases/prod.json"
    with pytest.raises(CorruptDocumentError):
        await repo.list_aliases("m")


async def test_foreign_alias_keys_are_skipped(repo: AsyncRepository) -> None:
    await repo.put_artifact("m", b"x")
    await repo.put_alias("m", "prod")
    await repo._s3.put("versioned-artifacts/m/aliases/notes.txt", b"hello")
    assert [a.alias for a in await repo.list_aliases("m")] == ["prod"]


async def test_purge_artifact_versions_keeps_newest_and_young(repo: AsyncRepository) -> None:
    for i in range(5):
        await repo.put_artifact("m", bytes([i]))
        await repo.publish_artifact_version("m")
    when, deleted = await repo.purge_artifact_versions("m", keep_last_n=2, purge_older_than_secs=0)
    assert when.tzinfo is not None and abs(when - datetime.now(timezone.utc)) < timedelta(minutes=1)
    assert [a.version for a in deleted] == ["3", "2", "1"]
    assert [a.sha256 for a in deleted] == [sha(b"\x02"), sha(b"\x01"), sha(b"\x00")]
    assert [a.version for a in await repo.list_artifact_versions("m")] == ["LATEST", "5", "4"]
    # The default age limit (90 days) protects everything that was just written.
    assert (await repo.purge_artifact_versions("m", keep_last_n=0))[1] == []
    _, deleted = await repo.purge_artifact_versions("m", keep_last_n=0, purge_older_than_secs=0)
    assert [a.version for a in deleted] == ["5", "4"]
    assert await repo.get_artifact_content("m") == b"\x04"


async def test_purge_artifact_and_purge_all(repo: AsyncRepository) -> None:
    for name in ("a", "b"):
        await repo.put_artifact(name, b"x")
        await repo.publish_artifact_version(name)
        await repo.put_alias(name, "prod", 1)
    await repo._s3.put("elsewhere/keep.txt", b"keep")
    await repo.purge_artifact("a")
    assert await repo.list_artifact_names() == ["b"]
    # The claims went with it: the name published again starts at 1, as documented.
    await repo.put_artifact("a", b"y")
    assert (await repo.publish_artifact_version("a")).version == "1"
    await repo.purge_all()
    assert await keys(repo) == ["elsewhere/keep.txt"]


async def test_purge_all_removes_more_than_one_delete_batch(repo: AsyncRepository) -> None:
    await repo.put_artifact("m", b"x")
    await repo._s3.delete([])
    await gather(
        partial(repo._s3.put, f"versioned-artifacts/m/junk/{i:05d}", b"") for i in range(1100)
    )
    await repo.purge_all()
    assert await keys(repo) == []


async def test_gather_with_a_limit_runs_that_many_calls_at_once_in_order() -> None:
    running = peak = 0

    async def call(index: int) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await anyio.sleep(0.001 * (index % 3))
        running -= 1
        return index

    assert await gather((partial(call, i) for i in range(20)), 4) == list(range(20))
    assert peak == 4
    assert await gather(partial(call, i) for i in range(20)) == list(range(20))
    assert peak == 20  # without a limit, every call at once


async def test_suffix_and_nested_prefix(endpoint_url: str, bucket: str) -> None:
    async with AsyncRepository(bucket, "team/models/", ".bin", endpoint_url=endpoint_url) as repo:
        await repo.bootstrap()
        await repo.put_artifact("m", b"x")
        v1 = await repo.publish_artifact_version("m")
        assert v1.s3uri == f"s3://{bucket}/team/models/m/versions/999999_000001.bin"
        assert [a.version for a in await repo.list_artifact_versions("m")] == ["LATEST", "1"]
        assert await repo.list_artifact_names() == ["m"]


async def test_missing_bucket_is_a_clear_error(endpoint_url: str) -> None:
    async with AsyncRepository("no-such-bucket-here", endpoint_url=endpoint_url) as repo:
        for call in (
            repo.get_artifact_version("m"),
            repo.get_artifact_content("m"),
            repo.list_artifact_names(),
            repo.put_artifact("m", b"x"),
            repo.get_alias("m", "prod"),
            repo.publish_artifact_version("m"),
        ):
            with pytest.raises(BucketNotFoundError) as info:
                await call
            assert info.value.bucket == "no-such-bucket-here"
            assert "bootstrap" in str(info.value)


async def test_bootstrap_is_idempotent(repo: AsyncRepository) -> None:
    await repo.bootstrap()
    await repo.put_artifact("m", b"x")
    await repo.bootstrap()
    assert await repo.get_artifact_content("m") == b"x"


async def test_repository_must_be_entered(endpoint_url: str, bucket: str) -> None:
    repo = AsyncRepository(bucket, endpoint_url=endpoint_url)
    with pytest.raises(RuntimeError, match=r"async with"):
        await repo.list_artifact_names()
    async with repo:
        await repo.bootstrap()
    with pytest.raises(RuntimeError):
        await repo.list_artifact_names()


async def test_listing_learns_sha256_from_published_records(repo: AsyncRepository) -> None:
    for i in range(5):
        await repo.put_artifact("m", bytes([i]))
        await repo.publish_artifact_version("m")
    sent: list[str] = []
    repo._s3._client.meta.events.register(
        "before-send.s3", lambda request, **_: sent.append(request.method)
    )
    versions = await repo.list_artifact_versions("m")
    assert [a.sha256 for a in versions] == [sha(bytes([i])) for i in (4, 4, 3, 2, 1, 0)]
    # three listings (versions, records, deleted versions), one HEAD for LATEST
    assert sorted(sent) == ["GET", "GET", "GET", "HEAD"]

    # A version rewritten behind the library's back no longer matches its record: HEAD.
    key = repo.layout.version_key("m", 2)
    await repo._s3.put(key, b"other", metadata={"artifact_sha256": sha(b"other")})
    sent.clear()
    versions = await repo.list_artifact_versions("m")
    assert [a.sha256 for a in versions if a.version == "2"] == [sha(b"other")]
    assert sent.count("HEAD") == 2


async def test_deleting_versions_removes_their_records(
    repo: AsyncRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_deletion, "GRACE", timedelta(0))  # collect what was retired
    for i in range(4):
        await repo.put_artifact("m", bytes([i]))
        await repo.publish_artifact_version("m")
    await repo.delete_artifact_version("m", 4)
    await repo.purge_artifact_versions("m", keep_last_n=1, purge_older_than_secs=0)
    await repo.purge_artifact_versions("m", keep_last_n=1, purge_older_than_secs=0)  # collects
    records = await repo._s3.list_all(repo.layout.published_dir("m"))
    # LATEST's record (of the ETag the last put wrote) stays with LATEST.
    assert [repo.layout.parse_record_key("m", r.key)[0] for r in records] == [None, 3]
    assert await repo._s3.list_all(repo.layout.retired_dir("m")) == []
    listed = await repo._s3.list_all(repo.layout.versions_dir("m"))
    assert [repo.layout.parse_version_key("m", i.key) for i in listed] == [None, 3]


async def test_a_deleted_version_keeps_its_bytes_until_the_grace_period_ends(
    repo: AsyncRepository,
) -> None:
    """Retired: gone for listings, publish and aliases at once; its bytes stay for
    GRACE (a request may still land late), and a delete after that removes them."""
    for i in range(2):
        await repo.put_artifact("m", bytes([i]))
        await repo.publish_artifact_version("m")
    await repo.delete_artifact_version("m", 2)
    assert [a.version for a in await repo.list_artifact_versions("m")] == ["LATEST", "1"]
    with pytest.raises(ArtifactNotFoundError):
        await repo.put_alias("m", "prod", 2)
    # LATEST holds version 2's bytes: it is published again, under a new number.
    assert (await repo.publish_artifact_version("m")).version == "3"
    assert await repo._s3.head(repo.layout.version_key("m", 2)) is not None
    await repo.delete_artifact_version("m", 3)  # 2 is within its grace period: kept
    assert await repo._s3.head(repo.layout.version_key("m", 2)) is not None
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_deletion, "GRACE", timedelta(0))
        await repo.delete_artifact_version("m", 1)
        await repo.delete_artifact_version("m", 1)  # already retired: collects it too
    assert [i.key for i in await repo._s3.list_all(repo.layout.versions_dir("m"))] == [
        repo.layout.version_key("m", None)
    ]
    assert await repo._s3.list_all(repo.layout.retired_dir("m")) == []


# -- what a result does not know reads as unknown ------------------------------------------


async def test_metadata_a_call_did_not_read_is_none_not_empty(repo: AsyncRepository) -> None:
    """A listing reads keys and sizes: a version with metadata must not look like one without."""
    await repo.put_artifact("m", b"one", "text/plain", metadata={"commit": "a1b2c3"})
    await repo.publish_artifact_version("m")
    await repo.put_artifact("m", b"two", metadata={})
    await repo.publish_artifact_version("m")
    shown = await repo.get_artifact_version("m", 1)
    assert (shown.metadata, shown.content_type) == ({"commit": "a1b2c3"}, "text/plain")
    assert (await repo.get_artifact_version("m", 2)).metadata == {}  # known to have none

    listed = {a.version: a for a in await repo.list_artifact_versions("m")}
    assert (listed["LATEST"].metadata, listed["LATEST"].content_type) == (
        {},
        "application/octet-stream",
    )
    for version in ("1", "2"):
        assert (listed[version].metadata, listed[version].content_type) == (None, None)
    detailed = {a.version: a for a in await repo.list_artifact_versions("m", details=True)}
    assert detailed["1"].metadata == {"commit": "a1b2c3"} and detailed["2"].metadata == {}

    again = await repo.publish_artifact_version("m")  # LATEST published already
    assert again.unchanged and (again.version, again.metadata) == ("2", None)
    await repo.put_artifact("m", b"two", metadata={"note": "x"})  # same bytes, new ETag
    same = await repo.publish_artifact_version("m")
    assert same.unchanged and (same.version, same.metadata) == ("2", None)
    _, purged = await repo.purge_artifact_versions("m", 0, 0, dry_run=True)
    assert [(a.version, a.metadata) for a in purged] == [("2", None), ("1", None)]


class _Sent:
    """The headers of every request a repository sends, by operation."""

    def __init__(self, repo: AsyncRepository) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []
        repo._s3._client.meta.events.register("before-send.s3", self._on_send)

    def _on_send(self, request: Any, event_name: str, **_: Any) -> None:
        headers = {
            k.lower(): v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()
        }
        self.requests.append((event_name.rsplit(".", 1)[1], headers))

    def of(self, operation: str) -> list[dict[str, str]]:
        return [headers for name, headers in self.requests if name == operation]


async def test_small_request_bodies_do_not_wait_for_the_servers_go_ahead(
    repo: AsyncRepository,
) -> None:
    """botocore asks ``Expect: 100-continue`` for every PutObject body; a server answers a
    small one without the go-ahead, and aiohttp then drops the connection. Claims and
    records go without it; a large body still waits for it."""
    sent = _Sent(repo)
    await repo.put_artifact("m", b"one")
    await repo.publish_artifact_version("m")
    await repo.put_artifact("m", b"x" * (1 << 20))
    small = [h for h in sent.of("PutObject") if int(h["content-length"]) < 1 << 20]
    large = [h for h in sent.of("PutObject") if int(h["content-length"]) >= 1 << 20]
    assert len(small) >= 4 and len(large) == 1  # LATEST, its record, the claim, the record
    assert [h.get("expect") for h in small] == [None] * len(small)
    assert large[0]["expect"] == "100-continue"


async def test_publish_keeps_its_connections(weed_server: Any, bucket: str) -> None:
    """On a server that keeps connections alive (SeaweedFS), a publish opens none once the
    pool holds enough: every claim and record used to cost one."""
    opened: list[object] = []
    original = aiohttp.TCPConnector._create_direct_connection

    async def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        opened.append(args)
        return await original(self, *args, **kwargs)

    async with AsyncRepository(
        bucket, endpoint_url=weed_server.endpoint_url, aws_region="us-east-1"
    ) as r:
        await r.bootstrap()
        for body in (b"one", b"two"):  # the pool grows to what a publish uses at once
            await r.put_artifact("m", body)
            await r.publish_artifact_version("m")
        await r.put_artifact("m", b"three")
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(aiohttp.TCPConnector, "_create_direct_connection", counted)
            assert (await r.publish_artifact_version("m")).version == "3"
            assert (await r.publish_artifact_version("m")).unchanged
        assert opened == []


async def test_content_reads_leave_the_servers_checksum_to_the_sha256(
    repo: AsyncRepository,
) -> None:
    """A read whose bytes the sha256 checks asks no response checksum of botocore; every
    other read does (documents, and the bytes a sha256 is learned from)."""
    await repo.put_artifact("m", b"one")
    await repo.publish_artifact_version("m")
    await repo.put_alias("m", "prod", 1)
    sent = _Sent(repo)
    assert await repo.get_artifact_content("m", 1) == b"one"
    assert [h.get("x-amz-checksum-mode") for h in sent.of("GetObject")] == [None]
    sent.requests.clear()
    assert (await repo.get_alias("m", "prod")).version == "1"
    assert [h.get("x-amz-checksum-mode") for h in sent.of("GetObject")] == ["ENABLED"]
    # LATEST written by another tool, with no sha256: read again, checked, and learned.
    await repo._s3._client.put_object(
        Bucket=repo.layout.bucket, Key=repo.layout.version_key("n", None), Body=b"foreign"
    )
    sent.requests.clear()
    assert await repo.get_artifact_content("n") == b"foreign"
    modes = [h.get("x-amz-checksum-mode") for h in sent.of("GetObject")]
    assert modes == [None, "ENABLED"]
    sent.requests.clear()
    assert await repo.get_artifact_content("n") == b"foreign"  # its record checks it now
    assert [h.get("x-amz-checksum-mode") for h in sent.of("GetObject")] == [None]


async def test_publish_finds_the_newest_record_past_a_page_of_stale_latest_records(
    repo: AsyncRepository,
) -> None:
    """LATEST's records sort before the numbered ones; when stale ones (of ETags LATEST no
    longer has, left by a failed delete) fill the first page, the listing goes on."""
    await repo.put_artifact("m", b"one")
    assert (await repo.publish_artifact_version("m")).version == "1"
    await repo.put_artifact("m", b"two")
    stale = [repo.layout.published_key("m", None, f"{i:032x}", sha(b"old")) for i in range(40)]
    await gather(partial(repo._s3.put, key, b"") for key in stale)
    log = RequestLog(repo)
    published = await repo.publish_artifact_version("m")
    assert (published.version, published.sha256) == ("2", sha(b"two"))
    assert log.sent.count("ListObjectsV2") == 2 + 3  # the records' listing took 3 pages
    assert "GetObject" not in log.sent  # LATEST's own record was found: not streamed
    again = await repo.publish_artifact_version("m")
    assert (again.version, again.unchanged) == ("2", True)
    assert await repo.get_artifact_content("m", 2) == b"two"
