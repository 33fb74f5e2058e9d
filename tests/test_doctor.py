"""check_server, the guard on conditional writes, and ``aioversioned doctor``.

On moto 5.2.6, on SeaweedFS 4.48, and through a loopback proxy that strips the
conditional headers from every request (a server that ignores them).
"""

from __future__ import annotations

import json
import pickle
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import boto3
import pytest
from typer.testing import CliRunner, Result

from aioversioned import (
    Alias,
    AsyncRepository,
    ConditionalWritesIgnoredError,
    InvalidInputError,
    Repository,
    ServerCheck,
    StorageError,
    VersionConflictError,
)
from aioversioned import _doctor as doctor
from aioversioned.cli import app

from .faultproxy import CONDITIONAL_HEADERS, FaultProxy
from .interpose import Interposer

ROOT = Path(__file__).resolve().parent.parent
ALL = {
    "put_if_none_match",
    "put_if_match",
    "delete_if_match",
    "copy_if_none_match",
    "copy_source_if_match",
    "concurrent_creates",
    "concurrent_swaps",
}
# What each server was seen to do (and must keep doing): moto 5.2.6 evaluates neither
# If-None-Match nor x-amz-copy-source-if-match on CopyObject.
HOLDING = {
    "moto": ALL - {"copy_if_none_match", "copy_source_if_match"},
    "seaweedfs": ALL,
    "stripped": set(),
}
DETAILS = {
    "put_if_none_match": (
        "a create of an existing key was refused (412)",
        "ignored: a create of an existing key succeeded",
    ),
    "put_if_match": (
        "a write If-Match another ETag was refused (412), one If-Match the current succeeded",
        "ignored: a write If-Match another ETag succeeded",
    ),
    "delete_if_match": (
        "a delete If-Match another ETag was refused (412), one If-Match the current succeeded",
        "ignored: a delete If-Match another ETag deleted the key",
    ),
    "copy_if_none_match": (
        "a copy over an existing key was refused (412)",
        "ignored: a copy over an existing key succeeded",
    ),
    "copy_source_if_match": (
        "a copy from a source with another ETag was refused (412)",
        "ignored: a copy from a source with another ETag succeeded",
    ),
    "concurrent_creates": (
        "1 of 8 writers sent at once succeeded",
        "8 of 8 writers sent at once succeeded, not exactly one",
    ),
    "concurrent_swaps": (
        "1 of 8 writers sent at once succeeded",
        "8 of 8 writers sent at once succeeded, not exactly one",
    ),
}


@pytest.fixture
def server(request: pytest.FixtureRequest) -> str:
    """Which server ``any_endpoint`` is: "moto" or "seaweedfs"."""
    return str(request.node.callspec.params["any_endpoint"])


def scratch(endpoint: str, bucket: str, prefix: str = "versioned-artifacts/") -> list[str]:
    """Every key under the repository's prefix: a check must leave none behind."""
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    listed = client.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return [item["Key"] for item in listed.get("Contents", [])]


def assert_check(check: ServerCheck, holding: set[str], endpoint: str) -> None:
    assert check.endpoint_url == endpoint
    assert [p.name for p in check.probes] == [
        "put_if_none_match",
        "put_if_match",
        "copy_if_none_match",
        "copy_source_if_match",
        "delete_if_match",
        "concurrent_creates",
        "concurrent_swaps",
    ]
    assert {p.name for p in check.probes if p.holds} == holding
    for probe in check.probes:
        assert probe.detail == DETAILS[probe.name][0 if probe.holds else 1], probe
    assert check.all_hold == (holding == ALL)


@pytest.fixture
def stripped(endpoint_url: str) -> Iterator[FaultProxy]:
    """A server that ignores every conditional header: moto behind a proxy stripping them."""
    with FaultProxy(endpoint_url, rate=0.0, strip=CONDITIONAL_HEADERS) as proxy:
        yield proxy


@pytest.fixture
async def stripped_repo(stripped: FaultProxy, bucket: str) -> AsyncIterator[AsyncRepository]:
    async with AsyncRepository(bucket, endpoint_url=stripped.url, aws_region="us-east-1") as r:
        await r.bootstrap()
        yield r


async def test_check_server_reports_what_the_server_enforces(
    any_repo: AsyncRepository, any_endpoint: str, server: str
) -> None:
    await any_repo.put_artifact("app", b"one")
    check = await any_repo.check_server()
    assert_check(check, HOLDING[server], any_endpoint)
    # Nothing left behind, the artifact untouched, and no listing shows scratch keys.
    left = scratch(any_endpoint, any_repo.layout.bucket)
    # LATEST, and the record of its sha256 that the put wrote beside it.
    assert [key for key in left if "/.aioversioned/" not in key] == [
        any_repo.layout.version_key("app", None)
    ]
    assert [key for key in left if "aioversioned-doctor" in key] == []
    assert await any_repo.list_artifact_names() == ["app"]


async def test_check_server_through_a_proxy_that_strips_conditions(
    stripped_repo: AsyncRepository, stripped: FaultProxy, endpoint_url: str
) -> None:
    check = await stripped_repo.check_server()
    assert_check(check, HOLDING["stripped"], stripped.url)
    assert set(stripped.stripped) == {h.lower() for h in CONDITIONAL_HEADERS}
    assert scratch(endpoint_url, stripped_repo.layout.bucket) == []


async def test_a_check_cancelled_mid_probe_leaves_nothing(
    repo: AsyncRepository, endpoint_url: str
) -> None:
    faults = Interposer(repo)
    held = faults.hold("CopyObject")
    with anyio.move_on_after(30) as scope:  # bound: the test never waits for ever
        async with anyio.create_task_group() as tg:
            tg.start_soon(repo.check_server)
            await held.arrived.wait()
            tg.cancel_scope.cancel()
    assert not scope.cancelled_caught
    held.release()
    assert scratch(endpoint_url, repo.layout.bucket) == []
    assert len(faults.sent("DeleteObjects")) == 1


def run_of(faults: Interposer) -> str:
    """The run id in the scratch keys a check sent."""
    found = re.search(r"\.aioversioned-doctor-([0-9a-f]{32})-", " ".join(faults.sent("PutObject")))
    assert found is not None
    return found[1]


async def test_a_refused_probe_is_reported_and_cleaned_up(
    repo: AsyncRepository, endpoint_url: str
) -> None:
    faults = Interposer(repo)
    faults.fail("DeleteObject", status=403)
    check = await repo.check_server()
    failed = [p for p in check.probes if not p.holds]
    assert [p.name for p in failed] == [
        "copy_if_none_match",
        "copy_source_if_match",
        "delete_if_match",
    ]
    assert failed[-1].detail.startswith("refused (AccessDenied): ")
    assert scratch(endpoint_url, repo.layout.bucket) == []


async def test_a_check_that_can_not_write_raises_and_leaves_nothing(
    repo: AsyncRepository, endpoint_url: str
) -> None:
    faults = Interposer(repo)
    faults.fail("PutObject", status=403)
    with pytest.raises(StorageError, match="AccessDenied"):
        await repo.check_server()
    assert scratch(endpoint_url, repo.layout.bucket) == []
    assert len(faults.sent("DeleteObjects")) == 1


def scratch_requests(faults: Interposer) -> list[tuple[str, str]]:
    """The requests of the guard's check: on scratch keys, and the DeleteObjects (whose
    keys are in its body)."""
    return [
        (op, key)
        for op, key, _ in faults.log
        if ".aioversioned-doctor-" in key or op == "DeleteObjects"
    ]


async def test_the_guard_costs_five_requests_once(
    any_repo: AsyncRepository, any_endpoint: str
) -> None:
    """On a server that enforces conditions, the first conditional write checks them
    (4 PutObjects and a DeleteObjects on one scratch key), concurrent writers wait for
    that one check, and later writes send nothing more."""
    faults = Interposer(any_repo)
    await any_repo.put_artifact("app", b"one")
    assert scratch_requests(faults) == []  # an unconditional write is not checked
    created = await gather_aliases(any_repo, 8)
    assert len(created) == 8
    key = any_repo.layout.scratch_key(run_of(faults), "created")
    assert scratch_requests(faults) == [("PutObject", key)] * 4 + [("DeleteObjects", "")]
    await any_repo.publish_artifact_version("app")
    await any_repo.put_alias("app", "a0", 1, expected_revision=created[0].revision)
    assert len(scratch_requests(faults)) == 5
    assert scratch(any_endpoint, any_repo.layout.bucket, any_repo.layout.root + ".") == []


async def gather_aliases(repo: AsyncRepository, count: int) -> list[Alias]:
    found: list[Alias] = []

    async def create(n: int) -> None:
        found.append(await repo.put_alias("app", f"a{n}", None, expected_revision="absent"))

    async with anyio.create_task_group() as tg:
        for n in range(count):
            tg.start_soon(create, n)
    return sorted(found, key=lambda alias: alias.alias)


async def test_conditional_writes_are_refused_where_the_server_ignores_them(
    stripped_repo: AsyncRepository, stripped: FaultProxy, endpoint_url: str, bucket: str
) -> None:
    repo = stripped_repo
    await repo.put_artifact("app", b"one")  # unconditional writes and reads work
    assert (await repo.get_artifact_content("app")) == b"one"
    faults = Interposer(repo)
    with pytest.raises(ConditionalWritesIgnoredError) as caught:
        await repo.put_alias("app", "prod", None, expected_revision="absent")
    err = caught.value
    assert isinstance(err, StorageError)
    assert (err.bucket, err.code) == (bucket, "ConditionalWritesIgnored")
    assert err.key == repo.layout.alias_key("app", "prod")
    assert err.detail == (
        "If-None-Match: * on PutObject: ignored: a create of an existing key succeeded; "
        "If-Match on PutObject: ignored: a write If-Match another ETag succeeded"
    )
    assert "require_conditional_writes=False" in str(err)
    assert pickle.loads(pickle.dumps(err)).args == err.args
    with pytest.raises(ConditionalWritesIgnoredError):  # a publish claims its number
        await repo.publish_artifact_version("app")
    # Checked once, for both: 3 PutObjects (the If-Match write with a wrong ETag
    # succeeded, so none with the right one) and a DeleteObjects.
    assert [op for op, _ in scratch_requests(faults)] == ["PutObject"] * 3 + ["DeleteObjects"]
    assert await repo.list_aliases("app") == []
    assert [key for key in scratch(endpoint_url, bucket) if "aioversioned-doctor" in key] == []


async def test_the_opt_out_writes_without_the_guarantees(
    stripped_repo: AsyncRepository, stripped: FaultProxy, bucket: str
) -> None:
    async with AsyncRepository(
        bucket, endpoint_url=stripped.url, aws_region="us-east-1", require_conditional_writes=False
    ) as repo:
        await repo.put_artifact("app", b"one")
        await repo.publish_artifact_version("app")
        first = await repo.put_alias("app", "prod", 1, expected_revision="absent")
        second = await repo.put_alias("app", "prod", "LATEST", expected_revision=first.revision)
        # What the guard prevents: a stale revision (and a second create) win anyway.
        third = await repo.put_alias("app", "prod", 1, expected_revision=first.revision)
        await repo.put_alias("app", "prod", 1, expected_revision="absent")
        assert second.revision != third.revision
        current = await repo.get_alias("app", "prod")
        assert current.version == "1"
    # A repository that requires the conditions refuses the compare-and-swap, and
    # leaves the alias as it was.
    with pytest.raises(ConditionalWritesIgnoredError):
        await stripped_repo.put_alias("app", "prod", "LATEST", expected_revision=current.revision)
    with pytest.raises(ConditionalWritesIgnoredError):
        await stripped_repo.rollback_alias("app", "prod")
    assert await stripped_repo.get_alias("app", "prod") == current


def test_the_command_line_says_why_a_write_was_refused(stripped: FaultProxy, bucket: str) -> None:
    def run(*args: str, content: bytes | None = None) -> Result:
        argv = [*args, "--bucket", bucket, "--endpoint-url", stripped.url]
        return CliRunner().invoke(app, argv, input=content)

    assert run("bootstrap").exit_code == 0
    assert run("put", "app", "-", content=b"one").exit_code == 0
    result = run("alias", "set", "app", "prod", "LATEST", "--expect-revision", "absent")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: PutObject s3://")
    assert "not sent: the server ignores conditional writes (If-None-Match: * on" in result.stderr
    assert "Traceback" not in result.output


async def test_the_guard_runs_again_after_a_check_that_failed(repo: AsyncRepository) -> None:
    faults = Interposer(repo)
    faults.fail("PutObject", key=".aioversioned-doctor-", status=403)
    await repo.put_artifact("app", b"one")
    with pytest.raises(StorageError, match="AccessDenied") as caught:
        await repo.put_alias("app", "prod", "LATEST", expected_revision="absent")
    assert not isinstance(caught.value, ConditionalWritesIgnoredError)
    alias = await repo.put_alias("app", "prod", "LATEST", expected_revision="absent")
    assert alias.version == "LATEST"
    with pytest.raises(VersionConflictError):  # the condition holds on moto
        await repo.put_alias("app", "prod", "LATEST", expected_revision="absent")


def test_require_conditional_writes_takes_a_bool(endpoint_url: str) -> None:
    with pytest.raises(InvalidInputError, match="require_conditional_writes"):
        AsyncRepository("bucket-a", require_conditional_writes="no")  # type: ignore[arg-type]


def test_the_sync_twin(sync_repo: Repository, endpoint_url: str) -> None:
    check = sync_repo.check_server()
    assert_check(check, HOLDING["moto"], endpoint_url)
    assert scratch(endpoint_url, sync_repo._arepo.layout.bucket) == []


async def test_scratch_keys_collide_with_nothing_and_are_never_listed(
    repo: AsyncRepository, endpoint_url: str
) -> None:
    from boto_session_manager import BotoSesManager
    from versioned.api import s3_only_backend as peer

    layout = repo.layout
    await repo.put_artifact("app", b"one")
    key = layout.scratch_key("0" * 32, "created")
    assert key == f"{layout.prefix}/.aioversioned-doctor-{'0' * 32}-created"
    client = boto3.client("s3", endpoint_url=endpoint_url, region_name="us-east-1")
    client.put_object(Bucket=layout.bucket, Key=key, Body=b"x")
    assert await repo.list_artifact_names() == ["app"]
    bsm = BotoSesManager(
        region_name="us-east-1", default_client_kwargs={"endpoint_url": endpoint_url}
    )
    old = peer.Repository(aws_region="us-east-1", s3_bucket=layout.bucket)
    assert old.list_artifact_names(bsm) == ["app"]
    # No name either library accepts gives a key starting so: names never start with '.'.
    with pytest.raises(InvalidInputError):
        layout.check_name(".aioversioned-doctor-x")


def test_each_guarantee_is_a_promise_of_the_readme() -> None:
    safety = (ROOT / "README.md").read_text().split("## Safety", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in safety.splitlines() if line.startswith("| ") and "---" not in line]
    promises = {row.split(" | ")[0].removeprefix("| ") for row in rows}
    named = {
        g
        for probe in (
            doctor._PUT_IF_NONE_MATCH,
            doctor._PUT_IF_MATCH,
            doctor._DELETE_IF_MATCH,
            doctor._COPY_IF_NONE_MATCH,
            doctor._COPY_SOURCE_IF_MATCH,
            doctor._CONCURRENT_CREATES,
            doctor._CONCURRENT_SWAPS,
        )
        for g in probe(True, "").guarantees
    }
    assert len(named) == 7
    for guarantee in named:
        assert any(promise.startswith(guarantee) for promise in promises), guarantee


# -- the command line ---------------------------------------------------------------------


def invoke(endpoint: str, bucket: str, *args: str) -> Result:
    return CliRunner().invoke(
        app, ["doctor", *args, "--bucket", bucket, "--endpoint-url", endpoint]
    )


def test_doctor_prints_one_line_per_condition(
    any_repo: AsyncRepository, any_endpoint: str, server: str, bucket: str
) -> None:
    result = invoke(any_endpoint, bucket)
    lines = result.stdout.splitlines()
    holding = HOLDING[server]
    assert result.exit_code == (0 if holding == ALL else 1)
    check_lines(lines[:7], holding)
    if server == "seaweedfs":
        assert result.stderr == ""
        assert lines[7:] == [f"all 7 conditions hold on {any_endpoint}"]
    else:
        assert result.stderr == f"2 of 7 conditions do not hold on {any_endpoint}\n"
        assert "FAILS  If-None-Match: * on CopyObject" in result.stdout
        assert "at stake: A published version is never overwritten" in result.stdout
    assert scratch(any_endpoint, bucket) == []


def check_lines(lines: list[str], holding: set[str]) -> None:
    order = [
        "put_if_none_match",
        "put_if_match",
        "copy_if_none_match",
        "copy_source_if_match",
        "delete_if_match",
        "concurrent_creates",
        "concurrent_swaps",
    ]
    for name, line in zip(order, lines, strict=True):
        assert line.startswith("holds  " if name in holding else "FAILS  "), line
        assert DETAILS[name][0 if name in holding else 1] in line


def test_doctor_json_and_exit_code_behind_the_stripping_proxy(
    stripped: FaultProxy, bucket: str
) -> None:
    assert (
        CliRunner()
        .invoke(app, ["bootstrap", "--bucket", bucket, "--endpoint-url", stripped.url])
        .exit_code
        == 0
    )
    result = invoke(stripped.url, bucket, "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert (
        ServerCheck.model_validate({k: v for k, v in data.items() if k != "all_hold"}).all_hold
        is False
    )
    assert data["all_hold"] is False
    assert [p["holds"] for p in data["probes"]] == [False] * 7
    assert set(data["probes"][0]) == {"name", "condition", "holds", "detail", "guarantees"}
    text = invoke(stripped.url, bucket)
    assert text.exit_code == 1
    check_lines(text.stdout.splitlines(), set())
    assert text.stderr == f"7 of 7 conditions do not hold on {stripped.url}\n"
