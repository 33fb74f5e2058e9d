"""Seeded workloads: which calls each writer makes, and how hostile the network is.

Pure: ``make_plan(seed, ...)`` draws everything from ``random.Random(seed)``, so the
main process and a helper process build the same plan from the seed alone, and a
failing seed replays the same calls with the same faults.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

ALIASES = ("prod", "canary")
LATEST = "LATEST"

# op -> weight in the concurrent phase
OPS = {
    "put": 14,  # put_artifact(bytes)
    "put_stream": 5,  # put_artifact(async iterable): multipart upload + temporary object
    "publish": 20,
    "delete": 12,  # delete_artifact_version (never force)
    "purge": 6,  # purge_artifact_versions(keep_last_n=0..2, purge_older_than_secs=0)
    "alias": 12,  # put_alias, last writer wins
    "cas": 24,  # get_alias, then put_alias(expected_revision=its revision or "absent")
    "absent": 8,  # put_alias(expected_revision="absent")
    "unalias": 5,  # delete_alias
}
ALIAS_OPS = ("alias", "cas", "absent")


@dataclass(frozen=True)
class Call:
    """One planned call. ``index`` is unique in the seed (1-based, setup included).

    An alias write with a secondary version carries ``weight == index``: the tag that
    tells which call wrote a document or a history record. ``version``/``secondary``
    are ``"LATEST"`` or a decimal number.
    """

    index: int
    writer: int
    op: str
    content: int = 0
    version: str = LATEST
    secondary: str | None = None
    weight: int | None = None
    alias: str = ""
    keep: int = 0
    pause: float = 0.0


@dataclass(frozen=True)
class Writer:
    """A repository instance: in the main process (0) or the helper (1), on a gateway."""

    index: int
    process: int
    gateway: int
    calls: tuple[Call, ...]


@dataclass(frozen=True)
class Faults:
    """Per request attempt: probability of a fault (500, 503, a connection dropped before
    or after the server acted, a request delivered late), of a hold (released when
    another writer's call ends, or after ``hold_timeout``), and of a delay up to
    ``max_delay`` seconds."""

    fault: float
    hold: float
    hold_timeout: float
    delay: float
    max_delay: float


@dataclass(frozen=True)
class Plan:
    seed: int
    contents: tuple[bytes, ...]
    setup: tuple[Call, ...]
    writers: tuple[Writer, ...]
    faults: Faults
    multipart_copy: bool  # publish by UploadPartCopy (COPY_LIMIT lowered) instead of CopyObject

    @property
    def calls(self) -> tuple[Call, ...]:
        """Every call, setup first."""
        return self.setup + tuple(call for w in self.writers for call in w.calls)

    @property
    def processes(self) -> int:
        return 1 + any(w.process for w in self.writers)

    def describe(self) -> str:
        f = self.faults
        lines = [
            f"seed {self.seed}: {len(self.writers)} writers in {self.processes} process(es),"
            f" faults {f.fault:.2f} holds {f.hold:.2f} ({f.hold_timeout * 1000:.0f} ms)"
            f" delays {f.delay:.2f} (<{f.max_delay * 1000:.0f} ms)"
            + (", multipart copies" if self.multipart_copy else "")
        ]
        for call in self.setup:
            lines.append(f"  setup {_show(call)}")
        for w in self.writers:
            where = f"process {w.process}, gateway {w.gateway}"
            lines.append(f"  writer {w.index} ({where}): " + "; ".join(_show(c) for c in w.calls))
        return "\n".join(lines)


def _show(call: Call) -> str:
    if call.op in ("put", "put_stream"):
        return f"#{call.index} {call.op}(content {call.content})"
    if call.op == "delete":
        return f"#{call.index} delete({call.version})"
    if call.op == "purge":
        return f"#{call.index} purge(keep {call.keep})"
    if call.op in ALIAS_OPS:
        second = f", {call.secondary} w{call.weight}" if call.secondary else ""
        return f"#{call.index} {call.op} {call.alias} -> {call.version}{second}"
    if call.op == "unalias":
        return f"#{call.index} unalias {call.alias}"
    return f"#{call.index} {call.op}"


def _alias_targets(rng: random.Random, top: int, tagged: bool) -> tuple[str, str | None]:
    """A primary target and, when tagged, a secondary one: another number (a secondary
    can not be LATEST: ``None``/``"LATEST"`` there means no secondary)."""
    numbers = [str(n) for n in range(1, top + 1)]
    if rng.random() < 0.15:
        numbers.append(str(top + 1))  # exists only if a publish of this seed made it
    primary = LATEST if rng.random() < 0.25 else rng.choice(numbers)
    if not tagged:
        return primary, None
    return primary, rng.choice([n for n in numbers if n != primary])


def make_plan(seed: int, *, gateways: int = 1, helper: bool = True) -> Plan:
    """The plan of ``seed``; ``gateways`` and ``helper`` say what the run offers."""
    rng = random.Random(seed)
    contents = tuple(f"seed {seed} content {i}".encode() * rng.randint(1, 3) for i in range(3))
    index = 0

    def next_index() -> int:
        nonlocal index
        index += 1
        return index

    published = rng.choice((2, 2, 3))
    setup: list[Call] = []
    for n in range(published):
        setup.append(Call(next_index(), 0, "put", content=n))
        setup.append(Call(next_index(), 0, "publish"))
    if rng.random() < 0.7:
        i = next_index()
        setup.append(Call(i, 0, "alias", version=LATEST, secondary="1", weight=i, alias="prod"))
    top = published  # the versions after setup; a target may also be the next one

    n_writers = rng.choice((2, 2, 3, 3, 4))
    two_processes = helper and rng.random() < 0.35
    in_helper = set(rng.sample(range(1, n_writers), rng.randint(1, n_writers - 1)))
    ops, weights = zip(*OPS.items(), strict=True)
    writers = []
    for w in range(n_writers):
        calls = []
        for _ in range(rng.choice((1, 2, 2, 3))):
            op = rng.choices(ops, weights)[0]
            i = next_index()
            pause = rng.uniform(0, 0.01) if rng.random() < 0.5 else 0.0
            if op in ("put", "put_stream"):
                call = Call(i, w, op, content=rng.randrange(len(contents)), pause=pause)
            elif op == "delete":
                call = Call(i, w, op, version=str(rng.randint(1, top + 1)), pause=pause)
            elif op == "purge":
                call = Call(i, w, op, keep=rng.randint(0, 2), pause=pause)
            elif op in ALIAS_OPS:
                alias = rng.choice(ALIASES if op != "absent" else ("canary", "canary", "prod"))
                tagged = op != "alias" or rng.random() < 0.75
                version, secondary = _alias_targets(rng, top, tagged)
                weight = i if secondary is not None else None
                call = Call(
                    i,
                    w,
                    op,
                    version=version,
                    secondary=secondary,
                    weight=weight,
                    alias=alias,
                    pause=pause,
                )
            elif op == "unalias":
                call = Call(i, w, op, alias=rng.choice(ALIASES), pause=pause)
            else:
                call = Call(i, w, op, pause=pause)
            calls.append(call)
        process = 1 if two_processes and w in in_helper else 0
        gateway = rng.randrange(gateways)
        writers.append(Writer(w, process, gateway, tuple(calls)))
    if gateways > 1 and len({w.gateway for w in writers}) == 1 and rng.random() < 0.8:
        last = writers[-1]
        writers[-1] = Writer(last.index, last.process, 1 - last.gateway, last.calls)

    level = rng.choice(("calm", "faulty", "faulty", "hostile"))
    faults = Faults(
        fault={"calm": 0.0, "faulty": 0.1, "hostile": 0.25}[level],
        hold=rng.choice((0.0, 0.05, 0.15)),
        hold_timeout=rng.uniform(0.02, 0.25),
        delay=rng.choice((0.0, 0.2, 0.5)),
        max_delay=rng.choice((0.005, 0.03)),
    )
    assert index <= 99, "alias tags are weights: at most 99 calls per seed"
    return Plan(
        seed=seed,
        contents=contents,
        setup=tuple(setup),
        writers=tuple(writers),
        faults=faults,
        multipart_copy=rng.random() < 0.2,
    )
