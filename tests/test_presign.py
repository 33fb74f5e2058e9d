"""presign_artifact: URLs a plain HTTP client downloads without credentials."""

from __future__ import annotations

import urllib.request

import anyio.to_thread
import pytest

from aioversioned import (
    AliasNotFoundError,
    ArtifactNotFoundError,
    AsyncRepository,
    InvalidInputError,
    Repository,
)
from tests.s3log import RequestLog


async def download(url: str) -> bytes:
    def fetch() -> bytes:
        request = urllib.request.Request(url)  # no credentials, no extra headers
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.read()  # type: ignore[no-any-return]

    return await anyio.to_thread.run_sync(fetch)


async def test_urls_download_the_versions_bytes(any_repo: AsyncRepository) -> None:
    repo = any_repo
    await repo.put_artifact("m", b"build one")
    await repo.publish_artifact_version("m")
    await repo.put_artifact("m", b"build two")
    await repo.publish_artifact_version("m")
    await repo.put_alias("m", "prod", 1)

    assert await download(await repo.presign_artifact("m", 1)) == b"build one"
    url = await repo.presign_artifact("m", "2", expires_in=60)
    assert "X-Amz-Signature=" in url and "X-Amz-Expires=60" in url  # SigV4, as AWS wants
    assert await download(url) == b"build two"
    assert await download(await repo.presign_artifact("m")) == b"build two"  # LATEST

    by_alias = await repo.presign_artifact("m", alias="prod")
    await repo.put_alias("m", "prod", 2)
    assert await download(by_alias) == b"build one"  # resolved when it was signed
    assert by_alias.startswith(repo._s3._client.meta.endpoint_url)


async def test_an_alias_url_names_the_alias_of_a_missing_version(repo: AsyncRepository) -> None:
    await repo.put_artifact("m", b"one")
    await repo.publish_artifact_version("m")
    await repo.put_alias("m", "prod", 1)
    await repo.delete_artifact_version("m", 1, force=True)
    with pytest.raises(ArtifactNotFoundError) as info:
        await repo.presign_artifact("m", alias="prod")
    assert info.value.alias == "prod"
    with pytest.raises(ArtifactNotFoundError):
        await repo.presign_artifact("m", 7)
    with pytest.raises(AliasNotFoundError):
        await repo.presign_artifact("m", alias="staging")


@pytest.mark.parametrize("expires_in", [0, -1, 7 * 86_400 + 1, 1.5, True, "3600", None])
async def test_bad_expiry_is_refused_before_any_request(
    repo: AsyncRepository, expires_in: object
) -> None:
    log = RequestLog(repo)
    with pytest.raises(InvalidInputError) as info:
        await repo.presign_artifact("m", expires_in=expires_in)  # type: ignore[arg-type]
    assert info.value.argument == "expires_in"
    assert "7 days" in str(info.value)
    assert log.sent == []


async def test_version_and_alias_together_are_refused(repo: AsyncRepository) -> None:
    with pytest.raises(InvalidInputError, match="alias"):
        await repo.presign_artifact("m", 1, alias="prod")


def test_blocking_twin(sync_repo: Repository) -> None:
    sync_repo.put_artifact("m", b"bytes")
    url = sync_repo.presign_artifact("m", expires_in=7 * 86_400)
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.read() == b"bytes"
