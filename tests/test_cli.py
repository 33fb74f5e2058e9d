"""The ``aioversioned`` command line, driven in-process against the session moto server."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner, Result

from aioversioned import Alias, AliasChange, Artifact, Repository
from aioversioned.cli import app
from aioversioned.cli.text import parse_duration

# --json prints model_dump(mode="json"): exactly the models' fields.
ARTIFACT_KEYS = set(Artifact.model_fields)
ALIAS_KEYS = set(Alias.model_fields)
ANSI = re.compile(r"\x1b\[[0-9;]*m")

Invoke = Callable[..., Result]
# rich treats TTY_COMPATIBLE=1 as a terminal; NO_COLOR keeps the text greppable.
TERMINAL = {"TTY_COMPATIBLE": "1", "NO_COLOR": "1", "COLUMNS": "120"}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def raw(endpoint_url: str, bucket: str) -> Invoke:
    """Invoke the CLI with the connection options of the test bucket appended."""
    runner = CliRunner()

    def invoke(*args: str, input: bytes | str | None = None, **kwargs: Any) -> Result:
        argv = [*args, "--bucket", bucket, "--endpoint-url", endpoint_url]
        return runner.invoke(app, argv, input=input, **kwargs)

    return invoke


@pytest.fixture
def cli(raw: Invoke) -> Invoke:
    """Like ``raw``, on a bootstrapped bucket."""
    assert raw("bootstrap").exit_code == 0
    return raw


@pytest.fixture
def repo(endpoint_url: str, bucket: str) -> Iterator[Repository]:
    """An independent view of the bucket, to check what the CLI stored."""
    with Repository(bucket, endpoint_url=endpoint_url) as r:
        yield r


@pytest.fixture
def s3(endpoint_url: str) -> Any:
    return boto3.client("s3", endpoint_url=endpoint_url, region_name="us-east-1")


def ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result


def failed(result: Result, code: int, *fragments: str) -> str:
    """Assert the exit code and return stderr, which must name every fragment."""
    assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
    # typer wraps usage errors in a box: compare with the borders and line breaks removed.
    flat = " ".join(re.sub("[│╭╮╰╯─]", " ", result.stderr).split())
    for fragment in fragments:
        assert fragment in flat, result.stderr
    assert "Traceback" not in result.output
    return result.stderr


def put(cli: Invoke, tmp_path: Path, name: str, content: bytes, *extra: str) -> Result:
    path = tmp_path / f"{name}-{sha(content)[:8]}.bin"
    path.write_bytes(content)
    return ok(cli("put", name, str(path), *extra))


# -- help, version, usage -----------------------------------------------------------------


def test_help_lists_every_command(runner: CliRunner) -> None:
    out = ok(runner.invoke(app, ["--help"])).stdout
    for command in (
        "bootstrap",
        "put",
        "publish",
        "ls",
        "get",
        "rm",
        "purge",
        "show",
        "url",
        "alias",
        "quickstart",
        "serve",
    ):
        assert f" {command} " in out, command
    alias_help = ok(runner.invoke(app, ["alias", "--help"])).stdout
    for command in ("set", "get", "ls", "rm", "history", "rollback"):
        assert f" {command} " in alias_help


def test_every_repository_command_takes_the_connection_options(runner: CliRunner) -> None:
    commands = [["bootstrap"], ["put"], ["publish"], ["ls"], ["get"], ["rm"], ["purge"]]
    commands += [["show"], ["url"]]
    commands += [["alias", "set"], ["alias", "ls"], ["alias", "rm"], ["alias", "history"]]
    commands += [["alias", "rollback"]]
    for command in commands:
        out = ok(runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200"})).stdout
        for option in (
            "--bucket",
            "--prefix",
            "--suffix",
            "--region",
            "--endpoint-url",
            "--profile",
            "--quiet",
            "--debug",
        ):
            assert option in out, (command, option)


def test_version_flag(runner: CliRunner) -> None:
    from aioversioned import __version__

    assert ok(runner.invoke(app, ["--version"])).stdout == f"aioversioned {__version__}\n"


def test_bucket_is_required(runner: CliRunner) -> None:
    failed(runner.invoke(app, ["ls"]), 2, "--bucket")


def test_unknown_command_and_option_are_usage_errors(runner: CliRunner, raw: Invoke) -> None:
    assert runner.invoke(app, ["frobnicate"]).exit_code == 2
    failed(raw("ls", "--frobnicate"), 2, "--frobnicate")


# -- bootstrap and connection options -----------------------------------------------------


def test_bootstrap_creates_the_bucket_once(raw: Invoke, repo: Repository, bucket: str) -> None:
    assert ok(raw("bootstrap")).stdout == f"bucket s3://{bucket} is ready\n"
    assert ok(raw("bootstrap", "-q")).stdout == ""  # idempotent, and quiet
    assert repo.list_artifact_names() == []


def test_region_is_passed_to_the_client(raw: Invoke, s3: Any, bucket: str) -> None:
    ok(raw("bootstrap", "--region", "eu-west-1"))
    assert s3.get_bucket_location(Bucket=bucket)["LocationConstraint"] == "eu-west-1"


def test_connection_options_from_the_environment(
    runner: CliRunner, endpoint_url: str, bucket: str, tmp_path: Path
) -> None:
    env = {
        "AIOVERSIONED_BUCKET": bucket,
        "AIOVERSIONED_PREFIX": "team/models",
        "AIOVERSIONED_SUFFIX": ".bin",
        "AWS_ENDPOINT_URL": endpoint_url,  # read by botocore itself
    }
    ok(runner.invoke(app, ["bootstrap"], env=env))
    (tmp_path / "m").write_bytes(b"weights")
    out = json.loads(
        ok(runner.invoke(app, ["put", "m", str(tmp_path / "m"), "--json"], env=env)).stdout
    )
    assert out["s3uri"] == f"s3://{bucket}/team/models/m/versions/000000_LATEST.bin"
    with Repository(bucket, "team/models", ".bin", endpoint_url=endpoint_url) as r:
        assert r.get_artifact_content("m") == b"weights"


def test_options_override_the_environment(
    runner: CliRunner, endpoint_url: str, bucket: str
) -> None:
    env = {"AIOVERSIONED_BUCKET": "not-this-one", "AWS_ENDPOINT_URL": endpoint_url}
    ok(runner.invoke(app, ["bootstrap", "--bucket", bucket], env=env))
    with Repository(bucket, endpoint_url=endpoint_url) as r:
        assert r.list_artifact_names() == []


def test_unknown_profile_is_an_operational_error(cli: Invoke) -> None:
    failed(cli("ls", "--profile", "no-such-profile"), 1, "no-such-profile")


class _DenyAll(http.server.BaseHTTPRequestHandler):
    """An S3 endpoint that refuses every request, as a bucket policy would."""

    def _deny(self) -> None:
        body = b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
        # A client that got its first refusal closes the requests it sent beside it (a
        # listing and a read at once): no traceback on the stderr the test reads.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.send_response(403)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _deny

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def denying_endpoint() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _DenyAll)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_storage_error_is_one_line(runner: CliRunner, bucket: str, denying_endpoint: str) -> None:
    result = runner.invoke(app, ["ls", "--bucket", bucket, "--endpoint-url", denying_endpoint])
    stderr = failed(result, 1, "AccessDenied", f"s3://{bucket}")
    assert len(stderr.strip().splitlines()) == 1
    assert result.stdout == ""


def test_invalid_bucket_name_is_a_usage_error(raw: Invoke, runner: CliRunner) -> None:
    failed(runner.invoke(app, ["ls", "--bucket", "Not_A_Bucket"]), 2, "for '--bucket': 'Not_A")


def test_missing_bucket_says_how_to_create_it(raw: Invoke, bucket: str) -> None:
    failed(raw("ls"), 1, f"bucket {bucket!r} does not exist", "aioversioned bootstrap")


# -- put ----------------------------------------------------------------------------------


def test_put_file_with_content_type_and_metadata(
    cli: Invoke, tmp_path: Path, s3: Any, bucket: str
) -> None:
    content = bytes(range(256))
    result = put(
        cli, tmp_path, "model", content, "--content-type", "application/x-onnx",
        "--meta", "commit=a1b2c3", "--meta", "stage=dev=2",
    )  # fmt: skip
    assert result.stdout == (
        f"model LATEST: sha256 {sha(content)} "
        f"(s3://{bucket}/versioned-artifacts/model/versions/000000_LATEST)\n"
    )
    head = s3.head_object(Bucket=bucket, Key="versioned-artifacts/model/versions/000000_LATEST")
    assert head["ContentType"] == "application/x-onnx"
    assert head["Metadata"]["commit"] == "a1b2c3"
    assert head["Metadata"]["stage"] == "dev=2"  # only the first '=' separates
    assert head["Metadata"]["artifact_sha256"] == sha(content)


def test_put_from_stdin(cli: Invoke, repo: Repository) -> None:
    ok(cli("put", "model", "-", input=b"\x00from stdin\xff"))
    assert repo.get_artifact_content("model") == b"\x00from stdin\xff"


def test_put_json_and_quiet(cli: Invoke, tmp_path: Path, repo: Repository) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    data = json.loads(ok(cli("put", "model", str(path), "--json")).stdout)
    assert set(data) == ARTIFACT_KEYS
    assert Artifact.model_validate(data) == repo.get_artifact_version("model")
    assert data["version"] == "LATEST"
    assert ok(cli("put", "model", str(path), "-q")).stdout == f"{sha(b'abc')}\n"


def test_put_missing_file_is_a_usage_error(cli: Invoke, tmp_path: Path) -> None:
    failed(cli("put", "model", str(tmp_path / "nope")), 2, "nope", "is not a file")
    failed(cli("put", "model", str(tmp_path)), 2, "is not a file")


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        ("novalue", "is not KEY=VALUE"),
        ("=value", "is not KEY=VALUE"),
        ("Upper=1", "must match"),  # the library's own rule, with its message
        ("artifact_sha256=x", "reserved"),
    ],
)
def test_put_bad_metadata_is_a_usage_error(
    cli: Invoke, tmp_path: Path, repo: Repository, meta: str, message: str
) -> None:
    (tmp_path / "f").write_bytes(b"x")
    failed(cli("put", "model", str(tmp_path / "f"), "--meta", meta), 2, message)
    assert repo.list_artifact_names() == []


def test_put_repeated_metadata_key_is_a_usage_error(cli: Invoke, tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"x")
    failed(cli("put", "m", str(tmp_path / "f"), "--meta", "a=1", "--meta", "a=2"), 2, "twice")


def test_put_invalid_name_is_a_usage_error(cli: Invoke, tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"x")
    failed(cli("put", "bad name", str(tmp_path / "f")), 2, "name")


def test_progress_bars_on_a_terminal(cli: Invoke, tmp_path: Path, repo: Repository) -> None:
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(7 * 1024 * 1024))  # large enough to go up in parts
    put = cli("put", "big", str(source), env=TERMINAL)
    bar = ANSI.sub("", ok(put).stderr)
    assert "put big" in bar
    assert re.search(r"(\d+\.\d) ?/ ?\1 MB", bar), bar  # the bar reached the total
    target = tmp_path / "copy.bin"
    bar = ANSI.sub("", ok(cli("get", "big", "-o", str(target), env=TERMINAL)).stderr)
    assert "get big" in bar and re.search(r"(\d+\.\d) ?/ ?\1 MB", bar), bar
    assert target.read_bytes() == source.read_bytes()
    assert ok(cli("get", "big", "-o", str(target), "-q", env=TERMINAL)).stderr == ""
    assert ok(cli("get", "big", "-o", str(target))).stderr == ""  # not a terminal: no bar


# -- publish ------------------------------------------------------------------------------


def test_publish_prints_the_new_version(cli: Invoke, tmp_path: Path, bucket: str) -> None:
    put(cli, tmp_path, "model", b"v1")
    assert ok(cli("publish", "model")).stdout == (
        f"model version 1: sha256 {sha(b'v1')} "
        f"(s3://{bucket}/versioned-artifacts/model/versions/999999_000001)\n"
    )
    assert ok(cli("publish", "model", "-q")).stdout == "1\n"  # unchanged: same version
    put(cli, tmp_path, "model", b"v2")
    data = json.loads(ok(cli("publish", "model", "--json")).stdout)
    assert set(data) == ARTIFACT_KEYS
    assert (data["version"], data["sha256"]) == ("2", sha(b"v2"))


def test_publish_without_latest_fails(cli: Invoke) -> None:
    failed(cli("publish", "ghost"), 1, "artifact 'ghost' not found")


# -- ls -----------------------------------------------------------------------------------


def test_ls_names(cli: Invoke, tmp_path: Path) -> None:
    assert ok(cli("ls")).stdout == ""
    assert json.loads(ok(cli("ls", "--json")).stdout) == []
    put(cli, tmp_path, "b-model", b"x")
    put(cli, tmp_path, "a-model", b"y")
    assert ok(cli("ls")).stdout == "a-model\nb-model\n"
    assert json.loads(ok(cli("ls", "--json")).stdout) == ["a-model", "b-model"]


def test_ls_versions_plain_table(cli: Invoke, tmp_path: Path, repo: Repository) -> None:
    put(cli, tmp_path, "model", b"v1")
    ok(cli("publish", "model"))
    put(cli, tmp_path, "model", b"v2")
    ok(cli("publish", "model"))
    ok(cli("alias", "set", "model", "prod", "1", "--canary", "2", "--weight", "20"))
    ok(cli("alias", "set", "model", "dev"))
    lines = ok(cli("ls", "model")).stdout.splitlines()
    assert lines[0] == "version\tsize\tupdated\tsha256\taliases"
    rows = [line.split("\t") for line in lines[1:]]
    assert [(r[0], r[1], r[3], r[4]) for r in rows] == [
        ("LATEST", "2 B", sha(b"v2")[:12], "dev"),
        ("2", "2 B", sha(b"v2")[:12], "prod (20%)"),
        ("1", "2 B", sha(b"v1")[:12], "prod (80%)"),
    ]
    updated = {a.version: a.update_at for a in repo.list_artifact_versions("model")}
    assert rows[1][2] == f"{updated['2']:%Y-%m-%d %H:%M:%S}Z"


def test_ls_versions_json_and_quiet(cli: Invoke, tmp_path: Path, repo: Repository) -> None:
    put(cli, tmp_path, "model", b"v1")
    ok(cli("publish", "model"))
    data = json.loads(ok(cli("ls", "model", "--json")).stdout)
    assert all(set(item) == ARTIFACT_KEYS for item in data)
    assert [Artifact.model_validate(item) for item in data] == repo.list_artifact_versions("model")
    assert ok(cli("ls", "model", "-q")).stdout == "LATEST\n1\n"


def test_ls_rich_table_on_a_terminal(cli: Invoke, tmp_path: Path) -> None:
    put(cli, tmp_path, "model", b"v1")
    ok(cli("alias", "set", "model", "prod"))
    out = ANSI.sub("", ok(cli("ls", "model", env=TERMINAL)).stdout)
    assert "┃ version" in out and "LATEST" in out and "prod" in out
    assert "\t" not in out
    out = ANSI.sub("", ok(cli("alias", "ls", "model", env=TERMINAL)).stdout)
    assert "┃ alias" in out and "prod" in out


def test_ls_missing_artifact_fails(cli: Invoke) -> None:
    failed(cli("ls", "ghost"), 1, "artifact 'ghost' not found")


# -- get ----------------------------------------------------------------------------------


@pytest.fixture
def two_versions(cli: Invoke, tmp_path: Path) -> Invoke:
    put(cli, tmp_path, "model", b"one\xff")
    ok(cli("publish", "model"))
    put(cli, tmp_path, "model", b"two\x00")
    ok(cli("publish", "model"))
    put(cli, tmp_path, "model", b"latest")
    return cli


def test_get_to_stdout(two_versions: Invoke) -> None:
    cli = two_versions
    assert ok(cli("get", "model")).stdout_bytes == b"latest"
    assert ok(cli("get", "model", "1")).stdout_bytes == b"one\xff"
    assert ok(cli("get", "model", "2", "-o", "-")).stdout_bytes == b"two\x00"


def test_get_takes_the_version_as_an_argument_like_show_and_url(two_versions: Invoke) -> None:
    cli = two_versions
    assert ok(cli("get", "model", "1")).stdout_bytes == b"one\xff"
    assert ok(cli("get", "model", "LATEST")).stdout_bytes == b"latest"
    # The old spelling still works (hidden from --help), but not both at once.
    assert ok(cli("get", "model", "--version", "2")).stdout_bytes == b"two\x00"
    failed(cli("get", "model", "1", "--version", "2"), 2, "give VERSION once")
    assert "--version" not in ok(cli("get", "--help")).stdout


def test_get_to_a_file(two_versions: Invoke, tmp_path: Path) -> None:
    target = tmp_path / "out" / "model.bin"
    target.parent.mkdir()
    result = ok(two_versions("get", "model", "2", "-o", str(target)))
    assert target.read_bytes() == b"two\x00"
    assert result.stdout == f"wrote 4 bytes of model version 2 to {target}\n"
    assert [p.name for p in target.parent.iterdir()] == ["model.bin"]  # no temporary left
    data = json.loads(ok(two_versions("get", "model", "-o", str(target), "--json")).stdout)
    assert set(data) == ARTIFACT_KEYS
    assert (data["version"], data["sha256"]) == ("LATEST", sha(b"latest"))
    assert target.read_bytes() == b"latest"
    assert ok(two_versions("get", "model", "-o", str(target), "-q")).stdout == ""


@pytest.mark.parametrize(("draw", "expected"), [(0, b"two\x00"), (99, b"one\xff")])
def test_get_by_alias_draws_the_canary_by_weight(
    two_versions: Invoke, monkeypatch: pytest.MonkeyPatch, draw: int, expected: bytes
) -> None:
    ok(two_versions("alias", "set", "model", "prod", "1", "--canary", "2", "--weight", "30"))
    # Alias.random_artifact() sends a draw below the weight to the canary.
    monkeypatch.setattr(random, "randrange", lambda n: draw)
    assert ok(two_versions("get", "model", "--alias", "prod")).stdout_bytes == expected


def test_get_by_alias_with_a_sticky_key(two_versions: Invoke, repo: Repository) -> None:
    ok(two_versions("alias", "set", "model", "prod", "1", "--canary", "2", "--weight", "50"))
    prod = repo.get_alias("model", "prod")
    contents = {b"1": b"one\xff", b"2": b"two\x00"}
    for host in ("web-1", "web-2", "web-3", "web-4"):
        expected = contents[prod.pick_version(host).encode()]
        for _ in range(2):  # the same key gets the same version every time
            result = ok(two_versions("get", "model", "--alias", "prod", "--key", host))
            assert result.stdout_bytes == expected
    failed(two_versions("get", "model", "--key", "web-1"), 2, "--key needs --alias")


def test_get_by_alias_reports_the_version_drawn(two_versions: Invoke, tmp_path: Path) -> None:
    ok(two_versions("alias", "set", "model", "prod", "2"))
    out = tmp_path / "m"
    data = json.loads(
        ok(two_versions("get", "model", "--alias", "prod", "-o", str(out), "--json")).stdout
    )
    assert data["version"] == "2"
    assert out.read_bytes() == b"two\x00"


def test_get_usage_errors(two_versions: Invoke, tmp_path: Path) -> None:
    cli = two_versions
    failed(cli("get", "model", "1", "--alias", "prod"), 2, "not both")
    failed(cli("get", "model", "--json"), 2, "-o FILE")
    failed(cli("get", "model", "abc"), 2, "VERSION")
    failed(cli("get", "model", "--alias", "no-dash"), 2, "alias")


def test_get_missing_things_fail(two_versions: Invoke, tmp_path: Path) -> None:
    cli = two_versions
    failed(cli("get", "model", "9"), 1, "artifact 'model' version 9 not found")
    failed(cli("get", "ghost"), 1, "artifact 'ghost' not found")
    failed(cli("get", "model", "--alias", "prod"), 1, "alias 'prod' of artifact 'model'")
    target = tmp_path / "no-such-dir" / "f"
    failed(cli("get", "model", "-o", str(target)), 2, "no-such-dir", "does not exist")


def test_get_detects_damaged_content(
    two_versions: Invoke, s3: Any, bucket: str, tmp_path: Path
) -> None:
    key = "versioned-artifacts/model/versions/999999_000001"
    head = s3.head_object(Bucket=bucket, Key=key)
    s3.put_object(Bucket=bucket, Key=key, Body=b"tampered", Metadata=head["Metadata"])
    target = tmp_path / "f"
    failed(two_versions("get", "model", "1", "-o", str(target)), 1, "sha256")
    assert not target.exists()
    # To stdout the bytes stream out first; the check at the end still fails the command.
    failed(two_versions("get", "model", "1"), 1, "sha256")


# -- alias --------------------------------------------------------------------------------


def test_alias_set_ls_rm(two_versions: Invoke, repo: Repository) -> None:
    cli = two_versions
    out = ok(cli("alias", "set", "model", "prod", "1")).stdout
    assert out == f"model prod -> 1 (revision {repo.get_alias('model', 'prod').revision})\n"
    out = ok(cli("alias", "set", "model", "dev")).stdout
    assert out.startswith("model dev -> LATEST (revision ")
    out = ok(cli("alias", "set", "model", "prod", "1", "--canary", "2", "--weight", "25")).stdout
    assert out.startswith("model prod -> 1 (75%), 2 (25%) (revision ")
    prod = repo.get_alias("model", "prod")
    assert (prod.version, prod.secondary_version, prod.secondary_version_weight) == ("1", "2", 25)

    lines = ok(cli("alias", "ls", "model")).stdout.splitlines()
    assert lines[0] == "alias\tversions\tupdated\trevision"
    rows = [line.split("\t") for line in lines[1:]]
    assert [(r[0], r[1], r[3]) for r in rows] == [
        ("dev", "LATEST", repo.get_alias("model", "dev").revision),
        ("prod", "1 (75%), 2 (25%)", prod.revision),
    ]
    assert ok(cli("alias", "ls", "model", "-q")).stdout == "dev\nprod\n"

    assert ok(cli("alias", "rm", "model", "dev")).stdout == "deleted alias dev of model\n"
    assert [a.alias for a in repo.list_aliases("model")] == ["prod"]


def test_alias_get_prints_the_alias(two_versions: Invoke, repo: Repository) -> None:
    cli = two_versions
    written = repo.put_alias("model", "prod", 1, secondary_version=2, secondary_version_weight=10)
    assert ok(cli("alias", "get", "model", "prod")).stdout == (
        f"model prod -> 1 (90%), 2 (10%) (revision {written.revision})\n"
    )
    assert ok(cli("alias", "get", "model", "prod", "-q")).stdout == "1\n"
    data = json.loads(ok(cli("alias", "get", "model", "prod", "--json")).stdout)
    assert set(data) == ALIAS_KEYS
    assert Alias.model_validate(data) == repo.get_alias("model", "prod")
    failed(cli("alias", "get", "model", "staging"), 1, "alias 'staging' of artifact 'model'")
    failed(cli("alias", "get", "model"), 2, "ALIAS")


def test_alias_set_expect_revision(two_versions: Invoke, repo: Repository) -> None:
    cli = two_versions
    first = ok(cli("alias", "set", "model", "prod", "1", "--expect-revision", "absent", "-q"))
    revision = first.stdout.strip()
    assert revision == repo.get_alias("model", "prod").revision
    failed(cli("alias", "set", "model", "prod", "2", "--expect-revision", "absent"), 1, "conflict")
    ok(cli("alias", "set", "model", "prod", "2", "--expect-revision", revision))
    # The revision moved on: a writer still holding the old one loses, nothing changes.
    failed(cli("alias", "set", "model", "prod", "1", "--expect-revision", revision), 1, "conflict")
    assert repo.get_alias("model", "prod").version == "2"


def test_alias_history(two_versions: Invoke, repo: Repository) -> None:
    cli = two_versions
    ok(cli("alias", "set", "model", "prod", "1"))
    ok(cli("alias", "set", "model", "prod", "1", "--canary", "2", "--weight", "10"))
    ok(cli("alias", "rm", "model", "prod"))
    lines = ok(cli("alias", "history", "model", "prod")).stdout.splitlines()
    assert lines[0] == "change\tupdated\tfrom\tto\tnote\trevision"
    rows = [line.split("\t") for line in lines[1:]]
    assert [(r[0], r[2], r[3], r[4]) for r in rows] == [
        ("3", "1 (90%), 2 (10%)", "(absent)", ""),
        ("2", "1", "1 (90%), 2 (10%)", ""),
        ("1", "(absent)", "1", ""),
    ]
    assert ok(cli("alias", "history", "model", "prod", "-n", "1", "-q")).stdout == "3\n"
    data = json.loads(ok(cli("alias", "history", "model", "prod", "--json")).stdout)
    assert all(set(item) == set(AliasChange.model_fields) for item in data)
    assert [AliasChange.model_validate(item) for item in data] == repo.list_alias_history(
        "model", "prod"
    )
    failed(cli("alias", "history", "model", "never"), 1, "alias 'never' of artifact 'model'")
    failed(cli("alias", "history", "model", "prod", "--limit", "0"), 2, "--limit")


def test_json_schemas_hold_the_documented_fields() -> None:
    assert {"name", "version", "update_at", "s3uri", "sha256"} <= ARTIFACT_KEYS
    assert {
        "name",
        "alias",
        "update_at",
        "version",
        "secondary_version",
        "secondary_version_weight",
        "version_s3uri",
        "secondary_version_s3uri",
    } <= ALIAS_KEYS


def test_alias_json_schema(two_versions: Invoke, repo: Repository) -> None:
    cli = two_versions
    data = json.loads(
        ok(
            cli("alias", "set", "model", "prod", "1", "--canary", "2", "--weight", "5", "--json")
        ).stdout
    )
    assert set(data) == ALIAS_KEYS
    assert Alias.model_validate(data) == repo.get_alias("model", "prod")
    listed = json.loads(ok(cli("alias", "ls", "model", "--json")).stdout)
    assert [Alias.model_validate(item) for item in listed] == repo.list_aliases("model")
    assert all(set(item) == ALIAS_KEYS | {"missing_versions"} for item in listed)
    assert [item["missing_versions"] for item in listed] == [[]]


def test_alias_errors(two_versions: Invoke, repo: Repository) -> None:
    cli = two_versions
    failed(cli("alias", "set", "model", "prod", "7"), 1, "version 7 not found")
    failed(cli("alias", "set", "ghost", "prod"), 1, "artifact 'ghost'")
    failed(
        cli("alias", "set", "model", "prod", "1", "--canary", "2"), 2, "--canary requires --weight"
    )
    failed(
        cli("alias", "set", "model", "prod", "1", "--weight", "5"), 2, "--weight requires --canary"
    )
    failed(
        cli("alias", "set", "model", "prod", "1", "--canary", "2", "--weight", "100"),
        2,
        "Invalid value for '--weight': must be an int in 0..99, got 100",
    )
    failed(
        cli("alias", "set", "model", "prod", "1", "--canary", "1", "--weight", "5"),
        2,
        "--canary must differ from VERSION",
    )
    failed(cli("alias", "set", "model", "bad-alias"), 2, "alias")
    failed(cli("alias", "rm", "model", "prod"), 1, "alias 'prod' of artifact 'model' not found")
    assert ok(cli("alias", "rm", "model", "prod", "--missing-ok")).exit_code == 0
    failed(cli("alias", "ls", "bad name"), 2, "name")
    assert repo.list_aliases("model") == []


def test_corrupt_alias_document_is_an_operational_error(
    two_versions: Invoke, s3: Any, bucket: str
) -> None:
    s3.put_object(Bucket=bucket, Key="versioned-artifacts/model/aliases/prod.json", Body=b"{")
    failed(two_versions("alias", "ls", "model"), 1, "corrupt document")
    failed(two_versions("get", "model", "--alias", "prod"), 1, "corrupt document")


# -- rm and purge -------------------------------------------------------------------------


def test_rm(two_versions: Invoke, repo: Repository) -> None:
    cli = two_versions
    assert ok(cli("rm", "model", "1")).stdout == "deleted model version 1\n"
    assert [a.version for a in repo.list_artifact_versions("model")] == ["LATEST", "2"]
    failed(cli("rm", "model", "1"), 1, "artifact 'model' version 1 not found")
    assert "nothing to delete" in ok(cli("rm", "model", "1", "--missing-ok")).stdout
    latest = failed(cli("rm", "model", "LATEST"), 2, "LATEST can not be deleted")
    assert "purge_artifact" not in latest  # no Python function on the command line
    failed(cli("rm", "model", "x"), 2, "Invalid value for 'VERSION': 'x' must be a decimal")
    assert ok(cli("rm", "model", "2", "-q")).stdout == ""
    assert [a.version for a in repo.list_artifact_versions("model")] == ["LATEST"]


def test_rm_refuses_a_version_an_alias_uses_without_force(
    two_versions: Invoke, repo: Repository
) -> None:
    cli = two_versions
    ok(cli("alias", "set", "model", "prod", "2", "--canary", "1", "--weight", "10"))
    failed(cli("rm", "model", "1"), 1, "version 1 is in use by aliases: prod")
    assert ok(cli("rm", "model", "1", "--force")).stdout == "deleted model version 1\n"
    assert [a.version for a in repo.list_artifact_versions("model")] == ["LATEST", "2"]


def test_rm_latest_is_a_usage_error_even_for_a_missing_artifact(cli: Invoke) -> None:
    failed(cli("rm", "ghost", "LATEST"), 2, "LATEST can not be deleted")


def test_purge(two_versions: Invoke, repo: Repository) -> None:
    cli = two_versions
    assert ok(cli("purge", "model")).stdout == "nothing to purge for model\n"  # 90d, keep 10
    assert ok(cli("purge", "model", "--keep", "0", "--older-than", "1w")).stdout == (
        "nothing to purge for model\n"
    )
    time.sleep(1.1)  # S3 times have whole seconds
    assert ok(cli("purge", "model", "--keep", "1", "--older-than", "1s")).stdout == (
        "deleted 1 version(s) of model: 1\n"
    )
    assert [a.version for a in repo.list_artifact_versions("model")] == ["LATEST", "2"]


def test_purge_json_and_quiet(two_versions: Invoke, repo: Repository) -> None:
    cli = two_versions
    doomed = {a.version: a for a in repo.list_artifact_versions("model")}
    time.sleep(1.1)
    data = json.loads(
        ok(cli("purge", "model", "--keep", "1", "--older-than", "1s", "--json")).stdout
    )
    assert set(data) == {"purge_time", "dry_run", "deleted"}
    assert data["dry_run"] is False
    assert [Artifact.model_validate(a) for a in data["deleted"]] == [doomed["1"]]
    assert data["purge_time"].endswith("+00:00")
    assert ok(cli("purge", "model", "--keep", "0", "--older-than", "0", "-q")).stdout == "2\n"


def test_purge_dry_run_deletes_nothing(two_versions: Invoke, repo: Repository) -> None:
    cli = two_versions
    before = repo.list_artifact_versions("model")
    time.sleep(1.1)
    out = ok(cli("purge", "model", "--keep", "0", "--older-than", "1s", "--dry-run")).stdout
    assert out == "would delete 2 version(s) of model: 2, 1\n"
    data = json.loads(
        ok(cli("purge", "model", "--keep", "0", "--older-than", "1s", "--dry-run", "--json")).stdout
    )
    assert data["dry_run"] is True
    assert [a["version"] for a in data["deleted"]] == ["2", "1"]
    assert repo.list_artifact_versions("model") == before


def test_purge_keeps_versions_aliases_use(two_versions: Invoke, repo: Repository) -> None:
    cli = two_versions
    ok(cli("alias", "set", "model", "prod", "1"))
    time.sleep(1.1)
    out = ok(cli("purge", "model", "--keep", "0", "--older-than", "1s")).stdout
    assert out == "deleted 1 version(s) of model: 2\n"
    assert [a.version for a in repo.list_artifact_versions("model")] == ["LATEST", "1"]


@pytest.mark.parametrize("bad", ["90", "1y", "-1d", "d", "1.5h", ""])
def test_purge_bad_duration_is_a_usage_error(two_versions: Invoke, bad: str) -> None:
    failed(two_versions("purge", "model", "--older-than", bad), 2, "duration")


@pytest.mark.parametrize("long", ["3000000w", "36526d", "9" * 5000 + "s"])
def test_purge_beyond_a_century_is_a_usage_error(
    two_versions: Invoke, repo: Repository, long: str
) -> None:
    before = repo.list_artifact_versions("model")
    stderr = failed(
        two_versions("purge", "model", "--older-than", long), 2, "longer than 100 years"
    )
    assert "Error" in stderr and "OverflowError" not in stderr
    assert repo.list_artifact_versions("model") == before


def test_purge_duration_limit_is_inclusive() -> None:
    assert parse_duration("36525d") == 100 * 365.25 * 86400
    assert parse_duration("0000000000000000000000000000000000001s") == 1


def test_purge_negative_keep_is_a_usage_error(two_versions: Invoke) -> None:
    failed(two_versions("purge", "model", "--keep", "-1"), 2, "--keep")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("0", 0), ("30s", 30), ("15m", 900), ("12h", 43200), ("90d", 7776000), ("2w", 1209600)],
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


# -- --debug ------------------------------------------------------------------------------


def test_debug_shows_the_traceback_and_keeps_the_exit_code(cli: Invoke) -> None:
    result = cli("get", "ghost", "--debug")
    assert result.exit_code == 1
    assert "Traceback" in result.stderr and "ArtifactNotFoundError" in result.stderr
    result = cli("rm", "ghost", "x", "--debug")
    assert result.exit_code == 2
    assert "InvalidInputError" in result.stderr


# -- quickstart ---------------------------------------------------------------------------


def test_quickstart_command(runner: CliRunner) -> None:
    out = ok(runner.invoke(app, ["quickstart"])).stdout
    assert "6. Aliases: development -> LATEST, production -> 1, staging -> 2." in out
    assert "11. Read production (version 2): b'my_application v2'." in out
    assert "Quick start complete." in out


# -- the installed console script ---------------------------------------------------------


def _script() -> str:
    found = shutil.which("aioversioned", path=os.path.dirname(sys.executable))
    assert found, "the console script is not installed next to the interpreter"
    return found


def test_console_script(endpoint_url: str, bucket: str, tmp_path: Path) -> None:
    script = _script()
    env = dict(os.environ)
    done = subprocess.run([script, "--help"], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0 and "publish" in done.stdout
    connection = ["--bucket", bucket, "--endpoint-url", endpoint_url]
    done = subprocess.run(
        [script, "ls", *connection, "--json"], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 1
    assert done.stderr.startswith("Error: bucket") and "Traceback" not in done.stderr
    subprocess.run([script, "bootstrap", *connection], check=True, env=env, timeout=60)
    subprocess.run(
        [script, "put", "model", "-", *connection], input=b"piped", check=True, env=env, timeout=60
    )
    done = subprocess.run(
        [script, "ls", *connection, "--json"], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0
    assert json.loads(done.stdout) == ["model"]
    done = subprocess.run(
        [script, "get", "model", *connection], capture_output=True, env=env, timeout=60
    )
    assert done.stdout == b"piped"


# -- serve --------------------------------------------------------------------------------


def _read_endpoint(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line.startswith("use it with: --endpoint-url "):
            return line.split()[-1]
        assert line, "serve exited before printing its endpoint"
    raise AssertionError("serve did not print its endpoint")


@pytest.mark.parametrize("stop", ["ctrl-c", "sigint", "sigterm"])
def test_serve_runs_until_interrupted(stop: str) -> None:
    process = subprocess.Popen(
        [_script(), "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        start_new_session=True,  # its own process group, as a shell job has
    )
    try:
        endpoint = _read_endpoint(process)
        assert endpoint.startswith("http://127.0.0.1:")
        assert process.stdout is not None
        exports = [process.stdout.readline().strip() for _ in range(5)]
        assert exports[1] == f"export AWS_ENDPOINT_URL={endpoint}"
        assert "export AWS_ACCESS_KEY_ID=testing" in exports
        with Repository("served", endpoint_url=endpoint) as r:
            r.bootstrap()
            r.put_artifact("m", b"x")
            assert r.list_artifact_names() == ["m"]
        if stop == "ctrl-c":  # a terminal signals the whole foreground process group
            os.killpg(process.pid, signal.SIGINT)
        else:
            process.send_signal(signal.SIGINT if stop == "sigint" else signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
        assert process.returncode == 0, stderr
        assert "local S3 stopped" in stderr
        assert "Traceback" not in stderr
        assert '"PUT /served/' in stderr  # verbose: moto logs each request
        port = int(endpoint.rsplit(":", 1)[1])
        with socket.socket() as probe, pytest.raises(OSError):
            probe.settimeout(2)
            probe.connect(("127.0.0.1", port))
    finally:
        if process.poll() is None:
            process.terminate()  # lets serve stop its moto child, which holds our pipes
            try:
                process.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate(timeout=10)


def test_serve_on_a_busy_port_fails(runner: CliRunner) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = runner.invoke(app, ["serve", "--port", str(port)])
    failed(result, 1, "moto server did not start")
