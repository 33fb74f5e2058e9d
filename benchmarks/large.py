"""``python -m benchmarks.large``: a large file up and down, verified, in MB/s.

Against a local SeaweedFS (several threads, keeps connections alive; moto serves a
ranged GET by reading the whole object, so it cannot show parallel transfers):

* sha256: this machine's ``hashlib.sha256`` speed on 64 MiB pieces in memory, the
  ceiling of a verified download (every downloaded byte is hashed);
* up: ``put_artifact(name, Path)``; the floor hashes the file (the sha256 goes in the
  object's metadata, so it is known before the upload starts) and then sends a
  multipart upload of 8 MiB parts, 6 in flight; ``aws s3 cp`` (AWS CLI defaults:
  8 MiB parts, 10 in flight, no sha256);
* down: ``download_artifact`` (ranged GETs written at their offsets, the file hashed
  and compared, fsync, rename); the floor sends the same ranged GETs, writes them at
  their offsets, then hashes the file (no fsync); ``aws s3 cp`` down (no sha256).

Each transfer runs ``--runs`` times, the best counts. The downloaded files are checked
against the source's sha256 after timing. MB here is 10^6 bytes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio.to_thread
from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession

from aioversioned import AsyncRepository

from . import report
from .cli import local_aws_environment
from .store import SHA256_KEY
from .weed import LocalWeed

MiB = 1 << 20
PART = 8 * MiB
IN_FLIGHT = 6
REGION = "us-east-1"


def _write_file(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    with path.open("wb") as file:
        for start in range(0, size, 64 * MiB):
            piece = os.urandom(min(64 * MiB, size - start))
            digest.update(piece)
            file.write(piece)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while piece := file.read(MiB):
            digest.update(piece)
    return digest.hexdigest()


def sha256_speed(total: int = 1024 * MiB) -> float:
    """MB/s of hashlib.sha256 on 64 MiB pieces already in memory."""
    piece = os.urandom(min(total, 64 * MiB))
    digest = hashlib.sha256()
    start = time.perf_counter()
    for _ in range(total // len(piece)):
        digest.update(piece)
    return total / 1e6 / (time.perf_counter() - start)


def _read_at(path: Path, offset: int, size: int) -> bytes:
    with path.open("rb") as file:
        file.seek(offset)
        return file.read(size)


def _write_at(fd: int, offset: int, data: bytes) -> None:
    os.pwrite(fd, data, offset)


async def floor_upload(client: Any, bucket: str, key: str, path: Path) -> None:
    """Hash the file, then a multipart upload of ``PART`` bytes, ``IN_FLIGHT`` at once."""
    digest = await anyio.to_thread.run_sync(file_sha256, path)
    size = await anyio.to_thread.run_sync(os.path.getsize, path)
    upload = await client.create_multipart_upload(
        Bucket=bucket, Key=key, Metadata={SHA256_KEY: digest}
    )
    upload_id = upload["UploadId"]
    slots = asyncio.Semaphore(IN_FLIGHT)

    async def part(number: int, offset: int) -> dict[str, Any]:
        async with slots:
            data = await anyio.to_thread.run_sync(_read_at, path, offset, PART)
            resp = await client.upload_part(
                Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data
            )
            return {"PartNumber": number, "ETag": resp["ETag"]}

    parts = await asyncio.gather(
        *(part(i + 1, offset) for i, offset in enumerate(range(0, size, PART)))
    )
    await client.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": list(parts)}
    )


async def floor_download(client: Any, bucket: str, key: str, path: Path) -> None:
    """Ranged GETs of ``PART`` bytes, ``IN_FLIGHT`` at once, written at their offsets;
    then the file is hashed and compared with the metadata."""
    head = await client.head_object(Bucket=bucket, Key=key)
    size, expected = head["ContentLength"], head["Metadata"][SHA256_KEY]
    slots = asyncio.Semaphore(IN_FLIGHT)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:

        async def part(offset: int) -> None:
            async with slots:
                last = min(offset + PART, size) - 1
                resp = await client.get_object(
                    Bucket=bucket, Key=key, Range=f"bytes={offset}-{last}", IfMatch=head["ETag"]
                )
                async with resp["Body"] as stream:
                    data = await stream.read()
                await anyio.to_thread.run_sync(_write_at, fd, offset, data)

        await asyncio.gather(*(part(offset) for offset in range(0, size, PART)))
    finally:
        os.close(fd)
    if await anyio.to_thread.run_sync(file_sha256, path) != expected:
        raise AssertionError("floor download: wrong sha256")


def _aws(*args: str, endpoint: str) -> None:
    aws = Path(sys.executable).with_name("aws")
    command = [str(aws) if aws.exists() else "aws", "--endpoint-url", endpoint, "s3", *args]
    subprocess.run(command, check=True, capture_output=True, env=os.environ.copy())


async def _best(runs: int, call: Callable[[], Awaitable[Any]]) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        await call()
        times.append(time.perf_counter() - start)
    return times


async def run_async(
    endpoint: str, size: int, runs: int, workdir: Path, hash_bytes: int = 1024 * MiB
) -> dict[str, Any]:
    machine = report.machine_info()
    bucket = f"large-{uuid.uuid4().hex[:10]}"
    source, target = workdir / "source.bin", workdir / "target.bin"
    sha = await anyio.to_thread.run_sync(_write_file, source, size)
    hash_mbps = await anyio.to_thread.run_sync(sha256_speed, hash_bytes)
    print(f"sha256: {hash_mbps:.0f} MB/s", file=sys.stderr, flush=True)
    config = AioConfig(max_pool_connections=64)
    results: dict[str, dict[str, Any]] = {}

    def record(what: str, times: list[float]) -> None:
        best = min(times)
        results[what] = {
            "seconds": [round(t, 3) for t in times],
            "mb_per_s": round(size / 1e6 / best, 1),
        }
        print(f"{what:<24} {size / 1e6 / best:8.1f} MB/s  {times}", file=sys.stderr, flush=True)

    async with (
        AioSession().create_client(
            "s3", region_name=REGION, endpoint_url=endpoint, config=config
        ) as client,
        AsyncRepository(bucket, endpoint_url=endpoint, aws_region=REGION) as repo,
    ):
        await client.create_bucket(Bucket=bucket)
        await repo.bootstrap()
        names = iter(range(runs))  # a new artifact each run: the same bytes again are a no-op
        uploads: dict[str, Callable[[], Awaitable[Any]]] = {
            "up: floor": lambda: floor_upload(client, bucket, "floor.bin", source),
            "up: aioversioned": lambda: repo.put_artifact(f"big{next(names)}", source),
            "up: aws s3 cp": lambda: anyio.to_thread.run_sync(
                lambda: _aws("cp", str(source), f"s3://{bucket}/cli.bin", endpoint=endpoint)
            ),
        }
        for what, call in uploads.items():
            record(what, await _best(runs, call))

        async def lib_down() -> None:
            await repo.download_artifact("big0", target)

        async def cli_down() -> None:
            await anyio.to_thread.run_sync(
                lambda: _aws("cp", f"s3://{bucket}/cli.bin", str(target), endpoint=endpoint)
            )

        downloads: dict[str, Callable[[], Awaitable[Any]]] = {
            "down: floor": lambda: floor_download(client, bucket, "floor.bin", target),
            "down: aioversioned": lib_down,
            "down: aws s3 cp": cli_down,
        }
        for what, call in downloads.items():
            times = await _best(runs, call)
            record(what, times)
            got = await anyio.to_thread.run_sync(file_sha256, target)
            results[what]["verified_after"] = got == sha
            target.unlink()
    floor_up, floor_down = results["up: floor"]["mb_per_s"], results["down: floor"]["mb_per_s"]
    cli_up, cli_down_mbps = (
        results["up: aws s3 cp"]["mb_per_s"],
        results["down: aws s3 cp"]["mb_per_s"],
    )
    lib_up, lib_down_mbps = (
        results["up: aioversioned"]["mb_per_s"],
        results["down: aioversioned"]["mb_per_s"],
    )
    return {
        "meta": {**machine, "size_bytes": size, "runs": runs, "loadavg_end": report.load_average()},
        "sha256_mb_per_s": round(hash_mbps, 1),
        "results": results,
        "ratios": {
            "up_vs_floor": round(lib_up / floor_up, 3),
            "up_vs_aws_cli": round(lib_up / cli_up, 3),
            "down_vs_floor": round(lib_down_mbps / floor_down, 3),
            "down_vs_aws_cli": round(lib_down_mbps / cli_down_mbps, 3),
            "down_vs_sha256": round(lib_down_mbps / hash_mbps, 3),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.large", description=__doc__)
    parser.add_argument("--mib", type=int, default=1024, help="file size in MiB (1024)")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("docs"))
    args = parser.parse_args(argv)
    # A terminated run still stops the servers and proxies it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    free = shutil.disk_usage(tempfile.gettempdir()).free
    if free < 6 * args.mib * MiB:
        raise SystemExit(f"needs {6 * args.mib} MiB free in {tempfile.gettempdir()}")
    with (
        local_aws_environment(),
        LocalWeed() as weed,
        tempfile.TemporaryDirectory(prefix="bench-large-") as work,
    ):
        document = asyncio.run(run_async(weed.endpoint_url, args.mib * MiB, args.runs, Path(work)))
    report.write_json(args.out / "large.json", document)
    print(f"sha256 {document['sha256_mb_per_s']} MB/s")
    for what, row in document["results"].items():
        print(f"{what:<24} {row['mb_per_s']:8.1f} MB/s")
    for what, ratio in document["ratios"].items():
        print(f"{what:<24} {ratio:.2f}")
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        raise SystemExit(main())
