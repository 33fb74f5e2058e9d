"""Stores written by ``versioned`` 1.0.1 and by aioversioned are interchangeable, both ways."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from boto_session_manager import BotoSesManager
from versioned.api import s3_only_backend as peer

from aioversioned import AsyncRepository


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def bsm(endpoint_url: str) -> Iterator[BotoSesManager]:
    yield BotoSesManager(
        region_name="us-east-1", default_client_kwargs={"endpoint_url": endpoint_url}
    )


@pytest.mark.parametrize("suffix", ["", ".zip"])
async def test_we_read_and_extend_a_store_written_by_versioned(
    repo: AsyncRepository, bsm: BotoSesManager, suffix: str
) -> None:
    old = peer.Repository(aws_region="us-east-1", s3_bucket=repo.layout.bucket, suffix=suffix)
    ours = AsyncRepository(
        repo.layout.bucket, suffix=suffix, endpoint_url=str(repo._connect_args["endpoint_url"])
    )
    async with ours:
        old.put_artifact(bsm, name="app", content=b"one", metadata={"team": "ml"})
        old.publish_artifact_version(bsm, name="app")
        old.put_artifact(bsm, name="app", content=b"two")
        old.publish_artifact_version(bsm, name="app")
        old.put_alias(
            bsm,
            name="app",
            alias="prod",
            version=1,
            secondary_version=2,
            secondary_version_weight=25,
        )
        old.put_alias(bsm, name="app", alias="dev")

        assert await ours.list_artifact_names() == ["app"]
        versions = await ours.list_artifact_versions("app")
        assert [(a.version, a.sha256) for a in versions] == [
            ("LATEST", sha(b"two")),
            ("2", sha(b"two")),
            ("1", sha(b"one")),
        ]
        assert await ours.get_artifact_content("app", 1) == b"one"
        prod = await ours.get_alias("app", "prod")
        assert (prod.version, prod.secondary_version, prod.secondary_version_weight) == (
            "1",
            "2",
            25,
        )
        assert prod.update_at.tzinfo is not None  # versioned stores "unknown"; we use LastModified
        assert [a.alias for a in await ours.list_aliases("app")] == ["dev", "prod"]

        # Publishing unchanged LATEST returns versioned's version 2; new content gets 3.
        assert (await ours.publish_artifact_version("app")).version == "2"
        await ours.put_artifact("app", b"three")
        v3 = await ours.publish_artifact_version("app")
        assert v3.version == "3"
        await ours.put_alias("app", "prod", 3, secondary_version=2, secondary_version_weight=10)

        # ... and versioned 1.0.1 keeps working on the store we extended.
        assert old.get_latest_published_artifact_version_number(bsm, name="app") == 3
        assert [a.version for a in old.list_artifact_versions(bsm, name="app")] == [
            "LATEST",
            "3",
            "2",
            "1",
        ]
        assert old.get_artifact_version(bsm, name="app", version=3).get_content(bsm) == b"three"
        alias = old.get_alias(bsm, name="app", alias="prod")
        assert (alias.version, alias.secondary_version, alias.secondary_version_weight) == (
            "3",
            "2",
            10,
        )
        assert {a.alias for a in old.list_aliases(bsm, name="app")} == {"dev", "prod"}
        assert old.list_artifact_names(bsm) == ["app"]


async def test_versioned_reads_and_extends_a_store_we_wrote(
    repo: AsyncRepository, bsm: BotoSesManager
) -> None:
    bucket = repo.layout.bucket
    await repo.put_artifact(
        "model", b"alpha", content_type="application/zip", metadata={"commit": "c1"}
    )
    await repo.publish_artifact_version("model")
    await repo.put_artifact("model", b"beta")
    await repo.publish_artifact_version("model")
    await repo.put_alias("model", "prod", 2, secondary_version=1, secondary_version_weight=5)
    await repo.put_alias("model", "staging")

    old = peer.Repository(aws_region="us-east-1", s3_bucket=bucket)
    assert old.list_artifact_names(bsm) == ["model"]
    arts = old.list_artifact_versions(bsm, name="model")
    assert [(a.version, a.sha256) for a in arts] == [
        ("LATEST", sha(b"beta")),
        ("2", sha(b"beta")),
        ("1", sha(b"alpha")),
    ]
    assert old.get_artifact_version(bsm, name="model", version=1).get_content(bsm) == b"alpha"
    prod = old.get_alias(bsm, name="model", alias="prod")
    assert (prod.version, prod.secondary_version, prod.secondary_version_weight) == ("2", "1", 5)
    assert prod.get_version_content(bsm) == b"beta"
    assert {a.alias for a in old.list_aliases(bsm, name="model")} == {"prod", "staging"}

    # versioned publishes on top of our numbers and moves our alias; we read its writes.
    old.put_artifact(bsm, name="model", content=b"gamma")
    assert old.publish_artifact_version(bsm, name="model").version == "3"
    old.put_alias(bsm, name="model", alias="prod", version=3)
    assert (await repo.get_alias("model", "prod")).version == "3"
    assert await repo.get_artifact_content("model", 3) == b"gamma"
    assert (await repo.get_artifact_version("model", 3)).sha256 == sha(b"gamma")

    # Documented limitation: versioned 1.x records no claims, so a number it handed out
    # and deleted itself is invisible to us and is handed out again.
    old.delete_artifact_version(bsm, name="model", version=3)
    await repo.put_artifact("model", b"delta")
    assert (await repo.publish_artifact_version("model")).version == "3"
    # A number that we handed out is never reused, whoever deleted the version.
    old.delete_artifact_version(bsm, name="model", version=3)
    await repo.put_artifact("model", b"epsilon")
    assert (await repo.publish_artifact_version("model")).version == "4"
    old.purge_artifact(bsm, name="model")
    assert await repo.list_artifact_names() == []
