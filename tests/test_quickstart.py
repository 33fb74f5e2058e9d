"""The quick start runs end to end from the installed package, on its own moto server."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

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
    # One rollback_alias call goes one change back in the history: 3 -> 2+50%3, not 2.
    "9. Emergency rollback of production to 2: rollback_alias goes one change back in the"
    " alias history per call.",
    "rollback_alias call 1: production -> 2 (50%) + 3 (50%).",
    "rollback_alias call 2: production -> 2 (90%) + 3 (10%).",
    "rollback_alias call 3: production -> 2.",
    "production is back at 2 after 3 rollback_alias calls.",
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


def test_quickstart_without_moto_says_how_to_install_it() -> None:
    hide_moto = (
        "import sys; sys.modules['moto'] = None; sys.argv = ['aioversioned', 'quickstart'];"
        " from aioversioned.cli import main; main()"
    )
    done = subprocess.run(
        [sys.executable, "-c", hide_moto], capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        "Error: a local S3 server needs moto: pip install 'aioversioned[local]'\n"
    )
