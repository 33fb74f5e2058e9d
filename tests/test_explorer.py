"""The schedule explorer (tests/explore): CI's slice of seeds, and that its checker can fail.

The slice runs ``SEEDS`` seeds on moto and as many on the SeaweedFS cluster (two S3
gateways on one filer), both at once; a soak runs thousands from the command line:
``python -m tests.explore --server moto --seeds 5000``.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

import anyio
import pytest

from tests.conftest import WeedCluster
from tests.explore.__main__ import failure_line
from tests.explore.checker import Change, Snapshot, View, check, observe
from tests.explore.runner import Explorer, Record, SeedResult
from tests.explore.workload import Call, Faults, Plan, Writer

SEEDS = int(os.environ.get("EXPLORE_SEEDS", "200"))
FIRST = int(os.environ.get("EXPLORE_FIRST", "0"))
JOBS = 2  # seeds in flight per server: overlaps one seed's waits with another's work


@pytest.mark.seaweedfs
async def test_explorer_slice(endpoint_url: str, weed_cluster: WeedCluster) -> None:
    seeds = list(range(FIRST, FIRST + SEEDS))
    failures: list[str] = []
    counts: dict[str, int] = {}

    async def explore(server: str, endpoints: list[str]) -> None:
        async with Explorer(server, endpoints) as explorer:

            def note(result: SeedResult) -> None:
                if result.violations:
                    failures.append(failure_line(explorer, result))

            counts[server] = len(await explorer.run_seeds(seeds, JOBS, note))

    with anyio.fail_after(600):
        async with anyio.create_task_group() as group:
            group.start_soon(explore, "moto", [endpoint_url])
            group.start_soon(explore, "cluster", weed_cluster.endpoint_urls)
    assert counts == {"moto": SEEDS, "cluster": SEEDS}
    assert not failures, f"{len(failures)} failing seeds:\n" + "\n".join(sorted(failures))


def _quiet_plan(seed: int) -> Plan:
    """Setup only: two versions and an alias, no concurrent writer, no fault."""
    contents = (b"planted one", b"planted two", b"planted three")
    setup = (
        Call(1, 0, "put", content=0),
        Call(2, 0, "publish"),
        Call(3, 0, "put", content=1),
        Call(4, 0, "publish"),
        Call(5, 0, "alias", version="LATEST", secondary="1", weight=5, alias="prod"),
    )
    return Plan(seed, contents, setup, (), Faults(0, 0, 0, 0, 0), multipart_copy=False)


async def _plant(explorer: Explorer, name: str, how: str) -> None:
    """Break the store behind the library's back, through the raw client."""
    layout = explorer.fleet.repo(0, 0).layout
    raw, bucket = explorer.raw, explorer.bucket
    if how == "overwrite version bytes":
        key = layout.version_key(name, 1)
        head = await raw.head_object(Bucket=bucket, Key=key)
        await raw.put_object(
            Bucket=bucket, Key=key, Body=b"planted evil", Metadata=head["Metadata"]
        )
    elif how == "alias at a deleted version":
        await raw.delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": layout.version_key(name, 1)}]}
        )
    elif how == "leftover multipart upload":
        await raw.create_multipart_upload(Bucket=bucket, Key=layout.version_key(name, 9))
    elif how == "leftover temporary object":
        await raw.put_object(Bucket=bucket, Key=layout.upload_key(name, "f" * 32), Body=b"x")
    elif how == "alias moved behind the history":
        key = layout.alias_key(name, "prod")
        body = json.loads(await (await raw.get_object(Bucket=bucket, Key=key))["Body"].read())
        body.update(version="2", version_s3uri=layout.s3uri(layout.version_key(name, 2)))
        await raw.put_object(Bucket=bucket, Key=key, Body=json.dumps(body).encode())


PLANTED = {
    "overwrite version bytes": "get_artifact_content(1) raised IntegrityError",
    "alias at a deleted version": "dangling alias: prod",
    "leftover multipart upload": "leftover: multipart upload",
    "leftover temporary object": "leftover: temporary upload object",
    "alias moved behind the history": "history current: prod",
}


async def test_checker_catches_planted_violations(endpoint_url: str) -> None:
    async with Explorer("moto", [endpoint_url], helper=False, keep=True) as explorer:
        clean = await explorer.run_plan(_quiet_plan(1), "planted-clean")
        assert clean.violations == []
        for number, (how, expected) in enumerate(PLANTED.items()):
            name = f"planted-{number}"
            result = await explorer.run_plan(_quiet_plan(1), name)
            assert result.violations == [], how
            await _plant(explorer, name, how)
            snapshot = await observe(explorer.fleet.repo(0, 0), explorer.raw, explorer.bucket, name)
            violations = check(result.plan, result.records, snapshot)
            assert any(expected in v for v in violations), (how, violations)


# -- the checker's rules on made-up call records (no server) -------------------------------


CONTENTS = (b"content a", b"content b", b"content c")


def _plan(*calls: Call) -> Plan:
    return Plan(0, CONTENTS, calls, (), Faults(0, 0, 0, 0, 0), multipart_copy=False)


def _rec(index: int, op: str, t0: float, t1: float, **fields: Any) -> Record:
    return Record(index, writer=0, process=0, op=op, t0=t0, t1=t1, **fields)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _store(versions: dict[int | None, bytes]) -> Snapshot:
    snap = Snapshot()
    for number, data in versions.items():
        version = "LATEST" if number is None else str(number)
        snap.raw_versions[number] = f"etag{version}"
        snap.listing[version] = snap.contents[version] = _sha(data)
    for alias in ("prod", "canary"):
        snap.current[alias] = snap.at_now[alias] = None
        snap.history[alias] = []
    return snap


def test_checker_numbers_two_contents_reuse_orphans() -> None:
    a, b = CONTENTS[0], CONTENTS[1]
    plan = _plan(*(Call(i, 0, "publish") for i in (1, 2, 4)), Call(3, 0, "purge"))
    one = _rec(1, "publish", 0, 1, result={"version": "1", "sha256": _sha(a)})
    other = _rec(2, "publish", 0, 1, result={"version": "1", "sha256": _sha(b)})
    found = check(plan, [one, other], _store({None: a, 1: a}))
    assert any("number 1 handed out for 2 different contents" in v for v in found), found

    purge = _rec(3, "purge", 2, 3, result={"deleted": [["1", _sha(a)]]})
    again = _rec(4, "publish", 4, 5, result={"version": "1", "sha256": _sha(a)})
    found = check(plan, [one, purge, again], _store({None: a, 1: a}))
    assert sum("number reused" in v for v in found) == 2, found

    found = check(plan, [one], _store({None: a, 1: a, 2: a}))
    assert any("orphan versions: 2" in v for v in found), found
    assert check(plan, [one], _store({None: a, 1: a})) == []


def test_checker_cas_double_success_and_failed_write_in_place() -> None:
    plan = _plan(
        Call(1, 0, "cas", version="LATEST", secondary="1", weight=1, alias="prod"),
        Call(2, 1, "cas", version="LATEST", secondary="1", weight=2, alias="prod"),
    )
    won = {"version": "LATEST", "secondary_version": "1"}
    records = [
        _rec(1, "cas", 0, 1, observed="r0", result={**won, "revision": "r1"}),
        _rec(2, "cas", 0, 1, observed="r0", result={**won, "revision": "r2"}),
    ]
    found = check(plan, records, _store({None: CONTENTS[0], 1: CONTENTS[0]}))
    assert any("cas: 2 writers of prod that expected r0 succeeded" in v for v in found), found

    lost = _rec(2, "cas", 0, 1, observed="r0", status="error", error="VersionConflictError")
    snap = _store({None: CONTENTS[0], 1: CONTENTS[0]})
    snap.current["prod"] = snap.at_now["prod"] = View("LATEST", "1", 2, "r2")
    snap.history["prod"] = [Change(View("LATEST", "1", 2, "r2"), View(None, None, None, None))]
    found = check(plan, [lost], snap)
    assert any("failed write in place" in v for v in found), found
    assert any("failed write recorded" in v for v in found), found


def test_checker_outcomes_raw_exception_hang_wrong_not_found() -> None:
    plan = _plan(Call(1, 0, "put"), Call(2, 0, "put"), Call(3, 0, "publish"))
    records = [
        _rec(1, "put", 0, 1, status="raw", error="KeyError", detail="Traceback\nKeyError: 'x'"),
        _rec(2, "put", 0, 1, status="timeout", detail="still running"),
        _rec(3, "publish", 0, 1, status="error", error="ArtifactNotFoundError"),
    ]
    plan = Plan(0, CONTENTS, (), (Writer(0, 0, 0, plan.setup),), plan.faults, False)
    found = check(plan, records, _store({None: CONTENTS[0]}))
    assert any(v.startswith("raw exception: #1") for v in found), found
    assert any(v.startswith("hang: #2") for v in found), found
    assert any(v.startswith("not found: #3 publish") for v in found), found


def test_checker_excuses_only_the_uploads_late_creates_began() -> None:
    """A late CreateMultipartUpload excuses one leftover upload of its own key, no more."""
    plan = _plan(Call(1, 0, "publish"))
    late = [
        "late CreateMultipartUpload versions/999997_000003",
        "delivering late CreateMultipartUpload versions/999997_000003 (2 calls ended)",
    ]
    record = _rec(1, "publish", 0, 1, result={"version": "1", "sha256": _sha(CONTENTS[0])})
    snap = _store({None: CONTENTS[0], 1: CONTENTS[0]})
    snap.multipart_left = ["explore/s1/versions/999997_000003"]
    assert check(plan, [record], snap) == [
        "leftover: multipart upload of " + snap.multipart_left[0]
    ]
    record.faults = late
    assert check(plan, [record], snap) == []
    snap.multipart_left += [
        "explore/s1/versions/999997_000003",
        "explore/s1/versions/999997_000002",
    ]
    assert check(plan, [record], snap) == [
        "leftover: multipart upload of explore/s1/versions/999997_000003",
        "leftover: multipart upload of explore/s1/versions/999997_000002",
    ]
    record.faults = late[:1]  # kept back but never delivered: excuses nothing
    assert len(check(plan, [record], snap)) == 3


def test_checker_excuses_only_the_orphans_a_late_copy_landed_on() -> None:
    """Seaweedfs seed 407: a publish's copy to 4, kept back, landed after the publish had
    found 4 taken (by it) and published 6. Version 4 is excused, no other orphan."""
    plan = _plan(Call(1, 0, "publish"))
    late = [
        "late CopyObject versions/999996_000004",
        "delivering late CopyObject versions/999996_000004 (2 calls ended)",
    ]
    record = _rec(1, "publish", 0, 1, result={"version": "6", "sha256": _sha(CONTENTS[0])})
    snap = _store({None: CONTENTS[0], 4: CONTENTS[0], 6: CONTENTS[0]})
    orphan = "orphan versions: 4 were returned by no successful publish"
    assert check(plan, [record], snap) == [orphan + " and only 0 publish call(s) failed"]
    record.faults = late
    assert check(plan, [record], snap) == []
    record.faults = late[:1]  # kept back but never delivered: excuses nothing
    assert check(plan, [record], snap) == [orphan + " and only 0 publish call(s) failed"]
    record.faults = late
    snap = _store({None: CONTENTS[0], 4: CONTENTS[0], 5: CONTENTS[0], 6: CONTENTS[0]})
    assert check(plan, [record], snap) == [
        "orphan versions: 5 were returned by no successful publish"
        " and only 0 publish call(s) failed"
    ]


def _descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (from /proc: its children, theirs, ...)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    # "pid (comm) state ppid ...": comm may hold spaces, so split after ')'
                    parents[int(entry)] = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue  # ended while listed
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _command(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return cmdline.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("server", ["moto", pytest.param("seaweedfs", marks=pytest.mark.seaweedfs)])
def test_a_soak_stopped_by_sigterm_stops_its_servers(server: str) -> None:
    soak = subprocess.Popen(
        [sys.executable, "-m", "tests.explore", "--server", server, "--seeds", "100000"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    started: dict[int, str] = {}  # pid: command line
    try:
        deadline = time.monotonic() + 90
        # Up once weed and the helper process run below it (2 or more processes).
        while len(started) < 2 and time.monotonic() < deadline and soak.poll() is None:
            time.sleep(0.5)
            started = {pid: _command(pid) for pid in _descendants(soak.pid)}
        assert len(started) >= 2, "the soak never started its server and helper"
        time.sleep(2)  # let seeds run
        started = {pid: _command(pid) for pid in _descendants(soak.pid)}
        soak.send_signal(signal.SIGTERM)
        assert soak.wait(timeout=60) == 128 + signal.SIGTERM
        deadline = time.monotonic() + 20
        while any(map(_alive, started)) and time.monotonic() < deadline:
            time.sleep(0.2)
        survivors = {pid: command for pid, command in started.items() if _alive(pid)}
        assert not survivors, f"processes outlived the soak: {survivors}"
        folders = [word[5:] for c in started.values() for word in c.split() if word[:5] == "-dir="]
        assert bool(folders) == (server == "seaweedfs")
        assert [f for f in folders if os.path.exists(f)] == []  # weed's data folder went too
    finally:
        if soak.poll() is None:
            soak.kill()
            soak.wait()
        for pid, command in started.items():  # never leave a server behind
            if _alive(pid) and _command(pid) == command:  # the same process, not a reused pid
                os.kill(pid, signal.SIGKILL)
