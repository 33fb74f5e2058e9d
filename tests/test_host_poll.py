"""One poll per host: followers of one alias sharing a cache_dir share one poll of S3.

Processes are real (``python -m benchmarks.host worker``, the benchmark's harness),
each bounded in time; the hostile state files are written by the test itself, which
holds the lease, so that no follower polls S3 for the host and every read is of them.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import os
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import anyio
import pytest

from aioversioned import AsyncRepository, CorruptDocumentError, StorageError, _host_poll
from aioversioned._host_poll import (
    STATE_LIMIT,
    Lease,
    PollFailure,
    decode_state,
    encode_state,
    failure_of,
    poll_files,
)
from aioversioned._watch import Document
from benchmarks import host
from tests.interpose import Interposer

HANG = 30.0
FAST = 0.05
ONE, TWO, THREE = b"weights one", b"weights two", b"weights three"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- the state file, without a server ---------------------------------------------------------

WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "outcome",
    [
        Document(b'{"version": "3"}', '"abc"', WHEN),
        Document(b"\xff\x00 not even UTF-8", '"e"', WHEN),  # published as S3 answered it
        None,
        PollFailure("storage", "AccessDenied", "denied"),
        PollFailure("corrupt", "CorruptDocument", "too large"),
    ],
)
def test_a_state_reads_back_as_it_was_written(outcome: Any) -> None:
    data = encode_state(outcome, 7)
    assert decode_state(data, "state") == outcome


def test_a_failure_is_published_bounded_and_printable() -> None:
    failure = failure_of(OSError("line one\nline two" + "x" * 5000))
    back = decode_state(encode_state(failure, 1), "state")
    assert isinstance(back, PollFailure) and back.code == "OSError"
    assert "\n" not in back.detail and len(back.detail) == 2000
    raised = back.raised("bucket", "root/m/aliases/prod")
    assert isinstance(raised, StorageError)
    assert (raised.bucket, raised.key, raised.code) == ("bucket", "root/m/aliases/prod", "OSError")


GOOD = json.loads(encode_state(Document(b"{}", '"e"', WHEN), 1))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not json",
        b"[]",
        b'{"format": 1}',
        json.dumps({**GOOD, "format": 2}).encode(),
        json.dumps({**GOOD, "extra": 1}).encode(),
        json.dumps({**GOOD, "body": "not base64!"}).encode(),
        json.dumps({**GOOD, "body": "QQ"}).encode(),  # bad padding
        json.dumps({**GOOD, "etag": "a\nb"}).encode(),
        json.dumps({**GOOD, "etag": ""}).encode(),
        json.dumps({**GOOD, "last_modified": "2026-01-02T03:04:05"}).encode(),  # no zone
        json.dumps({**GOOD, "last_modified": 5}).encode(),
        json.dumps(
            {"format": 1, "poll": 1, "kind": "failed", "error": "storage", "code": "", "detail": ""}
        ).encode(),
        json.dumps(
            {"format": 1, "poll": 1, "kind": "failed", "error": "x", "code": "c", "detail": ""}
        ).encode(),
        json.dumps({"format": 1, "poll": 1, "kind": "path", "path": "/etc/passwd"}).encode(),
        b'{"format": 1, "poll": 1, "kind": "document", "body": '
        + b"[" * 10_000
        + b"]" * 10_000
        + b"}",
    ],
)
def test_a_malformed_state_is_a_corrupt_document(data: bytes) -> None:
    with pytest.raises(CorruptDocumentError) as caught:
        decode_state(data, "the-state")
    assert caught.value.key == "the-state"


def test_state_files_are_named_by_a_hash_never_by_their_names(tmp_path: Path) -> None:
    lease, state = poll_files(tmp_path, ["http://x", "b", "p", "", "../../m", "prod"])
    assert lease.parent == state.parent == tmp_path
    assert lease.name.startswith(".poll-") and lease.name.endswith(".lock")
    assert state.name == lease.name.replace(".lock", ".json")
    other = poll_files(tmp_path, ["http://y", "b", "p", "", "../../m", "prod"])
    assert other[0] != lease  # another endpoint: another alias


def test_a_lease_is_held_by_one_and_passes_on_release(tmp_path: Path) -> None:
    path = tmp_path / "lease"
    first, second = Lease(path), Lease(path)
    assert (first.hold(), second.hold(), first.hold()) == (True, False, True)
    first.release()
    assert second.hold() is True
    # A lease file replaced under its holder: the holder steps down, a newcomer locks it.
    os.replace(tmp_path / "lease", tmp_path / "moved")
    assert second.hold() is False
    assert first.hold() is True
    second.release()
    first.release()


def test_no_lease_where_its_file_can_not_be_made(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").touch()
    (tmp_path / "lease").symlink_to(tmp_path / "elsewhere")
    assert Lease(tmp_path / "lease").hold() is None  # never through a link: every one polls
    assert Lease(tmp_path / "not-a-dir" / "lease").hold() is not False
    (tmp_path / "file").touch()
    assert Lease(tmp_path / "file" / "lease").hold() is None


# -- followers in one process: two repositories sharing a cache_dir ---------------------------


async def publish(repo: AsyncRepository, *contents: bytes) -> None:
    for content in contents:
        await repo.put_artifact("m", content)
        await repo.publish_artifact_version("m")


def beside(repo: AsyncRepository, **kwargs: Any) -> AsyncRepository:
    return AsyncRepository(
        repo.layout.bucket, endpoint_url=repo._connect_args["endpoint_url"], **kwargs
    )


async def until(predicate: Any) -> None:
    with anyio.fail_after(HANG):
        while not predicate():  # noqa: ASYNC110  # state moved by another process: polled
            await anyio.sleep(0.01)


class AliasGets:
    """GETs of alias documents one repository sends."""

    def __init__(self, repo: AsyncRepository) -> None:
        self.count = 0
        repo._s3._client.meta.events.register("before-send.s3.GetObject", self._sent)

    def _sent(self, request: Any, **_: Any) -> None:
        self.count += "/aliases/" in request.url


async def test_followers_sharing_a_cache_dir_poll_once_and_share_the_holders_errors(
    repo: AsyncRepository, tmp_path: Path
) -> None:
    await publish(repo, ONE, TWO, THREE)
    await repo.put_alias("m", "prod", 1)
    cache = tmp_path / "cache"
    async with beside(repo, cache_dir=cache) as a, beside(repo, cache_dir=cache) as b:
        counts = [AliasGets(a), AliasGets(b)]
        async with (
            a.follow_alias("m", "prod", interval=FAST) as first,
            b.follow_alias("m", "prod", interval=FAST) as second,
        ):
            followers = [first, second]
            holders = [f._watch._reads.holding for f in followers]
            assert sorted(holders) == [False, True]
            holder = holders.index(True)
            await anyio.sleep(1.0)
            gets = [c.count for c in counts]
            await anyio.sleep(1.0)
            # Only the holder polls: about 20 GETs a second, the other none.
            assert counts[1 - holder].count == gets[1 - holder]
            assert counts[holder].count - gets[holder] >= 5

            await repo.put_alias("m", "prod", 2)
            await until(lambda: all(f.alias.version == "2" for f in followers))
            assert all(f.path(2).read_bytes() == TWO for f in followers)

            # The holder's polls fail (AccessDenied is not retried): both report it.
            faults = Interposer((a, b)[holder])
            rule = faults.fail("GetObject", "/aliases/", status=403, times=None)
            await until(lambda: all(isinstance(f.error, StorageError) for f in followers))
            shared = followers[1 - holder].error
            assert isinstance(shared, StorageError) and shared.code == "AccessDenied"
            assert (shared.bucket, shared.key) == (
                repo.layout.bucket,
                repo.layout.alias_key("m", "prod"),
            )
            assert all(f.path(2).read_bytes() == TWO for f in followers)  # still served
            rule.times = rule.hits  # the fault ends: both recover
            await until(lambda: all(f.error is None for f in followers))
            await repo.put_alias("m", "prod", 3)
            await until(lambda: all(f.alias.version == "3" for f in followers))
            assert all(f.path(3).read_bytes() == THREE for f in followers)


async def test_without_flock_every_follower_polls_as_before(
    repo: AsyncRepository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_host_poll, "fcntl", None)
    await publish(repo, ONE, TWO)
    await repo.put_alias("m", "prod", 1)
    cache = tmp_path / "cache"
    async with beside(repo, cache_dir=cache) as a, beside(repo, cache_dir=cache) as b:
        counts = [AliasGets(a), AliasGets(b)]
        async with (
            a.follow_alias("m", "prod", interval=FAST) as first,
            b.follow_alias("m", "prod", interval=FAST) as second,
        ):
            await anyio.sleep(0.5)
            assert all(c.count >= 4 for c in counts)
            await repo.put_alias("m", "prod", 2)
            await until(lambda: first.alias.version == second.alias.version == "2")
    assert not list(cache.glob(".poll-*"))


# -- a hostile state file: the test holds the lease and writes the state ----------------------


async def test_a_hostile_state_file_never_crashes_a_follower_nor_serves_wrong_bytes(
    repo: AsyncRepository, tmp_path: Path
) -> None:
    await publish(repo, ONE, TWO)
    await repo.put_alias("m", "prod", 1)
    key = repo.layout.alias_key("m", "prod")
    cache = tmp_path / "cache"
    cache.mkdir()
    contents = {"1": ONE, "2": TWO}

    async def document() -> Document:
        found = await repo._s3.get(key, limit=None)
        assert found is not None
        return Document(found[0], found[1].etag, found[1].last_modified)

    polls = itertools.count(1)

    def state_of(outcome: Any) -> bytes:
        return encode_state(outcome, next(polls))

    def put_state(data: bytes) -> None:
        temp = cache / ".test-state"
        temp.write_bytes(data)
        os.replace(temp, state)

    async with beside(repo, cache_dir=cache) as reader:
        layout = reader.layout
        identity = (reader.endpoint_url, layout.bucket, layout.prefix, layout.suffix, "m", "prod")
        lease_path, state = poll_files(cache, identity)
        lease = Lease(lease_path)
        assert lease.hold() is True  # the test is the host's poller
        gets = AliasGets(reader)
        try:
            async with reader.follow_alias("m", "prod", interval=FAST) as follower:
                assert gets.count == 1  # its own read on entry

                def serving(version: str) -> bool:
                    path = follower.path(follower.alias.version)
                    assert path.read_bytes() == contents[follower.alias.version]
                    return follower.alias.version == version

                def corrupt(text: str, where: str = str(state)) -> Any:
                    error = follower.error
                    return (
                        isinstance(error, CorruptDocumentError)
                        and error.key == where
                        and text in error.detail
                    )

                current = await document()
                hostile = [
                    (b"{not json", lambda: corrupt("malformed")),
                    (state_of(current), lambda: follower.error is None),
                    (b"x" * (STATE_LIMIT + 1), lambda: corrupt("exceeds")),
                    (b"\0" * 100, lambda: corrupt("malformed")),
                    (
                        state_of(Document(b'{"version": "../../etc/passwd"}', '"forged"', WHEN)),
                        lambda: corrupt("version", key),
                    ),
                    (
                        state_of(PollFailure("storage", "SlowDown", "from the state file")),
                        lambda: (
                            isinstance(follower.error, StorageError)
                            and follower.error.key == key
                            and follower.error.code == "SlowDown"
                        ),
                    ),
                ]
                for data, seen in hostile:
                    put_state(data)
                    await until(seen)
                    assert serving("1")
                # A symlink in the state's place is not followed, whatever it points to.
                target = tmp_path / "elsewhere.json"
                pointed = state_of(current)
                target.write_bytes(pointed)
                state.unlink()
                state.symlink_to(target)
                await until(lambda: corrupt("can not be read"))
                assert serving("1") and target.read_bytes() == pointed
                state.unlink()

                # A real change, published by the host's poller, is followed from the file.
                moved = await repo.put_alias("m", "prod", 2)
                put_state(state_of(await document()))
                await until(lambda: serving("2"))
                assert follower.alias.revision == moved.revision and follower.error is None
                # A forged state naming an older version: that version's own verified bytes.
                put_state(state_of(Document(current.body, '"forged-etag"', WHEN)))
                await until(lambda: serving("1"))
                assert gets.count == 1  # no poll of S3 all along: the test held the lease
        finally:
            lease.release()


# -- processes: the benchmark's worker --------------------------------------------------------


def _start(endpoint: str, tmp_path: Path, count: int, interval: float) -> tuple[str, host.Host]:
    bucket = f"test-host-{os.urandom(6).hex()}"
    asyncio.run(host.prepare(endpoint, bucket, 4096, versions=3))
    return bucket, host.Host(endpoint, bucket, tmp_path, count, interval, shared=True)


def _counts(statuses: list[dict[str, Any] | None]) -> list[int]:
    return [0 if s is None else sum(s["requests"].values()) for s in statuses]


def _holders(statuses: list[dict[str, Any] | None]) -> list[int]:
    return [i for i, s in enumerate(statuses) if s is not None and s["holding"]]


INTERVAL = 0.25


def test_four_processes_make_the_requests_of_one_follower(
    endpoint_url: str, tmp_path: Path
) -> None:
    bucket, workers = _start(endpoint_url, tmp_path, 4, INTERVAL)
    with workers:
        workers.wait(lambda s: host.serving(s, "1", 4), 120, "all serve version 1")
        time.sleep(1.0)
        before = _counts(workers.read())
        time.sleep(3.0)
        statuses = workers.read()
        sent = [now - then for now, then in zip(_counts(statuses), before, strict=True)]
        # One follower: 3 s / 0.25 s = 12 GETs (answered 304). Four alone: 48.
        assert 6 <= sum(sent) <= 18, sent
        holders = _holders(statuses)
        assert len(holders) == 1 and sorted(sent)[:3] == [0, 0, 0], (holders, sent)

        revision, _, _ = asyncio.run(host.put_alias(endpoint_url, bucket, 2))
        statuses = workers.wait(lambda s: host.serving(s, "2", 4), 30, "all serve version 2")
        assert all(s is not None and s["revision"] == revision for s in statuses)
        assert all(s is not None and s["error"] is None for s in statuses)


def test_when_the_poller_is_killed_another_takes_over(endpoint_url: str, tmp_path: Path) -> None:
    bucket, workers = _start(endpoint_url, tmp_path, 4, INTERVAL)
    with workers:
        statuses = workers.wait(
            lambda s: host.serving(s, "1", 4) and len(_holders(s)) == 1, 120, "one poller"
        )
        killed = _holders(statuses)[0]
        workers.processes[killed].kill()  # SIGKILL: the kernel drops its lock
        workers.processes[killed].wait(10)
        statuses = workers.wait(lambda s: len(_holders(s)) == 1, 10, "a new poller")
        assert _holders(statuses) != [killed] and statuses[killed] is None
        before = _counts(statuses)
        time.sleep(2.0)
        sent = [a - b for a, b in zip(_counts(workers.read()), before, strict=True)]
        assert 4 <= sum(sent) <= 12, sent  # one follower again: 2 s / 0.25 s = 8
        revision, _, _ = asyncio.run(host.put_alias(endpoint_url, bucket, 3))
        statuses = workers.wait(lambda s: host.serving(s, "3", 3), 30, "survivors serve 3")
        assert [s is not None and s["revision"] == revision for s in statuses].count(True) == 3
