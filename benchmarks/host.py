"""``python -m benchmarks.host``: N processes of one host following one alias, one poll.

For each N, N processes (as gunicorn or Celery workers would be) each follow one alias
with one ``cache_dir`` shared by all ("shared"), or each with a ``cache_dir`` of its own
("alone": every process polls, as without a shared cache). Reported per case:

* idle: requests per minute of all the processes together while nothing changes (the
  goal, shared: those of one follower, ``60 / interval`` GETs answered 304);
* change: seconds from the start of ``put_alias`` until every process serves the new
  version (slowest, median), each process checking the bytes of the file it serves.

The process-side harness (``worker``) is used by the tests too (tests/test_host_poll.py):
``python -m benchmarks.host worker ENDPOINT BUCKET CACHE_DIR STATUS INTERVAL`` follows
alias ``prod`` of artifact ``model`` under prefix ``bench`` and keeps a JSON status
file (its pid, the version it serves, the sha256 of that file's bytes, its requests so
far, whether it polls for the host, its error) until SIGTERM.

Figures are measured, not asserted. Writes ``host.json`` to ``--out``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import anyio

from aioversioned import Alias, AsyncRepository

from .cli import local_aws_environment
from .counting import RequestCounter
from .followers import ALIAS, NAME, REGION, _server
from .report import machine_info

KiB = 1 << 10
PREFIX = "bench"
START_TIMEOUT = 300.0  # 16 interpreters starting on 2 busy cores took over 2 minutes
CHANGE_TIMEOUT = 120.0
STATUS_EVERY = 0.02


# -- the worker: one process of the host --------------------------------------------------


def _write_status(path: Path, status: dict[str, Any]) -> None:
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(json.dumps(status))
    os.replace(temp, path)


async def _work(endpoint: str, bucket: str, cache_dir: str, status: Path, interval: float) -> None:
    counter = RequestCounter()
    swaps: dict[str, float] = {}  # revision -> monotonic time of the swap (one clock per host)

    async def on_change(old: Alias | None, new: Alias) -> None:
        swaps[new.revision or ""] = time.monotonic()

    stop = anyio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    hashes: dict[Path, str] = {}
    async with AsyncRepository(
        bucket, PREFIX, endpoint_url=endpoint, aws_region=REGION, cache_dir=cache_dir
    ) as repo:
        counter.attach(repo._s3._client)  # harness-only reach: the client is private
        async with repo.follow_alias(
            NAME, ALIAS, interval=interval, on_change=on_change
        ) as follower:
            last: dict[str, Any] = {}
            while not stop.is_set():
                alias = follower.alias
                path = follower.path(alias.version)
                if path not in hashes:  # a file is named by its content: hashed once
                    hashes[path] = hashlib.sha256(path.read_bytes()).hexdigest()
                reads = getattr(follower._watch, "_reads", None)  # harness-only reach: who polls
                now = {
                    "pid": os.getpid(),
                    "version": alias.version,
                    "revision": alias.revision,
                    "sha256": hashes[path],
                    "expected_sha256": follower.pick().sha256,
                    "requests": counter.snapshot(),
                    "holding": bool(getattr(reads, "holding", False)),
                    "error": None if follower.error is None else repr(follower.error),
                    "swaps": swaps,
                }
                if now != last:
                    _write_status(status, now)
                    last = json.loads(json.dumps(now))
                with anyio.move_on_after(STATUS_EVERY):
                    await stop.wait()


def worker(argv: list[str]) -> int:
    endpoint, bucket, cache_dir, status, interval = argv
    asyncio.run(_work(endpoint, bucket, cache_dir, Path(status), float(interval)))
    return 0


# -- the driver -------------------------------------------------------------------------------


class Host:
    """N worker processes and their status files; stopped (SIGTERM, then SIGKILL) on exit."""

    def __init__(
        self, endpoint: str, bucket: str, folder: Path, count: int, interval: float, shared: bool
    ) -> None:
        self.folder = folder
        self.statuses = [folder / f"status-{index}.json" for index in range(count)]
        root = Path(__file__).resolve().parent.parent
        command = [sys.executable, "-m", "benchmarks.host", "worker", endpoint, bucket]
        self.processes = []
        for index, status in enumerate(self.statuses):
            cache = folder / ("cache" if shared else f"cache-{index}")
            with (folder / f"worker-{index}.log").open("ab") as log:  # the child keeps its own
                self.processes.append(
                    subprocess.Popen(
                        [*command, str(cache), str(status), str(interval)],
                        cwd=root,
                        stderr=log,
                    )
                )

    def read(self) -> list[dict[str, Any] | None]:
        """Each process's status (None before its first, or once it ended)."""
        found: list[dict[str, Any] | None] = []
        for status, process in zip(self.statuses, self.processes, strict=True):
            try:
                found.append(json.loads(status.read_text()) if process.poll() is None else None)
            except (OSError, ValueError):
                found.append(None)
        return found

    def wait(self, predicate: Any, timeout: float, what: str) -> list[dict[str, Any] | None]:
        """Poll the statuses (bounded) until ``predicate(statuses)`` holds."""
        deadline = time.monotonic() + timeout
        while True:
            statuses = self.read()
            if predicate(statuses):
                return statuses
            if time.monotonic() > deadline:
                logs = [p.read_text(errors="replace")[-2000:] for p in self.folder.glob("*.log")]
                raise TimeoutError(f"{what}: not within {timeout} s; {statuses}; logs: {logs}")
            time.sleep(0.02)

    def requests(self) -> int:
        """Requests sent so far by the live processes, all operations."""
        return sum(sum(s["requests"].values()) for s in self.read() if s is not None)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)

    def __enter__(self) -> Host:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serving(statuses: list[dict[str, Any] | None], version: str, count: int) -> bool:
    """Whether ``count`` processes serve ``version``, each from a file of the right bytes."""
    live = [s for s in statuses if s is not None]
    good = [s for s in live if s["version"] == version and s["sha256"] == s["expected_sha256"]]
    return len(live) == count and len(good) == count


async def prepare(endpoint: str, bucket: str, size: int, versions: int = 2) -> None:
    """A bucket with ``versions`` versions of random bytes and the alias on version 1."""
    async with AsyncRepository(bucket, PREFIX, endpoint_url=endpoint, aws_region=REGION) as writer:
        await writer.bootstrap()
        for _ in range(versions):
            await writer.put_artifact(NAME, os.urandom(size))
            await writer.publish_artifact_version(NAME)
        await writer.put_alias(NAME, ALIAS, 1)


async def put_alias(endpoint: str, bucket: str, version: int) -> tuple[str, float, float]:
    """Move the alias; its revision, and the monotonic times the write began and ended."""
    async with AsyncRepository(bucket, PREFIX, endpoint_url=endpoint, aws_region=REGION) as repo:
        begun = time.monotonic()
        moved = await repo.put_alias(NAME, ALIAS, version)
        return moved.revision or "", begun, time.monotonic()


def run_case(
    endpoint: str, server: str, count: int, shared: bool, args: argparse.Namespace
) -> dict[str, Any]:
    bucket = f"bench-host-{uuid.uuid4().hex[:12]}"
    asyncio.run(prepare(endpoint, bucket, args.size))
    with (
        tempfile.TemporaryDirectory() as temp,
        Host(endpoint, bucket, Path(temp), count, args.interval, shared) as host,
    ):
        start = time.perf_counter()
        host.wait(lambda s: serving(s, "1", count), START_TIMEOUT, "all serve version 1")
        enter_seconds = time.perf_counter() - start
        time.sleep(args.interval)  # the entries' own GETs are behind
        before = host.requests()
        time.sleep(args.idle)
        idle = host.requests() - before
        holders = sum(1 for s in host.read() if s is not None and s["holding"])
        revision, begun, ended = asyncio.run(put_alias(endpoint, bucket, 2))
        statuses = host.wait(lambda s: serving(s, "2", count), CHANGE_TIMEOUT, "all serve 2")
    delays = [s["swaps"][revision] - begun for s in statuses if s is not None]
    return {
        "server": server,
        "mode": "shared" if shared else "alone",
        "processes": count,
        "interval_s": args.interval,
        "artifact_bytes": args.size,
        "enter_s": round(enter_seconds, 2),
        "idle_window_s": args.idle,
        "idle_requests": idle,
        "idle_requests_per_minute": round(idle / (args.idle / 60), 1),
        "one_follower_per_minute": round(60 / args.interval, 1),
        "holders": holders,
        "put_alias_s": round(ended - begun, 4),
        "all_served_s": round(max(delays), 3),
        "median_served_s": round(statistics.median(delays), 3),
    }


def format_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| server | processes | mode | idle requests / min, all processes (one follower)"
        " | put_alias -> all serve (median) |",
        "| --- | ---: | --- | ---: | ---: |",
    ]
    for row in rows:
        lines.append(
            f"| {row['server']} | {row['processes']} | {row['mode']} "
            f"| {row['idle_requests_per_minute']} ({row['one_follower_per_minute']}) "
            f"| {row['all_served_s']:.2f} s ({row['median_served_s']:.2f} s) |"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.host",
        description="N processes of one host following one alias: one poll for all",
    )
    parser.add_argument("--counts", default="1,4,16", help="numbers of processes")
    parser.add_argument("--modes", default="shared,alone", help="shared and/or alone")
    parser.add_argument("--servers", default="moto", help="moto and/or seaweedfs")
    parser.add_argument("--interval", type=float, default=5.0, help="poll interval, s (5)")
    parser.add_argument("--idle", type=float, default=60.0, help="idle window, s (60)")
    parser.add_argument("--size", type=int, default=256 * KiB, help="artifact bytes")
    parser.add_argument("--out", type=Path, default=Path("docs"), help="output folder")
    parser.add_argument("--quick", action="store_true", help="tiny: N=1,3, 0.2 s interval")
    args = parser.parse_args(argv)
    if args.quick:
        args.counts, args.modes, args.interval, args.idle = "1,3", "shared", 0.2, 2.0
    try:
        args.counts = [int(count) for count in args.counts.split(",")]
    except ValueError:
        parser.error(f"--counts must be integers, got {args.counts!r}")
    args.modes = [mode.strip() for mode in args.modes.split(",") if mode.strip()]
    args.servers = [server.strip() for server in args.servers.split(",") if server.strip()]
    if set(args.modes) - {"shared", "alone"} or set(args.servers) - {"moto", "seaweedfs"}:
        parser.error("modes are shared and alone; servers are moto and seaweedfs")
    if any(count < 1 for count in args.counts) or args.interval <= 0 or args.idle <= 0:
        parser.error("counts, --interval and --idle must be positive")
    return args


def run(args: argparse.Namespace) -> dict[str, Any]:
    machine = machine_info()  # the load average before the run
    rows = []
    with local_aws_environment():
        for kind in args.servers:
            with _server(kind) as endpoint:
                for count in args.counts:
                    for mode in args.modes:
                        row = run_case(endpoint, kind, count, mode == "shared", args)
                        print(json.dumps(row), file=sys.stderr, flush=True)
                        rows.append(row)
    meta = {**machine, "args": {**vars(args), "out": str(args.out)}}
    document = {"meta": meta, "results": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "host.json").write_text(json.dumps(document, indent=2) + "\n")
    print(format_table(rows))
    return document


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["worker"]:
        return worker(argv[1:])
    run(parse_args(argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
