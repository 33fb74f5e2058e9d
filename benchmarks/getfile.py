"""``python -m benchmarks.getfile``: ``aioversioned get -o FILE`` against ``get > FILE``.

For each server (a local moto server and a local SeaweedFS) and each size (64 and 300
MiB), one version is written, then the command line downloads it ``--runs`` times (3)
each way into a file on disk: ``-o`` (``download_artifact``) and stdout redirected to a
file (``iter_artifact_content``). Reported: the median seconds of each, start-up
included (the same in both). ``--against DIR`` runs the command line of the package in
DIR (a checkout of an older commit).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from aioversioned import AsyncRepository

from .cli import local_aws_environment
from .followers import _server

MiB = 1 << 20
_RUN = "import sys; from aioversioned.cli import main; sys.argv[0] = 'aioversioned'; main()"


async def write_version(endpoint: str, bucket: str, name: str, size: int) -> None:
    async with AsyncRepository(bucket, endpoint_url=endpoint, aws_region="us-east-1") as repo:
        await repo.bootstrap()
        await repo.put_artifact(name, os.urandom(size))


def seconds(argv: list[str], stdout: Path | None, against: Path | None) -> float:
    env = dict(os.environ)
    if against is not None:
        env["PYTHONPATH"] = str(against)
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(stdout.open("wb")) if stdout else subprocess.DEVNULL
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", _RUN, *argv],
            stdout=out,
            env=env,
            cwd=against or Path.cwd(),
            check=True,
            timeout=600,
        )
        return time.perf_counter() - start


def run_case(
    endpoint: str, size: int, runs: int, against: Path | None
) -> Iterator[tuple[str, float]]:
    bucket, name = f"bench-get-{uuid.uuid4().hex[:12]}", "blob"
    asyncio.run(write_version(endpoint, bucket, name, size))
    where = ["--bucket", bucket, "--endpoint-url", endpoint]
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "out.bin"
        for way in ("-o", "stdout"):
            times = []
            for _ in range(runs):
                target.unlink(missing_ok=True)
                if way == "-o":
                    times.append(seconds(["get", name, "-o", str(target), *where], None, against))
                else:
                    times.append(seconds(["get", name, *where], target, against))
                if target.stat().st_size != size:
                    raise RuntimeError(f"{way}: {target.stat().st_size} bytes, not {size}")
            yield way, statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.getfile", description=__doc__)
    parser.add_argument("--sizes", default="64,300", help="MiB (64,300)")
    parser.add_argument("--servers", default="moto,seaweedfs", help="moto and/or seaweedfs")
    parser.add_argument("--runs", type=int, default=3, help="runs of each way (3)")
    parser.add_argument("--against", type=Path, help="run the package in DIR")
    args = parser.parse_args(argv)
    print(f"load average {os.getloadavg()[0]:.1f}")
    print("| server | size | `get -o FILE` | `get > FILE` |\n| --- | ---: | ---: | ---: |")
    with local_aws_environment():
        for kind in args.servers.split(","):
            with _server(kind) as endpoint:
                for size in (int(mib) * MiB for mib in args.sizes.split(",")):
                    medians = dict(run_case(endpoint, size, args.runs, args.against))
                    print(
                        f"| {kind} | {size // MiB} MiB | {medians['-o']:.2f} s "
                        f"| {medians['stdout']:.2f} s |",
                        flush=True,
                    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
