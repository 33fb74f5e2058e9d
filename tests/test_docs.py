"""The documentation: every example runs against moto, and the reference pages match the code."""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio
import httpx
import pytest

import aioversioned._keys
from aioversioned import (
    Alias,
    AliasChange,
    AliasNotFoundError,
    Artifact,
    AsyncRepository,
    Repository,
)
from aioversioned.cli import app

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
EXAMPLES = DOCS / "examples"
FROM_EXAMPLE = re.compile(r"^ *<!-- from (\S+) -->$")


def load(name: str) -> ModuleType:
    """Import ``docs/examples/{name}.py`` (the folder is not a package)."""
    spec = importlib.util.spec_from_file_location(f"docs_example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def aws_endpoint(endpoint_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The examples connect the way users do: botocore reads AWS_ENDPOINT_URL."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint_url)
    return endpoint_url


# -- home page and tutorial ---------------------------------------------------------------


async def test_home_page_example(aws_endpoint: str, bucket: str) -> None:
    assert await load("home").main(bucket) == b"weights v1"


def expected_output(path: Path) -> list[str]:
    """The comments after the ``print(...)`` calls of a script: what the page says it prints."""
    expected = []
    for line in path.read_text().splitlines():
        code, _, comment = line.partition("  # ")
        if code.strip().startswith("print(") and comment:
            expected.append(comment.strip())
    return expected


def check_output(printed: str, expected: list[str]) -> None:
    lines = printed.splitlines()
    assert len(lines) == len(expected), (lines, expected)
    for line, claim in zip(lines, expected, strict=True):
        if claim.endswith(", give or take"):  # a share of random draws
            assert abs(float(line) - float(claim.split(",")[0])) <= 0.1, (line, claim)
        else:
            assert line == claim


async def test_tutorial_async(
    aws_endpoint: str, bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    await load("tutorial_async").main(bucket)
    check_output(capsys.readouterr().out, expected_output(EXAMPLES / "tutorial_async.py"))
    with Repository(bucket, endpoint_url=aws_endpoint) as repo:
        assert repo.list_artifact_names() == []  # the tutorial cleans up after itself


def test_tutorial_sync(aws_endpoint: str, bucket: str, capsys: pytest.CaptureFixture[str]) -> None:
    load("tutorial_sync").main(bucket)
    check_output(capsys.readouterr().out, expected_output(EXAMPLES / "tutorial_sync.py"))


def test_both_tutorials_claim_the_same_output() -> None:
    async_claims = expected_output(EXAMPLES / "tutorial_async.py")
    assert len(async_claims) >= 10
    assert async_claims == expected_output(EXAMPLES / "tutorial_sync.py")


def test_tutorial_sections_are_twins() -> None:
    """The sync tab shows the async code without async and await, step by step."""

    def sections(path: Path) -> list[str]:
        return re.findall(r"--8<-- \[start:(\w+)\]", path.read_text())

    assert sections(EXAMPLES / "tutorial_async.py") == sections(EXAMPLES / "tutorial_sync.py")
    page = (DOCS / "tutorial.md").read_text()
    for section in sections(EXAMPLES / "tutorial_async.py"):
        for flavour in ("async", "sync"):
            marker = f"<!-- from docs/examples/tutorial_{flavour}.py:{section} -->"
            assert marker in page, (section, flavour)


@pytest.mark.parametrize("page", ["index.md", "tutorial.md"])
def test_python_blocks_are_copied_from_tested_scripts(page: str) -> None:
    """No hand-written Python on these pages: each block is a tested example's code."""
    lines = (DOCS / page).read_text().splitlines()
    opening = [i for i, line in enumerate(lines) if line.strip() == "```python"]
    assert opening
    for index in opening:
        assert FROM_EXAMPLE.match(lines[index - 1]), (page, index + 1)


def sync_examples() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sync_examples", DOCS / "sync_examples.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pages_carry_the_code_of_their_examples() -> None:
    """A page read as a file (GitHub, an editor) shows the code the tests run."""
    sync = sync_examples()
    marked = 0
    for page in sync.PAGES:
        text = page.read_text()
        assert "--8<--" not in text, f"{page}: an include line instead of the code"
        assert sync.render(text) == text, f"{page}: run python docs/sync_examples.py"
        marked += len(sync.BLOCK.findall(text))
        assert text.count("<!-- from ") == len(sync.BLOCK.findall(text)), page
    assert marked >= 25


def test_the_sync_script_rewrites_a_stale_block(tmp_path: Path) -> None:
    sync = sync_examples()
    stale = "<!-- from docs/examples/home.py:example -->\n```python\nold code\n```\n"
    fresh = sync.render(stale)
    assert "old code" not in fresh and "await repo.publish_artifact_version" in fresh
    assert sync.render(fresh) == fresh
    indented = sync.render("    " + stale.replace("\n", "\n    ").rstrip(" "))
    assert "\n        await repo.bootstrap()" in indented
    with pytest.raises(ValueError, match="no section 'nope'"):
        sync.render(stale.replace(":example", ":nope"))


# -- guides -------------------------------------------------------------------------------


@pytest.fixture
def greeter(endpoint_url: str, bucket: str) -> Iterator[Repository]:
    """Two versions of the web service's "model", a greeting template."""
    with Repository(bucket, endpoint_url=endpoint_url) as repo:
        repo.bootstrap()
        for template in (b"Hello, {}!", b"Hi, {}!"):
            repo.put_artifact("greeter", template)
            repo.publish_artifact_version("greeter")
        yield repo


async def test_fastapi_app(greeter: Repository, endpoint_url: str, bucket: str) -> None:
    example = load("fastapi_app")
    greeter.put_alias("greeter", "prod", 1, secondary_version=2, secondary_version_weight=50)
    application = example.create_app(bucket, endpoint_url=endpoint_url, interval=0.05)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:

            async def greet(**params: str) -> Any:
                return (await client.get("/greet", params={"who": "world", **params})).json()

            answers = [await greet() for _ in range(40)]
            assert {(a["version"], a["greeting"]) for a in answers} == {
                ("1", "Hello, world!"),
                ("2", "Hi, world!"),
            }
            models = application.state.models
            assert models.loads == 2  # loaded once each, however many requests use them

            # Moving the alias takes effect within an interval, without a restart.
            moved = greeter.put_alias("greeter", "prod", 2)
            with anyio.fail_after(20):  # a hang detector
                while models.serving[0].revision != moved.revision:  # noqa: ASYNC110
                    await anyio.sleep(0.01)
            assert {(await greet())["greeting"] for _ in range(10)} == {"Hi, world!"}
            assert models.loads == 2  # version 2 was in memory already

            # A user id makes the canary draw sticky.
            pointer = greeter.put_alias(
                "greeter", "prod", 1, secondary_version=2, secondary_version_weight=50
            )
            with anyio.fail_after(20):
                while models.serving[0].revision != pointer.revision:  # noqa: ASYNC110
                    await anyio.sleep(0.01)
            for user in ("alice", "bob", "carol"):
                for _ in range(5):
                    answer = await greet(user=user)
                    assert answer["version"] == pointer.pick_version(key=user)
            assert models.loads == 3  # version 1 had left memory with the move to 2

    # A missing alias fails the start-up.
    missing = example.create_app(bucket, endpoint_url=endpoint_url, alias="staging")
    with pytest.raises(AliasNotFoundError):
        async with missing.router.lifespan_context(missing):
            pass


def test_fastapi_app_reads_its_bucket_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AIOVERSIONED_BUCKET", raising=False)
    example = load("fastapi_app")
    with pytest.raises(KeyError, match="AIOVERSIONED_BUCKET"):
        example.create_app()
    monkeypatch.setenv("AIOVERSIONED_BUCKET", "from-env")
    assert example.create_app().title == "FastAPI"


@pytest.fixture
def fleet(endpoint_url: str, bucket: str) -> Iterator[Repository]:
    """Five artifacts; four have a prod alias, one does not."""
    with Repository(bucket, endpoint_url=endpoint_url) as repo:
        repo.bootstrap()
        for i in range(5):
            name = f"model-{i}"
            for content in (f"{name} v1".encode(), f"{name} v2".encode()):
                repo.put_artifact(name, content)
                repo.publish_artifact_version(name)
            if i:
                repo.put_alias(name, "prod", 1 + i % 2)
        yield repo


def expected_fleet() -> dict[str, str]:
    return {f"model-{i}": str(1 + i % 2) for i in range(1, 5)}


async def test_fan_out_worker_async(
    fleet: Repository, endpoint_url: str, bucket: str, tmp_path: Path
) -> None:
    example = load("fanout_worker")
    async with AsyncRepository(bucket, endpoint_url=endpoint_url) as repo:
        fetched = await example.fetch_all(repo, "prod", tmp_path)
    assert fetched == expected_fleet()
    for name, version in fetched.items():
        assert (tmp_path / name).read_bytes() == f"{name} v{version}".encode()
    assert not (tmp_path / "model-0").exists()


async def test_fan_out_worker_follows_its_aliases(
    fleet: Repository, endpoint_url: str, bucket: str
) -> None:
    example = load("fanout_worker")
    async with (
        AsyncRepository(bucket, endpoint_url=endpoint_url) as repo,
        example.follow_all(repo, "prod", interval=0.05) as followers,
    ):
        assert {name: f.alias.version for name, f in followers.items()} == expected_fleet()
        assert await example.handle(followers, "model-1", "job-1") == b"model-1 v2"
        moved = await repo.put_alias("model-1", "prod", 1)  # a rollback, say
        with anyio.fail_after(20):  # a hang detector
            while followers["model-1"].alias.revision != moved.revision:  # noqa: ASYNC110
                await anyio.sleep(0.01)
        assert await example.handle(followers, "model-1", "job-2") == b"model-1 v1"


def test_fan_out_worker_threads(fleet: Repository, tmp_path: Path) -> None:
    fetched = load("fanout_worker").fetch_all_threads(fleet, "prod", tmp_path)
    assert fetched == expected_fleet()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(expected_fleet())


def test_ci_cd_promotion_script(endpoint_url: str, bucket: str, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "AIOVERSIONED_BUCKET": bucket,
        "AWS_ENDPOINT_URL": endpoint_url,
        "GIT_COMMIT": "a1b2c3",
    }

    def step(*args: str) -> str:
        done = subprocess.run(
            ["bash", str(EXAMPLES / "promote.sh"), *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    with Repository(bucket, endpoint_url=endpoint_url) as repo:
        repo.bootstrap()
        (tmp_path / "one").write_bytes(b"build one")
        (tmp_path / "two").write_bytes(b"build two")
        assert step("publish", "ranker", str(tmp_path / "one")) == "1\n"
        assert step("publish", "ranker", str(tmp_path / "one")) == "1\n"  # a re-run: same
        step("promote", "ranker", "1")
        assert step("publish", "ranker", str(tmp_path / "two")) == "2\n"
        assert repo.get_alias("ranker", "staging").version == "2"
        step("canary", "ranker", "2", "10")
        prod = repo.get_alias("ranker", "prod")
        assert (prod.version, prod.secondary_version, prod.secondary_version_weight) == (
            "1",
            "2",
            10,
        )
        step("promote", "ranker", "2")
        assert repo.get_alias("ranker", "prod").secondary_version is None
        step("rollback", "ranker")  # back to 1 alone, past the canary split
        prod = repo.get_alias("ranker", "prod")
        assert (prod.version, prod.secondary_version) == ("1", None)
        assert repo.get_artifact_content("ranker", 1) == b"build one"

        # Undoing a deletion brings prod back.
        repo.delete_alias("ranker", "prod")
        step("rollback", "ranker")
        prod = repo.get_alias("ranker", "prod")
        assert (prod.version, prod.secondary_version) == ("1", None)

        def refused(*args: str) -> str:
            done = subprocess.run(
                ["bash", str(EXAMPLES / "promote.sh"), *args],
                capture_output=True,
                text=True,
                env=env,
                timeout=120,
                check=False,
            )
            assert done.returncode == 1, done.stderr
            assert "Traceback" not in done.stderr and len(done.stderr.splitlines()) == 1
            return done.stderr

        # A canary before prod exists is refused with a message.
        assert step("publish", "fresh", str(tmp_path / "one")) == "1\n"
        assert "no prod alias yet" in refused("canary", "fresh", "1", "10")
        # Rolling back twice goes two steps back, then there is nothing left.
        (tmp_path / "three").write_bytes(b"build three")
        step("promote", "fresh", "1")
        assert "no earlier target" in refused("rollback", "fresh")
        for build in ("two", "three"):
            version = step("publish", "fresh", str(tmp_path / build)).strip()
            step("promote", "fresh", version)
        assert repo.get_alias("fresh", "prod").version == "3"
        step("rollback", "fresh")
        assert repo.get_alias("fresh", "prod").version == "2"
        step("rollback", "fresh")
        assert repo.get_alias("fresh", "prod").version == "1"
        assert "no earlier target" in refused("rollback", "fresh")
        assert repo.get_alias("fresh", "prod").version == "1"


def test_migration_from_versioned(aws_endpoint: str, bucket: str) -> None:
    example = load("migrate_from_versioned")
    example.before(bucket)
    assert example.after(bucket) == b"weights v2"
    assert example.read_back_with_versioned(bucket) == b"weights v2"
    with Repository(bucket) as repo:
        assert [a.version for a in repo.list_artifact_versions("my-model")] == [
            "LATEST",
            "2",
            "1",
        ]


def test_examples_have_no_syntax_errors() -> None:
    for path in EXAMPLES.glob("*.py"):
        ast.parse(path.read_text(), str(path))
    done = subprocess.run(["bash", "-n", str(EXAMPLES / "promote.sh")], check=False)
    assert done.returncode == 0


# -- reference pages ----------------------------------------------------------------------


def test_concepts_layout_is_the_one_in_keys() -> None:
    """The layout block on the concepts page is copied exactly from ``_keys.py``."""
    doc = aioversioned._keys.__doc__
    assert doc is not None
    block = textwrap.dedent(doc.split("::", 1)[1]).strip("\n")
    page = (DOCS / "concepts.md").read_text()
    assert f"```text\n{block}\n```" in page


def _commands(group: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            yield from _commands(command, (*path, name))
        else:
            yield (*path, name), command


def _cli_sections() -> dict[str, str]:
    text = (DOCS / "cli.md").read_text()
    parts = re.split(r"^### `aioversioned ([a-z ]+)`\n", text, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


COMMON = {
    "--bucket",
    "--prefix",
    "--suffix",
    "--region",
    "--endpoint-url",
    "--profile",
    "--quiet",
    "--debug",
    "--help",
}


def test_cli_reference_matches_the_commands() -> None:
    import typer.main

    root = typer.main.get_command(app)
    commands = dict(_commands(root))
    sections = _cli_sections()
    assert set(sections) == {" ".join(path) for path in commands}
    common_table = (DOCS / "cli.md").read_text().split("## Output")[0]
    for path, command in commands.items():
        section = sections[" ".join(path)]
        options = {opt for param in command.params for opt in param.opts if opt.startswith("--")}
        for option in options - COMMON:
            assert re.search(rf"(?<![\w-]){option}(?![\w-])", section), (path, option)
        for option in options & COMMON - {"--help"}:
            assert f"`{option}" in common_table, option
        for argument in (p for p in command.params if p.param_type_name == "argument"):
            assert (argument.metavar or argument.name).upper() in section.split("\n```")[1]


def test_cli_reference_lists_the_json_fields() -> None:
    text = (DOCS / "cli.md").read_text()
    for model, label in ((Artifact, "an **Artifact**"), (Alias, "an **Alias**")):
        paragraph = text.split(label, 1)[1].split(";", 1)[0]
        assert set(re.findall(r"`(\w+)`", paragraph)) == set(model.model_fields), model
    change = text.split("an **AliasChange**", 1)[1].split("See the", 1)[0]
    listed = set(re.findall(r"`(\w+)`", change))
    unprefixed = {f for f in AliasChange.model_fields if not f.startswith("previous_")}
    assert unprefixed <= listed
    previous = {f.removeprefix("previous_") for f in AliasChange.model_fields} - unprefixed
    assert not previous  # every previous_ field mirrors a current one


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    tutorial = (tmp_path / "site" / "tutorial" / "index.html").read_text()
    assert "publish_artifact_version" in tutorial and "--8&lt;--" not in tutorial
    api = (tmp_path / "site" / "reference" / "api" / "index.html").read_text()
    for name in ("AsyncRepository.put_alias", "Repository.put_artifact", "Alias.random_artifact"):
        assert f'id="aioversioned.{name}"' in api, name
