"""The command line's rough edges (issue 11): options before the command, help, errors in
the CLI's words, endpoints, pipes, no-ops, missing things, --json everywhere, suffixes."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import typer.main
from typer.testing import CliRunner, Result

from aioversioned import Repository
from aioversioned.cli import app, artifacts

# rich treats TTY_COMPATIBLE=1 as a terminal; NO_COLOR keeps the text greppable.
TERMINAL = {"TTY_COMPATIBLE": "1", "NO_COLOR": "1"}


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def repo(endpoint_url: str, bucket: str) -> Iterator[Repository]:
    with Repository(bucket, endpoint_url=endpoint_url) as r:
        r.bootstrap()
        yield r


@pytest.fixture
def cli(runner: CliRunner, endpoint_url: str, bucket: str, repo: Repository) -> Any:
    """Invoke the CLI on the test bucket (created), the options after the arguments."""

    def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
        argv = [*args, "--bucket", bucket, "--endpoint-url", endpoint_url]
        return runner.invoke(app, argv, env=env)

    return invoke


def ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result


def one_line(result: Result, code: int) -> str:
    """The exit code is ``code`` and stderr is one line ``Error: ...``: return it."""
    assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: ")
    return result.stderr.removesuffix("\n")


def usage(result: Result) -> str:
    """Exit code 2 and a usage error: return its message (typer's box removed)."""
    assert result.exit_code == 2, (result.stdout, result.stderr, result.exception)
    assert "Traceback" not in result.output
    box = result.stderr.split("Error ─", 1)[1]
    return " ".join(re.sub("[│╭╮╰╯─]", " ", box).split())


# -- options before the command name ------------------------------------------------------


def test_common_options_can_come_before_the_command(
    runner: CliRunner, endpoint_url: str, bucket: str, repo: Repository
) -> None:
    repo.put_artifact("m", b"x")
    before = ["--bucket", bucket, "--endpoint-url", endpoint_url]
    assert ok(runner.invoke(app, [*before, "ls"])).stdout == "m\n"
    assert ok(runner.invoke(app, [*before, "-q", "ls", "m"])).stdout == "LATEST\n"
    assert ok(runner.invoke(app, [*before, "alias", "ls", "m", "--json"])).stdout == "[]\n"
    # After the command name wins over before it; before it wins over the environment.
    env = {"AIOVERSIONED_BUCKET": "not-this-one"}
    late = runner.invoke(app, ["--bucket", "not-this", *before[2:], "ls", *before[:2]], env=env)
    assert ok(late).stdout == "m\n"
    assert ok(runner.invoke(app, [*before, "ls"], env=env)).stdout == "m\n"


def test_bucket_is_required_before_or_after(runner: CliRunner) -> None:
    assert usage(runner.invoke(app, ["ls"])) == (
        "Missing option '--bucket' (or the variable AIOVERSIONED_BUCKET)."
    )


# -- help and completion ------------------------------------------------------------------


def _commands(group: Any, path: list[str]) -> Iterator[tuple[list[str], Any]]:
    yield path, group
    for name, command in getattr(group, "commands", {}).items():
        yield from _commands(command, [*path, name])


WALKED = list(_commands(typer.main.get_command(app), []))  # (path, click command)
COMMANDS = [path for path, _ in WALKED]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "root")
def test_help_shows_metavars_not_python_types(runner: CliRunner, command: list[str]) -> None:
    assert len(COMMANDS) >= 16  # every command and group, found
    out = ok(runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200"})).stdout
    assert not re.search(r"<(str|bool|int|float|text)>", out), out
    assert "{" not in out.splitlines()[1], out  # usage: NAME, not {NAME}


def test_every_value_option_has_a_metavar() -> None:
    for path, command in WALKED:
        for param in command.params:
            if param.param_type_name == "option" and not param.is_flag:
                assert param.metavar, (path, param.opts)
            if param.param_type_name == "argument":
                assert param.metavar and "[" not in param.metavar, (path, param.name)


def test_value_options_show_what_they_take(runner: CliRunner) -> None:
    out = ok(runner.invoke(app, ["alias", "set", "--help"], env={"COLUMNS": "200"})).stdout
    assert re.search(r"--canary +VERSION", out) and re.search(r"--weight +PERCENT", out)
    assert re.search(r"--bucket +BUCKET", out) and re.search(r"--endpoint-url +URL", out)


def _script() -> str:
    found = shutil.which("aioversioned", path=os.path.dirname(sys.executable))
    assert found, "the console script is not installed next to the interpreter"
    return found


def test_shell_completion(runner: CliRunner) -> None:
    assert "--install-completion" in ok(runner.invoke(app, ["--help"])).stdout
    env = {
        **os.environ,
        "_AIOVERSIONED_COMPLETE": "complete_bash",
        "COMP_WORDS": "aioversioned al",
        "COMP_CWORD": "1",
    }
    done = subprocess.run([_script()], capture_output=True, text=True, env=env, timeout=60)
    assert done.stdout.split() == ["alias"], (done.stdout, done.stderr)


_HEAVY = ("aiobotocore", "botocore", "pydantic", "aiohttp")


# (A command's own --help does import pydantic: typer 0.29 coerces the root's option
# values through it once a subcommand is named. The library's client stays out.)
@pytest.mark.parametrize("argv", [["--version"], ["--help"]])
def test_version_and_help_do_not_import_the_client(argv: list[str]) -> None:
    code = (
        "import sys\n"
        "from aioversioned.cli import main\n"
        "sys.argv[0] = 'aioversioned'\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({_HEAVY!r})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]", done.stdout


def _complete(words: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    variables = {
        **os.environ,
        **(env or {}),
        "_AIOVERSIONED_COMPLETE": "complete_bash",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split(" ")) - 1),
    }
    return subprocess.run([_script()], capture_output=True, text=True, env=variables, timeout=60)


def test_completion_offers_artifact_names_and_aliases(
    repo: Repository, bucket: str, endpoint_url: str
) -> None:
    for name in ("model", "mobile", "data"):
        repo.put_artifact(name, b"x")
        repo.publish_artifact_version(name)
    repo.put_alias("model", "prod", 1)
    repo.put_alias("model", "stage", 1)
    where = f"--bucket {bucket} --endpoint-url {endpoint_url}"
    done = _complete(f"aioversioned show {where} mo")
    assert (done.stdout.split(), done.stderr) == (["mobile", "model"], "")
    done = _complete(f"aioversioned {where} alias history model ")
    assert (done.stdout.split(), done.stderr) == (["prod", "stage"], "")
    # The bucket from the environment, as the command would read it.
    done = _complete(
        f"aioversioned alias rm --endpoint-url {endpoint_url} model s",
        {"AIOVERSIONED_BUCKET": bucket},
    )
    assert (done.stdout.split(), done.stderr) == (["stage"], "")


def test_completion_fails_quietly_and_fast(bucket: str) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    start = time.monotonic()
    done = _complete(
        f"aioversioned show --bucket {bucket} --endpoint-url http://127.0.0.1:{port} m"
    )
    took = time.monotonic() - start
    assert (done.returncode, done.stdout.split(), done.stderr) == (0, [], "")
    assert took < 40  # the imports under load, plus at most 2 s of trying
    done = _complete("aioversioned show m")  # no bucket: nothing to ask
    assert (done.returncode, done.stdout.split(), done.stderr) == (0, [], "")


def test_alias_history_shows_whole_times_on_80_columns(cli: Any, repo: Repository) -> None:
    for data in (b"1", b"2", b"3"):
        repo.put_artifact("m", data)
        repo.publish_artifact_version("m")
    repo.put_alias("m", "prod", 1)
    repo.put_alias("m", "prod", 2, secondary_version=3, secondary_version_weight=10)
    out = ok(cli("alias", "history", "m", "prod", env={**TERMINAL, "COLUMNS": "80"})).stdout
    text = re.sub(r"\x1b\[[0-9;]*m", "", out)
    assert max(len(line) for line in text.splitlines()) <= 80
    rows = [line for line in text.splitlines() if line.startswith("│ ") and line[2].isdigit()]
    assert len(rows) == 2
    for row in rows:
        assert re.search(r"│ \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ │", row), text
    assert "…" not in text  # a narrow column wraps, nothing is cut


# -- errors in the command line's words ---------------------------------------------------


def test_library_argument_names_become_option_names(cli: Any, repo: Repository) -> None:
    repo.put_artifact("m", b"x")
    repo.publish_artifact_version("m")
    assert usage(cli("alias", "set", "m", "prod", "1", "--weight", "5")) == (
        "--weight requires --canary"
    )
    assert usage(cli("alias", "set", "m", "prod", "1", "--canary", "1")) == (
        "--canary requires --weight"
    )
    assert usage(cli("alias", "set", "m", "prod", "1", "--expect-revision", "a b")) == (
        "Invalid value for '--expect-revision': 'a b' is not a revision (an Alias.revision)"
    )
    assert usage(cli("put", "m", "-", "--meta", "A=1")) == (
        "Invalid value for '--meta': key 'A' must match [a-z0-9][a-z0-9_-]* (S3 lowercases keys)"
    )
    assert usage(cli("rm", "m", "LATEST")) == (
        "LATEST can not be deleted alone; 'rm NAME --all' deletes the whole artifact"
    )
    assert usage(cli("purge", "m", "--older-than", "5x")).startswith(
        "Invalid value for '--older-than': '5x' is not a duration"
    )


# -- endpoints ----------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["127.0.0.1:9000", "", "http://", "ftp://127.0.0.1"])
def test_an_endpoint_that_is_not_a_url_is_a_usage_error(runner: CliRunner, url: str) -> None:
    result = runner.invoke(app, ["ls", "--bucket", "b-1", "--endpoint-url", url])
    example = "http://127.0.0.1:9000" if url != "127.0.0.1:9000" else f"http://{url}"
    assert usage(result) == (
        f"Invalid value for '--endpoint-url': {url!r} is not an http(s) URL with a host, "
        f"e.g. {example}"
    )
    result = runner.invoke(app, ["ls", "--bucket", "b-1"], env={"AWS_ENDPOINT_URL": url})
    assert usage(result).startswith(f"Invalid value for AWS_ENDPOINT_URL: {url!r} is not")


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port that refuses connections: bound (so nothing else takes it), not
    listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def test_an_unreachable_endpoint_fails_within_seconds(runner: CliRunner, closed_port: int) -> None:
    endpoint = f"http://127.0.0.1:{closed_port}"
    started = time.monotonic()
    result = runner.invoke(app, ["ls", "--bucket", "b-1", "--endpoint-url", endpoint])
    elapsed = time.monotonic() - started
    assert one_line(result, 1) == (
        f"Error: can not reach the S3 endpoint {endpoint}: connection refused (3 attempts)"
    )
    # 3 attempts with backoff take < 3 s; the bound leaves room for a loaded machine.
    assert elapsed < 8, elapsed


# -- pipes --------------------------------------------------------------------------------


def test_get_into_a_closed_pipe_exits_0_quietly(
    repo: Repository, endpoint_url: str, bucket: str
) -> None:
    repo.put_artifact("big", os.urandom(4 << 20))  # far more than a pipe buffer holds
    shell = f"{_script()} get big --bucket {bucket} --endpoint-url {endpoint_url} | head -c 10"
    done = subprocess.run(["bash", "-o", "pipefail", "-c", shell], capture_output=True, timeout=60)
    assert (done.returncode, len(done.stdout), done.stderr) == (0, 10, b"")


def _tampered(repo: Repository, endpoint_url: str, bucket: str, genuine: bytes) -> bytes:
    """Publish ``genuine`` as version 1 of ``m``, then change its bytes behind the
    library's back (its recorded sha256 stays): what a reader must not be handed."""
    repo.put_artifact("m", genuine)
    published = repo.publish_artifact_version("m")
    s3 = boto3.client("s3", endpoint_url=endpoint_url, region_name="us-east-1")
    key = published.s3uri.removeprefix(f"s3://{bucket}/")
    metadata = s3.head_object(Bucket=bucket, Key=key)["Metadata"]
    tampered = genuine[:-1] + bytes([genuine[-1] ^ 1])
    s3.put_object(Bucket=bucket, Key=key, Body=tampered, Metadata=metadata)
    return tampered


@pytest.mark.parametrize("size", [1000, 3 << 20], ids=["in-memory", "above-a-chunk"])
def test_get_to_a_pipe_writes_nothing_of_a_corrupted_version(
    repo: Repository, endpoint_url: str, bucket: str, size: int
) -> None:
    """Issue 22: ``get m --version 1 | tar x`` got the corrupted bytes, then the error."""
    _tampered(repo, endpoint_url, bucket, os.urandom(size))
    done = subprocess.run(
        [
            _script(),
            "get",
            "m",
            "--version",
            "1",
            "--bucket",
            bucket,
            "--endpoint-url",
            endpoint_url,
        ],
        capture_output=True,
        timeout=60,
    )
    assert (done.returncode, len(done.stdout)) == (1, 0), done.stderr
    stderr = done.stderr.decode()
    assert stderr.startswith("Error: content of ") and "has sha256" in stderr, stderr
    assert stderr.count("\n") == 1


def test_get_stream_writes_as_it_arrives_then_exits_1_on_a_mismatch(
    repo: Repository, endpoint_url: str, bucket: str
) -> None:
    tampered = _tampered(repo, endpoint_url, bucket, os.urandom(3 << 20))
    done = subprocess.run(
        [
            *(_script(), "get", "m", "--version", "1", "--stream"),
            *("--bucket", bucket, "--endpoint-url", endpoint_url),
        ],
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stdout == tampered  # every byte, as documented, then the error
    assert done.stderr.decode().startswith("Error: content of ")


def test_get_to_stdout_spools_to_a_file_above_the_memory_limit(
    cli: Any, repo: Repository, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(artifacts, "SPOOL_IN_MEMORY", 64 << 10)
    rolled: list[str] = []

    class Recorded(tempfile.SpooledTemporaryFile):  # type: ignore[type-arg]
        def rollover(self) -> None:  # called when the spool moves to a file
            rolled.append("file")
            super().rollover()

    monkeypatch.setattr(tempfile, "SpooledTemporaryFile", Recorded)
    content = os.urandom(300 << 10)
    repo.put_artifact("m", content)
    repo.put_artifact("small", b"tiny")
    assert ok(cli("get", "m")).stdout_bytes == content
    assert ok(cli("get", "small")).stdout_bytes == b"tiny"
    assert rolled == ["file"]  # 300 KiB went through a file, 4 bytes stayed in memory


# -- no-ops -------------------------------------------------------------------------------


def test_a_put_or_publish_that_changes_nothing_says_so(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"one")
    assert "unchanged" not in ok(cli("put", "m", str(path))).stdout
    assert ok(cli("put", "m", str(path))).stdout.startswith("m LATEST: unchanged, sha256 ")
    assert json.loads(ok(cli("put", "m", str(path), "--json")).stdout)["unchanged"] is True
    first = ok(cli("publish", "m")).stdout
    assert first.startswith("m version 1: sha256 "), first
    assert ok(cli("publish", "m")).stdout.startswith("m version 1: unchanged, sha256 ")
    data = json.loads(ok(cli("publish", "m", "--json")).stdout)
    assert (data["version"], data["unchanged"]) == ("1", True)
    path.write_bytes(b"two")
    assert json.loads(ok(cli("put", "m", str(path), "--json")).stdout)["unchanged"] is False
    data = json.loads(ok(cli("publish", "m", "--json")).stdout)
    assert (data["version"], data["unchanged"]) == ("2", False)


# -- missing things -----------------------------------------------------------------------


def test_missing_artifacts_and_aliases_are_one_line_and_exit_1(cli: Any, repo: Repository) -> None:
    repo.put_artifact("m", b"x")
    assert one_line(cli("ls", "nosuch"), 1) == "Error: artifact 'nosuch' not found"
    assert one_line(cli("alias", "ls", "nosuch"), 1) == "Error: artifact 'nosuch' not found"
    assert one_line(cli("alias", "history", "m", "nope"), 1) == (
        "Error: alias 'nope' of artifact 'm' not found"
    )
    assert ok(cli("alias", "ls", "m", "--json")).stdout == "[]\n"  # exists, no aliases


# -- --json on every command --------------------------------------------------------------


def test_every_repository_command_takes_json() -> None:
    for path, command in WALKED:
        options = {option for param in command.params for option in param.opts}
        if "--bucket" in options and not hasattr(command, "commands"):
            assert "--json" in options, path


def test_json_on_bootstrap_rm_and_alias_rm(cli: Any, repo: Repository, bucket: str) -> None:
    assert json.loads(ok(cli("bootstrap", "--json")).stdout) == {"bucket": bucket}
    repo.put_artifact("m", b"x")
    repo.publish_artifact_version("m")
    repo.put_alias("m", "prod", 1)
    assert json.loads(ok(cli("alias", "rm", "m", "prod", "--json")).stdout) == {
        "name": "m",
        "alias": "prod",
        "deleted": True,
    }
    gone = ok(cli("alias", "rm", "m", "prod", "--missing-ok", "--json")).stdout
    assert json.loads(gone) == {"name": "m", "alias": "prod", "deleted": False}
    assert json.loads(ok(cli("rm", "m", "000001", "--json")).stdout) == {
        "name": "m",
        "version": "1",
        "deleted": True,
        "dangling_aliases": [],
    }
    gone = ok(cli("rm", "m", "1", "--missing-ok", "--json")).stdout
    assert json.loads(gone) == {
        "name": "m",
        "version": "1",
        "deleted": False,
        "dangling_aliases": [],
    }


# -- revisions ----------------------------------------------------------------------------


def test_revisions_are_shown_whole_on_a_narrow_terminal(cli: Any, repo: Repository) -> None:
    repo.put_artifact("m", b"x")
    revision = repo.put_alias("m", "production_canary", None).revision
    assert revision is not None
    narrow = {**TERMINAL, "COLUMNS": "60"}
    assert revision in ok(cli("alias", "ls", "m", env=narrow)).stdout
    assert revision in ok(cli("alias", "history", "m", "production_canary", env=narrow)).stdout


def test_a_lost_compare_and_swap_names_the_current_revision(cli: Any, repo: Repository) -> None:
    repo.put_artifact("m", b"x")
    revision = repo.put_alias("m", "prod", None).revision
    result = cli("alias", "set", "m", "prod", "--expect-revision", "0" * 32)
    assert one_line(result, 1) == (
        "Error: conflict on 'versioned-artifacts/m/aliases/prod.json': "
        f"the alias is at revision {revision}, not the one expected"
    )


# -- suffixes -----------------------------------------------------------------------------


def test_an_artifact_under_another_suffix_is_not_found_with_a_hint(
    cli: Any, endpoint_url: str, bucket: str, repo: Repository
) -> None:
    with Repository(bucket, suffix=".zip", endpoint_url=endpoint_url) as zipped:
        zipped.put_artifact("z", b"x")
    repo.put_artifact("m", b"x")
    assert ok(cli("ls")).stdout == "m\n"  # z has no version with this suffix
    assert ok(cli("ls", "--suffix", ".zip")).stdout == "z\n"
    assert one_line(cli("ls", "z"), 1) == (
        "Error: artifact 'z' not found; it has versions with --suffix .zip"
    )
    assert one_line(cli("get", "m", "--suffix", ".zip"), 1) == (
        "Error: artifact 'm' not found; it has versions with --suffix ''"
    )
    for command in (["ls", "nosuch"], ["get", "nosuch"], ["publish", "nosuch"], ["show", "nosuch"]):
        assert one_line(cli(*command), 1) == "Error: artifact 'nosuch' not found", command
    assert one_line(cli("get", "m", "3"), 1) == ("Error: artifact 'm' version 3 not found")


def test_a_suffix_without_a_leading_dot_is_warned_about(cli: Any, repo: Repository) -> None:
    result = ok(cli("ls", "--suffix", "zip"))
    assert result.stderr == (
        "Warning: --suffix 'zip' has no leading dot, so keys end in '000000_LATESTzip'; "
        "'.zip' is the usual form\n"
    )
    assert ok(cli("ls", "--suffix", "zip", "-q")).stderr == ""
    assert ok(cli("ls", "--suffix", ".zip")).stderr == ""
