"""Open the three contenders behind one proxy, and time a case on each of them."""

from __future__ import annotations

import contextlib
import gc
import statistics
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession
from boto_session_manager import BotoSesManager
from versioned.api import s3_only_backend

from aioversioned import AsyncRepository

from .counting import RequestCounter
from .scenarios import Case, Floor, Peer
from .store import Store

CONTENDERS = ("lib", "peer", "floor")
REGION = "us-east-1"


@dataclass
class Measurement:
    """The runs of one contender on one case at one delay."""

    case: str
    scenario: str
    param: int
    delay_ms: float
    contender: str
    times_ms: list[float] = field(default_factory=list)
    requests: list[dict[str, int]] = field(default_factory=list)

    @property
    def median_ms(self) -> float:
        """Median wall time of the runs."""
        return statistics.median(self.times_ms)

    @property
    def request_count(self) -> int:
        """Requests of the median-ranked run (they rarely differ between runs)."""
        ranked = sorted(range(len(self.times_ms)), key=self.times_ms.__getitem__)
        return sum(self.requests[ranked[len(ranked) // 2]].values())


@dataclass
class Contenders:
    """The three clients, all pointed at the same proxy, each with its own counter."""

    delay_ms: float
    repo: AsyncRepository
    peer: Peer
    floor: Floor
    counters: dict[str, RequestCounter]


@contextlib.asynccontextmanager
async def open_contenders(
    endpoint_url: str, bucket: str, prefix: str, delay_ms: float
) -> AsyncIterator[Contenders]:
    """Create the clients, attach counters and send one warm-up request each."""
    counters = {name: RequestCounter() for name in CONTENDERS}
    async with AsyncRepository(
        bucket, prefix, endpoint_url=endpoint_url, aws_region=REGION
    ) as repo:
        # Benchmark-only reach into the library: its client is private.
        counters["lib"].attach(repo._s3._client)
        bsm = BotoSesManager(
            region_name=REGION, default_client_kwargs={"endpoint_url": endpoint_url}
        )
        peer = Peer(
            s3_only_backend.Repository(aws_region=REGION, s3_bucket=bucket, s3_prefix=prefix), bsm
        )
        counters["peer"].attach(bsm.s3_client)
        config = AioConfig(max_pool_connections=4096)
        async with AioSession().create_client(
            "s3", region_name=REGION, endpoint_url=endpoint_url, config=config
        ) as client:
            counters["floor"].attach(client)
            # First calls resolve credentials and endpoints; keep that out of the timings.
            await repo.bootstrap()
            if repo._s3.guard is not None:
                # The check of conditional writes runs once per repository, before its
                # first conditional write (5 requests): out of the timings too.
                await repo._s3.guard(prefix)
            peer.repo.bootstrap(bsm)
            await client.head_bucket(Bucket=bucket)
            try:
                yield Contenders(delay_ms, repo, peer, Floor(client, bucket, prefix), counters)
            finally:
                bsm.s3_client.close()


async def _run_once(case: Case, contenders: Contenders, name: str, state: Any) -> Any:
    if name == "lib":
        return await case.lib(contenders.repo, state)
    if name == "peer":
        # Blocking on purpose: the proxy and server live in other processes, and a
        # sync caller waits just like this.
        return case.peer(contenders.peer, state)
    return await case.floor(contenders.floor, state)


async def measure(
    case: Case, store: Store, contenders: Contenders, repeat: int, budget_s: float
) -> list[Measurement]:
    """Run each contender up to ``repeat`` times, interleaved.

    A contender stops repeating once its runs on this case took ``budget_s`` in total
    (it always runs at least once), which keeps the slow peer cases to a few runs.
    """
    results = {
        name: Measurement(case.label, case.scenario, case.param, contenders.delay_ms, name)
        for name in CONTENDERS
    }
    spent = dict.fromkeys(CONTENDERS, 0.0)
    started = time.monotonic()
    # A full collection of botocore's models costs ~0.1 s; freezing what exists now
    # makes the collection before each run cheap, so no run pays for another's garbage.
    gc.collect()
    gc.freeze()
    for rep in range(repeat):
        # Rotate the order so slow drift of a noisy machine hits everyone alike.
        order = CONTENDERS[rep % 3 :] + CONTENDERS[: rep % 3]
        for name in order:
            if rep > 0 and spent[name] >= budget_s:
                continue
            state = await case.prepare(store)
            counter = contenders.counters[name]
            gc.collect()
            counter.reset()
            start = time.perf_counter()
            result = await _run_once(case, contenders, name, state)
            elapsed = time.perf_counter() - start
            case.check(name, result, state)
            spent[name] += elapsed
            results[name].times_ms.append(elapsed * 1000)
            results[name].requests.append(counter.snapshot())
    gc.unfreeze()
    print(
        f"  {case.label} at {contenders.delay_ms:g} ms: {time.monotonic() - started:.1f} s",
        file=sys.stderr,
        flush=True,
    )
    for m in results.values():
        print(
            f"  {m.case:<42} {m.delay_ms:>4g} ms  {m.contender:<5} "
            f"{m.median_ms:>9.1f} ms  x{len(m.times_ms)}  {m.request_count} requests",
            file=sys.stderr,
            flush=True,
        )
    return list(results.values())
