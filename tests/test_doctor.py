"""check_server, the guard on conditional writes, and ``aioversioned doctor``.

On moto 5.2.6, on SeaweedFS 4.48, and through a loopback proxy that strips the
conditional headers from every request (a server that ignores them).
"""

from __future__ import annotations

import json
import pickle
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import boto3
import pytest
from typer.testing import CliRunner

from aioversioned import (
    AsyncRepository,
    ConditionalWritesIgnoredError,
    InvalidInputError,
    Repository,
    ServerCheck,
    StorageError,
    VersionConflictError,
)
from aioversioned import _doctor as doctor
from aioversioned.cli import app

from .faultproxy import CONDITIONAL_HEADERS, FaultProxy
from .interpose import Interposer

ROOT = Path(__file__).resolve().parent.parent
ALL = {
    "put_if_none_match",
    "put_if_match",
    "delete_if_match",
    "copy_if_none_match",
    "copy_source_if_match",
    "concurrent_creates",
    "concurrent_swaps",
}
# What each server was seen to do (and must keep doing): moto 5.2.6 evaluates neither
# If-None-Match nor x-amz-copy-source-if-match on CopyObject.
HOLDING = {
    "moto": ALL - {"copy_if_none_match", "copy_source_if_match"},
    "seaweedfs": ALL,
    "stripped": set(),
}
DETAILS = {
    "put_if_none_match": (
        "a create of an existing key was refused (412)",
        "ignored: a create of an existing key succeeded",
    ),
    "put_if_match": (
        "a write If-Match another ETag was refused (412), one If-Match the current succeeded",
        "ignored: a write If-Match another ETag succeeded",
    ),
    "delete_if_match": (
        "a delete If-Match another ETag was refused (412), one If-Match the current succeeded",
        "ignored: a delete If-Match another ETag deleted the key",
    ),
    "copy_if_none_match": (
        "a copy over an existing key was refused (412)",
        "ignored: a copy over an existing key succeeded",
    ),
    "copy_source_if_match": (
        "a copy from a source with another ETag was refused (412)",
        "ignored: a copy from a source with another ETag succeeded",
    ),
    "concurrent_creates": (
        "1 of 8 writers sent at once succeeded",
        "8 of 8 writers sent at once succeeded, not exactly one",
    ),
    "concurrent_swaps": (
        "1 of 8 writers sent at once succeeded",
        "8 of 8 writers sent at once succeeded, not exactly one",
    ),
}


@pytest.fixture
def server(request: pytest.FixtureRequest) -> str:
    """Which server ``any_endpoint`` is: "moto" or "seaweedfs"."""
    return str(request.node.callspec.params["any_endpoint"])


def scratch(endpoint: str, bucket: str, prefix: str = "versioned-artifacts/") -> list[str]:
    """Every key under the repository's prefix: a check must leave none behind."""
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    listed = client.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return [item["Key"] for item in listed.get("Contents", [])]


def assert_check(check: ServerCheck, holding: set[str], endpoint: str) -> None:
    assert check.endpoint_url == endpoint
    assert [p.name for p in check.probes] == [
        "put_if_none_match",
        "put_if_match",
        "copy_if_none_match",
        "copy_source_if_match",
        "delete_if_match",
        "concurrent_creates",
        "concurrent_swaps",
    ]
    assert {p.name for p in check.probes if p.holds} == holding
    for probe in check.probes:
        assert probe.detail == DETAILS[probe.name][0 if probe.holds else 1], probe
    assert check.all_hold == (holding == ALL)


@pytest.fixture
def stripped(endpoint_url: str) -> Iterator[FaultProxy]:
    """A server that ignores every conditional header: moto behind a proxy stripping them."""
    with FaultProxy(endpoint_url, rate=0.0, strip=CONDITIONAL_HEADERS) as proxy:
        yield proxy


@pytest.fixture
async def stripped_repo(stripped: FaultProxy, bucket: str) -> AsyncIterator[AsyncRepository]:
    async with AsyncRepository(bucket, endpoint_url=stripped.url, aws_region="us-east-1") as r:
        await r.bootstrap()
        yield r


async def test_check_server_reports_what_the_server_enforces(
    any_repo: AsyncRepository, any_endpoint: str, server: str
) -> None:
    await any_repo.put_artifact("app", b"one")
    check = await any_repo.check_server()
    assert_check(check, HOLDING[server], any_endpoint)
    # Nothing left behind, the artifact untouched, and no listing shows scratch keys.
    assert scratch(any_endpoint, any_repo.layout.bucket) == [
        any_repo.layout.version_key("app", None)
    ]
    assert await any_repo.list_artifact_names() == ["app"]


async def test_check_server_through_a_proxy_that_strips_conditions(
    stripped_repo: AsyncRepository, stripped: FaultProxy, endpoint_url: str
) -> None:
    check = await stripped_repo.check_server()
    assert_check(check, HOLDING["stripped"], stripped.url)
    assert set(stripped.stripped) == {h.lower() for h in CONDITIONAL_HEADERS}
    assert scratch(endpoint_url, stripped_repo.layout.bucket) == []
