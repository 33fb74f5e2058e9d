"""The quick start runs end to end from the installed package, on its own moto server."""

from __future__ import annotations

import os
import subprocess
import sys


def test_python_m_aioversioned_quickstart() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    # In development mode aiohttp refuses a response with two Server headers, which the
    # local server sent before (moto's and http.server's).
    done = subprocess.run(
        [sys.executable, "-X", "dev", "-m", "aioversioned", "quickstart"],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for expected in (
        "1. bootstrap",
        "publish_artifact_version: version 1",
        "version 2; publish again unchanged: 2",
        "prod -> 1, with 20% to 2",
        "list_artifact_versions: ['LATEST', '2', '1']",
        "get_artifact_content(version=1): b'weights v1'",
        "deleted ['1']",
        "delete version 2 refused: artifact 'my-model' version 2 is in use by aliases: prod",
        "publish again: version 3",
        "prod history, newest first: ['2', '1', '1']",
        "artifacts left []",
        "quick start complete",
    ):
        assert expected in out, f"{expected!r} missing from:\n{out}"
    assert "Traceback" not in done.stderr


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
