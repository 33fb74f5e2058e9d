"""``python -m benchmarks.transfer``: memory, throughput and fan-out of large artifacts.

Prints, against a local single-threaded moto server (``aioversioned._local.LocalS3``):

* peak RSS (VmHWM) of the CLIENT process uploading and downloading a large file
  through ``Repository`` (each measurement in a fresh child process; moto keeps
  objects in its own memory, which is not counted);
* throughput of a multipart upload and a ranged download through ``AsyncRepository``
  as a ratio to one plain aiobotocore PUT / GET of the same bytes, in the same run;
* fan-out: concurrent ``get_alias_content`` calls for one artifact with a cold and a
  warm content cache: requests sent and wall time.

Figures are measured, not asserted. Mind moto: it serves a ranged GET by reading the
whole object (``FakeKey.value``), so on moto a ranged download costs parts x size, a
cost real S3 does not have; the one-GET download row shows the library apart from it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiobotocore.session import AioSession

from aioversioned import AsyncRepository, Repository
from aioversioned._local import LocalS3, fake_credentials

MiB = 1 << 20
REGION = "us-east-1"


def _write_file(path: Path, size: int) -> None:
    with path.open("wb") as file:
        for start in range(0, size, 64 * MiB):
            file.write(os.urandom(min(64 * MiB, size - start)))


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while piece := file.read(8 * MiB):
            digest.update(piece)
    return digest.hexdigest()


def _child(mode: str, endpoint: str, bucket: str, path: str) -> None:
    """One measurement in this (fresh) process; prints its peak RSS as JSON."""
    start = time.perf_counter()
    with Repository(bucket, endpoint_url=endpoint, aws_region=REGION) as repo:
        if mode == "upload":
            repo.put_artifact("big", Path(path))
        elif mode == "download":
            repo.download_artifact("big", path)
        else:
            repo.list_artifact_names()
    elapsed = time.perf_counter() - start
    print(json.dumps({"mode": mode, "peak_mib": _peak_rss_kib() / 1024, "seconds": elapsed}))


def _peak_rss_kib() -> int:
    """This process's peak RSS. ru_maxrss would do, but Linux carries the parent's peak
    at fork into it across exec, so read the high-water mark of our own memory map."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS


def _run_child(mode: str, endpoint: str, bucket: str, path: Path) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.transfer", "--child", mode, endpoint, bucket, str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def memory(endpoint: str, bucket: str, size: int, workdir: Path) -> None:
    source, target = workdir / "source.bin", workdir / "target.bin"
    _write_file(source, size)
    print(f"\n## Peak RSS of the client process, {size // MiB} MiB file through Repository")
    idle = _run_child("idle", endpoint, bucket, source)
    print(f"baseline (open, one listing):  {idle['peak_mib']:7.1f} MiB")
    for mode, path in (("upload", source), ("download", target)):
        got = _run_child(mode, endpoint, bucket, path)
        verdict = "met" if got["peak_mib"] < 150 else "NOT met"
        rate = size / MiB / got["seconds"]
        print(
            f"{mode:8}: peak {got['peak_mib']:7.1f} MiB  ({got['seconds']:6.1f} s, "
            f"{rate:6.1f} MiB/s)  goal < 150 MiB: {verdict}"
        )
    print(f"downloaded file equals the source: {_file_sha256(target) == _file_sha256(source)}")
    source.unlink()
    target.unlink()


async def _timed(call: Callable[[], Awaitable[object]]) -> float:
    start = time.perf_counter()
    await call()
    return time.perf_counter() - start


async def throughput(endpoint: str, bucket: str, size: int, workdir: Path) -> None:
    data = os.urandom(size)
    target = workdir / "throughput.bin"
    print(f"\n## Throughput, {size // MiB} MiB (best of 2), ratio to one plain aiobotocore request")
    session = AioSession()
    async with (
        session.create_client("s3", endpoint_url=endpoint, region_name=REGION) as client,
        AsyncRepository(bucket, endpoint_url=endpoint, aws_region=REGION) as repo,
        AsyncRepository(
            bucket, endpoint_url=endpoint, aws_region=REGION, multipart_threshold=size
        ) as single,
    ):

        async def plain_put() -> None:
            await client.put_object(Bucket=bucket, Key="plain.bin", Body=data)

        async def plain_get() -> None:
            resp = await client.get_object(Bucket=bucket, Key="plain.bin")
            async with resp["Body"] as body:
                with target.open("wb") as file:
                    while piece := await body.read(MiB):
                        file.write(piece)

        async def put() -> None:
            await repo.purge_artifact("tp")  # so the unchanged-content check uploads
            await repo.put_artifact("tp", data)

        async def get() -> None:
            await repo.download_artifact("tp", target)

        async def get_one_request() -> None:
            await single.download_artifact("tp", target)

        rows = [
            ("upload (multipart, parts of 8 MiB)", plain_put, put),
            ("download (ranged GETs of 8 MiB)", plain_get, get),
            ("download (one GET: threshold >= size)", plain_get, get_one_request),
        ]
        for what, plain, ours in rows:
            plain_s = min([await _timed(plain) for _ in range(2)])
            ours_s = min([await _timed(ours) for _ in range(2)])
            print(
                f"{what:38}: plain {size / MiB / plain_s:6.1f} MiB/s, aioversioned "
                f"{size / MiB / ours_s:6.1f} MiB/s, ratio {plain_s / ours_s:4.2f}"
            )
    target.unlink()


async def fan_out(endpoint: str, bucket: str, calls: int, size: int, workdir: Path) -> None:
    print(f"\n## Fan-out: {calls} concurrent get_alias_content, one {size // MiB} MiB artifact")
    sent: list[str] = []

    def count(event_name: str, **_: Any) -> None:
        sent.append(event_name.rsplit(".", 1)[1])

    async def run(repo: AsyncRepository, label: str, max_age: float | None = None) -> None:
        sent.clear()
        start = time.perf_counter()
        results = await asyncio.gather(
            *(repo.get_alias_content("fan", "prod", f"k{i}", max_age=max_age) for i in range(calls))
        )
        elapsed = time.perf_counter() - start
        assert all(len(result) == size for result in results)
        del results
        summary = ", ".join(f"{sent.count(op)} {op}" for op in sorted(set(sent)))
        print(f"{label:44}: {len(sent):4} requests ({summary}), {elapsed:6.2f} s")

    async with AsyncRepository(bucket, endpoint_url=endpoint, aws_region=REGION) as plain:
        await plain.put_artifact("fan", os.urandom(size))
        await plain.publish_artifact_version("fan")
        await plain.put_alias("fan", "prod", 1)
        plain._s3._client.meta.events.register("before-send.s3", count)
        await run(plain, "no cache")
    with tempfile.TemporaryDirectory(dir=workdir) as cache_dir:
        async with AsyncRepository(
            bucket, endpoint_url=endpoint, aws_region=REGION, cache_dir=cache_dir
        ) as repo:
            repo._s3._client.meta.events.register("before-send.s3", count)
            await run(repo, "cold cache")
            await run(repo, "warm cache")
            await run(repo, "warm cache, alias max_age=60 (first fills it)", 60)
            await run(repo, "warm cache, alias max_age=60", 60)


async def _bucket(endpoint: str, name: str) -> None:
    async with AioSession().create_client("s3", endpoint_url=endpoint, region_name=REGION) as c:
        await c.create_bucket(Bucket=name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big-mib", type=int, default=1024, help="file of the RSS runs")
    parser.add_argument("--mid-mib", type=int, default=256, help="bytes of the throughput runs")
    parser.add_argument("--fan-calls", type=int, default=200)
    parser.add_argument("--fan-mib", type=int, default=8)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return 0
    os.environ.update(fake_credentials())
    with LocalS3() as server, tempfile.TemporaryDirectory() as work:
        workdir = Path(work)
        endpoint = server.endpoint_url
        print(f"moto (single-threaded) at {endpoint}; {os.cpu_count()} CPUs")
        for name in ("bench-memory", "bench-throughput", "bench-fanout"):
            asyncio.run(_bucket(endpoint, name))
        memory(endpoint, "bench-memory", args.big_mib * MiB, workdir)
        asyncio.run(throughput(endpoint, "bench-throughput", args.mid_mib * MiB, workdir))
        asyncio.run(fan_out(endpoint, "bench-fanout", args.fan_calls, args.fan_mib * MiB, workdir))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
