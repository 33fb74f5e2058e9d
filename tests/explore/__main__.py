"""``python -m tests.explore --server moto --seeds 5000`` (soak) or ``--seed N`` (replay)."""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter
from dataclasses import asdict

import anyio

from .runner import Explorer, SeedResult, worker_main
from .servers import fake_aws_environment, serve


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.explore", description=__doc__)
    parser.add_argument("--server", choices=("moto", "seaweedfs", "cluster"), default="moto")
    parser.add_argument("--seeds", type=int, default=200, help="how many seeds (soak)")
    parser.add_argument("--first", type=int, default=0, help="first seed of the soak")
    parser.add_argument("--seed", type=int, help="replay one seed and show its calls")
    parser.add_argument(
        "--repeat", type=int, default=10, help="replay: attempts until it fails (timing varies)"
    )
    parser.add_argument(
        "--jobs", type=int, default=2, help="seeds in flight at once (replay: copies of the seed)"
    )
    parser.add_argument("--minutes", type=float, help="soak: stop starting seeds after this")
    parser.add_argument("--no-helper", action="store_true", help="one process only")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--bucket", help=argparse.SUPPRESS)
    parser.add_argument("--endpoints", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def failure_line(explorer: Explorer, result: SeedResult) -> str:
    """The one line a failing seed prints: its replay command and what it violated."""
    more = f" (+{len(result.violations) - 1} more)" if len(result.violations) > 1 else ""
    first = result.violations[0].splitlines()[0]
    return f"{explorer.replay_command(result.seed)}  # {first}{more}"


def show(result: SeedResult) -> str:
    """A seed in full: plan, every call's outcome in order of start, violations."""
    lines = [result.plan.describe(), f"faults drawn: {dict(result.injected)}", "calls:"]
    start = min((r.t0 for r in result.records), default=0.0)
    for rec in sorted(result.records, key=lambda r: r.t0):
        fields = asdict(rec)
        outcome = rec.status if rec.status == "ok" else f"{rec.status} {rec.error}: {rec.detail}"
        lines.append(
            f"  #{rec.index} w{rec.writer}/p{rec.process} {rec.op}"
            f" [{(rec.t0 - start) * 1000:.0f}-{(rec.t1 - start) * 1000:.0f} ms]"
            + (f" observed={rec.observed}" if rec.observed else "")
            + f" -> {outcome.strip()}"
            + (f" {fields['result']}" if rec.result else "")
        )
        lines += [f"      {fault}" for fault in rec.faults]
    if result.snapshot is not None:
        lines.append(result.snapshot.describe())
    lines += [f"VIOLATION {v}" for v in result.violations] or ["no violation"]
    return "\n".join(lines)


async def _replay(explorer: Explorer, seed: int, repeat: int, jobs: int) -> int:
    """Run ``seed`` up to ``repeat`` times, ``jobs`` copies at once (a violation that
    needs a busy machine shows more often under load); show the first failing run."""
    attempts = 0
    while attempts < repeat:
        batch = min(jobs, repeat - attempts)
        results = await explorer.run_seeds([seed] * batch, batch, lambda _: None)
        attempts += batch
        failing = [r for r in results if r.violations]
        if failing or attempts >= repeat:
            result = (failing or results)[0]
            print(f"{attempts} runs of up to {repeat}, {len(failing)} failing in the last {batch}")
            print(show(result))
            return 1 if failing else 0
    return 0


async def _soak(explorer: Explorer, args: argparse.Namespace) -> int:
    started = time.monotonic()
    deadline = started + args.minutes * 60 if args.minutes else None
    failed: list[SeedResult] = []
    done: list[SeedResult] = []

    def report(result: SeedResult) -> None:
        done.append(result)
        if result.violations:
            failed.append(result)
            print(failure_line(explorer, result), flush=True)
        if len(done) % 500 == 0:
            print(f"... {len(done)} seeds, {len(failed)} failing", file=sys.stderr, flush=True)

    seed = args.first
    end = args.first + args.seeds
    while seed < end and (deadline is None or time.monotonic() < deadline):
        batch = list(range(seed, min(seed + 100, end)))
        await explorer.run_seeds(batch, args.jobs, report)
        seed = batch[-1] + 1
    wall = time.monotonic() - started
    times = sorted(r.seconds for r in done)
    outcomes = Counter(f"{r.op}:{r.error or r.status}" for result in done for r in result.records)
    injected = sum((result.injected for result in done), Counter())
    print("calls: " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
    print(f"injected: {dict(injected.most_common())}")
    print(
        f"{explorer.server}: {len(done)} seeds ({args.first}..{seed - 1}), {len(failed)} failing,"
        f" {wall:.0f} s wall, {wall / max(len(done), 1):.3f} s per seed"
        f" (seed alone: median {statistics.median(times or [0]):.3f} s,"
        f" max {max(times or [0]):.2f} s; {args.jobs} in flight)"
    )
    return 1 if failed else 0


async def _main(args: argparse.Namespace) -> int:
    with serve(args.server) as endpoints:
        async with Explorer(args.server, endpoints, helper=not args.no_helper) as explorer:
            if args.seed is not None:
                return await _replay(explorer, args.seed, args.repeat, args.jobs)
            return await _soak(explorer, args)


def main(argv: list[str]) -> int:
    args = _parse(argv)
    if args.worker:
        anyio.run(worker_main, args.endpoints.split(","), args.bucket)
        return 0
    fake_aws_environment()
    return anyio.run(_main, args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
