"""``python -m benchmarks.putsizes``: put_artifact from 1 to 64 MiB, one PUT vs multipart.

For each server (moto, SeaweedFS), delay (0 and 20 ms, through the delaying proxy) and
size, ``put_artifact`` of new random bytes by:

* ``peer``: ``versioned`` 1.0.1 (boto3 ``put_object``, one request for the bytes);
* ``single``: aioversioned with the threshold above the size (one PUT);
* ``mp8`` / ``mp16``: aioversioned multipart with 8 / 16 MiB parts (sizes above a part).

Runs are interleaved; the median of ``--repeat`` counts. The figures choose the
default ``multipart_threshold`` and ``multipart_chunksize``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import os
import signal
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from boto_session_manager import BotoSesManager
from versioned.api import s3_only_backend

from aioversioned import AsyncRepository
from aioversioned._local import LocalS3

from . import report
from .cli import local_aws_environment
from .proxy import KEEP_ALIVE_UPSTREAM_SLOTS, UPSTREAM_SLOTS, DelayProxy
from .weed import LocalWeed

MiB = 1 << 20
REGION = "us-east-1"
PREFIX = "putsizes"
SIZES_MIB = (1, 4, 8, 16, 24, 32, 64)
PARTS_MIB = (8, 16)
NO_MULTIPART = 5 * 1024 * MiB


@contextlib.contextmanager
def _server(kind: str) -> Iterator[str]:
    with LocalWeed() if kind == "seaweedfs" else LocalS3() as server:
        yield server.endpoint_url


async def _measure(
    url: str,
    bucket: str,
    sizes: list[int],
    repeat: int,
    kind: str,
    delay: float,
    mbps: float | None = None,
) -> list[dict[str, Any]]:
    bsm = BotoSesManager(region_name=REGION, default_client_kwargs={"endpoint_url": url})
    peer = s3_only_backend.Repository(aws_region=REGION, s3_bucket=bucket, s3_prefix=PREFIX)
    rows: list[dict[str, Any]] = []
    async with contextlib.AsyncExitStack() as stack:
        repos = {
            "single": await stack.enter_async_context(
                AsyncRepository(
                    bucket,
                    PREFIX,
                    endpoint_url=url,
                    aws_region=REGION,
                    multipart_threshold=NO_MULTIPART,
                )
            )
        }
        for part in PARTS_MIB:
            repos[f"mp{part}"] = await stack.enter_async_context(
                AsyncRepository(
                    bucket,
                    PREFIX,
                    endpoint_url=url,
                    aws_region=REGION,
                    multipart_threshold=part * MiB,
                    multipart_chunksize=part * MiB,
                )
            )
        for repo in repos.values():
            await repo.bootstrap()  # credentials and endpoint resolution
        peer.bootstrap(bsm)
        try:
            for size_mib in sizes:
                contenders = ["peer", "single"] + [
                    f"mp{p}" for p in PARTS_MIB if size_mib * MiB > p * MiB
                ]
                times: dict[str, list[float]] = {name: [] for name in contenders}
                for rep in range(repeat):
                    turn = rep % len(contenders)
                    order = contenders[turn:] + contenders[:turn]
                    for name in order:
                        body = os.urandom(size_mib * MiB)
                        digest = hashlib.sha256(body).hexdigest()
                        artifact = f"put-{name}"
                        start = time.perf_counter()
                        if name == "peer":
                            got = peer.put_artifact(bsm, artifact, body).sha256
                        else:
                            got = (await repos[name].put_artifact(artifact, body)).sha256
                        times[name].append((time.perf_counter() - start) * 1000)
                        if got != digest:
                            raise AssertionError(f"{name}: wrong sha256")
                        del body
                medians = {name: statistics.median(t) for name, t in times.items()}
                for name, median in medians.items():
                    rows.append(
                        {
                            "server": kind,
                            "delay_ms": delay,
                            "upload_mbps_per_connection": mbps,
                            "size_mib": size_mib,
                            "contender": name,
                            "median_ms": round(median, 1),
                            "times_ms": [round(t, 1) for t in times[name]],
                            "vs_peer": round(medians["peer"] / median, 3),
                        }
                    )
                line = "  ".join(f"{n} {m:7.1f}" for n, m in medians.items())
                print(f"{kind} {delay:g} ms {size_mib} MiB  {line}", file=sys.stderr, flush=True)
        finally:
            bsm.s3_client.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.putsizes", description=__doc__)
    parser.add_argument("--servers", default="moto,seaweedfs")
    parser.add_argument("--delays", default="0,20")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES_MIB)), help="MiB")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--mbps",
        type=float,
        default=None,
        help="limit each connection's uploads to this many MB/s (as a remote S3 does)",
    )
    parser.add_argument("--out", type=Path, default=Path("docs"))
    args = parser.parse_args(argv)
    # A terminated run still stops the servers and proxies it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    delays = [float(d) for d in args.delays.split(",")]
    sizes = [int(s) for s in args.sizes.split(",")]
    machine = report.machine_info()
    rows: list[dict[str, Any]] = []
    with local_aws_environment():
        for kind in args.servers.split(","):
            with _server(kind) as url:
                import boto3

                bucket = f"putsizes-{kind}"
                boto3.client("s3", endpoint_url=url, region_name=REGION).create_bucket(
                    Bucket=bucket
                )
                port = urlsplit(url).port
                assert port is not None
                slots = UPSTREAM_SLOTS if kind == "moto" else KEEP_ALIVE_UPSTREAM_SLOTS
                for delay in delays:
                    with DelayProxy(port, delay, slots=slots, upload_mbps=args.mbps) as proxy:
                        rows += asyncio.run(
                            _measure(proxy.url, bucket, sizes, args.repeat, kind, delay, args.mbps)
                        )
    document = {
        "meta": {
            **machine,
            "repeat": args.repeat,
            "upload_mbps_per_connection": args.mbps,
            "loadavg_end": report.load_average(),
        },
        "results": rows,
    }
    suffix = f"-{args.mbps:g}mbps" if args.mbps else ""
    report.write_json(args.out / f"putsizes{suffix}.json", document)
    for row in rows:
        print(
            f"{row['server']:<9} {row['delay_ms']:>3g} ms {row['size_mib']:>3} MiB "
            f"{row['contender']:<7} {row['median_ms']:8.1f} ms  x{row['vs_peer']:.2f} vs peer"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
