"""Reading back what was written: size, content type and user metadata of versions."""

from __future__ import annotations

import pickle

import anyio
import pytest

from aioversioned import (
    AliasNotFoundError,
    Artifact,
    ArtifactNotFoundError,
    AsyncRepository,
    InvalidInputError,
)
from aioversioned._keys import SHA256_KEY
from tests.s3log import RequestLog


async def test_a_version_reads_back_its_size_content_type_and_metadata(
    any_repo: AsyncRepository,
) -> None:
    repo = any_repo
    put = await repo.put_artifact(
        "m", b"weights v1", "application/x-onnx", {"commit": "a1b2c3", "run-id": "7"}
    )
    assert (put.size, put.content_type, put.metadata) == (
        10,
        "application/x-onnx",
        {"commit": "a1b2c3", "run-id": "7"},
    )
    published = await repo.publish_artifact_version("m")
    for version in (None, "LATEST", 1):
        found = await repo.get_artifact_version("m", version)
        assert found.size == 10
        assert found.content_type == "application/x-onnx"
        assert found.metadata == {"commit": "a1b2c3", "run-id": "7"}  # none of the library's
    assert published.metadata == {"commit": "a1b2c3", "run-id": "7"}
    assert published.size == 10


async def test_default_content_type_and_no_metadata(any_repo: AsyncRepository) -> None:
    await any_repo.put_artifact("m", b"x")
    found = await any_repo.get_artifact_version("m")
    assert (found.size, found.content_type, found.metadata) == (
        1,
        "application/octet-stream",
        {},
    )


async def test_a_listing_fills_sizes_without_extra_requests_and_details_fill_everything(
    repo: AsyncRepository,
) -> None:
    for number in range(1, 4):
        await repo.put_artifact("m", b"v" * number, "text/plain", {"n": str(number)})
        await repo.publish_artifact_version("m")
    log = RequestLog(repo)
    listed = await repo.list_artifact_versions("m")
    # versions, records, tombstones listed; LATEST HEADed
    assert sorted(log.sent) == ["HeadObject", *["ListObjectsV2"] * 3]
    assert [(a.version, a.size) for a in listed] == [("LATEST", 3), ("3", 3), ("2", 2), ("1", 1)]
    # LATEST's HEAD is sent anyway: it is filled; published versions came from records,
    # which do not tell them: unknown (None), not empty.
    assert (listed[0].content_type, listed[0].metadata) == ("text/plain", {"n": "3"})
    assert [(a.content_type, a.metadata) for a in listed[1:]] == [(None, None)] * 3

    log.clear()
    detailed = await repo.list_artifact_versions("m", details=True)
    assert log.sent.count("HeadObject") == 4
    assert [(a.version, a.size, a.content_type, a.metadata) for a in detailed] == [
        ("LATEST", 3, "text/plain", {"n": "3"}),
        ("3", 3, "text/plain", {"n": "3"}),
        ("2", 2, "text/plain", {"n": "2"}),
        ("1", 1, "text/plain", {"n": "1"}),
    ]
    assert [a.sha256 for a in detailed] == [a.sha256 for a in listed]


async def test_details_must_be_a_bool(repo: AsyncRepository) -> None:
    with pytest.raises(InvalidInputError, match="details"):
        await repo.list_artifact_versions("m", details="yes")  # type: ignore[arg-type]


async def test_metadata_of_other_writers_is_shown_as_s3_returns_it(repo: AsyncRepository) -> None:
    """Another tool's object: its metadata keys (lowercased by S3) are the user's, the
    sha256 key under either spelling is not."""
    key = repo.layout.version_key("m", None)
    await repo._s3._client.put_object(
        Bucket=repo.layout.bucket,
        Key=key,
        Body=b"foreign",
        ContentType="application/zip",
        Metadata={"Owner": "ci", "artifact-sha256": "0" * 64, SHA256_KEY: "1" * 64},
    )
    found = await repo.get_artifact_version("m")
    assert found.metadata == {"owner": "ci"}
    assert found.content_type == "application/zip"


async def test_library_keys_are_reserved_in_user_metadata(repo: AsyncRepository) -> None:
    with pytest.raises(InvalidInputError, match="reserved"):
        await repo.put_artifact("m", b"x", metadata={"aioversioned-token": "mine"})
    with pytest.raises(InvalidInputError, match="aioversioned-"):
        await repo.put_artifact("m", b"x", metadata={"aioversioned-anything": "1"})
    with pytest.raises(ArtifactNotFoundError):
        await repo.get_artifact_version("m")  # nothing was written


async def test_an_alias_target_is_described(any_repo: AsyncRepository) -> None:
    repo = any_repo
    await repo.put_artifact("m", b"one", metadata={"commit": "c1"})
    await repo.publish_artifact_version("m")
    await repo.put_artifact("m", b"two!", metadata={"commit": "c2"})
    await repo.publish_artifact_version("m")
    await repo.put_alias("m", "prod", 1, secondary_version=2, secondary_version_weight=50)
    found = await repo.get_artifact_version("m", alias="prod")
    assert (found.version, found.size, found.metadata) == ("1", 3, {"commit": "c1"})

    with pytest.raises(AliasNotFoundError):
        await repo.get_artifact_version("m", alias="nosuch")
    with pytest.raises(InvalidInputError, match="alias"):
        await repo.get_artifact_version("m", 1, alias="prod")


async def test_a_missing_version_behind_an_alias_names_the_alias(repo: AsyncRepository) -> None:
    await repo.put_artifact("m", b"one")
    await repo.publish_artifact_version("m")
    await repo.put_alias("m", "prod", 1)
    await repo.delete_artifact_version("m", 1, force=True)
    for call in (
        repo.get_artifact_version("m", alias="prod"),
        repo.get_alias_content("m", "prod"),
    ):
        with pytest.raises(ArtifactNotFoundError) as info:
            await call
        assert (info.value.version, info.value.alias) == ("1", "prod")
        assert "alias 'prod'" in str(info.value)
    error = pickle.loads(pickle.dumps(info.value))
    assert (error.name, error.version, error.alias) == ("m", "1", "prod")


def test_artifact_stays_frozen() -> None:
    artifact = Artifact.model_validate(
        {
            "name": "m",
            "version": "1",
            "update_at": "2026-01-01T00:00:00+00:00",
            "s3uri": "s3://b/k",
            "sha256": "0" * 64,
        }
    )
    assert (artifact.size, artifact.content_type, artifact.metadata) == (None, None, {})
    tagged = artifact.model_copy(update={"metadata": {"commit": "a1"}})
    assert len({artifact, tagged, artifact.model_copy()}) == 2  # still hashable
    with pytest.raises(ValueError, match="frozen"):
        artifact.size = 3


async def test_details_heads_run_concurrently_within_max_concurrency(
    endpoint_url: str, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with AsyncRepository(
        bucket, endpoint_url=endpoint_url, aws_region="us-east-1", max_concurrency=3
    ) as repo:
        await repo.bootstrap()
        for number in range(8):
            await repo.put_artifact("m", bytes([number]))
            await repo.publish_artifact_version("m")
        client = repo._s3._client
        original = client.head_object
        in_flight, most = 0, 0

        async def counting(**kwargs: object) -> object:
            nonlocal in_flight, most
            in_flight += 1
            most = max(most, in_flight)
            try:
                await anyio.sleep(0.05)
                return await original(**kwargs)
            finally:
                in_flight -= 1

        monkeypatch.setattr(client, "head_object", counting)
        detailed = await repo.list_artifact_versions("m", details=True)
    assert len(detailed) == 9 and all(a.content_type for a in detailed)
    assert most == 3
