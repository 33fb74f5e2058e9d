"""``aioversioned follow`` (the sidecar) and ``alias watch``, as real processes against moto.

Every wait is bounded: lines are read by a thread into a queue and taken with a timeout.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest
from typer.testing import CliRunner

from aioversioned import Alias, Repository
from aioversioned._sidecar import ServedFolder, file_name
from aioversioned.cli import app
from aioversioned.errors import CorruptDocumentError, InvalidInputError
from tests.faultproxy import FaultProxy

WAIT = 30.0  # detects a hang; a change is seen within one interval (0.2 s here)
SUFFIX = ".onnx"
CONTENT = {"1": b"model one", "2": b"model two", "3": b"model three"}

# The --exec command: appends its AIOVERSIONED_* variables as one JSON line to argv[1].
RECORDER = """
import json, os, sys
with open(sys.argv[1], "a") as log:
    found = {k: v for k, v in os.environ.items() if k.startswith("AIOVERSIONED_")}
    log.write(json.dumps(found) + "\\n")
"""


def _script() -> str:
    found = shutil.which("aioversioned", path=os.path.dirname(sys.executable))
    assert found, "the console script is not installed next to the interpreter"
    return found


@pytest.fixture
def repo(endpoint_url: str, bucket: str) -> Iterator[Repository]:
    """Versions 1, 2 and 3 of ``m`` (suffix .onnx); ``prod`` points at 1."""
    with Repository(bucket, suffix=SUFFIX, endpoint_url=endpoint_url) as r:
        r.bootstrap()
        for content in CONTENT.values():
            r.put_artifact("m", content)
            r.publish_artifact_version("m")
        r.put_alias("m", "prod", 1)
        yield r


class Lines:
    """The lines a process writes to one stream, read by a thread, taken with a timeout."""

    def __init__(self, stream: IO[str]) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self._queue.put(line.rstrip("\n"))

    def next(self) -> str:
        line = self._queue.get(timeout=WAIT)
        self.seen.append(line)
        return line

    def all(self) -> list[str]:
        """Every line read so far: those taken, then those still waiting."""
        while not self._queue.empty():
            self.seen.append(self._queue.get())
        return self.seen

    def until(self, fragment: str) -> str:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            line = self.next()
            if fragment in line:
                return line
        raise AssertionError(f"no line with {fragment!r} in {self.seen}")


@contextlib.contextmanager
def running(*args: str) -> Iterator[tuple[subprocess.Popen[str], Lines, Lines]]:
    """The console script with ``args``, its stdout and stderr lines; killed if still
    running at the end, its pipes closed."""
    with subprocess.Popen(
        [_script(), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        out, err = Lines(process.stdout), Lines(process.stderr)
        try:
            yield process, out, err
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=WAIT)
            for lines in (out, err):
                lines._thread.join(WAIT)  # EOF once the process is gone


def records(log: Path, count: int) -> list[dict[str, str]]:
    """The first ``count`` environments the --exec command recorded (waits for them)."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        lines = log.read_text().splitlines() if log.exists() else []
        if len(lines) >= count:
            return [json.loads(line) for line in lines]
        time.sleep(0.05)
    raise AssertionError(f"--exec ran {len(lines)} times, not {count}")


def serves(models: Path, version: str) -> None:
    """DIR holds ``version``'s verified file and current.onnx points at it."""
    current = models / f"current{SUFFIX}"
    assert current.is_symlink()
    assert os.readlink(current) == f"{version}{SUFFIX}"  # relative: any mount point works
    assert current.read_bytes() == CONTENT[version]
    assert (models / f"{version}{SUFFIX}").read_bytes() == CONTENT[version]


def test_follow_keeps_dir_serving_the_alias_runs_exec_and_stops_on_sigterm(
    repo: Repository, endpoint_url: str, bucket: str, tmp_path: Path
) -> None:
    models, log = tmp_path / "models", tmp_path / "exec.jsonl"
    recorder = tmp_path / "recorder.py"
    recorder.write_text(RECORDER)
    with (
        FaultProxy(endpoint_url, rate=0.0) as proxy,
        running(
            *("follow", "m", "prod", "--dir", str(models), "--interval", "0.2"),
            *("--exec", shlex.join([sys.executable, str(recorder), str(log)])),
            *("--suffix", SUFFIX, "--bucket", bucket, "--endpoint-url", proxy.url),
        ) as (process, out, err),
    ):
        first = out.next()
        assert first.startswith("m prod -> 1 (revision "), first
        assert first.endswith(f"): current{SUFFIX} -> 1{SUFFIX}")
        serves(models, "1")
        [start] = records(log, 1)
        assert start == {
            "AIOVERSIONED_NAME": "m",
            "AIOVERSIONED_ALIAS": "prod",
            "AIOVERSIONED_REVISION": repo.get_alias("m", "prod").revision,
            "AIOVERSIONED_VERSION": "1",
            "AIOVERSIONED_PATH": str(models.resolve() / f"1{SUFFIX}"),
            "AIOVERSIONED_CURRENT": str(models.resolve() / f"current{SUFFIX}"),
            "AIOVERSIONED_PREVIOUS_VERSION": "",
            "AIOVERSIONED_PRIMARY_VERSION": "1",
            "AIOVERSIONED_PRIMARY_PATH": str(models.resolve() / f"1{SUFFIX}"),
            "AIOVERSIONED_SECONDARY_VERSION": "",
            "AIOVERSIONED_SECONDARY_PATH": "",
            "AIOVERSIONED_SECONDARY_WEIGHT": "",
        }

        # Move 1: 1 -> 2. The previous version's file stays for a reader mid-open.
        moved = repo.put_alias("m", "prod", 2)
        assert out.next() == (
            f"m prod -> 2 (revision {moved.revision}): current{SUFFIX} -> 2{SUFFIX}"
        )
        serves(models, "2")
        assert (models / f"1{SUFFIX}").read_bytes() == CONTENT["1"]
        second = records(log, 2)[1]
        assert (second["AIOVERSIONED_VERSION"], second["AIOVERSIONED_PREVIOUS_VERSION"]) == (
            "2",
            "1",
        )
        assert second["AIOVERSIONED_PATH"] == str(models.resolve() / f"2{SUFFIX}")
        assert second["AIOVERSIONED_REVISION"] == moved.revision

        # S3 fails: the error goes to stderr, polling goes on, DIR keeps serving 2.
        proxy._rate = 1.0
        assert "poll failed" in err.until("poll failed")
        serves(models, "2")
        proxy._rate = 0.0

        # Move 2: 2 -> 3, seen once S3 answers again; 1's file goes (two moves ago).
        moved = repo.put_alias("m", "prod", 3)
        assert out.next() == (
            f"m prod -> 3 (revision {moved.revision}): current{SUFFIX} -> 3{SUFFIX}"
        )
        serves(models, "3")
        assert sorted(p.name for p in models.iterdir()) == [
            f"2{SUFFIX}",
            f"3{SUFFIX}",
            f"current{SUFFIX}",
        ]
        third = records(log, 3)[2]
        assert (third["AIOVERSIONED_VERSION"], third["AIOVERSIONED_PREVIOUS_VERSION"]) == (
            "3",
            "2",
        )

        # SIGTERM: a prompt, clean exit 0; DIR stays for the application.
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=WAIT)
        elapsed = time.monotonic() - started
    assert code == 0, "\n".join(err.all())
    assert elapsed < 5.0, elapsed
    serves(models, "3")
    assert len(records(log, 3)) == 3
    assert "Traceback" not in "\n".join(err.all())
    assert all(line.startswith("aioversioned: watch of alias") for line in err.all()), err.all()


def test_follow_json_lines_a_canary_drawn_by_key_and_ctrl_c(
    repo: Repository, endpoint_url: str, bucket: str, tmp_path: Path
) -> None:
    models = tmp_path / "models"
    with running(
        *("follow", "m", "prod", "--dir", str(models), "--interval", "0.2"),
        *("--key", "host-7", "--json", "--suffix", SUFFIX),
        *("--bucket", bucket, "--endpoint-url", endpoint_url),
    ) as (process, out, err):
        first = json.loads(out.next())
        assert (first["version"], first["current_version"], first["switched"]) == ("1", "1", True)
        assert first["previous_version"] is None
        assert first["files"] == {"1": str(models.resolve() / f"1{SUFFIX}")}
        assert first["current"] == str(models.resolve() / f"current{SUFFIX}")
        assert set(Alias.model_fields) <= set(first)
        canary = repo.put_alias("m", "prod", 1, secondary_version=2, secondary_version_weight=50)
        change = json.loads(out.next())
        picked = canary.pick_version("host-7")  # the sticky draw the sidecar makes
        assert (change["secondary_version"], change["current_version"]) == ("2", picked)
        assert change["switched"] is (picked == "2")
        assert set(change["files"]) == {"1", "2"}
        serves(models, picked)
        assert (models / f"2{SUFFIX}").read_bytes() == CONTENT["2"]
        process.send_signal(signal.SIGINT)  # Ctrl-C: as every command, 130 and one line
        assert process.wait(timeout=WAIT) == 130
    assert err.all() == ["aioversioned: interrupted"]
    serves(models, picked)  # left as it was: the application goes on serving it


def test_alias_watch_prints_each_change_and_stops_on_sigterm(
    repo: Repository, endpoint_url: str, bucket: str
) -> None:
    with running(
        *("alias", "watch", "m", "prod", "--interval", "0.2"),
        *("--suffix", SUFFIX, "--bucket", bucket, "--endpoint-url", endpoint_url),
    ) as (process, out, err):
        now = repo.get_alias("m", "prod")
        assert out.next() == f"m prod -> 1 (revision {now.revision})"
        moved = repo.put_alias("m", "prod", 2, secondary_version=3, secondary_version_weight=10)
        assert out.next() == f"m prod -> 2 (90%), 3 (10%) (revision {moved.revision})"
        moved = repo.put_alias("m", "prod", 3)
        assert out.next() == f"m prod -> 3 (revision {moved.revision})"
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=WAIT)
    assert code == 0, "\n".join(err.all())
    assert err.all() == []


def test_alias_watch_json_and_a_missing_alias(
    repo: Repository, endpoint_url: str, bucket: str
) -> None:
    runner = CliRunner()
    connection = ["--bucket", bucket, "--endpoint-url", endpoint_url]
    missing = runner.invoke(app, ["alias", "watch", "m", "nope", *connection])
    assert missing.exit_code == 1
    assert missing.stderr == "Error: alias 'nope' of artifact 'm' not found\n"
    refused = runner.invoke(app, ["alias", "watch", "m", "prod", "--interval", "0", *connection])
    assert refused.exit_code == 2 and "--interval" in refused.stderr


def test_follow_refusals(repo: Repository, endpoint_url: str, bucket: str, tmp_path: Path) -> None:
    runner = CliRunner()
    connection = ["--bucket", bucket, "--endpoint-url", endpoint_url]
    models = str(tmp_path / "models")
    empty = runner.invoke(app, ["follow", "m", "prod", "--dir", models, "--exec", " ", *connection])
    assert empty.exit_code == 2 and "--exec" in empty.stderr
    missing = runner.invoke(app, ["follow", "m", "nope", "--dir", models, *connection])
    assert missing.exit_code == 1
    assert missing.stderr == "Error: alias 'nope' of artifact 'm' not found\n"


def test_file_names_come_from_digits_and_the_users_suffix(tmp_path: Path) -> None:
    alias = Alias.model_construct(name="m", alias="prod", version="../../etc/passwd")
    assert file_name(alias, "12", ".onnx") == "12.onnx"
    assert file_name(alias, "LATEST", "") == "LATEST"
    for bad in ("../x", "1/2", "\uff11\uff12", "-1", "0", ""):
        with pytest.raises(CorruptDocumentError, match="not decimal ASCII digits"):
            file_name(alias, bad, ".onnx")
    with pytest.raises(InvalidInputError, match="suffix"):
        ServedFolder(tmp_path, "/x")


def test_placing_a_file_replaces_it_whole_and_current_is_one_rename(tmp_path: Path) -> None:
    alias: Any = Alias.model_construct(name="m", alias="prod")
    source = tmp_path / "verified"
    source.write_bytes(b"weights")
    folder = ServedFolder(tmp_path / "dir", ".bin")
    folder.folder.mkdir()
    placed = folder.place(alias, "4", source)
    assert placed == folder.folder / "4.bin" and placed.read_bytes() == b"weights"
    assert oct(placed.stat().st_mode & 0o777) == oct(0o644)
    assert folder.switch(alias, "4") and not folder.switch(alias, "4")
    assert os.readlink(folder.current) == "4.bin"
    folder.prune(alias, keep=())
    assert not placed.exists()
    assert sorted(p.name for p in folder.folder.iterdir()) == ["current.bin"]  # no .part-*
