"""The benchmark harness: its delaying proxy, its request counts, and one quick run."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import statistics
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiobotocore.session import AioSession

from aioversioned._keys import Layout
from aioversioned._local import LocalS3
from benchmarks import cli, cpu, large, putsizes, scale
from benchmarks.counting import RequestCounter, describe
from benchmarks.proxy import DelayProxy, body_framing
from benchmarks.runner import measure, open_contenders
from benchmarks.scenarios import ListVersions
from benchmarks.store import Store, parse_published_key, published_key, version_key


@pytest.fixture
def proxy50(moto_server: LocalS3) -> Iterator[DelayProxy]:
    with DelayProxy(moto_server.port, 50) as proxy:
        yield proxy


@pytest.fixture
async def direct(endpoint_url: str, bucket: str) -> AsyncIterator[Any]:
    """A client straight to moto, with the test's bucket created."""
    async with AioSession().create_client(
        "s3", region_name="us-east-1", endpoint_url=endpoint_url
    ) as client:
        await client.create_bucket(Bucket=bucket)
        yield client


async def _median_head_ms(url: str, bucket: str, runs: int = 5) -> float:
    async with AioSession().create_client("s3", region_name="us-east-1", endpoint_url=url) as c:
        await c.head_bucket(Bucket=bucket)  # credentials and endpoint resolution
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            await c.head_bucket(Bucket=bucket)
            times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


async def test_proxy_adds_its_delay_to_each_request(
    direct: Any, endpoint_url: str, bucket: str, proxy50: DelayProxy
) -> None:
    plain = await _median_head_ms(endpoint_url, bucket)
    delayed = await _median_head_ms(proxy50.url, bucket)
    assert delayed - plain >= 40, (plain, delayed)


async def test_proxy_forwards_bodies_byte_for_byte(
    direct: Any, bucket: str, proxy50: DelayProxy
) -> None:
    body = os.urandom(3 * 1024 * 1024 + 17)
    async with AioSession().create_client(
        "s3", region_name="us-east-1", endpoint_url=proxy50.url
    ) as client:
        await client.put_object(Bucket=bucket, Key="big", Body=body)
        resp = await client.get_object(Bucket=bucket, Key="big")
        async with resp["Body"] as stream:
            through_proxy = await stream.read()
    resp = await direct.get_object(Bucket=bucket, Key="big")
    async with resp["Body"] as stream:
        stored = await stream.read()
    assert hashlib.sha256(stored).digest() == hashlib.sha256(body).digest()
    assert through_proxy == body


async def test_proxy_holds_responses_to_their_bandwidth(
    moto_server: LocalS3, direct: Any, bucket: str
) -> None:
    """--download-mbps: 4 MB through a 20 MB/s connection take 0.2 s or more, and arrive whole."""
    body = os.urandom(4_000_000)
    await direct.put_object(Bucket=bucket, Key="big", Body=body)
    with DelayProxy(moto_server.port, 0, download_mbps=20) as proxy:
        async with AioSession().create_client(
            "s3", region_name="us-east-1", endpoint_url=proxy.url
        ) as client:
            await client.head_bucket(Bucket=bucket)
            start = time.perf_counter()
            resp = await client.get_object(Bucket=bucket, Key="big")
            async with resp["Body"] as stream:
                through_proxy = await stream.read()
            seconds = time.perf_counter() - start
    assert through_proxy == body
    assert seconds >= 0.19, seconds


async def test_proxy_delays_each_kept_alive_request_once() -> None:
    """Three requests on one connection to an HTTP/1.1 upstream: three delays, not more,
    even when a chunked body arrives in many separate writes."""
    seen: list[tuple[int, bytes]] = []
    connections = 0
    handlers: list[asyncio.Task[object]] = []

    async def upstream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        task = asyncio.current_task()
        assert task is not None
        handlers.append(task)
        for _ in range(10):
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                break
            chunked, length = body_framing(head)
            if chunked:
                body = b""
                for _ in range(100):
                    size = int((await reader.readuntil(b"\r\n")).strip(), 16)
                    body += (await reader.readexactly(size + 2))[:-2] if size else b""
                    if size == 0:
                        await reader.readuntil(b"\r\n")
                        break
            else:
                body = await reader.readexactly(length)
            seen.append((connections, body))
            answer = hashlib.sha256(body).hexdigest().encode()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 64\r\n\r\n" + answer)
            await writer.drain()
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(upstream, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        with DelayProxy(port, 100) as proxy:
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
            pieces = [os.urandom(1000) for _ in range(6)]
            requests = [
                [b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"],
                [b"PUT /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"],
                [b"PUT /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"]
                + [b"%x\r\n%s\r\n" % (len(p), p) for p in pieces]
                + [b"0\r\n\r\n"],
            ]
            elapsed = []
            for parts in requests:
                start = time.perf_counter()
                for part in parts:  # separate writes, each its own segment
                    writer.write(part)
                    await writer.drain()
                    await asyncio.sleep(0.001)
                await reader.readuntil(b"\r\n\r\n")
                await reader.readexactly(64)
                elapsed.append(time.perf_counter() - start)
            writer.close()
            await writer.wait_closed()
            await asyncio.wait_for(asyncio.gather(*handlers), 10)
    assert [body for _, body in seen] == [b"", b"hello", b"".join(pieces)]
    assert connections == 1
    assert all(t >= 0.09 for t in elapsed), elapsed
    # One delay per write would have cost the chunked request 800 ms.
    assert elapsed[2] < 0.45, elapsed


def test_body_framing() -> None:
    assert body_framing(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") == (False, 0)
    assert body_framing(b"PUT / HTTP/1.1\r\ncontent-length: 12\r\n\r\n") == (False, 12)
    assert body_framing(b"PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n") == (True, 0)


def test_hand_written_layout_matches_the_library() -> None:
    layout = Layout("bucket", "bench")
    for number in (None, 1, 7, 999_999):
        assert version_key("bench", "name", number) == layout.version_key("name", number)
    digest = "ab" * 32
    key = published_key("bench", "name", 7, '"0123abcd"', digest)
    assert key == layout.published_key("name", 7, '"0123abcd"', digest)
    assert parse_published_key(key) == (7, "0123abcd", digest)


async def test_counter_counts_each_request_by_operation(direct: Any, bucket: str) -> None:
    counter = RequestCounter()
    counter.attach(direct)
    await direct.head_bucket(Bucket=bucket)
    await direct.list_objects_v2(Bucket=bucket)
    await direct.list_objects_v2(Bucket=bucket)
    assert counter.snapshot() == {"HEAD_BUCKET": 1, "LIST": 2}
    assert counter.total == 3
    assert describe(counter.snapshot()) == "2 LIST + 1 HEAD_BUCKET"
    counter.reset()
    assert counter.total == 0


@pytest.mark.parametrize(
    ("records", "expected"),
    [
        # As aioversioned publishes: the sha256s are in its records, only LATEST needs a HEAD;
        # the library lists the tombstones of deleted versions too.
        (True, {"lib": {"LIST": 3, "HEAD": 1}, "floor": {"LIST": 2, "HEAD": 1}}),
        # As versioned 1.x writes: one HEAD per version and LATEST.
        (False, {"lib": {"LIST": 3, "HEAD": 4}, "floor": {"LIST": 1, "HEAD": 4}}),
    ],
)
async def test_list_versions_request_counts_of_each_contender(
    direct: Any,
    endpoint_url: str,
    bucket: str,
    moto_server: LocalS3,
    records: bool,
    expected: dict[str, dict[str, int]],
) -> None:
    """N=3 published versions and LATEST; the peer always lists, then HEADs all four."""
    expected = {**expected, "peer": {"LIST": 1, "HEAD": 4}}
    store = Store(bucket, "bench", direct, endpoint_url)
    case = ListVersions(3, records=records)
    await case.seed(store)
    with DelayProxy(moto_server.port, 0) as proxy:
        async with open_contenders(proxy.url, bucket, "bench", 0) as contenders:
            results = await measure(case, store, contenders, repeat=2, budget_s=60)
    by_contender = {m.contender: m for m in results}
    for name in ("lib", "peer", "floor"):
        assert len(by_contender[name].times_ms) == 2
        for counts in by_contender[name].requests:
            assert counts == expected[name], (name, counts)


def test_a_wrong_answer_fails_the_run() -> None:
    case = ListVersions(3)
    right = [("LATEST", "0" * 64), ("3", "1" * 64), ("2", "2" * 64), ("1", "3" * 64)]
    case.check("lib", right, None)
    with pytest.raises(AssertionError):
        case.check("lib", right[:-1], None)


def test_quick_run_writes_json_and_png(moto_server: LocalS3, tmp_path: Path) -> None:
    args = cli.parse_args(
        [
            "--quick",
            "--scenarios",
            "list_artifact_versions",
            "--delays",
            "0,5",
            "--repeat",
            "1",
            "--out",
            str(tmp_path),
            "--endpoint",
            moto_server.endpoint_url,
        ]
    )
    cli.run(args)
    document = json.loads((tmp_path / "benchmarks.json").read_text())
    assert {"date", "python", "nproc", "cpu_model", "packages", "args", "server"} <= set(
        document["meta"]
    )
    assert document["meta"]["nproc"] >= 1
    rows = document["results"]
    assert {(r["case"], r["delay_ms"], r["contender"]) for r in rows} == {
        (f"list_artifact_versions N={n}", d, c)
        for n in (3, 10)
        for d in (0.0, 5.0)
        for c in ("lib", "peer", "floor")
    }
    for row in rows:
        assert row["median_ms"] > 0
        if row["contender"] == "peer":  # one LIST, a HEAD per version and LATEST
            assert row["requests"] == row["param"] + 2
        elif row["contender"] == "floor":  # versions and records listed, LATEST's HEAD
            assert row["requests"] == 3
        else:  # the library lists the tombstones of deleted versions too
            assert row["requests"] == 4
        assert row["speedup_vs_peer"] > 0 and row["ratio_vs_floor"] > 0
    assert all(r["speedup_vs_peer"] == 1.0 for r in rows if r["contender"] == "peer")
    # No 20 ms delay ran: only the 0 ms "not slower than the peer" goals apply.
    assert {g["goal"].split(": ")[1] for g in document["goals"]} == {"not slower than peer at 0 ms"}
    assert (tmp_path / "img" / "benchmarks.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_rejects_bad_arguments() -> None:
    for argv in (["--delays", "x"], ["--scenarios", "nope"], ["--endpoint", "http://10.0.0.1:9"]):
        with pytest.raises(SystemExit):
            cli.parse_args(argv)
    assert cli.parse_args(["--delays", "0,20"]).delays == [0.0, 20.0]


def test_scale_quick_run_measures_every_operation(moto_server: LocalS3, tmp_path: Path) -> None:
    """A tiny N of each scale group, so the long run cannot rot."""
    sizes = scale.scale_sizes(quick=True, max_n=100_000, groups=["versions", "aliases", "names"])
    document = scale.run(moto_server.endpoint_url, tmp_path, sizes, delays=[0.0])
    done = {(r["group"], r["operation"], r["contender"]) for r in document["results"]}
    assert {
        ("versions", "list_artifact_versions", "lib"),
        ("versions", "listing: 16 concurrent ranges", "floor"),
        ("versions", "purge all but 10 (dry_run)", "lib"),
        ("versions", "purge all but 10", "lib"),
        ("versions", "publish_artifact_version", "lib"),
        ("versions", "get_artifact_content of version 1", "lib"),
        ("aliases", "list_aliases", "lib"),
        ("aliases", "put_alias (existing alias)", "lib"),
        ("aliases", "purge protection", "lib"),
        ("names", "list_artifact_names", "lib"),
    } <= done
    assert all(r["seconds"] > 0 and r["requests"] > 0 for r in document["results"])
    assert (tmp_path / "img" / "scale.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_ranges_cover_the_versions_folder_once(moto_server: LocalS3) -> None:
    async def run() -> list[list[str]]:
        async with AioSession().create_client(
            "s3", region_name="us-east-1", endpoint_url=moto_server.endpoint_url
        ) as client:
            await client.create_bucket(Bucket="ranges")
            await scale.seed_versions(client, "ranges", "r", [None, *range(1, 38)], records=False)
            return [
                await scale.list_versions_in_ranges(client, "ranges", "r", splits)
                for splits in (1, 4, 16)
            ]

    with cli.local_aws_environment():
        listed = asyncio.run(run())
    expected = [version_key("scale", "r", n) for n in [None, *range(37, 0, -1)]]
    assert all(keys == expected for keys in listed)


def test_cpu_putsizes_and_large_run_tiny(moto_server: LocalS3, tmp_path: Path) -> None:
    url = moto_server.endpoint_url
    with cli.local_aws_environment():
        args = argparse.Namespace(count=40, concurrency=4, rounds=1, versions=20)
        rows = asyncio.run(cpu.run_async(url, args))["results"]
        assert {r["request"].split()[0] for r in rows} == {
            "HEAD",
            "GET",
            "PUT",
            "LIST",
            "list_artifact_versions",
        }
        assert all(r["lib_us_per_request"] > 0 and r["floor_us_per_request"] > 0 for r in rows)
        big = asyncio.run(large.run_async(url, 9 * 1024 * 1024, 1, tmp_path, 1024 * 1024))
        assert all(row["verified_after"] for k, row in big["results"].items() if "down" in k)
        assert set(big["ratios"]) >= {"up_vs_floor", "down_vs_aws_cli"}

        async def sizes() -> list[dict[str, Any]]:
            async with AioSession().create_client(
                "s3", region_name="us-east-1", endpoint_url=url
            ) as client:
                await client.create_bucket(Bucket="putsizes-tiny")
            return await putsizes._measure(url, "putsizes-tiny", [1, 9], 1, "moto", 0.0)

        got = {(r["size_mib"], r["contender"]) for r in asyncio.run(sizes())}
    assert got == {(1, "peer"), (1, "single"), (9, "peer"), (9, "single"), (9, "mp8")}
