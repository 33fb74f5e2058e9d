"""``python -m benchmarks.followers``: N followers of one alias, in one process, on one loop.

For each server (a local moto server and a local SeaweedFS) and each N, N followers of
one alias whose versions hold an 8 MiB artifact run on one repository and one event
loop: N watchers as N hosts would run them, poll for poll. Being followers of one
repository, they share their downloads (each content is fetched once), so the figures
are those of the watch and the swap; N hosts would each download the artifact.

Reported per case:

* idle: requests per follower per minute while nothing changes, and how they were
  answered (the goal: one GET per interval, answered 304 without a body);
* change: seconds from the start of ``put_alias`` until every follower serves the new
  version (slowest, median, 99th percentile), next to the goal of one interval plus
  the time of one download of the artifact (measured alone, before);
* safety: picks made while the alias changed, each checked against the bytes on disk
  (its file exists and hashes to the pick's sha256); the goal is no bad pick.

Figures are measured, not asserted. Writes ``followers.json`` to ``--out``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio

from aioversioned import Alias, AsyncRepository
from aioversioned._local import LocalS3

from .cli import local_aws_environment
from .counting import RequestCounter
from .report import machine_info
from .weed import LocalWeed

MiB = 1 << 20
REGION = "us-east-1"
NAME, ALIAS = "model", "prod"
ENTER_TIMEOUT = 600.0
CHANGE_TIMEOUT = 600.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.followers",
        description="N followers of one alias: idle requests and time to follow a change",
    )
    parser.add_argument("--counts", default="10,100,1000", help="numbers of followers")
    parser.add_argument("--servers", default="moto,seaweedfs", help="moto and/or seaweedfs")
    parser.add_argument("--interval", type=float, default=5.0, help="poll interval, s (5)")
    parser.add_argument("--idle", type=float, default=30.0, help="idle window, s (30)")
    parser.add_argument("--size", type=int, default=8 * MiB, help="artifact bytes (8 MiB)")
    parser.add_argument("--out", type=Path, default=Path("docs"), help="output folder")
    parser.add_argument(
        "--quick", action="store_true", help="tiny: 64 KiB, N=5,20, 0.2 s interval, moto"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.counts, args.servers = "5,20", "moto"
        args.interval, args.idle, args.size = 0.2, 1.0, 64 * 1024
    try:
        args.counts = [int(count) for count in args.counts.split(",")]
    except ValueError:
        parser.error(f"--counts must be integers, got {args.counts!r}")
    args.servers = [server.strip() for server in args.servers.split(",") if server.strip()]
    if unknown := set(args.servers) - {"moto", "seaweedfs"}:
        parser.error(f"unknown servers {sorted(unknown)}")
    if any(count < 1 for count in args.counts) or args.interval <= 0 or args.idle <= 0:
        parser.error("counts, --interval and --idle must be positive")
    return args


class Statuses:
    """HTTP statuses of the responses a client received, by operation."""

    def __init__(self, client: Any) -> None:
        self.counts: Counter[tuple[str, int]] = Counter()
        client.meta.events.register("after-call.s3", self._after_call)

    def _after_call(self, http_response: Any, event_name: str, **_: Any) -> None:
        self.counts[(event_name.rsplit(".", 1)[1], http_response.status_code)] += 1


class PickChecker:
    """Checks picks against the disk: the file exists and hashes to the pick's sha256."""

    def __init__(self) -> None:
        self.checked = 0
        self.bad: list[str] = []
        self._hashes: dict[Path, str] = {}

    def check(self, follower: Any) -> None:
        picked = follower.pick()
        path = follower.path(picked.version)
        if path not in self._hashes:  # a file is named by its content: hashed once
            self._hashes[path] = hashlib.sha256(path.read_bytes()).hexdigest()
        if not path.exists() or self._hashes[path] != picked.sha256:
            self.bad.append(f"{picked.version} {path}")
        self.checked += 1


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def _download_seconds(repo: AsyncRepository, version: int) -> float:
    """The median time of one download of ``version`` into a file, alone."""
    times = []
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(3):
            start = time.perf_counter()
            await repo.download_artifact(NAME, Path(folder) / "copy", version)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


async def _loop_lag(stop: anyio.Event, lags: list[float]) -> None:
    """How late the event loop wakes a task that sleeps 0.1 s (its load)."""
    while not stop.is_set():
        start = anyio.current_time()
        await anyio.sleep(0.1)
        lags.append(anyio.current_time() - start - 0.1)


async def run_case(
    endpoint: str, server: str, count: int, args: argparse.Namespace
) -> dict[str, Any]:
    """One server, N followers: enter, idle, change; returns the figures."""
    bucket = f"bench-followers-{uuid.uuid4().hex[:12]}"
    async with (
        AsyncRepository(bucket, "bench", endpoint_url=endpoint, aws_region=REGION) as repo,
        AsyncRepository(bucket, "bench", endpoint_url=endpoint, aws_region=REGION) as writer,
    ):
        await writer.bootstrap()
        for _ in range(2):
            await writer.put_artifact(NAME, os.urandom(args.size))
            await writer.publish_artifact_version(NAME)
        await writer.put_alias(NAME, ALIAS, 1)
        download = await _download_seconds(writer, 2)
        counter = RequestCounter()
        counter.attach(repo._s3._client)  # benchmark-only reach: the client is private
        statuses = Statuses(repo._s3._client)
        swapped: dict[int, float] = {}
        target: dict[str, str | None] = {"revision": None}

        def on_change_of(index: int) -> Any:
            async def on_change(old: Alias | None, new: Alias) -> None:
                if new.revision == target["revision"]:
                    swapped[index] = anyio.current_time()

            return on_change

        followers = [
            repo.follow_alias(NAME, ALIAS, interval=args.interval, on_change=on_change_of(i))
            for i in range(count)
        ]
        # Benchmark-only: when the followers' shared downloads start and end.
        downloads: list[tuple[float, float]] = []
        original = repo.download_artifact

        async def timed_download(*args: Any, **kwargs: Any) -> Any:
            start = anyio.current_time()
            try:
                return await original(*args, **kwargs)
            finally:
                downloads.append((start, anyio.current_time()))

        repo.download_artifact = timed_download  # type: ignore[method-assign]
        entered = 0
        stop = anyio.Event()

        async def hold(follower: Any) -> None:
            nonlocal entered
            async with follower:
                entered += 1
                await stop.wait()

        checker = PickChecker()
        lags: list[float] = []
        async with anyio.create_task_group() as tg:
            start = time.perf_counter()
            for follower in followers:
                tg.start_soon(hold, follower)
            with anyio.fail_after(ENTER_TIMEOUT):
                while entered < count:  # noqa: ASYNC110  # a count, polled
                    await anyio.sleep(0.05)
            enter_seconds = time.perf_counter() - start

            # Idle: nothing changes for a while.
            idle_stop = anyio.Event()
            tg.start_soon(_loop_lag, idle_stop, lags)
            counter.reset()
            statuses.counts.clear()
            cpu = time.process_time()
            await anyio.sleep(args.idle)
            idle_cpu = (time.process_time() - cpu) / args.idle
            idle_requests = counter.snapshot()
            idle_statuses = dict(statuses.counts)
            idle_stop.set()

            # The change, with picks checked against the disk all along.
            checking, checked = anyio.Event(), anyio.Event()

            async def pick_all_the_time() -> None:
                rng = random.Random(0)
                try:
                    while not checking.is_set():
                        for follower in rng.sample(followers, min(20, count)):
                            # In a thread, as a request handler of a threaded server.
                            await anyio.to_thread.run_sync(checker.check, follower)
                        await anyio.sleep(0.002)
                finally:
                    checked.set()

            tg.start_soon(pick_all_the_time)
            counter.reset()
            statuses.counts.clear()
            begun = anyio.current_time()
            put_started = time.perf_counter()
            moved = await writer.put_alias(NAME, ALIAS, 2)
            put_seconds = time.perf_counter() - put_started
            target["revision"] = moved.revision
            # A follower that polled during the write may have swapped before the
            # revision was known here: its version tells.
            with anyio.fail_after(CHANGE_TIMEOUT):
                while len(swapped) < count:
                    for index, follower in enumerate(followers):
                        if index not in swapped and follower.alias.revision == moved.revision:
                            swapped[index] = anyio.current_time()
                    await anyio.sleep(0.01)
            checking.set()
            await checked.wait()  # no pick in flight once the followers close
            change_requests = counter.snapshot()
            change_statuses = dict(statuses.counts)
            stop.set()
    delays = [moment - begun for moment in swapped.values()]
    fetched = [(start - begun, end - begun) for start, end in downloads if end > begun]
    idle_total = sum(idle_requests.values())
    return {
        "server": server,
        "followers": count,
        "interval_s": args.interval,
        "artifact_bytes": args.size,
        "enter_s": round(enter_seconds, 3),
        "idle_window_s": args.idle,
        "idle_requests": idle_requests,
        "idle_statuses": {f"{op} {code}": n for (op, code), n in sorted(idle_statuses.items())},
        "idle_requests_per_follower_per_minute": round(idle_total / count / (args.idle / 60), 2),
        "loop_lag_max_s": round(max(lags, default=0.0), 4),
        "idle_client_cpu_per_s": round(idle_cpu, 3),
        "put_alias_s": round(put_seconds, 4),
        "download_s": round(download, 4),
        "goal_s": round(args.interval + download, 3),
        "all_served_s": round(max(delays), 3),
        "all_served_after_put_returned_s": round(max(delays) - put_seconds, 3),
        "median_served_s": round(statistics.median(delays), 3),
        "p99_served_s": round(_percentile(delays, 0.99), 3),
        "served_deciles_s": [round(_percentile(delays, d / 10), 2) for d in range(11)],
        "change_downloads_s": [(round(a, 3), round(b, 3)) for a, b in fetched],
        "change_requests_per_follower": round(sum(change_requests.values()) / count, 2),
        "change_requests": change_requests,
        "change_statuses": {f"{op} {code}": n for (op, code), n in sorted(change_statuses.items())},
        "picks_checked": checker.checked,
        "bad_picks": len(checker.bad),
        "bad_pick_examples": checker.bad[:5],
    }


@contextlib.contextmanager
def _server(kind: str) -> Iterator[str]:
    if kind == "moto":
        with LocalS3() as moto:
            yield moto.endpoint_url
    else:
        with LocalWeed() as weed:
            yield weed.endpoint_url


def format_table(rows: list[dict[str, Any]]) -> str:
    header = (
        "| server | N | idle GETs / follower / min (304 share) | put_alias -> all serve "
        "(median, p99) | goal (interval + download) | bad picks / checked |\n"
        "| --- | ---: | ---: | ---: | ---: | ---: |"
    )
    lines = [header]
    for row in rows:
        gets = sum(n for key, n in row["idle_statuses"].items() if key.startswith("GetObject"))
        not_modified = row["idle_statuses"].get("GetObject 304", 0)
        share = f"{not_modified / gets:.0%}" if gets else "-"
        lines.append(
            f"| {row['server']} | {row['followers']} "
            f"| {row['idle_requests_per_follower_per_minute']} ({share}) "
            f"| {row['all_served_s']:.2f} s ({row['median_served_s']:.2f}, "
            f"{row['p99_served_s']:.2f}) "
            f"| {row['goal_s']:.2f} s | {row['bad_picks']} / {row['picks_checked']} |"
        )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> dict[str, Any]:
    machine = machine_info()
    rows = []
    with local_aws_environment():
        for kind in args.servers:
            with _server(kind) as endpoint:
                for count in args.counts:
                    row = asyncio.run(run_case(endpoint, kind, count, args))
                    print(json.dumps(row), file=sys.stderr, flush=True)
                    rows.append(row)
    document = {"meta": {**machine, "args": {**vars(args), "out": str(args.out)}}, "results": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "followers.json").write_text(json.dumps(document, indent=2) + "\n")
    print(format_table(rows))
    return document


def main(argv: list[str] | None = None) -> int:
    run(parse_args(argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
