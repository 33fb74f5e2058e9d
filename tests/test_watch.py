"""watch_alias: the schedule (pure), one 304 per unchanged poll, changes, faults, cancellation.

Intervals are tens of milliseconds; time bounds (HANG) only detect hangs.
"""

from __future__ import annotations

import random
import threading
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from aioversioned import (
    Alias,
    AliasNotFoundError,
    AsyncRepository,
    BucketNotFoundError,
    InvalidInputError,
    Repository,
)
from aioversioned._watch import (
    MAX_BACKOFF,
    AliasWatch,
    check_interval,
    next_poll,
    retry_delay,
    same_revision,
)
from tests.interpose import Interposer
from tests.s3log import RequestLog

HANG = 20.0
FAST = 0.05


async def versions(repo: AsyncRepository, *contents: bytes) -> None:
    for content in contents:
        await repo.put_artifact("m", content)
        await repo.publish_artifact_version("m")


def beside(repo: AsyncRepository) -> AsyncRepository:
    """Another repository on the same bucket: another process, as far as S3 can tell."""
    return AsyncRepository(repo.layout.bucket, endpoint_url=repo._connect_args["endpoint_url"])


@pytest.fixture
async def other(any_repo: AsyncRepository) -> AsyncIterator[AsyncRepository]:
    async with beside(any_repo) as second:
        yield second


async def until(predicate: Any, what: str) -> None:
    """Wait (bounded) until ``predicate()`` holds."""
    with anyio.fail_after(HANG):
        while not predicate():  # noqa: ASYNC110  # the state is a server's: polled
            await anyio.sleep(0.01)


# -- the schedule, without a server ---------------------------------------------------------


def test_next_poll_is_the_next_point_of_the_grid() -> None:
    assert next_poll(now=10.0, origin=10.0, interval=5.0) == 15.0  # strictly after now
    assert next_poll(now=12.0, origin=10.0, interval=5.0) == 15.0
    assert next_poll(now=31.0, origin=10.0, interval=5.0) == 35.0  # late: skips, no burst
    assert next_poll(now=7.0, origin=10.0, interval=5.0) == 10.0  # before the first point


def test_retry_delay_doubles_up_to_a_ceiling_with_jitter() -> None:
    assert retry_delay(1.0, 1, 0.0) == 0.5
    assert retry_delay(1.0, 1, 0.999999) == pytest.approx(1.0, abs=1e-5)
    assert retry_delay(1.0, 3, 0.0) == 2.0
    assert retry_delay(1.0, 1000, 0.0) == MAX_BACKOFF / 2
    assert retry_delay(600.0, 5, 0.0) == 300.0  # a long interval is its own ceiling


def test_phases_spread_many_watchers_over_the_interval() -> None:
    """1000 watchers started together: every tenth of the interval gets its share."""
    rng = random.Random(7)
    interval = 5.0
    firsts = [next_poll(0.0, rng.uniform(0, interval), interval) - interval for _ in range(1000)]
    deciles = [0] * 10
    for first in firsts:
        deciles[int(first / interval * 10)] += 1
    assert all(60 <= count <= 140 for count in deciles), deciles


@pytest.mark.parametrize("interval", [0, 0.001, -1, "5", None, float("inf"), 10**6])
def test_bad_interval_is_refused(interval: Any) -> None:
    with pytest.raises(InvalidInputError) as info:
        check_interval(interval)
    assert info.value.argument == "interval"


def test_same_revision() -> None:
    assert same_revision(None, None)


# -- against servers --------------------------------------------------------------------------


async def test_watch_yields_the_alias_then_each_change(
    any_repo: AsyncRepository, other: AsyncRepository
) -> None:
    await versions(any_repo, b"one", b"two")
    first = await any_repo.put_alias("m", "prod", 1)
    seen: list[Alias] = []
    with anyio.fail_after(HANG):
        async with anyio.create_task_group() as tg:

            async def consume() -> None:
                async for alias in any_repo.watch_alias("m", "prod", interval=FAST):
                    seen.append(alias)
                    if len(seen) == 3:
                        tg.cancel_scope.cancel()

            tg.start_soon(consume)
            await until(lambda: len(seen) == 1, "the alias now")
            second = await other.put_alias("m", "prod", 2)
            await until(lambda: len(seen) == 2, "the first change")
            third = await other.put_alias("m", "prod", 1, 2, 10)
    assert [(a.version, a.revision) for a in seen] == [
        ("1", first.revision),
        ("2", second.revision),
        ("1", third.revision),
    ]
    assert seen[2].secondary_version == "2" and seen[2].secondary_version_weight == 10


async def test_an_unchanged_poll_is_one_get_answered_304(
    any_repo: AsyncRepository, other: AsyncRepository
) -> None:
    await versions(any_repo, b"one", b"two")
    await any_repo.put_alias("m", "prod", 1)
    watch = AliasWatch(any_repo._s3, any_repo.layout, "m", "prod", FAST)
    log = RequestLog(any_repo)
    with anyio.fail_after(HANG):
        assert (await watch.first()).version == "1"
        assert log.statuses == [("GetObject", 200)]
        log.clear()
        for _ in range(3):
            assert (await watch.poll_when_due()) is watch.current
        assert log.sent == ["GetObject"] * 3
        assert log.statuses == [("GetObject", 304)] * 3
        log.clear()
        await other.put_alias("m", "prod", 2)
        assert (await watch.poll_when_due()).version == "2"  # type: ignore[union-attr]
        assert log.statuses == [("GetObject", 200)]


async def test_transient_errors_do_not_end_the_watch(repo: AsyncRepository) -> None:
    await versions(repo, b"one", b"two")
    await repo.put_alias("m", "prod", 1)
    faults = Interposer(repo)
    seen: list[str] = []
    with anyio.fail_after(HANG):
        async with anyio.create_task_group() as tg:

            async def consume() -> None:
                async for alias in repo.watch_alias("m", "prod", interval=FAST):
                    seen.append(alias.version)

            tg.start_soon(consume)
            await until(lambda: seen == ["1"], "the alias now")
            # 403 is not retried by botocore: each one fails a whole poll.
            failing = faults.fail("GetObject", "aliases/prod", status=403, times=3)
            await until(lambda: failing.hits == 3, "three failed polls")
            async with beside(repo) as writer:
                await writer.put_alias("m", "prod", 2)
            await until(lambda: len(seen) == 2, "the change after the failures")
            tg.cancel_scope.cancel()
    assert seen == ["1", "2"]
    assert [action for _, key, action in faults.log if "aliases/" in key].count("fail") == 3


async def test_a_deleted_alias_is_not_yielded_and_its_recreation_is(repo: AsyncRepository) -> None:
    await versions(repo, b"one", b"two")
    await repo.put_alias("m", "prod", 1)
    log = RequestLog(repo)
    seen: list[Alias] = []
    with anyio.fail_after(HANG):
        async with anyio.create_task_group() as tg:

            async def consume() -> None:
                async for alias in repo.watch_alias("m", "prod", interval=FAST):
                    seen.append(alias)

            tg.start_soon(consume)
            await until(lambda: len(seen) == 1, "the alias now")
            async with beside(repo) as writer:
                await writer.delete_alias("m", "prod")
                # Let the watch see the deletion: a poll answered 404.
                await until(lambda: ("GetObject", 404) in log.statuses, "a poll of no alias")
                recreated = await writer.put_alias("m", "prod", 2)
            await until(lambda: len(seen) == 2, "the alias created again")
            tg.cancel_scope.cancel()
    assert [(a.version, a.revision) for a in seen[1:]] == [("2", recreated.revision)]


async def test_a_missing_alias_or_bucket_raises_at_the_start(
    repo: AsyncRepository, endpoint_url: str
) -> None:
    with pytest.raises(AliasNotFoundError):
        await anext(repo.watch_alias("m", "prod", interval=FAST))
    async with AsyncRepository("no-such-bucket-here", endpoint_url=endpoint_url) as missing:
        with pytest.raises(BucketNotFoundError):
            await anext(missing.watch_alias("m", "prod", interval=FAST))


async def test_bad_arguments_are_refused_before_any_request(repo: AsyncRepository) -> None:
    log = RequestLog(repo)
    for args, argument in [
        (("m", "prod", 0), "interval"),
        (("m", "LATEST", FAST), "alias"),
        (("bad name", "prod", FAST), "name"),
    ]:
        with pytest.raises(InvalidInputError) as info:
            repo.watch_alias(args[0], args[1], interval=args[2])  # type: ignore[arg-type]
        assert info.value.argument == argument
    assert log.sent == []


async def test_cancelling_the_consumer_stops_the_watch_at_once(repo: AsyncRepository) -> None:
    await versions(repo, b"one")
    await repo.put_alias("m", "prod", 1)
    log = RequestLog(repo)
    started = anyio.Event()
    with anyio.fail_after(HANG):
        async with anyio.create_task_group() as tg:

            async def consume() -> None:
                async for _ in repo.watch_alias("m", "prod", interval=FAST):
                    started.set()

            tg.start_soon(consume)
            await started.wait()
            await until(lambda: len(log.sent) >= 3, "a few polls")
            tg.cancel_scope.cancel()
        sent = len(log.sent)
        await anyio.sleep(FAST * 6)
    assert len(log.sent) == sent  # nothing polls once the consumer is gone


def test_sync_watch_yields_changes_and_closes_when_left(
    sync_repo: Repository, endpoint_url: str, bucket: str
) -> None:
    for content in (b"one", b"two"):
        sync_repo.put_artifact("m", content)
        sync_repo.publish_artifact_version("m")
    sync_repo.put_alias("m", "prod", 1)
    seen = []
    changes = sync_repo.watch_alias("m", "prod", interval=FAST)
    for alias in changes:
        seen.append(alias.version)
        if len(seen) == 1:
            # Another process moves it while this thread waits for the next change.
            def move() -> None:
                with Repository(bucket, endpoint_url=endpoint_url) as writer:
                    writer.put_alias("m", "prod", 2)

            mover = threading.Thread(target=move)
            mover.start()
        else:
            break
    mover.join(HANG)
    changes.close()  # what leaving a loop early does once the iterator is collected
    assert seen == ["1", "2"]
    assert changes.gi_frame is None
