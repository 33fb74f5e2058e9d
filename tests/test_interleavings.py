"""Issue 9's findings, each forced into its exact interleaving with tests/interpose.py.

Two repositories on one bucket stand for two processes; each has its own injector, so
a test holds one writer's request while the other goes on.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

import anyio
import pytest
from boto_session_manager import BotoSesManager
from versioned.api import s3_only_backend as peer

from aioversioned import (
    AliasNotFoundError,
    ArtifactNotFoundError,
    AsyncRepository,
    StorageError,
    VersionConflictError,
    VersionInUseError,
    _aliases,
    _repository,
    _s3,
    _transfer,
)
from tests.foreign import put_unrecorded_version
from tests.interpose import Interposer, Rule

T = TypeVar("T")
MiB = 1 << 20


def beside(repo: AsyncRepository) -> AsyncRepository:
    """Another repository on the same bucket: another process, as far as S3 can tell."""
    return AsyncRepository(repo.layout.bucket, endpoint_url=repo._connect_args["endpoint_url"])


@pytest.fixture
async def other(any_repo: AsyncRepository) -> AsyncIterator[AsyncRepository]:
    async with beside(any_repo) as second:
        yield second


async def publish(repo: AsyncRepository, content: bytes) -> str:
    await repo.put_artifact("m", content)
    return (await repo.publish_artifact_version("m")).version


class Task:
    """A call running in the background; ``await task.result()`` returns or raises."""

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.value: Any = None
        self.error: BaseException | None = None

    async def run(self, call: Callable[[], Awaitable[Any]]) -> None:
        try:
            self.value = await call()
        except Exception as err:
            self.error = err
        finally:
            self.done.set()

    async def result(self) -> Any:
        await self.done.wait()
        if self.error is not None:
            raise self.error
        return self.value


async def arrive(rule: Rule) -> None:
    with anyio.fail_after(30):
        await rule.arrived.wait()


async def first_of(*rules: Rule) -> None:
    """Wait until one of ``rules`` has a request arrive."""
    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:

            async def wait(rule: Rule) -> None:
                await rule.arrived.wait()
                tg.cancel_scope.cancel()

            for rule in rules:
                tg.start_soon(wait, rule)


async def test_put_alias_after_a_delete_read_the_aliases_never_dangles(
    any_repo: AsyncRepository, other: AsyncRepository
) -> None:
    """Finding 2. The alias write checked version 1 before the delete retired it and
    lands after the delete read the aliases (nothing referenced 1): its own check after
    the write finds the tombstone, and it undoes itself."""
    await publish(any_repo, b"one")
    await publish(any_repo, b"two")
    writing = Interposer(other).hold("PutObject", "aliases/prod.json")
    put = Task()
    async with anyio.create_task_group() as tg:
        tg.start_soon(put.run, lambda: other.put_alias("m", "prod", 1))
        await arrive(writing)  # checked: 1 exists and is not retired
        assert await any_repo.delete_artifact_version("m", 1) == ()
        writing.release()
    with pytest.raises(VersionConflictError, match="deleted meanwhile"):
        await put.result()
    assert [a.version for a in await any_repo.list_artifact_versions("m")] == ["LATEST", "2"]
    with pytest.raises(AliasNotFoundError):  # undone: it did not exist before
        await any_repo.get_alias("m", "prod")


@pytest.mark.parametrize("expected", ["absent", "revision"])
async def test_compare_and_swap_whose_response_was_lost_reports_its_win(
    any_repo: AsyncRepository, expected: str
) -> None:
    """Finding 3: the write landed, its response was lost, botocore's retry got 412."""
    await publish(any_repo, b"one")
    await publish(any_repo, b"two")
    revision = "absent"
    if expected == "revision":
        revision = str((await any_repo.put_alias("m", "prod", 1)).revision)
    faults = Interposer(any_repo)
    faults.drop_after("PutObject", "/aliases/prod.json")
    won = await any_repo.put_alias("m", "prod", 2, expected_revision=revision)
    # A create is not sent again: the key is read (its token tells the win).
    sends = 1 if expected == "absent" else 2
    assert faults.sent("PutObject").count(any_repo.layout.alias_key("m", "prod")) == sends
    current = await any_repo.get_alias("m", "prod")
    assert (won.version, won.revision) == (current.version, current.revision) == ("2", won.revision)
    history = await any_repo.list_alias_history("m", "prod")
    assert (history[0].version, history[0].revision) == ("2", won.revision)


async def test_create_whose_answer_was_lost_never_comes_back_after_a_delete(
    any_repo: AsyncRepository, other: AsyncRepository
) -> None:
    """Explorer seed 83885 (cluster): our create landed, its answer was lost, the alias
    was deleted (and the deletion recorded) before our next request: a resend of the
    create would bring the alias back after its recorded deletion."""
    await publish(any_repo, b"one")
    key = any_repo.layout.alias_key("m", "canary")
    faults = Interposer(any_repo)
    faults.drop_after("PutObject", key)
    resend, check = faults.hold("PutObject", key), faults.hold("HeadObject", key)
    ours = Task()
    async with anyio.create_task_group() as tg:
        tg.start_soon(
            ours.run, lambda: any_repo.put_alias("m", "canary", 1, expected_revision="absent")
        )
        await first_of(resend, check)
        landed = await other.get_alias("m", "canary")
        await other.delete_alias("m", "canary")
        resend.release()
        check.release()
    won = await ours.result()
    assert (won.version, won.revision) == ("1", landed.revision)  # it did change the alias
    with pytest.raises(AliasNotFoundError):
        await any_repo.get_alias("m", "canary")
    history = await any_repo.list_alias_history("m", "canary")
    assert [(c.version, c.revision) for c in history] == [(None, None), ("1", landed.revision)]
    assert faults.sent("PutObject").count(key) == 1


@pytest.mark.parametrize(("fault", "heads"), [("drop_before", 1), ("503", 0)])
async def test_create_that_never_landed_is_written_once(
    any_repo: AsyncRepository, fault: str, heads: int
) -> None:
    """A create whose answer was lost before it reached the server is sent again once the
    key shows it is not there and the history shows it was never deleted; one the server
    turned away (503 SlowDown) is sent again by botocore without a read."""
    await publish(any_repo, b"one")
    key = any_repo.layout.alias_key("m", "canary")
    faults = Interposer(any_repo)
    if fault == "503":
        faults.fail("PutObject", key, status=503)
    else:
        faults.drop_before("PutObject", key)
    won = await any_repo.put_alias("m", "canary", 1, expected_revision="absent")
    assert (await any_repo.get_alias("m", "canary")).revision == won.revision
    history = await any_repo.list_alias_history("m", "canary")
    assert [(c.version, c.revision) for c in history] == [("1", won.revision)]
    assert (faults.sent("PutObject").count(key), faults.sent("HeadObject").count(key)) == (2, heads)


async def test_create_that_lands_late_is_reported_as_won(any_repo: AsyncRepository) -> None:
    """A create reaches the server only after the client gave up on it (a slow request)
    and after the library read the key and found nothing: the create sent again loses
    to it with 412, and the key holds this call's token, so the call won."""
    await publish(any_repo, b"one")
    key = any_repo.layout.alias_key("m", "canary")
    faults = Interposer(any_repo)
    slow, again = faults.late("PutObject", key), faults.hold("PutObject", key)
    ours = Task()
    async with anyio.create_task_group() as tg:
        tg.start_soon(
            ours.run, lambda: any_repo.put_alias("m", "canary", 1, expected_revision="absent")
        )
        await arrive(again)
        await faults.deliver(slow)
        again.release()
    won = await ours.result()
    current = await any_repo.get_alias("m", "canary")
    assert (won.version, won.revision) == ("1", current.revision)
    history = await any_repo.list_alias_history("m", "canary")
    assert [(c.version, c.revision) for c in history] == [("1", won.revision)]
    assert faults.sent("PutObject").count(key) == 2


async def test_create_that_never_gets_an_answer_fails_after_five_tries(
    any_repo: AsyncRepository,
) -> None:
    """Every attempt of a claim is lost before the server sees it: the library reads the
    key after each one, sends it 5 times in all, then raises StorageError; nothing is
    published."""
    await publish(any_repo, b"one")
    await any_repo.put_artifact("m", b"two")
    faults = Interposer(any_repo)
    faults.drop_before("PutObject", "/.aioversioned/claims/", times=None)
    with pytest.raises(StorageError, match="AnswerLost"):
        await any_repo.publish_artifact_version("m")
    claim = any_repo.layout.claim_key("m", 2)
    assert (faults.sent("PutObject").count(claim), faults.sent("HeadObject").count(claim)) == (5, 5)
    assert [a.version for a in await any_repo.list_artifact_versions("m")] == ["LATEST", "1"]


async def test_lost_response_then_replaced_is_still_reported_as_a_win(
    any_repo: AsyncRepository, other: AsyncRepository
) -> None:
    """Finding 3: our write landed (response lost), another writer moved the alias on
    from our revision before our retry: we changed the alias, so we report success."""
    await publish(any_repo, b"one")
    await publish(any_repo, b"two")
    start = await any_repo.put_alias("m", "prod", 1)
    faults = Interposer(any_repo)
    faults.drop_after("PutObject", "/aliases/prod.json")
    retry = faults.hold("PutObject", "/aliases/prod.json")
    ours = Task()
    async with anyio.create_task_group() as tg:
        tg.start_soon(
            ours.run, lambda: any_repo.put_alias("m", "prod", 2, expected_revision=start.revision)
        )
        await arrive(retry)
        seen = await other.get_alias("m", "prod")
        assert seen.version == "2"  # our first attempt landed
        theirs = await other.put_alias("m", "prod", 1, expected_revision=seen.revision)
        retry.release()
    won = await ours.result()
    assert (won.version, won.revision) == ("2", seen.revision)
    history = await any_repo.list_alias_history("m", "prod")
    assert [(c.version, c.revision) for c in history] == [
        ("1", theirs.revision),
        ("2", seen.revision),
        ("1", start.revision),
    ]
    assert history[0].previous_revision == seen.revision


@pytest.mark.parametrize(
    ("operation", "fault"),
    [("CopyObject", "drop_after"), ("PutObject", "drop_after"), ("PutObject", "drop_before")],
)
async def test_publish_whose_response_was_lost_publishes_once(
    any_repo: AsyncRepository, operation: str, fault: str
) -> None:
    """Finding 3: the copy (or the claim) landed, its response was lost; or the claim's
    request was lost before the server saw it, and it is sent again."""
    await publish(any_repo, b"one")
    await any_repo.put_artifact("m", b"two")
    key = "/versions/" if operation == "CopyObject" else "/.aioversioned/claims/"
    getattr(Interposer(any_repo), fault)(operation, key)
    published = await any_repo.publish_artifact_version("m")
    assert published.version == "2"
    assert [a.version for a in await any_repo.list_artifact_versions("m")] == ["LATEST", "2", "1"]
    assert await any_repo.get_artifact_content("m", 2) == b"two"


async def test_undo_never_removes_another_writers_alias(
    any_repo: AsyncRepository, other: AsyncRepository
) -> None:
    """Finding 4: our new alias must be undone (its version was deleted meanwhile), but
    another writer moved it on before our check: their alias stays."""
    await publish(any_repo, b"one")
    await publish(any_repo, b"two")
    faults = Interposer(other)
    writing = faults.hold("PutObject", "aliases/prod.json")
    third = beside(any_repo)
    put = Task()
    async with third, anyio.create_task_group() as tg:
        tg.start_soon(put.run, lambda: other.put_alias("m", "prod", 1))
        await arrive(writing)
        await any_repo.delete_artifact_version("m", 1)
        checking = faults.hold("ListObjectsV2", "/.aioversioned/retired/")
        writing.release()
        await arrive(checking)  # our alias is written; the tombstone is there to be found
        theirs = await third.put_alias("m", "prod", 2)
        checking.release()
        with pytest.raises(VersionConflictError):
            await put.result()
    assert await any_repo.get_alias("m", "prod") == theirs


async def test_a_torn_multipart_publish_is_never_completed(
    repo: AsyncRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding 5, on moto (which ignores CopySourceIfMatch on UploadPartCopy): LATEST
    is replaced between two part copies of a publish."""
    monkeypatch.setattr(_transfer, "COPY_LIMIT", 6 * MiB)
    old, new = b"a" * (11 * MiB), b"b" * (11 * MiB)
    await repo.put_artifact("m", old)
    second_part = Interposer(repo).hold("UploadPartCopy", lambda key: True, times=1)
    publishing = Task()
    async with beside(repo) as other, anyio.create_task_group() as tg:
        tg.start_soon(publishing.run, lambda: repo.publish_artifact_version("m"))
        await arrive(second_part)
        await other.put_artifact("m", new)
        second_part.release()
    published = await publishing.result()
    content = await repo.get_artifact_content("m", published.version)  # verifies sha256
    assert content in (old, new)
    assert published.sha256 == hashlib.sha256(content).hexdigest()
    assert [a.version for a in await repo.list_artifact_versions("m")] == ["LATEST", "1"]
    uploads = await repo._s3._client.list_multipart_uploads(Bucket=repo.layout.bucket)
    assert uploads.get("Uploads", []) == []


def _clock(offset: timedelta) -> type[datetime]:
    class Skewed(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Any:
            return datetime.now(tz) + offset

    return Skewed


async def test_a_clock_far_off_changes_no_delete(
    any_repo: AsyncRepository, other: AsyncRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding 6, E2: with the client clock two hours fast, a version retired now is
    still refused as an alias target, and a later delete does not take its bytes (the
    grace period is measured by the server's clock)."""
    for module in (_aliases, _repository):
        monkeypatch.setattr(module, "datetime", _clock(timedelta(hours=2)))
    await publish(any_repo, b"one")
    await publish(any_repo, b"two")
    await any_repo.delete_artifact_version("m", 1)
    with pytest.raises(ArtifactNotFoundError):
        await other.put_alias("m", "prod", 1)
    await other.delete_artifact_version("m", 2)  # collects what is past the grace period
    assert await any_repo._s3.head(any_repo.layout.version_key("m", 1)) is not None
    assert [a.version for a in await any_repo.list_artifact_versions("m")] == ["LATEST"]


async def test_purge_ages_versions_by_the_servers_clock(
    any_repo: AsyncRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding 6: a client clock a year fast does not make fresh versions old."""
    for content in (b"one", b"two", b"three"):
        await publish(any_repo, content)
    monkeypatch.setattr(_repository, "datetime", _clock(timedelta(days=365)))
    _, deleted = await any_repo.purge_artifact_versions(
        "m", keep_last_n=0, purge_older_than_secs=3600
    )
    assert deleted == []
    assert len(await any_repo.list_artifact_versions("m")) == 4


async def test_history_order_is_write_order(
    any_repo: AsyncRepository, other: AsyncRepository
) -> None:
    """Finding 7: the first writer's history record is slower than the second writer's
    whole call: the history still lists the changes in the order they were applied."""
    for content in (b"one", b"two", b"three"):
        await publish(any_repo, content)
    await any_repo.put_alias("m", "prod", 1)
    recording = Interposer(any_repo).hold("PutObject", "/.aioversioned/history/prod/")
    first = Task()
    async with anyio.create_task_group() as tg:
        tg.start_soon(first.run, lambda: any_repo.put_alias("m", "prod", 2))
        await arrive(recording)  # written, not yet recorded
        await other.put_alias("m", "prod", 3)
        recording.release()
    assert (await first.result()).version == "2"
    current = await any_repo.get_alias("m", "prod")
    history = await any_repo.list_alias_history("m", "prod")
    assert [c.version for c in history] == ["3", "2", "1"]
    assert [c.sequence for c in history] == [3, 2, 1]
    assert history[0].revision == current.revision
    later = datetime.now(timezone.utc) + timedelta(seconds=5)
    assert (await any_repo.get_alias("m", "prod", at=later)).version == current.version == "3"


async def test_a_number_versioned_published_is_never_handed_out_again(
    repo: AsyncRepository, endpoint_url: str
) -> None:
    """Finding 9: versioned 1.0.1 publishes 2 (writing no claim); aioversioned deletes
    it; the next publish takes 3, not 2 again."""
    bsm = BotoSesManager(
        region_name="us-east-1", default_client_kwargs={"endpoint_url": endpoint_url}
    )
    old = peer.Repository(
        aws_region="us-east-1", s3_bucket=repo.layout.bucket, s3_prefix=repo.layout.prefix
    )
    await publish(repo, b"one")
    old.put_artifact(bsm, name="m", content=b"two")
    old.publish_artifact_version(bsm, name="m")
    await repo.delete_artifact_version("m", 2)
    await repo.put_artifact("m", b"three")
    assert (await repo.publish_artifact_version("m")).version == "3"
    await repo.delete_artifact_version("m", 3, force=True)
    await repo.put_artifact("m", b"four")
    assert (await repo.publish_artifact_version("m")).version == "4"


async def test_a_change_whose_writer_died_before_recording_it_is_recorded_by_the_next(
    any_repo: AsyncRepository, other: AsyncRepository
) -> None:
    """A writer dies between its alias write and its history record (here: every
    write of the record is refused). The next writer records it before its own write, and
    point-in-time reads find it although its record was written later."""
    await publish(any_repo, b"one")
    await publish(any_repo, b"two")
    faults = Interposer(any_repo)
    faults.fail("PutObject", "/.aioversioned/history/prod/", status=403)
    with pytest.raises(StorageError, match="HistoryNotRecorded"):
        await any_repo.put_alias("m", "prod", 1)
    first = await other.get_alias("m", "prod")
    assert await other.list_alias_history("m", "prod") == []
    await anyio.sleep(1.1)  # S3 times have one-second resolution
    await other.put_alias("m", "prod", 2)
    history = await other.list_alias_history("m", "prod")
    assert [(c.version, c.sequence) for c in history] == [("2", 2), ("1", 1)]
    assert history[1].revision == first.revision
    assert (await other.get_alias("m", "prod", at=first.update_at)).version == "1"
    far = datetime.max.replace(tzinfo=timezone.utc)
    assert (await other.get_alias("m", "prod", at=far)).version == "2"


async def test_delete_alias_whose_response_was_lost_leaves_a_new_alias_alone(
    any_repo: AsyncRepository, other: AsyncRepository
) -> None:
    """Our delete landed, its response was lost, and another writer created the alias
    again before our retry: the retry is refused (another ETag), the history tells that
    our document was deleted, and their alias stays."""
    await publish(any_repo, b"one")
    first = await any_repo.put_alias("m", "prod", 1)
    faults = Interposer(any_repo)
    faults.drop_after("DeleteObject", "/aliases/prod.json")
    retry = faults.hold("DeleteObject", "/aliases/prod.json")
    deleting = Task()
    async with anyio.create_task_group() as tg:
        tg.start_soon(deleting.run, lambda: any_repo.delete_alias("m", "prod"))
        await arrive(retry)
        theirs = await other.put_alias("m", "prod", "LATEST")
        retry.release()
    await deleting.result()
    assert await any_repo.get_alias("m", "prod") == theirs
    history = await any_repo.list_alias_history("m", "prod")
    assert [(c.sequence, c.version) for c in history] == [(3, "LATEST"), (2, None), (1, "1")]
    assert history[1].previous_revision == first.revision


async def test_a_deletion_whose_answer_was_lost_is_dated_by_the_servers_clock(
    any_repo: AsyncRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding E2: the delete landed, its answer was lost, and its retry found the alias
    gone. The deletion record was stamped with the client's clock (3 hours slow here),
    so get_alias(at=) a moment when prod named 1 said it did not exist."""
    monkeypatch.setattr(_s3, "datetime", _clock(timedelta(hours=-3)))
    await publish(any_repo, b"one")
    await any_repo.put_alias("m", "prod", 1)
    created = (await any_repo.list_alias_history("m", "prod"))[0].update_at
    await anyio.sleep(1.1)  # servers date to the second: the deletion falls in a later one
    Interposer(any_repo).drop_after("DeleteObject", "/aliases/prod.json")
    await any_repo.delete_alias("m", "prod")
    history = await any_repo.list_alias_history("m", "prod")
    assert [c.version for c in history] == [None, "1"]
    assert history[0].update_at > created  # the server's time, not three hours before
    assert (await any_repo.get_alias("m", "prod", at=created)).version == "1"
    with pytest.raises(AliasNotFoundError):
        await any_repo.get_alias("m", "prod", at=history[0].update_at)


async def test_an_interrupted_put_alias_still_checks_and_records_its_write(
    any_repo: AsyncRepository, other: AsyncRepository
) -> None:
    """Finding 8 for the core: the caller is cancelled (Ctrl-C) after the alias write,
    whose version was deleted meanwhile: the write is still checked, undone and
    recorded before the cancellation takes effect."""
    await publish(any_repo, b"one")
    await publish(any_repo, b"two")
    faults = Interposer(other)
    writing = faults.hold("PutObject", "aliases/prod.json")
    async with anyio.create_task_group() as writer:
        writer.start_soon(Task().run, lambda: other.put_alias("m", "prod", 1))
        await arrive(writing)
        await any_repo.delete_artifact_version("m", 1)
        checking = faults.hold("ListObjectsV2", "/.aioversioned/retired/")
        writing.release()
        await arrive(checking)  # written
        writer.cancel_scope.cancel()
        checking.release()
    with pytest.raises(AliasNotFoundError):
        await any_repo.get_alias("m", "prod")
    history = await any_repo.list_alias_history("m", "prod")
    assert [c.version for c in history] == [None, "1"]  # written, then undone


async def _create_into_a_slot_taken_meanwhile(
    repo: AsyncRepository, other: AsyncRepository, replace_before_recorded: bool
) -> tuple[Any, Any]:
    """``repo`` creates canary ("absent"); its write is held while ``other`` creates
    canary and deletes it again. Its write then lands into that later absence, with the
    number it guessed before: the one the other's create took."""
    for content in (b"one", b"two", b"three"):
        await publish(repo, content)
    faults = Interposer(repo)
    write = faults.hold("PutObject", "aliases/canary.json")
    mine = Task()
    async with anyio.create_task_group() as tg:
        tg.start_soon(
            mine.run, lambda: repo.put_alias("m", "canary", 1, expected_revision="absent")
        )
        await arrive(write)
        if replace_before_recorded:  # its next listing works out its number: held
            numbering = faults.hold("ListObjectsV2", ".aioversioned/history/canary/")
        await other.put_alias("m", "canary", 2)
        await other.delete_alias("m", "canary")
        write.release()
        if replace_before_recorded:
            await arrive(numbering)
            replaced = await other.put_alias("m", "canary", 3)
            numbering.release()
    created = await mine.result()
    return created, (replaced if replace_before_recorded else created)


@pytest.mark.parametrize("replace_before_recorded", [False, True])
async def test_a_create_whose_number_was_taken_meanwhile_is_recorded_after_the_deletion(
    any_repo: AsyncRepository, other: AsyncRepository, replace_before_recorded: bool
) -> None:
    """Explorer, moto seed 88: the create's record collided with the other create's and
    was taken for it; the history then ended in a deletion while the alias existed. Its
    number is settled once it is in place, by itself or by the writer replacing it."""
    created, current = await _create_into_a_slot_taken_meanwhile(
        any_repo, other, replace_before_recorded
    )
    assert created.version == "1"
    assert (await any_repo.get_alias("m", "canary")).revision == current.revision
    history = await any_repo.list_alias_history("m", "canary")
    expected = [("1", created.revision), (None, None), ("2", None)]
    if replace_before_recorded:
        expected.insert(0, ("3", current.revision))
    assert [(c.version, c.revision if c.version != "2" else None) for c in history] == expected
    assert [c.sequence for c in history] == list(range(len(expected), 0, -1))
    mine = next(c for c in history if c.version == "1")
    assert mine.previous_version is None  # the create follows the deletion
    far = datetime.max.replace(tzinfo=timezone.utc)
    assert (await any_repo.get_alias("m", "canary", at=far)).revision == current.revision


async def test_an_undo_whose_previous_target_was_deleted_meanwhile_leaves_no_dangling_alias(
    any_repo: AsyncRepository, other: AsyncRepository
) -> None:
    """Explorer (cluster 242, moto 543): prod moves 1 -> 2 while 2 is being deleted, so
    the move is undone; before the undo lands, a delete of 1 reads the aliases (prod is
    at 2) and retires 1. The undo's document points at 1 again: it is checked like any
    alias write, and removed since 1 is deleted."""
    for content in (b"one", b"two"):
        await publish(any_repo, content)
    await any_repo.put_alias("m", "prod", 1)
    faults = Interposer(any_repo)
    writing = faults.hold("PutObject", "aliases/prod.json")
    move = Task()
    async with anyio.create_task_group() as tg:
        tg.start_soon(move.run, lambda: any_repo.put_alias("m", "prod", 2))
        await arrive(writing)  # checked: 2 is live
        await other.delete_artifact_version("m", 2)  # prod is at 1: 2 is free
        undoing = faults.hold("PutObject", "aliases/prod.json")
        writing.release()
        await arrive(undoing)  # the move is written and its undo back to 1 is next
        await other.delete_artifact_version("m", 1)  # prod is at 2: 1 is free
        undoing.release()
    with pytest.raises(VersionConflictError, match="previous target is gone too"):
        await move.result()
    assert [a.version for a in await any_repo.list_artifact_versions("m")] == ["LATEST"]
    with pytest.raises(AliasNotFoundError):
        await any_repo.get_alias("m", "prod")
    history = await any_repo.list_alias_history("m", "prod")
    assert [c.version for c in history] == [None, "1", "2", "1"]


async def test_a_part_copy_made_while_latest_was_replaced_and_put_back_is_not_published(
    repo: AsyncRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Explorer, moto seed 2072: moto ignores CopySourceIfMatch on UploadPartCopy, and
    LATEST went from A to B and back to A (same bytes, same ETag) while a part was being
    copied; the check of LATEST's ETag before completing saw A again. The copy's bytes
    are compared with the sha256 it carries: the torn one goes, the next number is used."""
    monkeypatch.setattr(_transfer, "COPY_LIMIT", 6 * MiB)
    old, new = b"a" * (11 * MiB), b"b" * (11 * MiB)
    await repo.put_artifact("m", old)
    faults = Interposer(repo)
    part = faults.hold("UploadPartCopy", lambda key: True, times=1)
    publishing = Task()
    async with beside(repo) as other, anyio.create_task_group() as tg:
        tg.start_soon(publishing.run, lambda: repo.publish_artifact_version("m"))
        await arrive(part)
        await other.put_artifact("m", new)
        check = faults.hold("HeadObject", repo.layout.version_key("m", None))
        part.release()  # copied from B
        await arrive(check)  # LATEST's ETag before completing
        await other.put_artifact("m", old)
        check.release()
    published = await publishing.result()
    content = await repo.get_artifact_content("m", published.version)  # verifies
    assert published.sha256 == hashlib.sha256(content).hexdigest()
    versions = [a.version for a in await repo.list_artifact_versions("m")]
    assert versions in (["LATEST", "1"], ["LATEST", "2"])


async def test_an_upload_started_by_a_request_whose_response_was_lost_is_aborted(
    any_repo: AsyncRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Explorer (cluster 223, 1865): CreateMultipartUpload acted, its response was lost
    and botocore's retry started a second upload; the first was never aborted. For keys
    no one else uploads to (a stream's own key, a claimed version), every other upload
    of the key is then such a one."""
    monkeypatch.setattr(_transfer, "COPY_LIMIT", 6 * MiB)
    faults = Interposer(any_repo)
    lost = faults.drop_after("CreateMultipartUpload", times=2)

    async def chunks() -> AsyncIterator[bytes]:
        yield b"s" * (11 * MiB)

    await any_repo.put_artifact("m", chunks())  # a stream: a multipart upload of its own
    published = await any_repo.publish_artifact_version("m")  # a multipart copy
    assert lost.hits == 2
    assert published.sha256 == hashlib.sha256(b"s" * (11 * MiB)).hexdigest()
    uploads = await any_repo._s3._client.list_multipart_uploads(Bucket=any_repo.layout.bucket)
    assert uploads.get("Uploads", []) == []


@pytest.mark.parametrize("force", [False, True])
async def test_a_publish_whose_version_is_deleted_before_it_is_described_says_so(
    any_repo: AsyncRepository,
    other: AsyncRepository,
    monkeypatch: pytest.MonkeyPatch,
    force: bool,
) -> None:
    """Explorer (cluster 8070): a purge deleted the version a publish had just copied,
    before the publish read it back (a multipart copy has an ETag of its own, so it is
    read back and hashed): the publish said "version 4 not found", as if the artifact
    were missing. A delete retires the version and leaves its bytes: the publish
    reports it, and the listing shows it deleted since. A forced delete takes the bytes
    at once: the publish says what happened."""
    monkeypatch.setattr(_transfer, "COPY_LIMIT", 6 * MiB)
    await any_repo.put_artifact("m", b"c" * (7 * MiB))
    reading_back = Interposer(any_repo).hold("HeadObject", any_repo.layout.version_key("m", 1))
    publishing = Task()
    async with anyio.create_task_group() as tg:
        tg.start_soon(publishing.run, lambda: any_repo.publish_artifact_version("m"))
        await arrive(reading_back)
        await other.delete_artifact_version("m", 1, force=force)
        reading_back.release()
    if force:
        with pytest.raises(VersionConflictError, match="published, then deleted at once"):
            await publishing.result()
    else:
        assert (await publishing.result()).version == "1"
        assert [a.version for a in await any_repo.list_artifact_versions("m")] == ["LATEST"]
    await any_repo.put_artifact("m", b"d")
    assert (await any_repo.publish_artifact_version("m")).version == "2"  # 1 is not reused


async def test_a_put_back_whose_target_a_delete_keeps_stays(
    any_repo: AsyncRepository, other: AsyncRepository
) -> None:
    """Explorer (moto 20874): a put-back to 1 lands while a delete of 1 has retired it
    and not yet read the aliases again. That read sees the put-back, so the delete takes
    its tombstone back and keeps 1; the put-back, checked after that, stays."""
    for content in (b"one", b"two"):
        await publish(any_repo, content)
    await any_repo.put_alias("m", "prod", 1)
    async with beside(any_repo) as third:
        faults = Interposer(any_repo)
        writing = faults.hold("PutObject", "aliases/prod.json")
        move, delete_one = Task(), Task()
        async with anyio.create_task_group() as tg:
            tg.start_soon(move.run, lambda: any_repo.put_alias("m", "prod", 2))
            await arrive(writing)  # checked: 2 is live
            await other.delete_artifact_version("m", 2)  # prod is at 1: 2 is free
            undoing = faults.hold("PutObject", "aliases/prod.json")
            writing.release()
            await arrive(undoing)  # the put-back to 1 is next
            retiring = Interposer(third)
            first_read = retiring.hold("ListObjectsV2", any_repo.layout.aliases_dir("m"))
            second_read = retiring.hold("ListObjectsV2", any_repo.layout.aliases_dir("m"))
            tg.start_soon(delete_one.run, lambda: third.delete_artifact_version("m", 1))
            await arrive(first_read)  # prod at 2: 1 is free
            first_read.release()
            await arrive(second_read)  # 1 is retired; the aliases are read again next
            checking = faults.hold("ListObjectsV2", "/.aioversioned/retired/")
            undoing.release()
            await arrive(checking)  # the put-back is written
            second_read.release()
            await delete_one.done.wait()
            checking.release()
    with pytest.raises(VersionConflictError, match="put back to its previous target"):
        await move.result()
    with pytest.raises(VersionInUseError):
        await delete_one.result()  # it read the put-back
    assert (await any_repo.get_alias("m", "prod")).version == "1"
    assert [a.version for a in await any_repo.list_artifact_versions("m")] == ["LATEST", "1"]


async def test_a_publish_copy_whose_answer_was_lost_is_not_sent_again(
    repo: AsyncRepository,
) -> None:
    """Explorer (moto 30064): the copy to version 1 landed and its answer was lost;
    botocore sent it again after LATEST changed, and moto, which ignores If-None-Match
    on CopyObject, copied the new LATEST over version 1: its bytes changed under its
    number. The copy is not sent again: the publish reads version 1 and keeps it."""
    await repo.put_artifact("m", b"first")
    faults = Interposer(repo)
    faults.drop_after("CopyObject", repo.layout.version_key("m", 1))
    resend = faults.hold("CopyObject", repo.layout.version_key("m", 1))
    reading = faults.hold("HeadObject", repo.layout.version_key("m", 1))
    publishing = Task()
    async with beside(repo) as second, anyio.create_task_group() as tg:
        tg.start_soon(publishing.run, lambda: repo.publish_artifact_version("m"))
        await first_of(resend, reading)  # the copy's next request, whichever it is
        await second.put_artifact("m", b"second")
        resend.release()
        reading.release()
    published = await publishing.result()
    assert published.version == "1"
    assert published.sha256 == hashlib.sha256(b"first").hexdigest()
    assert await repo.get_artifact_content("m", 1) == b"first"
    assert resend.hits == 0


async def test_publish_claims_while_it_reads_a_version_another_tool_wrote(
    any_repo: AsyncRepository,
) -> None:
    """Without a record of the newest version, its HEAD and the next number's claim are
    in flight at once: three round trips, not four."""
    await put_unrecorded_version(any_repo, "m", 1, b"one")
    await any_repo.put_artifact("m", b"two")  # the same size: only the sha256 tells
    faults = Interposer(any_repo)
    head = faults.hold("HeadObject", any_repo.layout.version_key("m", 1))
    claim = faults.hold("PutObject", any_repo.layout.claim_key("m", 2))
    async with anyio.create_task_group() as tg:
        publishing = Task()
        tg.start_soon(publishing.run, lambda: any_repo.publish_artifact_version("m"))
        with anyio.fail_after(10):
            await head.arrived.wait()
            await claim.arrived.wait()
        head.release()
        claim.release()
    published = await publishing.result()
    assert (published.version, published.sha256) == ("2", hashlib.sha256(b"two").hexdigest())
    assert await any_repo.get_artifact_content("m", 2) == b"two"


@pytest.mark.parametrize("writer", ["aioversioned", "another tool"])
async def test_a_copy_whose_answer_was_lost_reports_the_sha256_of_the_bytes_it_copied(
    any_repo: AsyncRepository, writer: str
) -> None:
    """Issue 21, E3: LATEST changes after the publish read its sha256 and before its
    copy reaches the server; the copy's answer is lost, so the publish decides from the
    version it finds. Where CopySourceIfMatch is ignored (moto), that version holds the
    new LATEST: the sha256 reported must be that of its bytes, not the one read before.

    Written by another tool, LATEST has no sha256 of ours: the publish hashed it and its
    copy carries that sha256 in new metadata, over whatever bytes the copy took.
    """
    layout = any_repo.layout
    latest = layout.version_key("m", None)

    async def put_latest(content: bytes) -> None:
        if writer == "aioversioned":
            await any_repo.put_artifact("m", content)
        else:  # no metadata, no record: as `aws s3 cp` would
            await any_repo._s3.put(latest, content)

    await put_latest(b"first")
    faults = Interposer(any_repo)
    claiming = faults.hold("PutObject", layout.claim_key("m", 1))
    faults.drop_after("CopyObject", layout.version_key("m", 1))
    publishing = Task()
    async with anyio.create_task_group() as tg:
        tg.start_soon(publishing.run, lambda: any_repo.publish_artifact_version("m"))
        await arrive(claiming)  # LATEST's sha256 is read; its copy comes next
        await put_latest(b"second, longer")
        claiming.release()
    published = await publishing.result()
    held = await any_repo._s3.get(layout.version_key("m", int(published.version)), limit=None)
    assert held is not None
    assert published.sha256 == hashlib.sha256(held[0]).hexdigest()
    assert held[0] in (b"first", b"second, longer")
    # Every reader agrees: the version's bytes are verified against that sha256.
    assert await any_repo.get_artifact_content("m", published.version) == held[0]
    described = await any_repo.get_artifact_version("m", published.version)
    assert described.sha256 == published.sha256


async def test_a_delete_that_takes_its_tombstone_back_never_undoes_another_delete(
    any_repo: AsyncRepository, other: AsyncRepository
) -> None:
    """Explorer (moto seed 56): delete A retires 2, then sees an alias on 2 and takes
    its tombstone back, but that request is slow. Meanwhile the alias moves away and
    delete B reports 2 deleted. A's take-back lands after B is done, and must not undo
    B's delete: each delete takes back only its own tombstone."""
    for content in (b"one", b"two"):
        await publish(any_repo, content)
    await any_repo.put_alias("m", "prod", 1)
    async with beside(any_repo) as first:
        faults = Interposer(first)
        retiring = faults.hold("PutObject", "/.aioversioned/retired/")
        delete_a = Task()
        async with anyio.create_task_group() as tg:
            tg.start_soon(delete_a.run, lambda: first.delete_artifact_version("m", 2))
            await arrive(retiring)  # A read prod at 1: 2 is free
            taking_back = faults.hold("PutObject", "/.aioversioned/retired/")
            await any_repo.put_alias("m", "prod", 2)
            retiring.release()
            await arrive(taking_back)  # A read prod at 2 again
            await any_repo.put_alias("m", "prod", 1)
            await other.delete_artifact_version("m", 2)  # B: prod is at 1
            taking_back.release()
    with pytest.raises(VersionInUseError):
        await delete_a.result()
    assert [a.version for a in await any_repo.list_artifact_versions("m")] == ["LATEST", "1"]
    with pytest.raises(ArtifactNotFoundError):
        await any_repo.put_alias("m", "prod", 2)


async def test_a_delete_that_collects_a_version_removes_its_own_tombstone_of_it(
    any_repo: AsyncRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deleting a version again once its grace period ended collects it, and writes a
    tombstone of its own first. The tombstones' listing runs beside that write: when
    the listing was answered before the write landed, it does not show the call's own
    tombstone, which must go with the version all the same (none is left behind)."""
    for content in (b"one", b"two"):
        await publish(any_repo, content)
    await any_repo.delete_artifact_version("m", 1)
    monkeypatch.setattr("aioversioned._deletion.GRACE", timedelta(0))
    retired_dir = any_repo.layout.retired_dir("m")
    listed = anyio.Event()

    def answered(parsed: Any, **_: Any) -> None:
        if parsed.get("Prefix") == retired_dir:
            listed.set()

    events = any_repo._s3._client.meta.events
    events.register("after-call.s3.ListObjectsV2", answered)
    retiring = Interposer(any_repo).hold("PutObject", "/.aioversioned/retired/")
    again = Task()
    async with anyio.create_task_group() as tg:
        tg.start_soon(again.run, lambda: any_repo.delete_artifact_version("m", 1))
        await arrive(retiring)
        with anyio.fail_after(30):
            await listed.wait()  # the listing is answered, without this call's tombstone
        retiring.release()
    assert await again.result() == ()
    assert await any_repo._s3.list_all(retired_dir) == []
    assert await any_repo._s3.head(any_repo.layout.version_key("m", 1)) is None
    assert [a.version for a in await any_repo.list_artifact_versions("m")] == ["LATEST", "2"]
