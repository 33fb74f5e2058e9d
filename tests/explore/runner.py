"""Running seeds: writers in this process and in a long-lived helper process.

A process opens its repositories once (``Fleet``: one per writer slot and gateway;
opening a client costs ~70 ms) and keeps them across seeds. Each seed works on its
own artifact name in the run's bucket. The main process runs the setup calls (no
faults), starts the helper's writers of the seed, runs its own writers alongside,
then observes the store and checks it (``checker.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
import traceback
import uuid
import weakref
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import anyio.to_thread
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from anyio.streams.buffered import BufferedByteReceiveStream

from aioversioned import AioVersionedError, AliasNotFoundError, AsyncRepository

from . import checker
from .faults import SCOPE, Scope, SeededFaults, SeedRun
from .workload import Call, Plan, make_plan

ROOT = Path(__file__).resolve().parents[2]
CALL_TIMEOUT = 20.0  # a call still running after this is reported as a hang
SLOTS = 4  # writer repositories per process and gateway
PREFIX = "explore"


@dataclass
class Record:
    """What one call did, as the caller saw it. ``t0``/``t1`` are ``time.monotonic()``
    (one clock for every process on the machine)."""

    index: int
    writer: int
    process: int
    op: str
    t0: float
    t1: float = 0.0
    status: str = "ok"  # ok | error (an AioVersionedError) | raw (any other) | timeout
    error: str = ""
    detail: str = ""
    result: dict[str, Any] = field(default_factory=dict)
    observed: str | None = None  # cas: the revision get_alias returned, or "absent"
    faults: list[str] = field(default_factory=list)  # faults and holds on its requests


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data[: len(data) // 2]
    yield data[len(data) // 2 :]


async def _invoke(repo: AsyncRepository, plan: Plan, name: str, call: Call, rec: Record) -> None:
    secondary = call.secondary
    if call.op == "put":
        a = await repo.put_artifact(name, plan.contents[call.content])
        rec.result = {"sha256": a.sha256}
    elif call.op == "put_stream":
        a = await repo.put_artifact(name, _chunks(plan.contents[call.content]))
        rec.result = {"sha256": a.sha256}
    elif call.op == "publish":
        a = await repo.publish_artifact_version(name)
        rec.result = {"version": a.version, "sha256": a.sha256}
    elif call.op == "delete":
        await repo.delete_artifact_version(name, call.version)
    elif call.op == "purge":
        _, gone = await repo.purge_artifact_versions(
            name, keep_last_n=call.keep, purge_older_than_secs=0
        )
        rec.result = {"deleted": [[a.version, a.sha256] for a in gone]}
    elif call.op == "unalias":
        await repo.delete_alias(name, call.alias)
    else:
        expected = None
        if call.op == "absent":
            expected = "absent"
        elif call.op == "cas":
            try:
                expected = (await repo.get_alias(name, call.alias)).revision
            except AliasNotFoundError:
                expected = "absent"
            rec.observed = expected
        alias = await repo.put_alias(
            name,
            call.alias,
            call.version,
            secondary,
            call.weight,
            expected_revision=expected,
        )
        rec.result = {
            "revision": alias.revision,
            "version": alias.version,
            "secondary_version": alias.secondary_version,
            "secondary_version_weight": alias.secondary_version_weight,
        }


async def perform(repo: AsyncRepository, plan: Plan, name: str, call: Call, process: int) -> Record:
    """Make one call; every outcome becomes a Record, nothing is raised."""
    rec = Record(call.index, call.writer, process, call.op, time.monotonic())
    with anyio.move_on_after(CALL_TIMEOUT) as scope:
        try:
            await _invoke(repo, plan, name, call, rec)
        except AioVersionedError as err:
            rec.status, rec.error, rec.detail = "error", type(err).__name__, str(err)
        except Exception as err:  # a raw exception is itself a violation
            rec.status, rec.error = "raw", type(err).__name__
            rec.detail = "".join(traceback.format_exception(err)[-6:])
    if scope.cancelled_caught:
        rec.status, rec.detail = "timeout", f"still running after {CALL_TIMEOUT} s"
    rec.t1 = time.monotonic()
    return rec


@contextlib.contextmanager
def copy_limit(multipart: bool) -> Iterator[None]:
    """Publish by UploadPartCopy (one part) for this seed: the library's size switch
    is lowered, as tests/test_transfer.py does, so tiny contents take that path."""
    from aioversioned import _transfer

    saved = getattr(_transfer, "COPY_LIMIT", None)
    if not multipart or saved is None:
        yield
        return
    _transfer.COPY_LIMIT = 1
    try:
        yield
    finally:
        _transfer.COPY_LIMIT = saved


class Fleet:
    """The writer repositories of one process: ``SLOTS`` per gateway, opened once."""

    def __init__(self, endpoints: list[str], bucket: str) -> None:
        self.endpoints = endpoints
        self.bucket = bucket
        self.repos: dict[tuple[int, int], AsyncRepository] = {}

    async def open(self, stack: AsyncExitStack) -> Fleet:
        for gateway, url in enumerate(self.endpoints):
            for slot in range(SLOTS):
                repo = AsyncRepository(
                    self.bucket, PREFIX, endpoint_url=url, aws_region="us-east-1"
                )
                self.repos[gateway, slot] = await stack.enter_async_context(repo)
                SeededFaults(repo)
        return self

    def repo(self, gateway: int, slot: int) -> AsyncRepository:
        return self.repos[gateway, slot]

    async def run_writers(
        self, plan: Plan, name: str, process: int, injected: Counter[str]
    ) -> list[Record]:
        """Run this process's writers of the seed concurrently; their records.

        ``injected`` counts the faults, holds and delays drawn. Late requests are
        delivered in the writers' task group: all have landed when this returns.
        """
        writers = [w for w in plan.writers if w.process == process]
        records: list[Record] = []
        if not writers:
            return records
        artifact_dir = self.repo(0, 0).layout.artifact_dir(name)

        async def writer_task(run: SeedRun, index: int, gateway: int, calls: tuple[Call, ...]):
            repo = self.repo(gateway, index % SLOTS)
            for call in calls:
                await anyio.sleep(call.pause)
                scope = Scope(run, index, call.index)
                token = SCOPE.set(scope)
                try:
                    rec = await perform(repo, plan, name, call, process)
                finally:
                    SCOPE.reset(token)
                rec.faults = scope.trace
                records.append(rec)
                run.call_ended()

        with copy_limit(plan.multipart_copy):
            async with anyio.create_task_group() as group:
                calls = sum(len(w.calls) for w in writers)
                run = SeedRun(plan.seed, plan.faults, group, artifact_dir, calls)
                for w in writers:
                    group.start_soon(writer_task, run, w.index, w.gateway, w.calls)
        injected.update(run.injected)
        return records


class Helper:
    """The helper process: ``python -m tests.explore --worker``; jobs by line of JSON."""

    def __init__(self, endpoints: list[str], bucket: str) -> None:
        self.command = [
            sys.executable,
            "-m",
            "tests.explore",
            "--worker",
            "--bucket",
            bucket,
            "--endpoints",
            ",".join(endpoints),
        ]
        self._waiting: dict[int, tuple[anyio.Event, list[Any]]] = {}
        self._next = 0
        self._lock = anyio.Lock()

    async def open(self, stack: AsyncExitStack) -> Helper:
        self._process = await anyio.open_process(self.command, cwd=ROOT, stderr=None)
        stack.push_async_callback(self._close)
        assert self._process.stdout is not None
        self._reader = BufferedByteReceiveStream(self._process.stdout)
        with anyio.fail_after(60):
            ready = await self._reader.receive_until(b"\n", 1 << 20)
        if ready != b"ready":
            raise RuntimeError(f"helper process said {ready!r}")
        group = await stack.enter_async_context(anyio.create_task_group())
        group.start_soon(self._dispatch)
        stack.callback(group.cancel_scope.cancel)
        return self

    async def _dispatch(self) -> None:
        while True:
            line = await self._reader.receive_until(b"\n", 1 << 26)
            answer = json.loads(line)
            event, box = self._waiting.pop(answer["id"])
            box.append(answer)
            event.set()

    async def run(self, job: dict[str, Any], injected: Counter[str]) -> list[Record]:
        """Run a seed's helper writers; their records."""
        self._next += 1
        number = self._next
        event, box = anyio.Event(), []
        self._waiting[number] = (event, box)
        assert self._process.stdin is not None
        async with self._lock:
            await self._process.stdin.send(json.dumps({**job, "id": number}).encode() + b"\n")
        with anyio.fail_after(CALL_TIMEOUT * 4):
            await event.wait()
        if "error" in box[0]:
            raise RuntimeError(f"helper process failed: {box[0]['error']}")
        injected.update(box[0]["injected"])
        return [Record(**r) for r in box[0]["records"]]

    async def _close(self) -> None:
        with anyio.CancelScope(shield=True):
            if self._process.stdin is not None:
                await self._process.stdin.aclose()
            with anyio.move_on_after(5):
                await self._process.wait()
            if self._process.returncode is None:
                self._process.kill()
                await self._process.wait()


async def worker_main(endpoints: list[str], bucket: str) -> None:
    """The helper process: run the jobs read from stdin until it closes."""
    out_lock = anyio.Lock()

    async def job(line: bytes) -> None:
        request = json.loads(line)
        try:
            plan = make_plan(request["seed"], gateways=len(endpoints), helper=True)
            injected: Counter[str] = Counter()
            records = await fleet.run_writers(plan, request["name"], 1, injected)
            answer: dict[str, Any] = {
                "id": request["id"],
                "records": [asdict(r) for r in records],
                "injected": injected,
            }
        except Exception as err:  # reported to the main process, which fails loudly
            answer = {"id": request["id"], "error": "".join(traceback.format_exception(err))}
        async with out_lock:
            sys.stdout.write(json.dumps(answer) + "\n")
            sys.stdout.flush()

    async with AsyncExitStack() as stack:
        fleet = await Fleet(endpoints, bucket).open(stack)
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        async with anyio.create_task_group() as group:
            while line := await anyio.to_thread.run_sync(sys.stdin.buffer.readline):
                group.start_soon(job, line)


@dataclass
class SeedResult:
    seed: int
    plan: Plan
    records: list[Record]
    violations: list[str]
    seconds: float
    injected: Counter[str] = field(default_factory=Counter)
    snapshot: checker.Snapshot | None = None


class Explorer:
    """Runs seeds against one server (or cluster); ``async with Explorer(...) as ex:``."""

    def __init__(
        self,
        server: str,
        endpoints: list[str],
        *,
        helper: bool = True,
        bucket: str = "",
        keep: bool = False,
    ) -> None:
        """``keep``: leave every seed's objects (by default only failing seeds' stay)."""
        self.keep = keep
        self.server = server
        self.endpoints = endpoints
        self.use_helper = helper
        self.bucket = bucket or f"explore-{uuid.uuid4().hex[:16]}"
        self._attempts: Counter[int] = Counter()

    async def __aenter__(self) -> Explorer:
        self._stack = AsyncExitStack()
        await self._stack.__aenter__()
        session = get_session()
        self.raw = await self._stack.enter_async_context(
            session.create_client(
                "s3",
                endpoint_url=self.endpoints[0],
                region_name="us-east-1",
                config=AioConfig(s3={"addressing_style": "path"}, retries={"mode": "standard"}),
            )
        )
        with contextlib.suppress(Exception):  # already there (a replay in the same bucket)
            await self.raw.create_bucket(Bucket=self.bucket)
        self.fleet = await Fleet(self.endpoints, self.bucket).open(self._stack)
        self.helper = None
        if self.use_helper:
            self.helper = await Helper(self.endpoints, self.bucket).open(self._stack)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.__aexit__(None, None, None)

    def replay_command(self, seed: int) -> str:
        return f"python -m tests.explore --server {self.server} --seed {seed}"

    async def run_seed(self, seed: int) -> SeedResult:
        """Setup, the concurrent phase in one or two processes, then the check."""
        plan = make_plan(seed, gateways=len(self.endpoints), helper=self.helper is not None)
        self._attempts[seed] += 1
        attempt = self._attempts[seed]
        return await self.run_plan(plan, f"s{seed}" if attempt == 1 else f"s{seed}-{attempt}")

    async def run_plan(self, plan: Plan, name: str) -> SeedResult:
        """Run ``plan`` on the artifact ``name`` (a fresh one) and check the outcome.

        Writers of process 1 go to the helper, which rebuilds the plan from its seed.
        """
        started = time.monotonic()
        setup_repo = self.fleet.repo(0, 0)
        records = [await perform(setup_repo, plan, name, call, 0) for call in plan.setup]
        injected: Counter[str] = Counter()
        snapshot = None
        try:
            if plan.processes == 1 or self.helper is None:
                records += await self.fleet.run_writers(plan, name, 0, injected)
            else:
                helper = self.helper
                box: list[list[Record]] = []

                async def remote() -> None:
                    box.append(await helper.run({"seed": plan.seed, "name": name}, injected))

                async with anyio.create_task_group() as group:
                    group.start_soon(remote)
                    records += await self.fleet.run_writers(plan, name, 0, injected)
                records += box[0]
            snapshot = await checker.observe(setup_repo, self.raw, self.bucket, name)
            violations = checker.check(plan, records, snapshot)
            if not violations and not self.keep:  # a failing seed's objects stay
                await checker.clean(self.raw, self.bucket, snapshot)
        except Exception as err:  # the explorer's own failure: never a silent pass
            violations = [f"explorer error: {''.join(traceback.format_exception(err))}"]
        seconds = time.monotonic() - started
        return SeedResult(plan.seed, plan, records, violations, seconds, injected, snapshot)

    async def run_seeds(
        self, seeds: list[int], jobs: int = 1, on_result: Callable[[SeedResult], None] = print
    ) -> list[SeedResult]:
        """Run ``seeds``, up to ``jobs`` at once, calling ``on_result`` as each ends.

        A multipart-copy seed runs alone: it lowers a module-wide size switch.
        """
        limiter = anyio.CapacityLimiter(jobs)
        gate = _Gate.of_this_loop()
        results: list[SeedResult] = []

        async def one(seed: int) -> None:
            plan = make_plan(seed, gateways=len(self.endpoints), helper=self.helper is not None)
            async with limiter, gate.exclusive() if plan.multipart_copy else gate.shared():
                result = await self.run_seed(seed)
            results.append(result)
            on_result(result)

        async with anyio.create_task_group() as group:
            for seed in seeds:
                group.start_soon(one, seed)
        return results


class _Gate:
    """Shared or exclusive use of the module-wide copy switch, for every explorer of
    the process (two explorers, moto and SeaweedFS, may run at once)."""

    @classmethod
    def of_this_loop(cls) -> _Gate:
        loop = asyncio.get_running_loop()
        if loop not in _GATES:
            _GATES[loop] = cls()
        return _GATES[loop]

    def __init__(self) -> None:
        self._condition = anyio.Condition()
        self._shared = 0
        self._exclusive = False

    @contextlib.asynccontextmanager
    async def shared(self) -> AsyncIterator[None]:
        async with self._condition:
            while self._exclusive:
                await self._condition.wait()
            self._shared += 1
        try:
            yield
        finally:
            async with self._condition:
                self._shared -= 1
                self._condition.notify_all()

    @contextlib.asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        async with self._condition:
            while self._exclusive or self._shared:
                await self._condition.wait()
            self._exclusive = True
        try:
            yield
        finally:
            async with self._condition:
                self._exclusive = False
                self._condition.notify_all()


_GATES: weakref.WeakKeyDictionary[object, _Gate] = weakref.WeakKeyDictionary()
