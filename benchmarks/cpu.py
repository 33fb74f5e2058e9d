"""``python -m benchmarks.cpu``: the client's own CPU per request, library vs floor.

The server (SeaweedFS by default) runs in another process, so the CPU time of this
process (``time.process_time``: all its threads) over a batch of calls is what the
client spends. Each batch runs ``--concurrency`` calls at a time through
:class:`aioversioned.AsyncRepository` and through a hand-written aiobotocore floor that
sends the same requests; rounds alternate the two and the median round counts.

* HEAD: ``get_artifact_version`` of a numbered version / ``head_object``.
* GET: ``get_artifact_content`` of a 1 KiB version (sha256 checked) / ``get_object``,
  read, sha256 checked.
* PUT: ``put_artifact`` of 1 KiB to a new name (a HEAD of LATEST, then the PUT) / the
  same HEAD and PUT with the sha256 in metadata.
* LIST page: one page of 1,000 keys through the library's S3 layer / ``list_objects_v2``.
* ``list_artifact_versions`` of 1,000 versions (4 requests) / the floor of the
  benchmarks' scenario (same 4 requests).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import signal
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession

from aioversioned import AsyncRepository
from aioversioned._local import LocalS3

from . import report
from .cli import local_aws_environment
from .counting import RequestCounter
from .scale import PREFIX, REGION, seed_versions
from .scenarios import Floor, ListVersions
from .store import SHA256_KEY, published_dir, version_key
from .weed import LocalWeed

NAME = "cpu"
VERSIONS = 1_000
GOAL = 1.3


async def _batch(calls: Iterator[Callable[[], Awaitable[Any]]], concurrency: int) -> None:
    async def worker() -> None:
        for call in calls:
            await call()

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def _measure(
    make: Callable[[int], Callable[[], Awaitable[Any]]],
    count: int,
    concurrency: int,
    counter: RequestCounter,
) -> tuple[float, float, int]:
    """(CPU seconds, wall seconds, requests) of ``count`` calls."""
    counter.reset()
    cpu, wall = time.process_time(), time.perf_counter()
    await _batch((make(i) for i in range(count)), concurrency)
    return time.process_time() - cpu, time.perf_counter() - wall, counter.total


async def run_async(server_url: str, args: argparse.Namespace) -> dict[str, Any]:
    machine = report.machine_info()
    bucket = f"cpu-{uuid.uuid4().hex[:10]}"
    config = AioConfig(max_pool_connections=64)
    async with (
        AioSession().create_client(
            "s3", region_name=REGION, endpoint_url=server_url, config=config
        ) as client,
        AsyncRepository(bucket, PREFIX, endpoint_url=server_url, aws_region=REGION) as repo,
    ):
        await client.create_bucket(Bucket=bucket)
        versions = getattr(args, "versions", VERSIONS)
        await seed_versions(client, bucket, NAME, [None, *range(1, versions + 1)])
        body_1k = b"k" * 1024
        digest_1k = hashlib.sha256(body_1k).hexdigest()
        await client.put_object(
            Bucket=bucket,
            Key=version_key(PREFIX, NAME, 1),
            Body=body_1k,
            Metadata={SHA256_KEY: digest_1k},
        )
        await repo.get_artifact_version(NAME, 2)  # credentials, endpoint
        counters = {"lib": RequestCounter(), "floor": RequestCounter()}
        counters["lib"].attach(repo._s3._client)  # benchmark-only reach into the library
        counters["floor"].attach(client)
        floor = Floor(client, bucket, PREFIX)
        records = published_dir(PREFIX, NAME)
        run_id = uuid.uuid4().hex[:6]

        async def floor_get(number: int) -> bytes:
            resp = await client.get_object(Bucket=bucket, Key=version_key(PREFIX, NAME, number))
            async with resp["Body"] as stream:
                data: bytes = await stream.read()
            if hashlib.sha256(data).hexdigest() != resp["Metadata"][SHA256_KEY]:
                raise AssertionError("bad content")
            return data

        async def floor_put(key: str) -> None:
            with contextlib.suppress(client.exceptions.ClientError):
                await client.head_object(Bucket=bucket, Key=key)
            await client.put_object(
                Bucket=bucket, Key=key, Body=body_1k, Metadata={SHA256_KEY: digest_1k}
            )

        async def lib_page() -> None:
            async for _page in repo._s3.pages(records):
                break

        async def floor_page() -> None:
            await client.list_objects_v2(Bucket=bucket, Prefix=records)

        async def lib_versions() -> None:
            assert len(await repo.list_artifact_versions(NAME)) == versions + 1

        async def floor_versions() -> None:
            assert len(await _floor_versions(floor, versions)) == versions + 1

        kinds: dict[str, tuple[int, dict[str, Callable[[int], Callable[[], Awaitable[Any]]]]]] = {
            "HEAD": (
                args.count,
                {
                    "lib": lambda i: lambda: repo.get_artifact_version(NAME, i % versions + 1),
                    "floor": lambda i: (
                        lambda: client.head_object(
                            Bucket=bucket, Key=version_key(PREFIX, NAME, i % versions + 1)
                        )
                    ),
                },
            ),
            "GET 1 KiB": (
                args.count,
                {
                    "lib": lambda i: lambda: repo.get_artifact_content(NAME, 1),
                    "floor": lambda i: lambda: floor_get(1),
                },
            ),
            "PUT 1 KiB (HEAD + PUT)": (
                args.count // 2,
                {
                    "lib": lambda i: lambda: repo.put_artifact(f"p{run_id}-{i}", body_1k),
                    "floor": lambda i: (
                        lambda: floor_put(version_key(PREFIX, f"f{run_id}-{i}", None))
                    ),
                },
            ),
            "LIST page of 1000 keys": (
                args.count // 10,
                {"lib": lambda i: lib_page, "floor": lambda i: floor_page},
            ),
            "list_artifact_versions 1000 (4 requests)": (
                args.count // 40,
                {"lib": lambda i: lib_versions, "floor": lambda i: floor_versions},
            ),
        }
        rows = []
        only = getattr(args, "only", None)
        for kind, (count, makers) in kinds.items():
            if only and not any(kind.startswith(prefix) for prefix in only):
                continue
            per_request: dict[str, list[float]] = {"lib": [], "floor": []}
            walls: dict[str, list[float]] = {"lib": [], "floor": []}
            requests: dict[str, int] = {}
            for round_index in range(args.rounds):
                order = ("lib", "floor") if round_index % 2 == 0 else ("floor", "lib")
                for who in order:
                    # New names every round (a put of the same bytes is a no-op).
                    base = (round_index + 1) * 1_000_000
                    cpu, wall, sent = await _measure(
                        partial(_shifted, makers[who], base), count, args.concurrency, counters[who]
                    )
                    per_request[who].append(cpu / sent * 1e6)
                    walls[who].append(wall)
                    requests[who] = sent
            lib_us = statistics.median(per_request["lib"])
            floor_us = statistics.median(per_request["floor"])
            row = {
                "request": kind,
                "calls": count,
                "requests": requests,
                "lib_us_per_request": round(lib_us, 1),
                "floor_us_per_request": round(floor_us, 1),
                "ratio": round(lib_us / floor_us, 3),
                "met": lib_us / floor_us <= GOAL,
                "lib_rounds_us": [round(x, 1) for x in per_request["lib"]],
                "floor_rounds_us": [round(x, 1) for x in per_request["floor"]],
                "lib_wall_s": round(statistics.median(walls["lib"]), 3),
                "floor_wall_s": round(statistics.median(walls["floor"]), 3),
            }
            rows.append(row)
            print(
                f"{kind:<42} lib {lib_us:8.1f} us  floor {floor_us:8.1f} us  "
                f"ratio {lib_us / floor_us:5.2f}  ({requests})",
                file=sys.stderr,
                flush=True,
            )
    return {
        "meta": {
            **machine,
            "loadavg_end": report.load_average(),
            "concurrency": args.concurrency,
            "rounds": args.rounds,
            "goal": f"library within {GOAL}x of the floor's CPU per request",
        },
        "results": rows,
    }


def _shifted(
    make: Callable[[int], Callable[[], Awaitable[Any]]], base: int, i: int
) -> Callable[[], Awaitable[Any]]:
    return make(base + i)


class _Listing(ListVersions):
    """The benchmarks' list_artifact_versions floor, on this module's artifact."""

    @property
    def name(self) -> str:
        return NAME


async def _floor_versions(floor: Floor, versions: int) -> Any:
    return await _Listing(versions).floor(floor, None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cpu", description=__doc__)
    parser.add_argument("--server", choices=("seaweedfs", "moto"), default="seaweedfs")
    parser.add_argument("--count", type=int, default=2000, help="HEADs and GETs per round")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--versions", type=int, default=VERSIONS, help="of the listed artifact")
    parser.add_argument("--only", default="", help="comma list: HEAD,GET,PUT,LIST,list_")
    parser.add_argument("--out", type=Path, default=Path("docs"))
    args = parser.parse_args(argv)
    # A terminated run still stops the servers and proxies it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    args.only = [kind for kind in args.only.split(",") if kind]
    with local_aws_environment(), contextlib.ExitStack() as stack:
        server = stack.enter_context(LocalWeed() if args.server == "seaweedfs" else LocalS3())
        document = asyncio.run(run_async(server.endpoint_url, args))
    document["meta"]["server"] = args.server
    report.write_json(args.out / "cpu.json", document)
    for row in document["results"]:
        verdict = "met" if row["met"] else "NOT met"
        print(
            f"{row['request']:<42} {row['lib_us_per_request']:8.1f} us vs floor "
            f"{row['floor_us_per_request']:8.1f} us: {row['ratio']:.2f}x ({verdict})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
