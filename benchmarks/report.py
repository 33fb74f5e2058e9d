"""Turn measurements into result rows, goal verdicts, a terminal table and JSON."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from .counting import describe
from .runner import Measurement

# Speed-ups over the peer that the issue hopes for at 20 ms: (scenario, param, factor).
SPEEDUP_GOALS = (
    ("list_artifact_versions", 200, 20.0),
    ("purge_artifact_versions", 200, 50.0),
    ("list_aliases", 20, 5.0),
    ("fan_out", 100, 20.0),
)
FLOOR_GOAL = 2.0  # at most this many times the floor's time, every case at 20 ms
GOAL_DELAY_MS = 20.0


def result_rows(measurements: list[Measurement]) -> list[dict[str, Any]]:
    """One row per case, delay and contender, with its ratios to the peer and the floor."""
    medians = {(m.case, m.delay_ms, m.contender): m.median_ms for m in measurements}
    rows = []
    for m in measurements:
        peer = medians.get((m.case, m.delay_ms, "peer"))
        floor = medians.get((m.case, m.delay_ms, "floor"))
        ranked = sorted(range(len(m.times_ms)), key=m.times_ms.__getitem__)
        rows.append(
            {
                "scenario": m.scenario,
                "case": m.case,
                "param": m.param,
                "delay_ms": m.delay_ms,
                "contender": m.contender,
                "median_ms": round(m.median_ms, 3),
                "runs": len(m.times_ms),
                "times_ms": [round(t, 3) for t in m.times_ms],
                "requests": m.request_count,
                "requests_by_operation": m.requests[ranked[len(ranked) // 2]],
                "speedup_vs_peer": round(peer / m.median_ms, 3) if peer else None,
                "ratio_vs_floor": round(m.median_ms / floor, 3) if floor else None,
            }
        )
    return rows


def _lib_rows(rows: list[dict[str, Any]], delay_ms: float) -> list[dict[str, Any]]:
    return [r for r in rows if r["contender"] == "lib" and r["delay_ms"] == delay_ms]


def evaluate_goals(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Compare the library's figures with the issue's goals; only measured cases count."""
    goals: list[dict[str, Any]] = []
    at_goal_delay = _lib_rows(rows, GOAL_DELAY_MS)
    for scenario, param, factor in SPEEDUP_GOALS:
        for row in at_goal_delay:
            if row["scenario"] == scenario and row["param"] == param:
                goals.append(
                    {
                        "goal": f"{row['case']}: >= {factor:g}x faster than peer at 20 ms",
                        "measured": row["speedup_vs_peer"],
                        "target": factor,
                        "met": row["speedup_vs_peer"] >= factor,
                    }
                )
    for row in at_goal_delay:
        goals.append(
            {
                "goal": f"{row['case']}: within {FLOOR_GOAL:g}x of the floor at 20 ms",
                "measured": row["ratio_vs_floor"],
                "target": FLOOR_GOAL,
                "met": row["ratio_vs_floor"] <= FLOOR_GOAL,
            }
        )
    for row in _lib_rows(rows, 0.0):
        goals.append(
            {
                "goal": f"{row['case']}: not slower than peer at 0 ms",
                "measured": row["speedup_vs_peer"],
                "target": 1.0,
                "met": row["speedup_vs_peer"] >= 1.0,
            }
        )
    return goals


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def load_average() -> list[float] | None:
    """1, 5 and 15 minute load: the machine is shared, so say how busy it was."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def library_revision() -> dict[str, Any]:
    """The commit of the measured aioversioned checkout, and whether it had local edits."""
    import aioversioned

    root = Path(aioversioned.__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--", "aioversioned"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit or None, "dirty": bool(status.strip())}


def machine_info() -> dict[str, Any]:
    """Date, interpreter, CPU and the versions of everything measured."""
    packages = ["aioversioned", "versioned", "aiobotocore", "botocore", "boto3", "moto"]
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "nproc": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "cpu_model": _cpu_model(),
        "packages": {name: _version(name) for name in packages},
        "loadavg_start": load_average(),
        "aioversioned_revision": library_revision(),
    }


def write_json(path: Path, document: dict[str, Any]) -> None:
    """Write the results file, creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def format_table(rows: list[dict[str, Any]]) -> str:
    """The terminal table, slowest delay first, cases in run order."""
    header = (
        f"{'scenario':<48} {'delay':>6} {'contender':<9} {'median ms':>10} {'runs':>4} "
        f"{'requests':>8}  {'speedup vs peer':>15} {'time / floor':>12}  {'requests by type'}"
    )
    lines = [header, "-" * len(header)]
    for delay in sorted({r["delay_ms"] for r in rows}, reverse=True):
        for r in (r for r in rows if r["delay_ms"] == delay):
            lines.append(
                f"{r['case']:<48} {r['delay_ms']:>4g}ms {r['contender']:<9} "
                f"{r['median_ms']:>10.1f} {r['runs']:>4} {r['requests']:>8}  "
                f"{_ratio(r['speedup_vs_peer']):>15} {_ratio(r['ratio_vs_floor']):>12}  "
                f"{describe(r['requests_by_operation'])}"
            )
        lines.append("")
    return "\n".join(lines)


def format_goals(goals: list[dict[str, Any]]) -> str:
    """One line per goal: met or not, with the measured figure."""
    return "\n".join(
        f"{'MET ' if g['met'] else 'MISS'}  {g['goal']}  (measured {g['measured']:.2f})"
        for g in goals
    )


def markdown_table(rows: list[dict[str, Any]], delay_ms: float) -> str:
    """The docs' table of one delay: the three contenders side by side per case."""
    by_case: dict[str, dict[str, dict[str, Any]]] = {}
    for row in rows:
        if row["delay_ms"] == delay_ms:
            by_case.setdefault(row["case"], {})[row["contender"]] = row
    lines = [
        f"| scenario ({delay_ms:g} ms per request) | aioversioned | versioned 1.0.1 | floor "
        "| vs peer | requests (ours / peer) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for case, found in by_case.items():
        lib, peer, floor = found["lib"], found["peer"], found["floor"]
        lines.append(
            f"| {case} | {lib['median_ms']:.0f} ms | {peer['median_ms']:.0f} ms "
            f"| {floor['median_ms']:.0f} ms | {lib['speedup_vs_peer']:.1f}\u00d7 "
            f"| {lib['requests']} / {peer['requests']} |"
        )
    return "\n".join(lines)
