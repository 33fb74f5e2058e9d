"""Every ``python`` and ``bash`` block of README.md and docs/, run in order against moto.

Pages run in the order a reader meets them: README.md, then the pages of mkdocs.yml's
``nav``; the blocks of a page run top to bottom, so a block may use what an earlier one
of its page (or an earlier page) made. Python blocks of a page share one namespace and
one event loop (a block with top-level ``await`` runs on it; the others in a thread
without a loop, as a script would); a ``print(...)  # X`` line's comment is the output
the block must print. A block that defines a FastAPI ``app`` with a ``/predict`` route
(README's) is then started: its lifespan entered, ``/predict?x=2`` asked once. Bash
blocks run with ``bash -euo pipefail`` in one working folder.

The setup the blocks may rely on, and nothing else:

- the environment: ``AWS_ENDPOINT_URL`` is the test's moto server, credentials are
  moto's fake ones, no AWS configuration file, no instance metadata, ``HOME`` a temporary
  folder. A block may not name an endpoint, a profile or any other URL (checked), so it
  can touch nothing but moto;
- the working folder holds ``model.onnx`` and ``model-v2.onnx`` (two builds);
- Python names: ``data``, ``data_v2``, ``data_v3`` (bytes of three builds);
  ``load_model(path)`` (returns a callable model); ``reload`` (an ``on_change``);
  ``user_id``; ``bucket`` (``"my-artifacts"``) and ``endpoint_url`` (the moto server);
  ``create_app`` (docs/examples/fastapi_app.py); ``httpx``; and ``repo``, an open
  ``AsyncRepository("my-bucket")`` where ``model`` has versions 1 to 4 and ``prod``
  points at 3.

Two markers, each on the line before a block's fence:

- ``<!-- from docs/examples/FILE:SECTION -->``: the block is a tested example's code
  (kept equal by docs/sync_examples.py, checked in test_docs.py) and runs as that
  example, in test_docs.py;
- ``<!-- not run: REASON -->`` (and README's ``<!-- test-command: ... -->``, the line
  CI runs): an illustration that does not run here, for the reason given: it installs
  packages, runs for minutes or until stopped. Used for those reasons only.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import inspect
import io
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio.from_thread
import httpx
import pytest

from aioversioned import Alias, AsyncRepository, Repository
from aioversioned._local import fake_credentials

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
FENCE = re.compile(
    r"^(?P<indent> *)```(?P<language>python|bash)\n(?P<code>.*?)^(?P=indent)```$",
    flags=re.MULTILINE | re.DOTALL,
)
MARKER = re.compile(r"^ *<!-- (?P<kind>from|not run:|test-command:) ?(?P<text>.*?) ?-->$")
DATA = {"data": b"weights v1", "data_v2": b"weights v2", "data_v3": b"weights v3"}


@dataclass(frozen=True)
class Block:
    page: str
    line: int
    language: str
    code: str
    marker: str | None  # "from", "not run:", "test-command:" or None
    reason: str

    def __str__(self) -> str:
        return f"{self.page}:{self.line}"


def pages() -> list[Path]:
    """README.md, then the pages of the site's navigation, in order."""
    nav = re.findall(r":\s+(\S+\.md)\s*$", (ROOT / "mkdocs.yml").read_text(), re.MULTILINE)
    return [ROOT / "README.md", *(DOCS / page for page in nav)]


def blocks(path: Path) -> list[Block]:
    text = path.read_text()
    found = []
    for match in FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = MARKER.match(before)
        indent = len(match["indent"])
        code = "".join(row[indent:] + "\n" for row in match["code"].splitlines())
        found.append(
            Block(
                str(path.relative_to(ROOT)),
                line,
                match["language"],
                code,
                marker["kind"] if marker else None,
                marker["text"] if marker else "",
            )
        )
    return found


def every_block() -> list[Block]:
    return [block for page in pages() for block in blocks(page)]


def test_every_page_is_run() -> None:
    listed = set(pages())
    assert {ROOT / "README.md", *DOCS.rglob("*.md")} <= listed


def test_markers_are_few_and_give_their_reason() -> None:
    found = every_block()
    not_run = [b for b in found if b.marker in ("not run:", "test-command:")]
    run = [b for b in found if b.marker is None]
    copied = [b for b in found if b.marker == "from"]
    assert len(run) >= 9 and len(copied) >= 25
    assert len(not_run) <= 9, [str(b) for b in not_run]
    for block in not_run:
        assert len(block.reason) >= 15, block  # the reason, not just the marker
    for block in copied:
        assert block.reason.startswith("docs/examples/"), block  # run by test_docs.py


def expected_prints(code: str) -> list[str]:
    """The comments after the ``print(...)`` lines: what the block says it prints."""
    claims = []
    for line in code.splitlines():
        statement, _, comment = line.partition("  # ")
        if statement.strip().startswith("print(") and comment:
            claims.append(comment.strip())
    return claims


def check_confined(block: Block) -> None:
    """A block may talk to the harness's moto server only."""
    if block.language == "bash":
        commands = "\n".join(
            line.partition(" # ")[0] for line in block.code.splitlines() if line[:1] != "#"
        )
        for word in ("AWS_ENDPOINT_URL", "--endpoint-url", "--profile", "AWS_PROFILE", "://"):
            assert word not in commands, (str(block), word)
    else:
        for url in re.findall(r"\w+://[^\s\"']*", block.code):
            assert url == "http://test", (str(block), url)  # httpx's in-process transport
        assert "profile=" not in block.code, str(block)


def load_example(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"blocks_{name}", DOCS / "examples" / name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def model(path: Path) -> Any:
    """What ``load_model`` gives: a model that answers with its file's size."""
    size = Path(path).stat().st_size
    return lambda x: x * size


async def _await(code: Any, namespace: dict[str, Any]) -> None:
    await eval(code, namespace)


async def ask(app: Any) -> Any:
    """Start ``app`` (its lifespan), ask ``/predict?x=2`` once, stop it."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.get("/predict", params={"x": 2})
            assert response.status_code == 200, response.text
            return response.json()


@pytest.fixture
def folder(
    tmp_path: Path, endpoint_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """The working folder and the environment of the blocks."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "model.onnx").write_bytes(DATA["data"])
    (work / "model-v2.onnx").write_bytes(DATA["data_v2"])
    home = tmp_path / "home"
    home.mkdir()
    settings = {
        **fake_credentials(),
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        "HOME": str(home),
    }
    for name in [n for n in os.environ if n.startswith("AIOVERSIONED_")]:
        monkeypatch.delenv(name)
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(work)
    env = {
        **settings,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "LANG": "C.UTF-8",
        "TMPDIR": str(tmp_path),
    }
    yield env


def test_every_block_runs_in_order(folder: dict[str, str], endpoint_url: str) -> None:
    with Repository("my-bucket", endpoint_url=endpoint_url) as setup:
        setup.bootstrap()
        for version in range(1, 5):
            setup.put_artifact("model", f"model v{version}".encode())
            setup.publish_artifact_version("model")
        setup.put_alias("model", "prod", 3)
    fastapi_app = load_example("fastapi_app.py")
    reloads: list[Alias] = []
    answers: list[Any] = []

    ran = 0
    for page in pages():
        with anyio.from_thread.start_blocking_portal("asyncio") as portal:
            repo = portal.call(AsyncRepository("my-bucket").__aenter__)
            try:
                namespace: dict[str, Any] = {
                    "__name__": "__docs__",
                    **DATA,
                    "load_model": model,
                    "reload": lambda old, new: reloads.append(new),
                    "user_id": "user-17",
                    "bucket": "my-artifacts",
                    "endpoint_url": endpoint_url,
                    "create_app": fastapi_app.create_app,
                    "httpx": httpx,
                    "repo": repo,
                }
                for block in blocks(page):
                    if block.marker is not None:
                        continue
                    check_confined(block)
                    if block.language == "bash":
                        run_bash(block, folder)
                    else:
                        run_python(block, namespace, portal)
                        if '@app.get("/predict")' in block.code:
                            answers.append(portal.call(ask, namespace["app"]))
                    ran += 1
            finally:
                portal.call(repo.aclose)
    assert ran >= 9
    assert reloads and reloads[0].version == "3"  # the live-aliases guide followed prod
    # README's service follows model's prod (version 3, b"model v3": 8 bytes): y = x * 8.
    assert answers == [{"y": 16.0}]


def run_python(block: Block, namespace: dict[str, Any], portal: Any) -> None:
    code = compile(block.code, str(block), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        try:
            if code.co_flags & inspect.CO_COROUTINE:
                portal.call(_await, code, namespace)
            else:
                exec(code, namespace)
        except Exception as err:
            raise AssertionError(f"{block} failed: {err!r}") from err
    claims = expected_prints(block.code)
    if claims:
        assert printed.getvalue().splitlines() == claims, str(block)


def run_bash(block: Block, env: dict[str, str]) -> None:
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block.code],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, f"{block} exited {done.returncode}:\n{done.stderr}"
