"""``python -m benchmarks.fanout``: N readers of one version, in one process and in several.

One version of ``--size`` bytes (16 MiB) is written once per server; then each case runs
in fresh processes, each reset its peak RSS (Linux ``/proc/self/clear_refs``) just
before the reads:

* one process, N tasks (``--readers``: 1, 10, 50) calling ``get_artifact_content`` on
  that version at once, without and with a ``cache_dir``;
* P processes (``--processes``: 1, 4), each one reader, sharing one ``cache_dir``.

Reported per case: GETs sent (all processes together), the peak RSS over the process's
RSS just before the reads (the largest of the processes), and the wall time of the
reads. The goal: at most twice the artifact's size over the baseline, one GET per host.
``--against DIR`` runs the readers on the package in DIR (a checkout of an older
commit) for a before/after comparison. Writes ``fanout.json`` to ``--out``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aioversioned import AsyncRepository
from aioversioned._local import LocalS3

from .cli import local_aws_environment
from .report import machine_info
from .weed import LocalWeed

MiB = 1 << 20
REGION = "us-east-1"
NAME = "weights"
CHILD_TIMEOUT = 600.0

# One reader process: waits for the start file, reads, prints its figures as JSON.
_READER = """
import asyncio, json, os, sys, time
from aioversioned import AsyncRepository

endpoint, bucket, cache_dir, readers, start = sys.argv[1:6]

def status_mib(field):
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith(field + ":"))
    return int(line.split()[1]) / 1024

def reset_peak():  # Linux: the peak RSS (VmHWM) starts again from the current RSS
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")

async def main():
    gets = 0
    def count(**_):
        nonlocal gets
        gets += 1
    async with AsyncRepository(
        bucket, "bench", endpoint_url=endpoint, aws_region="us-east-1",
        cache_dir=cache_dir or None,
    ) as repo:
        repo._s3._client.meta.events.register("before-send.s3.GetObject", count)
        await repo._s3.ensure_bucket()  # connected before the start
        print("ready", flush=True)
        deadline = time.monotonic() + 600
        while not os.path.exists(start):
            if time.monotonic() > deadline:
                raise SystemExit("no start")
            await asyncio.sleep(0.005)
        reset_peak()  # the start-up's peak (botocore's models) is not the reads'
        baseline = status_mib("VmRSS")
        began = time.perf_counter()
        results = await asyncio.gather(
            *(repo.get_artifact_content("weights", 1) for _ in range(int(readers)))
        )
        seconds = time.perf_counter() - began
        distinct = len({id(result) for result in results})
    print(json.dumps({"gets": gets, "baseline_mib": baseline, "peak_mib": status_mib("VmHWM"),
                      "seconds": seconds, "distinct_objects": distinct}), flush=True)

asyncio.run(main())
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.fanout",
        description="N concurrent readers of one version: GETs and peak RSS",
    )
    parser.add_argument("--readers", default="1,10,50", help="tasks in one process")
    parser.add_argument("--processes", default="1,4", help="processes sharing a cache_dir")
    parser.add_argument("--servers", default="moto", help="moto and/or seaweedfs")
    parser.add_argument("--size", type=int, default=16 * MiB, help="artifact bytes (16 MiB)")
    parser.add_argument("--against", type=Path, help="run the readers on the package in DIR")
    parser.add_argument("--out", type=Path, default=Path("docs"), help="output folder")
    args = parser.parse_args(argv)
    try:
        args.readers = [int(n) for n in args.readers.split(",")]
        args.processes = [int(n) for n in args.processes.split(",")]
    except ValueError:
        parser.error("--readers and --processes must be integers separated by commas")
    args.servers = [server.strip() for server in args.servers.split(",") if server.strip()]
    if unknown := set(args.servers) - {"moto", "seaweedfs"}:
        parser.error(f"unknown servers {sorted(unknown)}")
    return args


def run_readers(
    endpoint: str, bucket: str, cache_dir: str, readers: int, processes: int, against: Path | None
) -> dict[str, Any]:
    """``processes`` reader processes of ``readers`` tasks each, started together."""
    with tempfile.TemporaryDirectory() as folder:
        start = os.path.join(folder, "start")
        env = dict(os.environ)
        if against is not None:
            env["PYTHONPATH"] = str(against)
        children = [
            subprocess.Popen(
                [sys.executable, "-c", _READER, endpoint, bucket, cache_dir, str(readers), start],
                stdout=subprocess.PIPE,
                text=True,
                env=env,
                cwd=against or folder,
            )
            for _ in range(processes)
        ]
        try:
            for child in children:  # each is connected and waits for the start file
                assert child.stdout is not None
                if child.stdout.readline().strip() != "ready":
                    raise RuntimeError("a reader process failed to start")
            Path(start).touch()
            reports = []
            for child in children:
                out, _ = child.communicate(timeout=CHILD_TIMEOUT)
                if child.returncode != 0:
                    raise RuntimeError(f"a reader process failed ({child.returncode})")
                reports.append(json.loads(out.strip().splitlines()[-1]))
        finally:
            for child in children:
                if child.poll() is None:
                    child.kill()
                    child.wait(10)
    return {
        "gets": sum(r["gets"] for r in reports),
        "peak_over_baseline_mib": round(max(r["peak_mib"] - r["baseline_mib"] for r in reports), 1),
        "seconds": round(max(r["seconds"] for r in reports), 3),
        "distinct_objects": max(r["distinct_objects"] for r in reports),
    }


async def write_version(endpoint: str, bucket: str, size: int) -> None:
    async with AsyncRepository(bucket, "bench", endpoint_url=endpoint, aws_region=REGION) as repo:
        await repo.bootstrap()
        await repo.put_artifact(NAME, os.urandom(size))
        await repo.publish_artifact_version(NAME)


@contextlib.contextmanager
def _server(kind: str) -> Iterator[str]:
    if kind == "moto":
        with LocalS3() as moto:
            yield moto.endpoint_url
    else:
        with LocalWeed() as weed:
            yield weed.endpoint_url


def cases(args: argparse.Namespace) -> Iterator[tuple[str, int, int]]:
    """(cache, readers per process, processes) of every case."""
    for cache in ("no", "yes"):
        for readers in args.readers:
            yield cache, readers, 1
    for processes in args.processes:
        yield "shared", 1, processes


def run(args: argparse.Namespace) -> dict[str, Any]:
    rows = []
    with local_aws_environment():
        for kind in args.servers:
            with _server(kind) as endpoint:
                bucket = f"bench-fanout-{uuid.uuid4().hex[:12]}"
                asyncio.run(write_version(endpoint, bucket, args.size))
                for cache, readers, processes in cases(args):
                    with tempfile.TemporaryDirectory() as cache_dir:
                        row = {
                            "server": kind,
                            "cache": cache,
                            "readers": readers,
                            "processes": processes,
                            "artifact_mib": round(args.size / MiB, 1),
                            **run_readers(
                                endpoint,
                                bucket,
                                cache_dir if cache != "no" else "",
                                readers,
                                processes,
                                args.against,
                            ),
                        }
                    print(json.dumps(row), file=sys.stderr, flush=True)
                    rows.append(row)
    document = {
        "meta": {**machine_info(), "args": {k: str(v) for k, v in vars(args).items()}},
        "results": rows,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "fanout.json").write_text(json.dumps(document, indent=2) + "\n")
    print(format_table(rows))
    return document


def format_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| server | cache_dir | processes x readers | GETs | peak RSS over baseline | "
        "bytes objects | seconds |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        lines.append(
            f"| {row['server']} | {row['cache']} | {row['processes']} x {row['readers']} "
            f"| {row['gets']} | {row['peak_over_baseline_mib']} MiB "
            f"| {row['distinct_objects']} | {row['seconds']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    run(parse_args(argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
