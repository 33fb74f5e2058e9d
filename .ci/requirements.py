"""Print the requirements of a dependency-range run, one a line, from pyproject.toml.

Every runtime dependency, the local extra (the moto server the tests start is
aioversioned._local's, so the range tests run it on that extra's floors), and the test
extra's entries for the tools the range tests import, so that their floors come from the
one file the package declares them in:

    python .ci/requirements.py
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # .ci/deps installs tomli for Python 3.10
    import tomli as tomllib

# What tests/conftest.py and the range tests (.ci/deps) import besides the package.
TEST_TOOLS = {"moto", "pytest", "pytest-asyncio", "versioned", "awscli", "s3fs", "obstore"}


def name_of(requirement: str) -> str:
    found = re.match(r"[A-Za-z0-9_.-]+", requirement)
    return found[0].lower() if found else ""


def main() -> None:
    root = Path(__file__).resolve().parent.parent
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    tools = [r for r in project["optional-dependencies"]["test"] if name_of(r) in TEST_TOOLS]
    missing = TEST_TOOLS - {name_of(r) for r in tools}
    if missing:
        sys.exit(f"pyproject.toml's test extra lacks {sorted(missing)}")
    local = project["optional-dependencies"]["local"]
    print("\n".join([f"-e {root}", *project["dependencies"], *local, *tools]))


if __name__ == "__main__":
    main()
