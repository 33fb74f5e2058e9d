"""Print each installed package whose version differs from .ci/constraints.txt.

Run with the interpreter of the environment to compare (.ci/deps does, for each leg):

    .ci-venvs/newest/bin/python .ci/drift.py

One line per package, ``name: installed X, lock Y`` (``lock -`` for a package the lock
does not name); nothing when the environment is the lock's.
"""

from __future__ import annotations

import re
from importlib.metadata import distributions
from pathlib import Path

from packaging.markers import Marker

LOCK = Path(__file__).resolve().parent / "constraints.txt"
# What venv itself installs on older Pythons, which nothing here needs or pins.
SEEDED = {"setuptools"}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked() -> dict[str, str]:
    """The lock's version of each package, for this interpreter's markers."""
    pins: dict[str, str] = {}
    for line in LOCK.read_text().splitlines():
        requirement, _, marker = line.partition(";")
        if "==" not in requirement or requirement.startswith((" ", "#")):
            continue
        if marker.strip() and not Marker(marker.strip()).evaluate():
            continue
        name, version = requirement.split("==")
        pins[canonical(name)] = version.strip()
    return pins


def main() -> None:
    pins = locked()
    installed = {canonical(d.metadata["Name"]): d.version for d in distributions()}
    for name in sorted(installed):
        if name in SEEDED and name not in pins:
            continue
        if name != "aioversioned" and installed[name] != pins.get(name):
            print(f"{name}: installed {installed[name]}, lock {pins.get(name, '-')}")


if __name__ == "__main__":
    main()
