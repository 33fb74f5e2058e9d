"""Errors a new user meets first: typed, one line, the rule and the fix (issue 22, item 10)."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from aioversioned import (
    AioVersionedError,
    AsyncRepository,
    CredentialsNotFoundError,
    InvalidInputError,
    Repository,
    RepositoryStateError,
    StorageError,
    VersionInUseError,
)
from aioversioned.cli import app
from tests.s3log import RequestLog


def test_a_repository_used_in_another_asyncio_run_says_so(endpoint_url: str, bucket: str) -> None:
    repo = AsyncRepository(bucket, endpoint_url=endpoint_url)
    asyncio.run(repo.__aenter__())
    with pytest.raises(RepositoryStateError, match=r"another event loop.*asyncio\.run\(\)") as info:
        asyncio.run(repo.bootstrap())
    assert isinstance(info.value, RuntimeError) and isinstance(info.value, AioVersionedError)
    assert len(str(info.value).splitlines()) == 1

    async def used_where_opened() -> list[str]:
        async with AsyncRepository(bucket, endpoint_url=endpoint_url) as again:
            await again.bootstrap()
            return await again.list_artifact_names()

    assert asyncio.run(used_where_opened()) == []


async def test_a_repository_not_opened_says_how(bucket: str) -> None:
    with pytest.raises(RepositoryStateError, match="async with AsyncRepository"):
        await AsyncRepository(bucket).list_artifact_names()


@pytest.mark.parametrize(
    ("url", "example"),
    [
        ("127.0.0.1:5055", "http://127.0.0.1:5055"),
        ("localhost", "http://localhost"),
        ("ftp://127.0.0.1", "http://127.0.0.1:9000"),
        ("http://", "http://127.0.0.1:9000"),
        ("http://[::1", "http://127.0.0.1:9000"),
    ],
)
def test_an_endpoint_without_scheme_or_host_is_refused_by_the_constructor(
    bucket: str, url: str, example: str
) -> None:
    with pytest.raises(InvalidInputError) as info:
        AsyncRepository(bucket, endpoint_url=url)
    assert info.value.argument == "endpoint_url"
    assert f"e.g. {example}" in str(info.value)
    with pytest.raises(InvalidInputError):
        Repository(bucket, endpoint_url=url)


async def test_a_bad_endpoint_from_the_environment_is_a_typed_error(
    bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "127.0.0.1:5055")
    with pytest.raises(InvalidInputError) as info:
        async with AsyncRepository(bucket):
            pass
    assert info.value.argument == "AWS_ENDPOINT_URL"
    assert "127.0.0.1:5055" in str(info.value)


@pytest.fixture
def no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """No credentials anywhere botocore looks; never the instance metadata service."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_no_credentials_names_where_they_are_looked_for(
    no_credentials: None, endpoint_url: str, bucket: str
) -> None:
    with Repository(bucket, endpoint_url=endpoint_url) as repo:
        log = RequestLog(repo._arepo)
        with pytest.raises(CredentialsNotFoundError) as info:
            repo.list_artifact_names()
        assert log.sent == []  # nothing reached the server
        with pytest.raises(CredentialsNotFoundError):
            repo.presign_artifact("m", 1)
    message = str(info.value)
    assert isinstance(info.value, StorageError)
    assert len(message.splitlines()) == 1
    for where in ("AWS_ACCESS_KEY_ID", "AWS_PROFILE", "~/.aws/credentials", "instance roles"):
        assert where in message, where
    assert "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" in message


def test_no_credentials_in_the_cli_is_one_line(
    no_credentials: None, endpoint_url: str, bucket: str
) -> None:
    result = CliRunner().invoke(app, ["ls", "--bucket", bucket, "--endpoint-url", endpoint_url])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: no AWS credentials found")
    assert len(result.stderr.splitlines()) == 1 and "~/.aws/credentials" in result.stderr


def test_deleting_a_version_in_use_names_the_way_past_it(
    sync_repo: Repository, endpoint_url: str, bucket: str
) -> None:
    sync_repo.put_artifact("m", b"one")
    sync_repo.publish_artifact_version("m")
    sync_repo.put_alias("m", "prod", 1)
    with pytest.raises(VersionInUseError, match=r"force=True"):
        sync_repo.delete_artifact_version("m", 1)
    result = CliRunner().invoke(
        app, ["rm", "m", "1", "--bucket", bucket, "--endpoint-url", endpoint_url]
    )
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: artifact 'm' version 1 is in use by aliases: prod; --force deletes it anyway"
        " (the aliases then point at nothing)\n"
    )
    assert sync_repo.get_artifact_content("m", 1) == b"one"


def test_serve_on_a_taken_port_says_so_in_one_line() -> None:
    script = shutil.which("aioversioned", path=os.path.dirname(sys.executable))
    assert script, "the console script is not installed next to the interpreter"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [script, "serve", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == (
        f"Error: moto server did not start: port {port} on 127.0.0.1 is in use (Address"
        " already in use); stop what uses it or choose another --port (0: any free one)\n"
    )
