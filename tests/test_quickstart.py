"""The quick start runs end to end from the installed package, on its own moto server."""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from aioversioned import Repository
from aioversioned._local import read_port, terminate

if sys.version_info >= (3, 11):
    import tomllib
else:  # pytest and mypy install tomli on 3.10
    import tomli as tomllib

# The `versioned` S3-only tour, in order: each line as the quick start prints it.
TOUR = (
    "1. Repository: bucket aioversioned-quickstart, prefix 'artifacts', suffix '.bin'"
    " (bucket created).",
    "2. Put my_application: LATEST holds b'my_application v1' at"
    " s3://aioversioned-quickstart/artifacts/my_application/versions/000000_LATEST.bin.",
    "3. Published LATEST as version 1.",
    "4. Updated LATEST to b'my_application v2'.",
    "5. Published LATEST as version 2.",
    "6. Aliases: development -> LATEST, production -> 1, staging -> 2.",
    "7. Blue/green: production -> 2, switched in one alias write.",
    "8. Canary: put b'my_application v3' and published it as version 3.",
    "Canary: production -> 2 (90%) + 3 (10%).",
    "Canary: production -> 2 (50%) + 3 (50%).",
    "Canary done: production -> 3.",
    # One call undoes the whole canary: back to the last target without a split.
    "9. Emergency rollback: production -> 2 in one rollback_alias call (back to its last"
    " target without a canary).",
    "10. Purge keeping the last 2 (any age): deleted version 1; a purge never deletes a"
    " version an alias uses.",
    "Kept version 3: one of the last 2.",
    "Kept version 2: one of the last 2; used by production and staging.",
    "LATEST stays, as always; development follows it.",
    "11. Read production (version 2): b'my_application v2'.",
    "Quick start complete.",
    "Try it next with a local S3 server that stays up:",
    "aioversioned serve   (in another shell; export the variables it prints)",
    "aioversioned --bucket demo --prefix artifacts --suffix .bin bootstrap",
    "aioversioned --bucket demo --prefix artifacts --suffix .bin put my_application ./app.bin",
    "The docs: docs/tutorial.md walks through the API, docs/cli.md through every command.",
)


def _script() -> str:
    found = shutil.which("aioversioned", path=os.path.dirname(sys.executable))
    assert found, "the console script is not installed next to the interpreter"
    return found


def test_console_script_quickstart_replays_the_versioned_tour() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    # In development mode aiohttp refuses a response with two Server headers, which the
    # local server sent before (moto's and http.server's).
    env["PYTHONDEVMODE"] = "1"
    started = time.monotonic()
    done = subprocess.run(
        [_script(), "quickstart"],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        check=False,
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    lines = [line.strip() for line in done.stdout.splitlines()]
    assert lines[0].startswith("Local S3 server (moto) listening at http://127.0.0.1:")
    assert lines[1:] == list(TOUR), done.stdout
    # Under 10 s on an idle machine (about 7 s in development mode at a load of 4); the
    # bound here leaves room for a loaded CI runner.
    assert elapsed < 60, elapsed


@pytest.mark.parametrize(
    ("hidden", "needs"),
    [("moto", "moto"), ("flask_cors", "moto's server (no module flask_cors)")],
)
def test_quickstart_without_moto_says_how_to_install_it(hidden: str, needs: str) -> None:
    # moto installed without its server app's packages (flask, flask-cors) is named too,
    # without moto's own warning to install moto[server].
    hide_moto = (
        f"import sys; sys.modules[{hidden!r}] = None; sys.argv = ['aioversioned', 'quickstart'];"
        " from aioversioned.cli import main; main()"
    )
    done = subprocess.run(
        [sys.executable, "-c", hide_moto], capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        f"Error: a local S3 server needs {needs}: pip install 'aioversioned[local]'\n"
    )


# Runs aioversioned._local as `serve` does, with every module outside the standard library
# and the allowed distributions not found (as if not installed: find_spec gives None).
_SERVE_WITH_ONLY = """
import json, runpy, sys
allowed = set(json.loads(sys.argv.pop(1)))

class OnlyAllowed:
    def __init__(self, finder):
        self.finder = finder

    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top in allowed or top in sys.stdlib_module_names or top.startswith("_sysconfigdata"):
            return self.finder.find_spec(name, path, target)
        return None

    def __getattr__(self, name):  # invalidate_caches, find_distributions (metadata)
        return getattr(self.finder, name)

sys.meta_path[:] = [OnlyAllowed(finder) for finder in sys.meta_path]
runpy.run_module("aioversioned._local", run_name="__main__", alter_sys=True)
"""


def _local_extra_closure() -> set[str]:
    """The distributions `pip install aioversioned[local]` installs, as installed here."""
    pyproject = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())
    project = pyproject["project"]
    declared = [*project["dependencies"], *project["optional-dependencies"]["local"]]
    todo = [Requirement(r) for r in declared]
    found = {"aioversioned"}
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        if name in found:
            continue
        found.add(name)
        extras = requirement.extras or {""}
        for line in importlib.metadata.requires(name) or []:
            nested = Requirement(line)
            if nested.marker is None or any(nested.marker.evaluate({"extra": e}) for e in extras):
                todo.append(nested)
    return found


def _top_level_names(distributions: set[str]) -> set[str]:
    """The modules and packages these installed distributions put on sys.path.

    Read from their files (packages_distributions reads only top_level.txt on 3.10).
    """
    names = {"aioversioned"}  # an editable install lists no module of its own
    for dist in importlib.metadata.distributions():
        if canonicalize_name(dist.metadata["Name"]) in distributions:
            for file in dist.files or []:
                top = file.parts[0]
                if not top.startswith("..") and not top.endswith((".dist-info", ".data")):
                    names.add(top.partition(".")[0])  # a package, or module.py, module.*.so
    return names


def test_local_server_serves_s3_with_only_what_the_local_extra_installs(bucket: str) -> None:
    # The local extra is moto[s3] and the server app's packages, not moto[server] (which
    # pulls every service's dependencies): the server must start and serve the
    # repository's requests with nothing else importable.
    allowed = sorted(_top_level_names(_local_extra_closure()))
    assert {"moto", "flask", "flask_cors", "werkzeug", "yaml"} <= set(allowed)
    assert "docker" not in allowed and "cfnlint" not in allowed  # moto[server] only
    process = subprocess.Popen(
        [sys.executable, "-c", _SERVE_WITH_ONLY, json.dumps(allowed), "--port", "0"],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).parent.parent,
    )
    try:
        port = read_port(process, "moto server")
        with Repository(
            bucket, endpoint_url=f"http://127.0.0.1:{port}", aws_region="us-east-1"
        ) as repo:
            repo.bootstrap()
            repo.put_artifact("m", b"slim", metadata={"team_name": "ml"})
            published = repo.publish_artifact_version("m")
            assert repo.get_artifact_content("m", published.version) == b"slim"
            assert repo.get_artifact_version("m", 1).metadata == {"team_name": "ml"}
    finally:
        terminate(process)
