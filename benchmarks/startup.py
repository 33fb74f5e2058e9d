"""``python -m benchmarks.startup``: the wall time of short CLI commands, median of N runs.

Each command runs ``--runs`` times (10) as a fresh process, as a shell would start it
(``hyperfine``-like, without a shell); the table shows the median and the spread.
``--against DIR`` runs the package in DIR instead (a checkout of an older commit), for
a before/after comparison; the console script is the module ``aioversioned.cli``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

COMMANDS = [["--version"], ["--help"], ["get", "--help"], ["alias", "history", "--help"]]
_RUN = "import sys; from aioversioned.cli import main; sys.argv[0] = 'aioversioned'; main()"


def time_command(args: list[str], runs: int, against: Path | None) -> list[float]:
    env = dict(os.environ)
    if against is not None:
        env["PYTHONPATH"] = str(against)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", _RUN, *args],
            stdout=subprocess.DEVNULL,
            env=env,
            cwd=against or Path.cwd(),
            check=True,
            timeout=60,
        )
        times.append(time.perf_counter() - start)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.startup", description=__doc__)
    parser.add_argument("--runs", type=int, default=10, help="runs per command (10)")
    parser.add_argument("--against", type=Path, help="run the package in DIR")
    args = parser.parse_args(argv)
    print(f"load average {os.getloadavg()[0]:.1f}")
    print("| command | median | min | max |\n| --- | ---: | ---: | ---: |")
    for command in COMMANDS:
        times = time_command(command, args.runs, args.against)
        print(
            f"| `aioversioned {' '.join(command)}` | {statistics.median(times):.3f} s "
            f"| {min(times):.3f} s | {max(times):.3f} s |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
