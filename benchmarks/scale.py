"""``python -m benchmarks --scale``: time and peak memory per operation as the store grows.

Large stores are written straight to the server with a plain aiobotocore client, many
small PUTs at once in the ``versioned`` 1.x layout (plus the records aioversioned
leaves when it publishes), never one publish at a time. Then each operation runs
through :class:`aioversioned.AsyncRepository`, with no delaying proxy:

* ``versions``: one artifact with N published versions: ``list_artifact_versions``,
  ``purge_artifact_versions`` of all but 10 with ``dry_run=True`` and for real,
  ``publish_artifact_version``, and ``get_artifact_content`` of the oldest version;
  beside them, the plain listing of the versions folder page after page and split
  into concurrent key ranges (``StartAfter``), at 0 ms and through a 20 ms proxy.
* ``aliases``: one artifact with N aliases over 30 versions: ``list_aliases``,
  ``put_alias`` of an existing alias, and purge protection (a purge of all but 5
  versions reads every alias and keeps the 20 versions they name), dry and real.
* ``names``: N artifacts with a LATEST each: ``list_artifact_names``, beside the plain
  folder listing.

Time is wall time of one call (median of 3 when N <= 1,000). Memory is the growth of
the process's peak RSS during the call over its RSS before it: Linux's high-water mark
(``VmHWM``) is reset through ``/proc/self/clear_refs`` before each call.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import json
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession

from aioversioned import AsyncRepository

from . import report
from .counting import RequestCounter
from .proxy import KEEP_ALIVE_UPSTREAM_SLOTS, DelayProxy
from .store import (
    SHA256_KEY,
    aliases_dir,
    names_index,
    published_key,
    version_key,
    version_number,
    versions_dir,
)

REGION = "us-east-1"
PREFIX = "scale"
SEED_CONCURRENCY = 64
FULL_SIZES = {
    "versions": [1_000, 10_000, 100_000],
    "aliases": [1_000, 10_000],
    "names": [10_000, 100_000],
}
QUICK_SIZES = {"versions": [15], "aliases": [21], "names": [5]}
RANGE_SPLITS = (4, 16)
ALIAS_VERSIONS = 30  # versions of the aliases' artifact; aliases name the first 20
MiB = 1 << 20


# -- memory ---------------------------------------------------------------------------


def _status_kib(field_name: str) -> int:
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    return 0


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux); False where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


# -- results --------------------------------------------------------------------------


@dataclass
class Row:
    """One operation at one N."""

    group: str
    operation: str
    n: int
    contender: str = "lib"
    delay_ms: float = 0.0
    times_s: list[float] = field(default_factory=list)
    peak_rss_mib: float | None = None
    cpu_s: float = 0.0
    requests: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "operation": self.operation,
            "n": self.n,
            "contender": self.contender,
            "delay_ms": self.delay_ms,
            "seconds": round(statistics.median(self.times_s), 4),
            "runs": len(self.times_s),
            "times_s": [round(t, 4) for t in self.times_s],
            "peak_rss_growth_mib": None
            if self.peak_rss_mib is None
            else round(self.peak_rss_mib, 1),
            "cpu_s": round(self.cpu_s, 4),
            "requests": sum(self.requests.values()),
            "requests_by_operation": dict(sorted(self.requests.items())),
        }


@dataclass
class Bench:
    """The server, its bucket, the repository and a plain client, and the rows so far."""

    bucket: str
    endpoint_url: str
    repo: AsyncRepository
    client: Any  # aiobotocore S3 client, straight to the server
    counter: RequestCounter
    rows: list[Row] = field(default_factory=list)

    async def time(
        self,
        group: str,
        operation: str,
        n: int,
        call: Callable[[], Awaitable[Any]],
        runs: int = 1,
        prepare: Callable[[], Awaitable[Any]] | None = None,
        check: Callable[[Any], None] | None = None,
        contender: str = "lib",
        delay_ms: float = 0.0,
    ) -> Any:
        """Time ``call`` ``runs`` times; record wall time, peak RSS growth, CPU, requests."""
        row = Row(group, operation, n, contender, delay_ms)
        result: Any = None
        peaks: list[float] = []
        for _ in range(runs):
            if prepare is not None:
                await prepare()
            del result
            gc.collect()
            self.counter.reset()
            before = _status_kib("VmRSS")
            can_peak = _reset_peak()
            cpu = time.process_time()
            start = time.perf_counter()
            result = await call()
            row.times_s.append(time.perf_counter() - start)
            row.cpu_s = time.process_time() - cpu
            if can_peak:
                peaks.append(max(0, _status_kib("VmHWM") - before) / 1024)
            row.requests = self.counter.snapshot()
            if check is not None:
                check(result)
        row.peak_rss_mib = max(peaks) if peaks else None
        self.rows.append(row)
        d = row.as_dict()
        print(
            f"  {group:<8} N={n:<7} {operation:<40} {contender:<6} {delay_ms:>3g} ms "
            f"{d['seconds']:>9.3f} s  peak +{d['peak_rss_growth_mib']} MiB  "
            f"cpu {d['cpu_s']:.2f} s  {d['requests']} requests",
            file=sys.stderr,
            flush=True,
        )
        return result


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


# -- seeding --------------------------------------------------------------------------


async def _workers(jobs: Iterator[Callable[[], Awaitable[None]]], concurrency: int) -> None:
    """Run the jobs with ``concurrency`` workers pulling from one iterator (no task per
    job: a million pending coroutines would cost more than the objects)."""

    async def worker() -> None:
        for job in jobs:
            await job()

    await asyncio.gather(*(worker() for _ in range(concurrency)))


def _body(name: str, number: int | None) -> bytes:
    return hashlib.sha256(f"{name}/{number}".encode()).digest() * 2


async def seed_versions(
    client: Any, bucket: str, name: str, numbers: Iterable[int | None], records: bool = True
) -> None:
    """LATEST (``None``) and versions with 64-byte bodies, each with its sha256 metadata
    and (``records``) the claim and the record aioversioned writes when it publishes."""

    def job(number: int | None) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            body = _body(name, number)
            digest = hashlib.sha256(body).hexdigest()
            resp = await client.put_object(
                Bucket=bucket,
                Key=version_key(PREFIX, name, number),
                Body=body,
                Metadata={SHA256_KEY: digest},
            )
            if records and number is not None:
                key = published_key(PREFIX, name, number, resp["ETag"], digest)
                stem = key.rsplit("/", 1)[-1][:13]
                claim = f"{PREFIX}/{name}/.aioversioned/claims/{stem}"
                await asyncio.gather(
                    client.put_object(Bucket=bucket, Key=key, Body=b""),
                    client.put_object(Bucket=bucket, Key=claim, Body=b""),
                )

        return run

    await _workers((job(number) for number in numbers), SEED_CONCURRENCY)


def alias_document(bucket: str, name: str, alias: str, number: int) -> bytes:
    """The eight keys ``versioned`` 1.x writes and reads."""
    return json.dumps(
        {
            "name": name,
            "alias": alias,
            "update_at": datetime.now(timezone.utc).isoformat(),
            "version": str(number),
            "secondary_version": None,
            "secondary_version_weight": None,
            "version_s3uri": f"s3://{bucket}/{version_key(PREFIX, name, number)}",
            "secondary_version_s3uri": None,
        },
        separators=(",", ":"),
    ).encode()


async def seed_aliases(client: Any, bucket: str, name: str, count: int) -> None:
    """``count`` alias documents, alias ``a{i}`` naming version ``i % 20 + 1``."""

    def job(i: int) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            await client.put_object(
                Bucket=bucket,
                Key=f"{aliases_dir(PREFIX, name)}a{i:06d}.json",
                Body=alias_document(bucket, name, f"a{i:06d}", i % 20 + 1),
            )

        return run

    await _workers((job(i) for i in range(count)), SEED_CONCURRENCY)


async def _seeded(label: str, call: Awaitable[None], objects: int) -> None:
    start = time.monotonic()
    await call
    elapsed = time.monotonic() - start
    print(
        f"{label}: seeded {objects} objects in {elapsed:.1f} s ({objects / elapsed:.0f}/s)",
        file=sys.stderr,
        flush=True,
    )


# -- plain listings: page after page, or split into concurrent key ranges --------------


async def list_sequential(client: Any, bucket: str, prefix: str) -> list[str]:
    """Every key under ``prefix``, one page after the other."""
    keys: list[str] = []
    kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
    while True:
        resp = await client.list_objects_v2(**kwargs)
        keys.extend(item["Key"] for item in resp.get("Contents", []))
        if not resp.get("IsTruncated"):
            return keys
        kwargs["ContinuationToken"] = resp["NextContinuationToken"]


async def _list_range(
    client: Any, bucket: str, prefix: str, start_after: str | None, end: str | None, count: int
) -> list[str]:
    """Keys under ``prefix`` after ``start_after`` and up to ``end`` (inclusive), about
    ``count`` of them: no page asks for more than the range still holds (plus one)."""
    keys: list[str] = []
    kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
    if start_after is not None:
        kwargs["StartAfter"] = start_after
    while True:
        kwargs["MaxKeys"] = max(1, min(1000, count - len(keys) + 1))
        resp = await client.list_objects_v2(**kwargs)
        page = [item["Key"] for item in resp.get("Contents", [])]
        if end is not None and page and page[-1] > end:
            keys.extend(key for key in page if key <= end)
            return keys
        keys.extend(page)
        if not resp.get("IsTruncated"):
            return keys
        kwargs["ContinuationToken"] = resp["NextContinuationToken"]


async def list_versions_in_ranges(client: Any, bucket: str, name: str, splits: int) -> list[str]:
    """The versions folder in ``splits`` concurrent ranges: version keys are dense and
    sorted newest first, so one listing of 2 keys (LATEST and the newest version) tells
    where to cut."""
    prefix = versions_dir(PREFIX, name)
    head = await client.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=2)
    found = [item["Key"] for item in head.get("Contents", [])]
    newest = next((n for n in map(version_number, found) if n is not None), 0)
    # Range i holds versions from bounds[i] down to bounds[i + 1] + 1.
    bounds = [newest - newest * i // splits for i in range(splits + 1)]
    ranges = [
        (
            None if i == 0 else version_key(PREFIX, name, bounds[i] + 1),
            None if i == splits - 1 else version_key(PREFIX, name, bounds[i + 1] + 1),
        )
        for i in range(splits)
    ]
    counts = [bounds[i] - bounds[i + 1] + (1 if i == 0 else 0) for i in range(splits)]
    parts = await asyncio.gather(
        *(
            _list_range(client, bucket, prefix, start, end, count)
            for (start, end), count in zip(ranges, counts, strict=True)
        )
    )
    return [key for part in parts for key in part]


async def list_dirs(client: Any, bucket: str, prefix: str) -> list[str]:
    """The folders under ``prefix``, one page after the other."""
    dirs: list[str] = []
    kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "Delimiter": "/"}
    while True:
        resp = await client.list_objects_v2(**kwargs)
        dirs.extend(p["Prefix"] for p in resp.get("CommonPrefixes", []))
        if not resp.get("IsTruncated"):
            return dirs
        kwargs["ContinuationToken"] = resp["NextContinuationToken"]


# -- the groups -----------------------------------------------------------------------


async def run_versions(bench: Bench, n: int, proxies: dict[float, str]) -> None:
    name = f"versions-{n}"
    runs = 3 if n <= 1_000 else 1
    await _seeded(
        f"versions N={n}",
        seed_versions(bench.client, bench.bucket, name, [None, *range(1, n + 1)]),
        3 * n + 1,
    )
    repo, expected = bench.repo, ["LATEST", *(str(v) for v in range(n, 0, -1))]

    def listed(result: Any) -> None:
        _expect([a.version for a in result] == expected, "wrong versions listed")

    await bench.time(
        "versions",
        "list_artifact_versions",
        n,
        lambda: repo.list_artifact_versions(name),
        runs,
        check=listed,
    )
    keys = len(expected)
    for delay, url in proxies.items():
        async with _client(url) as client:
            await client.head_bucket(Bucket=bench.bucket)
            counter = RequestCounter()
            counter.attach(client)
            saved, bench.counter = bench.counter, counter
            try:

                def count(result: Any) -> None:
                    _expect(len(result) == keys, f"listed {len(result)} of {keys}")

                await bench.time(
                    "versions",
                    "listing: page after page",
                    n,
                    lambda c=client: list_sequential(c, bench.bucket, versions_dir(PREFIX, name)),
                    runs,
                    check=count,
                    contender="floor",
                    delay_ms=delay,
                )
                for splits in RANGE_SPLITS:
                    await bench.time(
                        "versions",
                        f"listing: {splits} concurrent ranges",
                        n,
                        lambda c=client, s=splits: list_versions_in_ranges(
                            c, bench.bucket, name, s
                        ),
                        runs,
                        check=lambda result: _expect(
                            sorted(result) == sorted(set(result)) and len(result) == keys,
                            "ranges overlap or miss keys",
                        ),
                        contender="floor",
                        delay_ms=delay,
                    )
            finally:
                bench.counter = saved

    def purged(result: Any) -> None:
        _expect(len(result[1]) == n - 10, f"purge took {len(result[1])}, expected {n - 10}")

    await bench.time(
        "versions",
        "purge all but 10 (dry_run)",
        n,
        lambda: repo.purge_artifact_versions(
            name, keep_last_n=10, purge_older_than_secs=0, dry_run=True
        ),
        runs,
        check=purged,
    )
    oldest = _body(name, 1)
    await bench.time(
        "versions",
        "get_artifact_content of version 1",
        n,
        lambda: repo.get_artifact_content(name, 1),
        runs,
        check=lambda result: _expect(result == oldest, "wrong content"),
    )
    published = iter(range(n + 1, n + 1 + runs))

    async def new_latest() -> None:
        body = uuid.uuid4().bytes * 4
        await bench.client.put_object(
            Bucket=bench.bucket,
            Key=version_key(PREFIX, name, None),
            Body=body,
            Metadata={SHA256_KEY: hashlib.sha256(body).hexdigest()},
        )

    await bench.time(
        "versions",
        "publish_artifact_version",
        n,
        lambda: repo.publish_artifact_version(name),
        runs,
        prepare=new_latest,
        check=lambda result: _expect(int(result.version) == next(published), "wrong number"),
    )
    total = n + runs

    def purged_all(result: Any) -> None:
        _expect(len(result[1]) == total - 10, f"purged {len(result[1])} of {total - 10}")

    await bench.time(
        "versions",
        "purge all but 10",
        n,
        lambda: repo.purge_artifact_versions(name, keep_last_n=10, purge_older_than_secs=0),
        check=purged_all,
    )
    left = await repo.list_artifact_versions(name)
    _expect(len(left) == 11, f"{len(left)} versions left after the purge")


async def run_aliases(bench: Bench, n: int) -> None:
    name = f"aliases-{n}"
    runs = 3 if n <= 1_000 else 1
    await _seeded(
        f"aliases N={n}",
        seed_versions(bench.client, bench.bucket, name, [None, *range(1, ALIAS_VERSIONS + 1)]),
        3 * ALIAS_VERSIONS + 1,
    )
    await _seeded(f"aliases N={n}", seed_aliases(bench.client, bench.bucket, name, n), n)
    repo = bench.repo

    def listed(result: Any) -> None:
        _expect(len(result) == n, f"listed {len(result)} aliases")

    # The first listing reads every document (versioned 1.x wrote them) and writes the
    # alias index; later ones read the index.
    await bench.time("aliases", "list_aliases, first", n, lambda: repo.list_aliases(name), 1)
    await bench.time(
        "aliases", "list_aliases", n, lambda: repo.list_aliases(name), runs, check=listed
    )
    targets = iter([2, 3, 4] * runs)
    await bench.time(
        "aliases",
        "put_alias (existing alias)",
        n,
        lambda: repo.put_alias(name, "a000000", next(targets)),
        runs,
    )
    # Versions 1..20 are named by aliases (a000000 now names 2, 3 or 4), 26..30 are kept.
    doomed = list(range(21, ALIAS_VERSIONS - 5 + 1))

    def protected(result: Any) -> None:
        got = sorted(int(a.version) for a in result[1])
        _expect(got == doomed, f"purged {got}, expected {doomed}")

    await bench.time(
        "aliases",
        "purge protection (dry_run)",
        n,
        lambda: repo.purge_artifact_versions(
            name, keep_last_n=5, purge_older_than_secs=0, dry_run=True
        ),
        runs,
        check=protected,
    )
    await bench.time(
        "aliases",
        "purge protection",
        n,
        lambda: repo.purge_artifact_versions(name, keep_last_n=5, purge_older_than_secs=0),
        check=protected,
    )


async def run_names(bench: Bench, n: int, sizes: list[int]) -> None:
    # Stores of every size live side by side under one prefix: the largest N is
    # seeded in steps, and each step measures the total so far.
    group = "names"
    done = max((size for size in sizes if size < n), default=0)
    await _seeded(
        f"names N={n}",
        _seed_name_range(bench.client, bench.bucket, group, done, n),
        n - done,
    )
    key, body = names_index(PREFIX, (f"{group}-{i:07d}" for i in range(n)))
    await bench.client.put_object(Bucket=bench.bucket, Key=key, Body=body)  # a listing's
    runs = 3 if n <= 1_000 else 1
    await bench.time(
        "names",
        "list_artifact_names",
        n,
        bench.repo.list_artifact_names,
        runs,
        check=lambda result: _expect(len(result) == n, f"listed {len(result)} names"),
    )
    saved = bench.counter
    bench.counter = RequestCounter()
    bench.counter.attach(bench.client)
    try:
        await bench.time(
            "names",
            "listing: folders only, page after page",
            n,
            lambda: list_dirs(bench.client, bench.bucket, f"{PREFIX}/"),
            runs,
            check=lambda result: _expect(len(result) == n, f"listed {len(result)} folders"),
            contender="floor",
        )
    finally:
        bench.counter = saved


async def _seed_name_range(client: Any, bucket: str, group: str, first: int, end: int) -> None:
    def job(i: int) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            name = f"{group}-{i:07d}"
            await client.put_object(
                Bucket=bucket, Key=version_key(PREFIX, name, None), Body=_body(name, None)
            )

        return run

    await _workers((job(i) for i in range(first, end)), SEED_CONCURRENCY)


@contextlib.asynccontextmanager
async def _client(url: str) -> AsyncIterator[Any]:
    config = AioConfig(max_pool_connections=SEED_CONCURRENCY)
    async with AioSession().create_client(
        "s3", region_name=REGION, endpoint_url=url, config=config
    ) as client:
        yield client


async def run_async(
    server_url: str, sizes: dict[str, list[int]], proxies: dict[float, str]
) -> dict[str, Any]:
    """Seed and measure every group at every size, smallest first."""
    machine = report.machine_info()
    started = time.monotonic()
    async with _client(server_url) as client:
        rows: list[Row] = []
        for group, group_sizes in sizes.items():
            # A bucket per group: names lists the whole prefix, so nothing else is there.
            bucket = f"scale-{group}-{uuid.uuid4().hex[:10]}"
            await client.create_bucket(Bucket=bucket)
            async with AsyncRepository(
                bucket, PREFIX, endpoint_url=server_url, aws_region=REGION
            ) as repo:
                await repo.bootstrap()
                counter = RequestCounter()
                counter.attach(repo._s3._client)  # benchmark-only reach into the library
                bench = Bench(bucket, server_url, repo, client, counter)
                for n in group_sizes:
                    if group == "versions":
                        await run_versions(bench, n, proxies)
                    elif group == "aliases":
                        await run_aliases(bench, n)
                    else:
                        await run_names(bench, n, group_sizes)
                rows += bench.rows
    return {
        "meta": {
            **machine,
            "sizes": sizes,
            "wall_seconds": round(time.monotonic() - started, 1),
            "loadavg_end": report.load_average(),
            "notes": {
                "time": "wall time of one call; median of 3 when N <= 1000",
                "memory": (
                    "growth of the process's peak RSS (VmHWM, reset through "
                    "/proc/self/clear_refs) over its RSS before the call"
                ),
                "cpu": "process CPU time of the (last) call: client only, the server is "
                "another process",
                "delay": "no proxy (0 ms) unless delay_ms says otherwise",
            },
        },
        "results": [row.as_dict() for row in rows],
    }


def scale_sizes(quick: bool, max_n: int, groups: list[str]) -> dict[str, list[int]]:
    """The N of each group: tiny when ``quick``, else up to ``max_n``."""
    table = QUICK_SIZES if quick else FULL_SIZES
    return {group: [n for n in table[group] if n <= max_n] for group in groups}


def run(
    server_url: str,
    out: Path,
    sizes: dict[str, list[int]],
    delays: list[float],
    plot: bool = True,
) -> dict[str, Any]:
    """Run the scale groups against ``server_url``; write ``scale.json`` (and the PNG)."""
    port = urlsplit(server_url).port
    with contextlib.ExitStack() as stack:
        proxies = {}
        for delay in delays:
            if delay == 0:
                proxies[0.0] = server_url
            elif port is not None:
                proxies[delay] = stack.enter_context(
                    DelayProxy(port, delay, slots=KEEP_ALIVE_UPSTREAM_SLOTS)
                ).url
        document = asyncio.run(run_async(server_url, sizes, proxies))
    report.write_json(out / "scale.json", document)
    if plot:
        from .plot import write_scale_plot

        write_scale_plot(out / "img" / "scale.png", document["results"])
    print(format_table(document["results"]))
    return document


def format_table(rows: list[dict[str, Any]]) -> str:
    """One line per operation and N."""
    lines = [
        f"{'group':<9}{'operation':<42}{'who':<6}{'delay':>6}{'N':>9}{'seconds':>10}"
        f"{'peak MiB':>10}{'cpu s':>8}{'requests':>10}"
    ]
    for r in rows:
        peak = "-" if r["peak_rss_growth_mib"] is None else f"{r['peak_rss_growth_mib']:.1f}"
        lines.append(
            f"{r['group']:<9}{r['operation']:<42}{r['contender']:<6}{r['delay_ms']:>4g}ms"
            f"{r['n']:>9}{r['seconds']:>10.3f}{peak:>10}{r['cpu_s']:>8.2f}{r['requests']:>10}"
        )
    return "\n".join(lines)


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The docs' table: time (peak RSS growth) per operation, one column per N."""
    sizes = sorted({r["n"] for r in rows})
    lines = [
        "| group | operation | " + " | ".join(f"N={n:,}" for n in sizes) + " |",
        "| --- | --- | " + " | ".join("---:" for _ in sizes) + " |",
    ]
    seen: dict[tuple[str, str, float], dict[int, dict[str, Any]]] = {}
    for r in rows:
        seen.setdefault((r["group"], r["operation"], r["delay_ms"]), {})[r["n"]] = r
    for (group, operation, delay), by_n in seen.items():
        label = operation + (f", {delay:g} ms" if delay else "")
        cells = []
        for n in sizes:
            r = by_n.get(n)
            if r is None:
                cells.append("")
                continue
            peak = r["peak_rss_growth_mib"]
            memory = f" ({peak:.0f} MiB)" if peak is not None and peak >= 1 else ""
            cells.append(f"{_duration(r['seconds'])}{memory}")
        lines.append(f"| {group} | {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"
