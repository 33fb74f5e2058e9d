"""Faults drawn from the seed for every request a writer's call sends.

Each writer's repository carries a ``SeededFaults`` (an ``Interposer`` from
tests/interpose.py). A request is faulted only inside a call of a seed: the writer
sets ``SCOPE`` around the call and the library's own tasks inherit it. The decision
for a request attempt is drawn from a hash of (seed, writer, call, operation, key
without random tokens, attempt, occurrence), not from a shared random stream, so it
does not depend on how concurrent requests happen to be ordered.

At most ``MAX_FAULTS`` attempts of one botocore invocation are faulted, fewer than its
5 attempts: every request eventually reaches the server, so a transient fault alone
never turns into a StorageError, and the checker can hold the library to exact
outcomes.

A ``late`` attempt (a fault like the others) is kept back: the client sees a dropped
connection at once and botocore goes on as usual, and the kept request reaches the
server later, after 1-3 more calls of the seed ended or ``LATE_SECONDS`` at most, always
within the seed's task group: before its concurrent phase ends and the checker reads
the store.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import anyio
from anyio.abc import TaskGroup

from aioversioned import AsyncRepository
from tests.interpose import Interposer, Rule, request_key

from .workload import Faults

MAX_FAULTS = 2
BACKOFF_SCALE = 0.03  # botocore waits rand(0, 1) * 2**attempt s between attempts; we scale it
_TOKEN = re.compile(r"[0-9a-f]{16,}")
LATE_SECONDS = (0.05, 0.4)  # a late request waits at most this long (drawn) for calls to end
DELIVERY_TIMEOUT = 10.0  # a late request the server does not answer by then: explorer error
_FAULT_KINDS = (
    ("fail", 500),
    ("fail", 503),
    ("drop_before", 0),
    ("drop_after", 0),
    ("late", 0),
)
_FAULT_WEIGHTS = (1, 1, 1, 2, 1)


@dataclass
class SeedRun:
    """What the requests of one seed's concurrent phase share in one process."""

    seed: int
    faults: Faults
    group: TaskGroup
    artifact_dir: str
    calls: int  # of the seed's writers in this process: no more than these ever end
    completed: int = 0
    progress: anyio.Event = field(default_factory=anyio.Event)
    injected: Counter[str] = field(default_factory=Counter)

    def call_ended(self) -> None:
        self.completed += 1
        self.progress.set()
        self.progress = anyio.Event()

    async def _calls_end(self, after: int, seconds: float) -> None:
        """Wait until ``after`` more calls ended, or ``seconds`` passed."""
        target = self.completed + after
        with anyio.move_on_after(seconds):
            while self.completed < target:
                await self.progress.wait()

    async def _release(self, rule: Rule, after: int, seconds: float) -> None:
        """Release a held request once ``after`` more calls ended, or after ``seconds``."""
        await self._calls_end(after, seconds)
        rule.release()

    async def _deliver(
        self, faults: Interposer, rule: Rule, action: Action, trace: list[str], what: str
    ) -> None:
        """Send a late request once ``action.after`` more calls ended (or all of this
        process's calls did: no later one would come), or after ``action.seconds``."""
        await self._calls_end(min(action.after, self.calls - self.completed), action.seconds)
        if rule.pending:
            trace.append(f"delivering {what} ({self.completed} calls ended)")
            with anyio.fail_after(DELIVERY_TIMEOUT):
                await faults.deliver(rule)


@dataclass
class Scope:
    """The call a request belongs to; set by the writer around each call."""

    run: SeedRun
    writer: int
    call: int
    seen: Counter[tuple[str, str, int]] = field(default_factory=Counter)
    faulted: Counter[str] = field(default_factory=Counter)  # invocation id -> faults
    trace: list[str] = field(default_factory=list)  # faults and holds, for a replay


SCOPE: ContextVar[Scope | None] = ContextVar("explore_scope", default=None)


def _header(headers: Any, name: str) -> str:
    value = headers.get(name, "")
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass(frozen=True)
class Action:
    kind: str  # fail, drop_before, drop_after, late, delay, hold
    status: int = 0
    seconds: float = 0.0
    after: int = 0


def draw(scope: Scope, operation: str, key: str, headers: Any) -> Action | None:
    """The fault, hold or delay for one request attempt (None: send it as is)."""
    f = scope.run.faults
    relative = _TOKEN.sub("*", key.removeprefix(scope.run.artifact_dir))
    attempt_text = _header(headers, "amz-sdk-request")
    match = re.search(r"attempt=(\d+)", attempt_text)
    attempt = int(match.group(1)) if match else 1
    occurrence = (operation, relative, attempt)
    scope.seen[occurrence] += 1
    rng = random.Random(
        f"{scope.run.seed}|{scope.writer}|{scope.call}|{operation}|{relative}|{attempt}"
        f"|{scope.seen[occurrence]}"
    )
    invocation = _header(headers, "amz-sdk-invocation-id")
    r = rng.random()
    if r < f.fault:
        if scope.faulted[invocation] >= MAX_FAULTS:
            return None
        scope.faulted[invocation] += 1
        kind, status = rng.choices(_FAULT_KINDS, _FAULT_WEIGHTS)[0]
        if kind == "late":
            return Action(kind, seconds=rng.uniform(*LATE_SECONDS), after=rng.randint(1, 3))
        return Action(kind, status=status)
    r -= f.fault
    if r < f.hold:
        return Action("hold", seconds=f.hold_timeout * rng.uniform(0.5, 1), after=rng.randint(1, 2))
    r -= f.hold
    if r < f.delay:
        return Action("delay", seconds=rng.uniform(0, f.max_delay))
    return None


def _exactly(key: str) -> Callable[[str], bool]:
    return lambda other: other == key


class SeededFaults(Interposer):
    """An Interposer whose rules are drawn per request from the current ``Scope``."""

    def __init__(self, repo: AsyncRepository) -> None:
        super().__init__(repo)
        _tune_retries(repo)

    async def _before_send(self, request: Any, event_name: str, **kwargs: Any) -> Any:
        scope = SCOPE.get()
        if scope is not None:
            operation = event_name.rsplit(".", 1)[1]
            key = request_key(operation, request.url)
            action = draw(scope, operation, key, request.headers)
            if action is not None:
                # Inserted first and consumed by this very request: nothing awaits between.
                rule = Rule(
                    operation,
                    _exactly(key),
                    action.kind,
                    times=1,
                    seconds=action.seconds,
                    status=action.status,
                )
                self.rules.insert(0, rule)
                kind = f"{action.kind}{action.status or ''}"
                scope.run.injected[kind] += 1
                what = f"{kind} {operation} {key.removeprefix(scope.run.artifact_dir)}"
                if action.kind != "delay":
                    scope.trace.append(what)
                if action.kind == "hold":
                    scope.run.group.start_soon(
                        scope.run._release, rule, action.after, action.seconds
                    )
                elif action.kind == "late":
                    scope.run.group.start_soon(
                        scope.run._deliver, self, rule, action, scope.trace, what
                    )
        if len(self.rules) > 64:
            self.rules[:] = [r for r in self.rules if r.times is None or r.hits < r.times]
        if len(self.log) > 10_000:
            del self.log[:]
        return await super()._before_send(request, event_name, **kwargs)


def _tune_retries(repo: AsyncRepository) -> None:
    """Shorter botocore backoff (same attempts, same order), and no retry quota.

    The standard retry mode waits up to 1, 2, 4 ... s between attempts; scaled down,
    a seed stays fast. The retry quota would carry state from seed to seed in a
    long-lived client (a faulty seed would starve the next one's retries).
    """
    client = repo._s3._client
    emitter = getattr(client.meta.events, "_emitter", client.meta.events)
    entry = emitter._unique_id_handlers.get("retry-config-s3")
    if entry is None:
        return
    handler = entry["handler"].__self__
    backoff = handler._retry_policy._retry_backoff
    backoff._random = lambda: random.random() * BACKOFF_SCALE
    quota = handler._retry_quota._quota
    quota._max_capacity = quota._available_capacity = 10**9
