"""follow_alias: verified files, atomic swaps, failed downloads, retention, sharing, twins.

Intervals are tens of milliseconds; time bounds (HANG) only detect hangs.
"""

from __future__ import annotations

import fcntl
import hashlib
import inspect
import os
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from aioversioned import (
    Alias,
    AliasNotFoundError,
    AsyncRepository,
    IntegrityError,
    InvalidInputError,
    Repository,
    _copies,
)
from aioversioned._copies import _make_folder as make_folder
from tests.interpose import Interposer
from tests.s3log import RequestLog

HANG = 20.0
FAST = 0.05
ONE, TWO, THREE = b"weights one", b"weights two", b"weights three"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def publish(repo: AsyncRepository, *contents: bytes) -> None:
    for content in contents:
        await repo.put_artifact("m", content)
        await repo.publish_artifact_version("m")


def beside(repo: AsyncRepository, **kwargs: Any) -> AsyncRepository:
    """Another repository on the same bucket: another process, as far as S3 can tell."""
    return AsyncRepository(
        repo.layout.bucket, endpoint_url=repo._connect_args["endpoint_url"], **kwargs
    )


@pytest.fixture
async def writer(repo: AsyncRepository) -> AsyncIterator[AsyncRepository]:
    async with beside(repo) as second:
        yield second


async def until(predicate: Any) -> None:
    """Wait (bounded) until ``predicate()`` holds."""
    with anyio.fail_after(HANG):
        while not predicate():  # noqa: ASYNC110  # state moved by a server: polled
            await anyio.sleep(0.01)


def files(folder: Path | None) -> set[str]:
    """The copies in a followers' folder (not its owner file, which it holds while open)."""
    if folder is None or not folder.exists():
        return set()
    return {p.name for p in folder.iterdir() if p.name != ".owner"}


class KeyLog(RequestLog):
    """A RequestLog that also records the key of each GetObject sent."""

    def __init__(self, repo: AsyncRepository) -> None:
        super().__init__(repo)
        self.keys: list[str] = []
        repo._s3._client.meta.events.register("before-send.s3.GetObject", self._key)

    def _key(self, request: Any, **_: Any) -> None:
        self.keys.append(request.url)

    def version_gets(self) -> int:
        return len([key for key in self.keys if "/versions/" in key])


# -- serving and swapping -----------------------------------------------------------------


async def test_follower_serves_verified_files_and_swaps_to_a_new_version(
    any_repo: AsyncRepository,
) -> None:
    await publish(any_repo, ONE, TWO)
    first = await any_repo.put_alias("m", "prod", 1)
    changes: list[tuple[Alias | None, Alias]] = []

    async def on_change(old: Alias | None, new: Alias) -> None:
        # After the swap: the follower already serves the new alias, files on disk.
        assert follower.alias == new
        assert follower.path(new.version).read_bytes() in (ONE, TWO)
        changes.append((old, new))

    async with beside(any_repo) as writer:
        with anyio.fail_after(HANG):
            follower = any_repo.follow_alias("m", "prod", interval=FAST, on_change=on_change)
            async with follower:
                assert follower.alias == first
                picked = follower.pick()
                assert (picked.version, picked.sha256) == ("1", sha(ONE))
                assert follower.path(1).read_bytes() == ONE
                assert follower.path("1") == follower.path(1)
                second = await writer.put_alias("m", "prod", 2)
                await until(lambda: follower.alias.version == "2")
                assert follower.pick().sha256 == sha(TWO)
                assert follower.path(2).read_bytes() == TWO
                assert follower.path(1).read_bytes() == ONE  # retained for a minute
                assert follower.error is None
                folder = any_repo._followed.folder  # type: ignore[union-attr]
                assert files(folder) == {sha(ONE), sha(TWO)}
    assert changes == [(None, first), (first, second)]
    assert not folder.exists()  # type: ignore[union-attr]


async def test_files_keep_the_repository_suffix(endpoint_url: str, bucket: str) -> None:
    """A loader that picks a format by extension sees the suffix; a retired file goes."""
    async with AsyncRepository(bucket, endpoint_url=endpoint_url, suffix=".onnx") as onnx:
        await onnx.bootstrap()
        for content in (ONE, TWO):
            await onnx.put_artifact("m", content)
            await onnx.publish_artifact_version("m")
        await onnx.put_alias("m", "prod", 1)
        with anyio.fail_after(HANG):
            async with onnx.follow_alias("m", "prod", interval=FAST, retain=0) as follower:
                assert follower.path(1).name == f"{sha(ONE)}.onnx"
                assert follower.path(1).suffix == ".onnx"
                assert follower.path(1).read_bytes() == ONE
                await onnx.put_alias("m", "prod", 2)
                await until(lambda: follower.alias.version == "2")
                assert follower.path(2).read_bytes() == TWO
                folder = follower.path(2).parent
                await until(lambda: files(folder) == {f"{sha(TWO)}.onnx"})  # 1 retired


async def test_a_suffix_that_can_not_end_a_file_name_is_refused_before_any_request(
    endpoint_url: str, bucket: str
) -> None:
    async with AsyncRepository(bucket, endpoint_url=endpoint_url, suffix=".a\0b") as odd:
        log = RequestLog(odd)
        with pytest.raises(InvalidInputError) as info:
            odd.follow_alias("m", "prod")
        assert info.value.argument == "suffix"
        assert log.sent == []


async def test_canary_picks_follow_the_weights_and_stick_to_keys(repo: AsyncRepository) -> None:
    await publish(repo, ONE, TWO)
    alias = await repo.put_alias("m", "prod", 1, 2, 30)
    with anyio.fail_after(HANG):
        async with repo.follow_alias("m", "prod", interval=FAST) as follower:
            for user in (f"user-{i}" for i in range(200)):
                picked = follower.pick(user)
                assert picked.version == alias.pick_version(user)
                assert (
                    follower.path(picked.version).read_bytes()
                    == (ONE, TWO)[int(picked.version) - 1]
                )
            drawn = [follower.pick().version for _ in range(2000)]
    assert 400 <= drawn.count("2") <= 800  # 30% of 2000, give or take


async def test_no_pick_ever_hands_out_a_file_not_verified_on_disk(
    repo: AsyncRepository, writer: AsyncRepository
) -> None:
    """Picks in a tight loop while the alias moves back and forth and downloads fail."""
    await publish(repo, ONE, TWO, THREE)
    contents = {"1": ONE, "2": TWO, "3": THREE}
    await repo.put_alias("m", "prod", 1)
    faults = Interposer(repo)
    faults.fail("GetObject", "999998_000002", status=403, times=2)
    faults.delay("GetObject", "999997_000003", seconds=0.2, times=None)
    checked: set[str] = set()
    stop = anyio.Event()
    with anyio.fail_after(HANG):
        async with repo.follow_alias("m", "prod", interval=FAST, retain=0) as follower:

            async def picker() -> None:
                while not stop.is_set():
                    picked = follower.pick(None)
                    path = follower.path(picked.version)
                    if picked.version not in checked:
                        assert path.read_bytes() == contents[picked.version]
                        checked.add(picked.version)
                    assert path.exists()
                    await anyio.lowlevel.checkpoint()

            async with anyio.create_task_group() as tg:
                tg.start_soon(picker)
                for target in ([2], [1, 3, 50], [3], [1]):
                    moved = await writer.put_alias("m", "prod", *target)
                    await until(lambda m=moved: follower.alias.revision == m.revision)
                stop.set()
    assert checked == {"1", "2", "3"}


async def test_a_failed_download_keeps_serving_the_old_version_then_retries(
    repo: AsyncRepository, writer: AsyncRepository
) -> None:
    await publish(repo, ONE, TWO)
    await repo.put_alias("m", "prod", 1)
    faults = Interposer(repo)
    # 403 is not retried by botocore: each one fails a whole download.
    failing = faults.fail("GetObject", "999998_000002", status=403, times=None)
    with anyio.fail_after(HANG):
        async with repo.follow_alias("m", "prod", interval=FAST) as follower:
            await writer.put_alias("m", "prod", 2)
            await until(lambda: failing.hits >= 2 and follower.error is not None)
            assert follower.alias.version == "1"
            assert follower.pick().version == "1"
            folder = repo._followed.folder  # type: ignore[union-attr]
            assert files(folder) == {sha(ONE)}  # nothing partial, nothing unverified
            failing.times = failing.hits  # the server recovers
            await until(lambda: follower.alias.version == "2")
            assert follower.error is None
            assert follower.path(2).read_bytes() == TWO


async def test_a_version_that_fails_verification_is_never_served(
    repo: AsyncRepository, writer: AsyncRepository
) -> None:
    await publish(repo, ONE, TWO)
    await repo.put_alias("m", "prod", 1)
    # Another tool replaces version 2's bytes but keeps its recorded sha256.
    key = repo.layout.version_key("m", 2)
    head = await repo._s3.head(key)
    assert head is not None
    await repo._s3._client.put_object(
        Bucket=repo.layout.bucket, Key=key, Body=b"tampered", Metadata=dict(head.metadata)
    )
    faults = Interposer(repo)
    with anyio.fail_after(HANG):
        async with repo.follow_alias("m", "prod", interval=FAST) as follower:
            await writer.put_alias("m", "prod", 2)
            await until(lambda: isinstance(follower.error, IntegrityError))
            await until(lambda: len(faults.sent("GetObject")) >= 4)  # it keeps trying
            assert follower.alias.version == "1"
            assert {follower.pick().version for _ in range(50)} == {"1"}
            with pytest.raises(InvalidInputError):
                follower.path(2)
            assert files(repo._followed.folder) == {sha(ONE)}  # type: ignore[union-attr]
            # Fixing the alias is followed at once, whatever the backoff of version 2.
            await writer.put_alias("m", "prod", 1, 2, 0)
            await writer.put_alias("m", "prod", 1)
            await until(lambda: follower.error is None)


async def test_retired_files_stay_for_retain_seconds_and_a_rollback_needs_no_download(
    repo: AsyncRepository, writer: AsyncRepository
) -> None:
    await publish(repo, ONE, TWO)
    await repo.put_alias("m", "prod", 1)
    log = KeyLog(repo)
    with anyio.fail_after(HANG):
        async with repo.follow_alias("m", "prod", interval=FAST, retain=3) as follower:
            folder = repo._followed.folder  # type: ignore[union-attr]
            assert log.version_gets() == 1
            await writer.put_alias("m", "prod", 2)
            await until(lambda: follower.alias.version == "2")
            old = follower.path(1)
            with old.open("rb") as still_open:
                await writer.put_alias("m", "prod", 1)  # a rollback within retain
                await until(lambda: follower.alias.version == "1")
                assert log.version_gets() == 2  # version 1's file was still there
                await writer.put_alias("m", "prod", 2)
                await until(lambda: follower.alias.version == "2")
                await until(lambda: sha(ONE) not in files(folder))
                assert still_open.read() == ONE  # an open file outlives its deletion
            with pytest.raises(InvalidInputError, match="names 2"):
                follower.path(1)
            assert log.version_gets() == 2  # back and forth within retain: no download


async def test_followers_of_one_repository_share_downloads_and_clean_up(
    repo: AsyncRepository, writer: AsyncRepository
) -> None:
    await publish(repo, ONE, TWO)
    await repo.put_alias("m", "prod", 1)
    await repo.put_alias("m", "canary", 1, 2, 5)
    log = KeyLog(repo)
    with anyio.fail_after(HANG):
        async with (
            repo.follow_alias("m", "prod", interval=FAST, retain=0) as a,
            repo.follow_alias("m", "prod", interval=FAST, retain=0) as b,
            repo.follow_alias("m", "canary", interval=FAST, retain=0) as c,
        ):
            folder = repo._followed.folder  # type: ignore[union-attr]
            assert log.version_gets() == 2  # one per content, whoever needs it
            assert a.path(1) == b.path(1) == c.path(1)
            await writer.put_alias("m", "canary", 2)
            await until(lambda: c.alias.version == "2")
            assert files(folder) == {sha(ONE), sha(TWO)}  # a and b still hold version 1
            await writer.put_alias("m", "prod", 2)
            await until(lambda: a.alias.version == b.alias.version == "2")
            await until(lambda: files(folder) == {sha(TWO)})
            assert log.version_gets() == 2
    assert repo._followed.folder is None  # type: ignore[union-attr]
    assert not folder.exists()


async def test_followers_entering_together_share_one_folder(
    repo: AsyncRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by the followers benchmark: with a busy thread pool, followers that entered
    together made two folders, and the files of the first were looked for in the second."""
    await publish(repo, ONE)
    await repo.put_alias("m", "prod", 1)
    made: list[Path] = []

    def slow_after_the_first(parent: Path | None) -> Path:
        if made:
            time.sleep(0.5)  # a worker thread that starts late
        made.append(make_folder(parent))
        return made[-1]

    monkeypatch.setattr(_copies, "_make_folder", slow_after_the_first)
    log = KeyLog(repo)
    followers = [repo.follow_alias("m", "prod", interval=FAST) for _ in range(20)]
    entered = 0
    stop = anyio.Event()

    async def hold(follower: Any) -> None:
        nonlocal entered
        async with follower:
            entered += 1
            await stop.wait()

    with anyio.fail_after(HANG):
        async with anyio.create_task_group() as tg:
            for follower in followers:
                tg.start_soon(hold, follower)
            await until(lambda: entered == len(followers))
            paths = {follower.path(follower.pick().version) for follower in followers}
            assert len(paths) == 1
            assert paths.pop().read_bytes() == ONE
            stop.set()
    assert len(made) == 1
    assert repo._followed is not None and repo._followed.folder is None
    # One description of the version (its HEAD and the listing of its tombstones) and one
    # download (its HEAD and its GET), however many followers asked at once.
    assert (log.sent.count("HeadObject"), log.version_gets()) == (2, 1)
    assert log.sent.count("ListObjectsV2") == 1


async def test_with_a_cache_dir_files_come_through_the_content_cache(
    repo: AsyncRepository, tmp_path: Path
) -> None:
    await publish(repo, ONE)
    await repo.put_alias("m", "prod", 1)
    cache = tmp_path / "cache"
    for round in range(2):
        async with beside(repo, cache_dir=cache) as cached:
            log = KeyLog(cached)
            with anyio.fail_after(HANG):
                async with cached.follow_alias("m", "prod", interval=FAST) as follower:
                    path = follower.path(1)
                    assert path.read_bytes() == ONE
                    assert path.parent.parent == cache  # a folder inside cache_dir
                    assert (cache / sha(ONE)).read_bytes() == ONE  # the cache's own entry
            assert log.version_gets() == (1 if round == 0 else 0)
            assert not path.parent.exists()
    # The cache's entry, and the host's shared poll of the alias: its lease and its state.
    names = sorted(p.name for p in cache.iterdir())
    assert names[-1] == sha(ONE) and len(names) == 3
    assert names[0].startswith(".poll-") and names[0].endswith(".json")
    assert names[1] == names[0].replace(".json", ".lock")


async def test_a_deleted_alias_keeps_its_last_versions_served(
    repo: AsyncRepository, writer: AsyncRepository
) -> None:
    await publish(repo, ONE, TWO)
    await repo.put_alias("m", "prod", 1)
    log = RequestLog(repo)
    with anyio.fail_after(HANG):
        async with repo.follow_alias("m", "prod", interval=FAST) as follower:
            await writer.delete_alias("m", "prod")
            await until(lambda: ("GetObject", 404) in log.statuses)
            assert follower.pick().version == "1"
            assert follower.error is None
            await writer.put_alias("m", "prod", 2)
            await until(lambda: follower.alias.version == "2")


async def test_on_change_failures_are_reported_and_following_goes_on(
    repo: AsyncRepository, writer: AsyncRepository
) -> None:
    await publish(repo, ONE, TWO)
    await repo.put_alias("m", "prod", 1)
    threads: list[str] = []

    def on_change(old: Alias | None, new: Alias) -> None:
        threads.append(threading.current_thread().name)
        if old is not None and new.version == "2":
            raise RuntimeError("the model did not load")

    with anyio.fail_after(HANG):
        async with repo.follow_alias("m", "prod", interval=FAST, on_change=on_change) as follower:
            await writer.put_alias("m", "prod", 2)
            await until(lambda: isinstance(follower.error, RuntimeError))
            await writer.put_alias("m", "prod", 1)
            await until(lambda: follower.alias.version == "1" and follower.error is None)
    assert len(threads) == 3
    assert threading.current_thread().name not in threads  # a sync one runs in a worker


async def test_entering_fails_on_a_missing_alias_or_a_failing_on_change(
    repo: AsyncRepository,
) -> None:
    with pytest.raises(AliasNotFoundError):
        async with repo.follow_alias("m", "prod", interval=FAST):
            pass
    await publish(repo, ONE)
    await repo.put_alias("m", "prod", 1)

    def refuse(old: Alias | None, new: Alias) -> None:
        raise RuntimeError("no")

    with pytest.raises(RuntimeError, match="no"):
        async with repo.follow_alias("m", "prod", interval=FAST, on_change=refuse):
            pass
    assert repo._followed is not None and repo._followed.folder is None


async def test_bad_arguments_are_refused_before_any_request(repo: AsyncRepository) -> None:
    log = RequestLog(repo)
    for kwargs, argument in [
        ({"interval": 0}, "interval"),
        ({"on_change": "print"}, "on_change"),
        ({"retain": -1}, "retain"),
    ]:
        with pytest.raises(InvalidInputError) as info:
            repo.follow_alias("m", "prod", **kwargs)
        assert info.value.argument == argument
    assert log.sent == []


# -- the blocking twin --------------------------------------------------------------------


def test_live_twins_have_the_same_signatures() -> None:
    for name in ("watch_alias", "follow_alias", "rollout"):
        mine = inspect.signature(getattr(Repository, name))
        theirs = inspect.signature(getattr(AsyncRepository, name))
        assert list(mine.parameters.values()) == list(theirs.parameters.values()), name
        assert getattr(Repository, name).__doc__, name


def test_sync_follower(sync_repo: Repository, endpoint_url: str, bucket: str) -> None:
    for content in (ONE, TWO):
        sync_repo.put_artifact("m", content)
        sync_repo.publish_artifact_version("m")
    sync_repo.put_alias("m", "prod", 1)
    seen: list[str] = []
    with sync_repo.follow_alias(
        "m", "prod", interval=FAST, on_change=lambda old, new: seen.append(new.version)
    ) as follower:
        assert follower.pick().version == "1"
        assert follower.path(1).read_bytes() == ONE
        sync_repo.put_alias("m", "prod", 2)  # the repository keeps working meanwhile
        for _ in range(int(HANG / 0.01)):
            if follower.alias.version == "2":
                break
            threading.Event().wait(0.01)
        assert follower.pick().version == "2"
        assert follower.path(2).read_bytes() == TWO
        folder = follower.path(2).parent
    assert seen == ["1", "2"]
    assert not folder.exists()
    with pytest.raises(AliasNotFoundError), sync_repo.follow_alias("m", "nope", interval=FAST):
        pass


def test_closing_the_repository_stops_its_followers(endpoint_url: str, bucket: str) -> None:
    with Repository(bucket, endpoint_url=endpoint_url) as repo:
        repo.bootstrap()
        repo.put_artifact("m", ONE)
        repo.publish_artifact_version("m")
        repo.put_alias("m", "prod", 1)
        follower = repo.follow_alias("m", "prod", interval=FAST)
        follower.__enter__()
        folder = follower.path(1).parent
    assert not folder.exists()
    with pytest.raises(RuntimeError, match="closed"):
        follower.close()


async def test_folders_left_by_a_dead_follower_are_removed_by_the_next(
    repo: AsyncRepository, tmp_path: Path
) -> None:
    """Finding C3: a follower process killed with SIGKILL leaves its folder of copies in
    cache_dir. Its owner file is no longer locked, so the next follower removes it; a
    live one's folder (its owner file locked) and a folder without one stay."""
    cache = tmp_path / "cache"
    cache.mkdir()
    dead, live, bare = (cache / f".followed-{which}" for which in ("dead", "live", "bare"))
    for folder in (dead, live, bare):
        folder.mkdir()
        (folder / sha(ONE)).write_bytes(b"x" * 1024)
    (dead / ".owner").touch()  # its process is gone: nobody holds the lock
    (live / ".owner").touch()
    holder = os.open(live / ".owner", os.O_RDWR)
    fcntl.flock(holder, fcntl.LOCK_EX)  # another open file: as another process holds it
    try:
        await repo.put_artifact("m", ONE)
        await repo.publish_artifact_version("m")
        await repo.put_alias("m", "prod", 1)
        async with (
            AsyncRepository(
                repo.layout.bucket, endpoint_url=repo.endpoint_url, cache_dir=cache
            ) as following,
            following.follow_alias("m", "prod") as follower,
        ):
            assert follower.path(1).read_bytes() == ONE
            assert not dead.exists()
            assert live.exists() and bare.exists()
            mine = follower.path(1).parent
            assert (mine / ".owner").exists()
        assert not mine.exists()
    finally:
        os.close(holder)


async def test_a_purged_and_republished_version_is_served_with_its_new_bytes(
    repo: AsyncRepository, writer: AsyncRepository
) -> None:
    """Issue 21, E3: purge_artifact takes the claims too, so version 1 can be published
    again with other bytes. The followers of a repository that knew the old version 1
    must serve the new one: a follower open all along (it held the old file) once it
    sees the new alias, and a follower opened afterwards."""
    await publish(repo, ONE)
    await repo.put_alias("m", "prod", 1)
    with anyio.fail_after(HANG):
        async with repo.follow_alias("m", "prod", interval=FAST) as first:
            assert first.path(1).read_bytes() == ONE
            await writer.purge_artifact("m")
            await publish(writer, TWO)
            moved = await writer.put_alias("m", "prod", 1)
            await until(lambda: first.alias.revision == moved.revision)
            async with repo.follow_alias("m", "prod", interval=FAST) as second:
                for follower in (first, second):
                    assert follower.pick().sha256 == sha(TWO)
                    assert follower.path(1).read_bytes() == TWO
                    assert follower.error is None
        # Opened alone, after the others closed.
        async with repo.follow_alias("m", "prod", interval=FAST) as third:
            assert (third.pick().sha256, third.path(1).read_bytes()) == (sha(TWO), TWO)
