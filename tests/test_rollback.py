"""rollback_alias: back to the last stable target (or one change), further each time."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from aioversioned import (
    Alias,
    AliasNotFoundError,
    ArtifactNotFoundError,
    AsyncRepository,
    InvalidInputError,
    NothingToRollBackError,
    Repository,
    VersionConflictError,
)
from aioversioned._history import AliasHistory
from tests.interpose import Interposer


async def versions(repo: AsyncRepository, count: int, name: str = "m") -> None:
    for number in range(1, count + 1):
        await repo.put_artifact(name, f"build {number}".encode())
        await repo.publish_artifact_version(name)


async def target(repo: AsyncRepository) -> tuple[str, str | None, int | None]:
    found = await repo.get_alias("m", "prod")
    return found.version, found.secondary_version, found.secondary_version_weight


async def test_rollbacks_go_further_back_then_stop(any_repo: AsyncRepository) -> None:
    repo = any_repo
    await versions(repo, 3)
    for number in (1, 2, 3):
        await repo.put_alias("m", "prod", number)
    assert (await repo.rollback_alias("m", "prod")).version == "2"
    assert (await repo.rollback_alias("m", "prod")).version == "1"
    with pytest.raises(NothingToRollBackError) as info:
        await repo.rollback_alias("m", "prod")
    assert (info.value.name, info.value.alias) == ("m", "prod")
    assert str(info.value) == (
        "alias 'prod' of artifact 'm' has no earlier target in its history to roll back to"
    )
    assert await target(repo) == ("1", None, None)  # the refused rollback wrote nothing
    history = await repo.list_alias_history("m", "prod")
    assert [(c.sequence, c.version, c.restores) for c in history] == [
        (5, "1", 1),
        (4, "2", 2),
        (3, "3", None),
        (2, "2", None),
        (1, "1", None),
    ]


async def test_a_change_after_a_rollback_is_undone_by_the_next(repo: AsyncRepository) -> None:
    await versions(repo, 4)
    for number in (1, 2, 3):
        await repo.put_alias("m", "prod", number)
    await repo.rollback_alias("m", "prod")  # 3 -> 2
    await repo.put_alias("m", "prod", 4)
    assert (await repo.rollback_alias("m", "prod")).version == "2"  # undoes 4
    assert (await repo.rollback_alias("m", "prod")).version == "1"  # not 3: it was undone


async def test_one_rollback_undoes_a_whole_rollout(any_repo: AsyncRepository) -> None:
    """The 10/50/100 rollout of issue 22: one call goes back to the old version alone."""
    repo = any_repo
    await versions(repo, 3)
    await repo.put_alias("m", "prod", 1)
    await repo.put_alias("m", "prod", 2)
    await repo.rollout("m", "prod", 3, steps=(10, 50, 100), bake=0)
    back = await repo.rollback_alias("m", "prod")
    assert (back.version, back.secondary_version, back.secondary_version_weight) == (
        "2",
        None,
        None,
    )
    assert back.secondary_version_s3uri is None
    assert await target(repo) == ("2", None, None)
    history = await repo.list_alias_history("m", "prod")
    assert [(c.sequence, c.version, c.secondary_version, c.restores) for c in history] == [
        (6, "2", None, 2),  # restores change 2: the rollout's starting point
        (5, "3", None, None),
        (4, "2", "3", None),
        (3, "2", "3", None),
        (2, "2", None, None),
        (1, "1", None, None),
    ]
    # Again: the stable target before that one.
    assert await target(repo) == ("2", None, None)
    assert (await repo.rollback_alias("m", "prod")).version == "1"
    with pytest.raises(NothingToRollBackError) as info:
        await repo.rollback_alias("m", "prod")
    assert info.value.splits_only is False


async def test_one_step_goes_back_one_change_canary_splits_whole(repo: AsyncRepository) -> None:
    await versions(repo, 3)
    await repo.put_alias("m", "prod", 2)
    await repo.rollout("m", "prod", 3, steps=(10, 50, 100), bake=0)
    back = await repo.rollback_alias("m", "prod", one_step=True)
    assert (back.version, back.secondary_version, back.secondary_version_weight) == ("2", "3", 50)
    assert back.secondary_version_s3uri == repo.layout.s3uri(repo.layout.version_key("m", 3))
    assert await target(repo) == ("2", "3", 50)
    assert (await repo.rollback_alias("m", "prod", one_step=True)).secondary_version_weight == 10
    assert await target(repo) == ("2", "3", 10)
    # The default from a split: the newest stable target below it.
    assert (await repo.rollback_alias("m", "prod")).version == "2"
    assert await target(repo) == ("2", None, None)
    with pytest.raises(NothingToRollBackError):
        await repo.rollback_alias("m", "prod", one_step=True)
    with pytest.raises(InvalidInputError, match="one_step"):
        await repo.rollback_alias("m", "prod", one_step="yes")  # type: ignore[arg-type]


async def test_no_stable_earlier_target(repo: AsyncRepository) -> None:
    """An alias born as a split has no stable target to go back to: refused, unless
    one_step, which goes back to the split."""
    await versions(repo, 2)
    await repo.put_alias("m", "prod", 1, secondary_version=2, secondary_version_weight=10)
    await repo.put_alias("m", "prod", 2)
    with pytest.raises(NothingToRollBackError) as info:
        await repo.rollback_alias("m", "prod")
    assert info.value.splits_only is True
    assert str(info.value) == (
        "alias 'prod' of artifact 'm' has no earlier target without a secondary version in"
        " its history to roll back to; one_step=True (--one-step) goes back one change, to"
        " a split"
    )
    assert await target(repo) == ("2", None, None)  # the refused rollback wrote nothing
    assert len(await repo.list_alias_history("m", "prod")) == 2
    back = await repo.rollback_alias("m", "prod", one_step=True)
    assert (back.version, back.secondary_version, back.secondary_version_weight) == ("1", "2", 10)


async def test_rewrites_of_the_same_target_are_skipped(repo: AsyncRepository) -> None:
    await versions(repo, 2)
    await repo.put_alias("m", "prod", 1)
    await repo.put_alias("m", "prod", 1)  # a re-run of a deploy: a change with the same target
    await repo.put_alias("m", "prod", 2)
    assert (await repo.rollback_alias("m", "prod")).version == "1"
    with pytest.raises(NothingToRollBackError):
        await repo.rollback_alias("m", "prod")


async def test_a_deleted_alias_comes_back_at_its_last_target(repo: AsyncRepository) -> None:
    await versions(repo, 2)
    await repo.put_alias("m", "prod", 1)
    await repo.put_alias("m", "prod", 2)
    await repo.delete_alias("m", "prod")
    assert (await repo.rollback_alias("m", "prod")).version == "2"
    assert (await repo.rollback_alias("m", "prod")).version == "1"


async def test_nothing_to_roll_back_to(repo: AsyncRepository) -> None:
    await versions(repo, 1)
    with pytest.raises(AliasNotFoundError):
        await repo.rollback_alias("m", "prod")
    await repo.put_alias("m", "prod", 1)
    with pytest.raises(NothingToRollBackError, match="no earlier target"):
        await repo.rollback_alias("m", "prod")
    with pytest.raises(InvalidInputError, match="alias"):
        await repo.rollback_alias("m", "no-such")


async def test_a_writer_moving_the_alias_meanwhile_wins(
    repo: AsyncRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    await versions(repo, 3)
    for number in (1, 2):
        await repo.put_alias("m", "prod", number)
    original = AliasHistory.newest_where

    async def moved_meanwhile(self: AliasHistory, *args: Any, **kwargs: Any) -> Any:
        monkeypatch.setattr(AliasHistory, "newest_where", original)
        await repo.put_alias("m", "prod", 3)  # another writer, between read and write
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(AliasHistory, "newest_where", moved_meanwhile)
    with pytest.raises(VersionConflictError) as info:
        await repo.rollback_alias("m", "prod")
    current = await repo.get_alias("m", "prod")
    assert current.version == "3"
    assert str(current.revision) in str(info.value)
    assert len(await repo.list_alias_history("m", "prod")) == 3


async def test_a_rollback_that_finds_the_alias_moved_meanwhile_loses(
    any_repo: AsyncRepository,
) -> None:
    """Forced: the rollback has read the alias and its history, and its write is held
    while another process moves the alias; released, the write finds another revision."""
    repo = any_repo
    await versions(repo, 4)
    await repo.put_alias("m", "prod", 1)
    await repo.rollout("m", "prod", 2, steps=(50, 100), bake=0)
    key = repo.layout.alias_key("m", "prod")
    write = Interposer(repo).hold("PutObject", lambda sent: sent == key)
    outcome: list[BaseException | Alias] = []

    async def roll_back() -> None:
        try:
            outcome.append(await repo.rollback_alias("m", "prod"))
        except VersionConflictError as err:
            outcome.append(err)

    endpoint = repo._connect_args["endpoint_url"]
    async with (
        AsyncRepository(repo.layout.bucket, endpoint_url=endpoint) as other,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(roll_back)
        with anyio.fail_after(30):
            await write.arrived.wait()
        moved = await other.put_alias("m", "prod", 4)  # another writer, meanwhile
        write.release()
    [error] = outcome
    assert isinstance(error, VersionConflictError)
    assert error.key == key
    assert str(moved.revision) in str(error)
    assert await target(repo) == ("4", None, None)
    history = await repo.list_alias_history("m", "prod")
    assert [(c.version, c.secondary_version, c.restores) for c in history] == [
        ("4", None, None),  # the other writer's change; no rollback recorded
        ("2", None, None),
        ("1", "2", None),
        ("1", None, None),
    ]
    assert write.hits == 1


async def test_a_rollback_whose_record_was_lost_is_known_by_its_document(
    repo: AsyncRepository,
) -> None:
    """The rollback's writer died before recording it: its document says what it
    restored, so the next rollback still goes further back, and the next writer's
    record of it keeps the mark."""
    await versions(repo, 3)
    for number in (1, 2, 3):
        await repo.put_alias("m", "prod", number)
    await repo.rollback_alias("m", "prod")
    await repo._s3.delete([repo.layout.history_key("m", "prod", 4)])
    assert (await repo.rollback_alias("m", "prod")).version == "1"
    history = await repo.list_alias_history("m", "prod")
    assert [(c.sequence, c.restores) for c in history[:2]] == [(5, 1), (4, 2)]


async def test_a_deleted_target_version_fails_cleanly(repo: AsyncRepository) -> None:
    await versions(repo, 2)
    await repo.put_alias("m", "prod", 1)
    await repo.put_alias("m", "prod", 2)
    await repo.delete_artifact_version("m", 1)
    with pytest.raises(ArtifactNotFoundError):
        await repo.rollback_alias("m", "prod")
    assert (await repo.get_alias("m", "prod")).version == "2"


def test_blocking_twin(sync_repo: Repository) -> None:
    for number in (1, 2):
        sync_repo.put_artifact("m", f"build {number}".encode())
        sync_repo.publish_artifact_version("m")
        sync_repo.put_alias("m", "prod", number)
    assert sync_repo.rollback_alias("m", "prod").version == "1"
    with pytest.raises(NothingToRollBackError):
        sync_repo.rollback_alias("m", "prod")
