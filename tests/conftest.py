"""Fixtures: real S3 servers on 127.0.0.1, started once per session and stopped by process."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from aioversioned import AsyncRepository, Repository
from aioversioned._local import LocalS3, fake_credentials


@pytest.fixture(autouse=True)
def _no_real_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Never let a developer's AWS settings reach the tests."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    for name, value in fake_credentials().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[LocalS3]:
    """A moto server on a free loopback port for the whole session."""
    with LocalS3() as server:
        yield server


@pytest.fixture(scope="session")
def endpoint_url(moto_server: LocalS3) -> str:
    return moto_server.endpoint_url


@pytest.fixture
def bucket() -> str:
    """A fresh bucket name per test, so tests never see each other's objects."""
    return f"test-{uuid.uuid4().hex[:20]}"


@pytest.fixture
async def repo(endpoint_url: str, bucket: str) -> AsyncIterator[AsyncRepository]:
    async with AsyncRepository(bucket, endpoint_url=endpoint_url, aws_region="us-east-1") as r:
        await r.bootstrap()
        yield r


@pytest.fixture
def sync_repo(endpoint_url: str, bucket: str) -> Iterator[Repository]:
    with Repository(bucket, endpoint_url=endpoint_url, aws_region="us-east-1") as r:
        r.bootstrap()
        yield r
