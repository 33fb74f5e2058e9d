"""``aioversioned rollout``: steps, a failing --check-cmd, conflicts, Ctrl-C and a crash.

In-process with typer's runner, and as a real process where a signal is sent. Time
bounds only detect hangs.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from aioversioned import Repository
from aioversioned.cli import app

HANG = 60.0
Invoke = Callable[..., Result]


@pytest.fixture
def repo(endpoint_url: str, bucket: str) -> Iterator[Repository]:
    """Versions 1 and 2 of ``m``; ``prod`` points at 1."""
    with Repository(bucket, endpoint_url=endpoint_url) as r:
        r.bootstrap()
        for content in (b"one", b"two"):
            r.put_artifact("m", content)
            r.publish_artifact_version("m")
        r.put_alias("m", "prod", 1)
        yield r


@pytest.fixture
def cli(endpoint_url: str, bucket: str) -> Invoke:
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(app, [*args, "--bucket", bucket, "--endpoint-url", endpoint_url])

    return invoke


def shape(repo: Repository) -> tuple[Any, ...]:
    alias = repo.get_alias("m", "prod")
    return (alias.version, alias.secondary_version, alias.secondary_version_weight)


def targets(repo: Repository) -> list[tuple[Any, ...]]:
    """The recorded targets of prod, oldest first."""
    return [
        (c.version, c.secondary_version, c.secondary_version_weight)
        for c in reversed(repo.list_alias_history("m", "prod"))
    ]


def test_a_rollout_prints_one_line_per_step_and_exits_0(cli: Invoke, repo: Repository) -> None:
    result = cli("rollout", "m", "prod", "2", "--bake", "0", "--check-cmd", "true")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line.split(" (revision")[0] for line in lines[:3]] == [
        "step 1/3: m prod -> 1 (90%), 2 (10%)",
        "step 2/3: m prod -> 1 (50%), 2 (50%)",
        "step 3/3: m prod -> 2",
    ]
    assert all(line.endswith("; baking 0") for line in lines[:3])
    assert lines[3:] == ["rollout complete: m prod -> 2"]
    assert shape(repo) == ("2", None, None)


def test_a_failing_check_cmd_rolls_back_and_exits_1(
    cli: Invoke, repo: Repository, tmp_path: Path
) -> None:
    # Healthy once, then unhealthy: the second step fails.
    counter = tmp_path / "calls"
    check = (
        f"n=$(cat {counter} 2>/dev/null || echo 0); echo $((n+1)) > {counter}; "
        'if [ "$n" -ge 1 ]; then echo "error rate 7%" >&2; exit 3; fi'
    )
    result = cli(
        "rollout", "m", "prod", "2", "--steps", "20,100", "--bake", "0", "--check-cmd", check
    )
    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines()[-1] == (
        "Error: rollout of 'm' prod to version 2 failed at step 2 (100%): check raised "
        "RuntimeError: --check-cmd exited 3: error rate 7%; prod is back at version 1"
    )
    assert shape(repo) == ("1", None, None)
    assert targets(repo) == [
        ("1", None, None),
        ("1", "2", 20),
        ("2", None, None),
        ("1", None, None),
    ]


def test_an_alias_mid_way_needs_resume(cli: Invoke, repo: Repository) -> None:
    repo.put_alias("m", "prod", 1, 2, 50)
    refused = cli("rollout", "m", "prod", "2", "--bake", "0")
    assert refused.exit_code == 1
    assert "mid-way to version 2 (50%)" in refused.stderr and "--resume" in refused.stderr
    resumed = cli("rollout", "m", "prod", "2", "--bake", "0", "--resume", "-q")
    assert (resumed.exit_code, resumed.stdout) == (0, "")
    assert targets(repo)[-2:] == [("1", "2", 50), ("2", None, None)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--steps", "10,x"), "comma-separated"),
        (("--steps", "50,10"), "increasing"),
        (("--steps", "0,100"), "1..100"),
        (("--bake", "soon"), "duration"),
    ],
)
def test_bad_steps_or_bake_are_usage_errors(
    cli: Invoke, repo: Repository, args: tuple[str, ...], message: str
) -> None:
    result = cli("rollout", "m", "prod", "2", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert shape(repo) == ("1", None, None)


def test_json_prints_the_final_alias(cli: Invoke, repo: Repository) -> None:
    result = cli("rollout", "m", "prod", "2", "--steps", "100", "--bake", "0", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["version"] == "2"
    assert result.stderr.startswith("step 1/1: m prod -> 2")


# -- as a process: Ctrl-C and a crash during a bake ------------------------------------------


def _script() -> str:
    found = shutil.which("aioversioned", path=os.path.dirname(sys.executable))
    assert found, "the console script is not installed next to the interpreter"
    return found


def _start(endpoint_url: str, bucket: str) -> subprocess.Popen[str]:
    """A rollout whose first bake lasts an hour; returns once step 1 is written."""
    process = subprocess.Popen(
        [
            *(_script(), "rollout", "m", "prod", "2", "--bake", "1h", "--check-cmd", "exit 0"),
            *("--bucket", bucket, "--endpoint-url", endpoint_url),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    assert process.stdout is not None
    line = process.stdout.readline()  # click flushes each line
    assert line.startswith("step 1/3: m prod -> 1 (90%), 2 (10%)"), line
    return process


def _finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    try:
        stdout, stderr = process.communicate(timeout=HANG)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return process.returncode, stdout, stderr


def test_ctrl_c_during_a_bake_leaves_the_alias_and_prints_how_to_resume(
    repo: Repository, endpoint_url: str, bucket: str
) -> None:
    process = _start(endpoint_url, bucket)
    started = time.monotonic()
    process.send_signal(signal.SIGINT)
    code, stdout, stderr = _finish(process)
    assert time.monotonic() - started < HANG
    assert (code, stdout) == (130, "")
    hint, interrupted = stderr.splitlines()
    assert interrupted == "aioversioned: interrupted"
    assert hint.startswith("m prod left at 1 (90%), 2 (10%); to continue: aioversioned rollout")
    resume, undo = hint.split("to continue: ")[1].split("; to undo: ")
    assert shlex.split(undo) == [
        *("aioversioned", "alias", "rollback", "m", "prod"),
        *("--bucket", bucket, "--endpoint-url", endpoint_url),
    ]
    command = shlex.split(resume)
    assert command == [
        "aioversioned",
        *("rollout", "m", "prod", "2", "--steps", "10,50,100", "--bake", "1h"),
        *("--check-cmd", "exit 0", "--bucket", bucket, "--endpoint-url", endpoint_url),
        "--resume",
    ]
    assert shape(repo) == ("1", "2", 10)
    # The printed command continues from step 1 (a bake of 0 here, to be quick).
    command[command.index("--bake") + 1] = "0"
    done = subprocess.run(
        [_script(), *command[1:]], capture_output=True, text=True, timeout=HANG, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].startswith("step 1/3: m prod -> 1 (90%), 2 (10%)")
    assert targets(repo) == [("1", None, None), ("1", "2", 10), ("1", "2", 50), ("2", None, None)]


def test_the_undo_command_printed_at_ctrl_c_puts_the_alias_back(
    repo: Repository, endpoint_url: str, bucket: str
) -> None:
    process = _start(endpoint_url, bucket)
    process.send_signal(signal.SIGINT)
    code, _, stderr = _finish(process)
    assert code == 130
    undo = shlex.split(stderr.splitlines()[0].split("; to undo: ")[1])
    done = subprocess.run(
        [_script(), *undo[1:]], capture_output=True, text=True, timeout=HANG, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("m prod rolled back to 1 (revision ")
    assert shape(repo) == ("1", None, None)


def test_a_rollout_killed_during_a_bake_resumes(
    repo: Repository, endpoint_url: str, bucket: str, cli: Invoke
) -> None:
    process = _start(endpoint_url, bucket)
    process.kill()  # SIGKILL: no cleanup of any kind
    code, _, _ = _finish(process)
    assert code == -signal.SIGKILL
    assert shape(repo) == ("1", "2", 10)
    assert cli("rollout", "m", "prod", "2", "--bake", "0").exit_code == 1  # needs --resume
    result = cli("rollout", "m", "prod", "2", "--bake", "0", "--resume")
    assert result.exit_code == 0, result.output
    assert targets(repo) == [("1", None, None), ("1", "2", 10), ("1", "2", 50), ("2", None, None)]
