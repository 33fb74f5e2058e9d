"""``python -m benchmarks``: start moto and the delaying proxies, run, report."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession

from aioversioned._local import LocalS3, fake_credentials

from . import report, scale
from .plot import write_plot
from .proxy import KEEP_ALIVE_UPSTREAM_SLOTS as KEEP_ALIVE_SLOTS
from .proxy import UPSTREAM_SLOTS, DelayProxy
from .runner import REGION, Measurement, measure, open_contenders
from .scenarios import SCENARIOS, build_cases
from .store import SEED_CONCURRENCY, Store
from .weed import LocalWeed

PREFIX = "bench"
NOTES = {
    "proxy": (
        "loopback proxy in its own process; each HTTP request is held for the delay once "
        "its head arrived, then forwarded to the server named under 'server'"
    ),
    "requests": "counted per contender with botocore 'before-send.s3' hooks on its client",
    "floor": (
        "hand-written aiobotocore, unbounded concurrency, fewest requests that return "
        "the same information as the API (e.g. a HEAD per listed version for its sha256)"
    ),
    "runs": "each contender repeats until --repeat runs or --budget seconds on that case",
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="aioversioned vs versioned 1.0.1 vs a hand-written floor, on local moto",
    )
    parser.add_argument("--delays", default="0,20", help="per-request delays in ms (0,20)")
    parser.add_argument("--repeat", type=int, default=None, help="runs per case (5; quick 2)")
    parser.add_argument(
        "--budget",
        type=float,
        default=None,
        help="seconds after which a contender stops repeating a case (6; quick 2)",
    )
    parser.add_argument("--quick", action="store_true", help="tiny cases, few runs (tests)")
    parser.add_argument(
        "--download-mbps",
        type=float,
        default=None,
        help="hold each connection's responses to this many MB/s, as a remote S3 does (none)",
    )
    parser.add_argument(
        "--scenarios", default=",".join(SCENARIOS), help=f"comma list of {', '.join(SCENARIOS)}"
    )
    parser.add_argument("--out", type=Path, default=Path("docs"), help="output folder (docs)")
    parser.add_argument("--no-plot", action="store_true", help="skip the PNG")
    parser.add_argument(
        "--endpoint",
        default=None,
        help="use this running S3 server on 127.0.0.1 instead of starting one",
    )
    parser.add_argument(
        "--server",
        choices=("moto", "seaweedfs"),
        default=None,
        help="server to start, or what --endpoint is (moto; seaweedfs with --scale)",
    )
    parser.add_argument(
        "--scale",
        action="store_true",
        help="the scale run instead (N up to 100,000; 11 to 47 minutes on 2 cores, by load)",
    )
    parser.add_argument(
        "--scale-max", type=int, default=100_000, help="largest N of the scale run (100000)"
    )
    parser.add_argument(
        "--scale-groups",
        default="versions,aliases,names",
        help="comma list of versions, aliases, names",
    )
    args = parser.parse_args(argv)
    try:
        args.delays = [float(d) for d in args.delays.split(",") if d.strip()]
    except ValueError:
        parser.error(f"--delays must be numbers, got {args.delays!r}")
    if not args.delays or any(d < 0 for d in args.delays):
        parser.error("--delays needs at least one delay >= 0")
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    if unknown := [s for s in args.scenarios if s not in SCENARIOS]:
        parser.error(f"unknown scenarios {unknown}; choose from {list(SCENARIOS)}")
    if args.repeat is None:
        args.repeat = 2 if args.quick else 5
    if args.budget is None:
        args.budget = 2.0 if args.quick else 6.0
    if args.repeat < 1:
        parser.error("--repeat must be >= 1")
    args.scale_groups = [g.strip() for g in args.scale_groups.split(",") if g.strip()]
    if unknown := [g for g in args.scale_groups if g not in ("versions", "aliases", "names")]:
        parser.error(f"unknown scale groups {unknown}")
    if args.server is None:
        args.server = "seaweedfs" if args.scale else "moto"
    if args.endpoint is not None and urlsplit(args.endpoint).hostname not in ("127.0.0.1",):
        parser.error("--endpoint must be an http://127.0.0.1:PORT server")
    return args


@contextlib.contextmanager
def local_aws_environment() -> Iterator[None]:
    """Fake credentials and no AWS config for the duration; the old environment returns."""
    saved = dict(os.environ)
    try:
        for name in [n for n in os.environ if n.startswith("AWS_")]:
            del os.environ[name]
        os.environ.update(fake_credentials())
        os.environ["AWS_CONFIG_FILE"] = os.devnull
        os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
        os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


async def _server_speed(store: Store) -> dict[str, float]:
    """How fast the server itself answers HEADs, without the proxy: it bounds every
    contender, since the single-threaded server does one request at a time."""
    key = f"{PREFIX}/_calibration"
    await store.put(key, b"x")
    sequential = []
    for _ in range(20):
        start = time.perf_counter()
        await store.client.head_object(Bucket=store.bucket, Key=key)
        sequential.append((time.perf_counter() - start) * 1000)
    count = 200
    start = time.perf_counter()
    await asyncio.gather(
        *(store.client.head_object(Bucket=store.bucket, Key=key) for _ in range(count))
    )
    elapsed = time.perf_counter() - start
    return {
        "sequential_head_ms": round(statistics.median(sequential), 3),
        "concurrent_heads_per_second": round(count / elapsed, 1),
    }


async def run_async(
    args: argparse.Namespace, server_url: str, proxies: dict[float, DelayProxy]
) -> dict[str, Any]:
    """Seed, measure every case at every delay, and build the results document."""
    machine = report.machine_info()  # before the run: its date and load average
    bucket = f"bench-{uuid.uuid4().hex[:16]}"
    config = AioConfig(max_pool_connections=SEED_CONCURRENCY)
    async with AioSession().create_client(
        "s3", region_name=REGION, endpoint_url=server_url, config=config
    ) as direct:
        await direct.create_bucket(Bucket=bucket)
        store = Store(bucket, PREFIX, direct, server_url)
        speed = await _server_speed(store)
        print(f"server without proxy: {speed}", file=sys.stderr, flush=True)
        measurements: list[Measurement] = []
        async with contextlib.AsyncExitStack() as stack:
            contenders = {
                delay: await stack.enter_async_context(
                    open_contenders(proxies[delay].url, bucket, PREFIX, delay)
                )
                for delay in args.delays
            }
            for case in build_cases(args.scenarios, args.quick):
                start = time.monotonic()
                await case.seed(store)
                print(
                    f"{case.label}: seeded in {time.monotonic() - start:.1f} s",
                    file=sys.stderr,
                    flush=True,
                )
                for delay in args.delays:
                    measurements += await measure(
                        case, store, contenders[delay], args.repeat, args.budget
                    )
    rows = report.result_rows(measurements)
    meta = {
        **machine,
        "args": {
            "delays_ms": args.delays,
            "repeat": args.repeat,
            "budget_s": args.budget,
            "quick": args.quick,
            "scenarios": args.scenarios,
            "download_mbps_per_connection": args.download_mbps,
        },
        "server": {"kind": _server_kind(args), **speed},
        "notes": NOTES,
    }
    return {"meta": meta, "results": rows, "goals": report.evaluate_goals(rows)}


def _server_kind(args: argparse.Namespace) -> str:
    if args.endpoint:
        return f"{args.server} at {args.endpoint}"
    return "SeaweedFS (weed server)" if args.server == "seaweedfs" else "moto (LocalS3)"


def _start_server(args: argparse.Namespace, stack: contextlib.ExitStack) -> str:
    if args.endpoint:
        return str(args.endpoint).rstrip("/")
    if args.server == "seaweedfs":
        return stack.enter_context(LocalWeed()).endpoint_url
    return stack.enter_context(LocalS3()).endpoint_url


def run_scale(args: argparse.Namespace) -> dict[str, Any]:
    """The scale run: large stores seeded directly, one call per operation and N."""
    sizes = scale.scale_sizes(args.quick, args.scale_max, args.scale_groups)
    with local_aws_environment(), contextlib.ExitStack() as stack:
        server_url = _start_server(args, stack)
        document = scale.run(server_url, args.out, sizes, args.delays, plot=not args.no_plot)
    document["meta"]["server"] = _server_kind(args)
    report.write_json(args.out / "scale.json", document)
    return document


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Start the servers, run everything, write JSON (and PNG), print the table."""
    if args.scale:
        return run_scale(args)
    started = time.monotonic()
    with local_aws_environment(), contextlib.ExitStack() as stack:
        server_url = _start_server(args, stack)
        port = urlsplit(server_url).port
        if port is None:
            raise SystemExit(f"no port in {server_url!r}")
        # moto's listen backlog needs the proxy's cap; a keep-alive server does not.
        slots = UPSTREAM_SLOTS if args.server == "moto" else KEEP_ALIVE_SLOTS
        proxies = {
            delay: stack.enter_context(
                DelayProxy(port, delay, slots=slots, download_mbps=args.download_mbps)
            )
            for delay in args.delays
        }
        document = asyncio.run(run_async(args, server_url, proxies))
    document["meta"]["wall_seconds"] = round(time.monotonic() - started, 1)
    document["meta"]["loadavg_end"] = report.load_average()
    report.write_json(args.out / "benchmarks.json", document)
    if not args.no_plot:
        write_plot(args.out / "img" / "benchmarks.png", document["results"])
    print(report.format_table(document["results"]))
    print(report.format_goals(document["goals"]))
    return document


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m benchmarks``."""
    # A terminated run still stops the servers and proxies it started (their exits run).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    run(parse_args(argv))
    return 0
