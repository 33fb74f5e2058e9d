"""rollout: the plan (pure), steps, rollback, conflicts, crash and resume, the blocking twin.

Bakes are zero or tens of milliseconds; time bounds (HANG) only detect hangs.
"""

from __future__ import annotations

import itertools
import pickle
import threading
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from aioversioned import (
    Alias,
    AsyncRepository,
    InvalidInputError,
    Repository,
    RolloutFailedError,
    VersionConflictError,
)
from aioversioned._rollout import Plan, Target, check_steps, plan
from tests.s3log import RequestLog

HANG = 20.0
KEY = "versioned-artifacts/m/aliases/prod.json"


def shape(alias: Alias | Any) -> tuple[Any, ...]:
    """What an alias (or a history record) routes to."""
    return (alias.version, alias.secondary_version, alias.secondary_version_weight)


async def publish(repo: AsyncRepository, count: int) -> None:
    for number in range(1, count + 1):
        await repo.put_artifact("m", f"weights {number}".encode())
        await repo.publish_artifact_version("m")


@pytest.fixture
async def three(repo: AsyncRepository) -> AsyncRepository:
    """Versions 1, 2 and 3; prod points at 1."""
    await publish(repo, 3)
    await repo.put_alias("m", "prod", 1)
    return repo


@pytest.fixture
async def other(repo: AsyncRepository) -> AsyncIterator[AsyncRepository]:
    async with AsyncRepository(
        repo.layout.bucket, endpoint_url=repo._connect_args["endpoint_url"]
    ) as second:
        yield second


async def history(repo: AsyncRepository) -> list[tuple[Any, ...]]:
    """The alias's recorded targets, oldest first."""
    return [shape(c) for c in reversed(await repo.list_alias_history("m", "prod"))]


# -- the plan, without a server -------------------------------------------------------------

STEPS = (10, 50, 100)


def test_plan_from_a_single_version_runs_every_step() -> None:
    assert plan(KEY, Target("1"), None, "2", STEPS, False) == Plan(Target("1"), STEPS)
    assert plan(KEY, Target("1"), None, "2", STEPS, True) == Plan(Target("1"), STEPS)


def test_plan_at_the_target_already_has_nothing_to_do() -> None:
    assert plan(KEY, Target("2"), Target("1"), "2", STEPS, False) is None
    assert plan(KEY, Target("2"), None, "2", STEPS, True) is None


def test_plan_resumed_at_100_checks_that_step_again() -> None:
    """The alias reached the target, but the rollout died before its last check."""
    previous = Target("1", "2", 50)
    assert plan(KEY, Target("2"), previous, "2", STEPS, True) == Plan(Target("1"), (100,))
    assert plan(KEY, Target("2"), previous, "2", (10, 50), True) is None  # never went to 100


def test_plan_resumed_mid_way_reenters_its_step() -> None:
    assert plan(KEY, Target("1", "2", 50), None, "2", STEPS, True) == Plan(Target("1"), (50, 100))
    # At a weight not in steps: that weight first, baked and checked (issue 21, E3).
    assert plan(KEY, Target("1", "2", 30), None, "2", STEPS, True) == Plan(
        Target("1"), (30, 50, 100)
    )
    assert plan(KEY, Target("1", "2", 50), None, "2", (10, 50), True) == Plan(Target("1"), (50,))
    assert plan(KEY, Target("1", "2", 60), None, "2", (10, 50), True) == Plan(Target("1"), (60,))


def test_plan_refuses_an_alias_mid_way() -> None:
    with pytest.raises(VersionConflictError, match=r"mid-way to version 2 \(50%\); pass resume"):
        plan(KEY, Target("1", "2", 50), None, "2", STEPS, False)
    for resume in (False, True):
        with pytest.raises(VersionConflictError, match=r"mid-way to version 3 \(5%\)"):
            plan(KEY, Target("1", "3", 5), None, "2", STEPS, resume)
        with pytest.raises(VersionConflictError, match="mid-way to version 1"):
            plan(KEY, Target("2", "1", 5), None, "2", STEPS, resume)


@pytest.mark.parametrize(
    "steps", [(), [50, 10], (10, 10), (0, 100), (101,), ("10",), (True,), "10,50", None, (1.5,)]
)
def test_bad_steps_are_refused(steps: Any) -> None:
    with pytest.raises(InvalidInputError) as info:
        check_steps(steps)
    assert info.value.argument == "steps"


def test_rollout_failed_error_pickles_and_says_where() -> None:
    error = RolloutFailedError("m", "prod", "2", 2, 50, "check returned False", "1")
    assert str(error) == (
        "rollout of 'm' prod to version 2 failed at step 2 (50%): check returned False; "
        "prod is back at version 1"
    )
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.step, copy.weight, copy.reason, copy.restored_version) == (
        2,
        50,
        "check returned False",
        "1",
    )


# -- against moto ---------------------------------------------------------------------------


async def test_a_rollout_moves_step_by_step_and_checks_each_step(three: AsyncRepository) -> None:
    checked: list[tuple[Any, ...]] = []
    stepped: list[tuple[Any, ...]] = []

    async def check() -> bool:
        checked.append(shape(await three.get_alias("m", "prod")))
        return True

    with anyio.fail_after(HANG):
        final = await three.rollout(
            "m", "prod", 2, bake=0.01, check=check, on_step=lambda a: stepped.append(shape(a))
        )
    assert shape(final) == ("2", None, None)
    assert checked == stepped == [("1", "2", 10), ("1", "2", 50), ("2", None, None)]
    assert await history(three) == [("1", None, None), *checked]
    changes = await three.list_alias_history("m", "prod")
    assert changes[0].revision == final.revision
    assert all(c.previous_revision == older.revision for c, older in itertools.pairwise(changes))


async def test_a_failed_check_puts_the_alias_back_where_it_started(
    three: AsyncRepository,
) -> None:
    calls = 0

    def check() -> bool:  # sync: runs in a worker thread
        nonlocal calls
        calls += 1
        return calls < 2

    with anyio.fail_after(HANG), pytest.raises(RolloutFailedError) as info:
        await three.rollout("m", "prod", 2, bake=0, check=check)
    error = info.value
    assert (error.step, error.weight, error.version, error.restored_version) == (2, 50, "2", "1")
    assert error.reason == "check returned False"
    assert shape(await three.get_alias("m", "prod")) == ("1", None, None)
    # One write back, recorded: start, 10%, 50%, start again.
    assert await history(three) == [
        ("1", None, None),
        ("1", "2", 10),
        ("1", "2", 50),
        ("1", None, None),
    ]


@pytest.mark.parametrize("outcome", ["raise", "none", "async-raise"])
async def test_a_check_that_raises_or_answers_no_bool_fails_its_step(
    three: AsyncRepository, outcome: str
) -> None:
    def sync_check() -> Any:
        if outcome == "raise":
            raise ConnectionError("health endpoint down")
        return None

    async def async_check() -> bool:
        raise ValueError("error rate 7%")

    check = async_check if outcome == "async-raise" else sync_check
    with anyio.fail_after(HANG), pytest.raises(RolloutFailedError) as info:
        await three.rollout("m", "prod", 2, steps=(25, 100), bake=0, check=check)
    assert (info.value.step, info.value.weight) == (1, 25)
    reason = {
        "raise": "check raised ConnectionError: health endpoint down",
        "none": "check returned None, not True",
        "async-raise": "check raised ValueError: error rate 7%",
    }[outcome]
    assert info.value.reason == reason
    assert (info.value.__cause__ is None) == (outcome == "none")
    assert shape(await three.get_alias("m", "prod")) == ("1", None, None)


async def test_a_writer_who_moves_the_alias_during_a_bake_stops_the_rollout(
    three: AsyncRepository,
) -> None:
    def check() -> bool:
        # Only step 1 is checked: the move during step 2's bake stops the rollout first.
        assert stepped[-1].secondary_version_weight == 10, "judged someone else's change"
        return True

    stepped: list[Alias] = []
    with Repository(three.layout.bucket, endpoint_url=three.endpoint_url) as other:

        def on_step(alias: Alias) -> None:
            stepped.append(alias)
            if alias.secondary_version_weight == 50:
                # The other writer moves the alias right after step 2's write, before its
                # bake starts: on_step runs in the rollout's loop, which waits for the
                # blocking call (the sync repository works in a thread of its own).
                other.put_alias("m", "prod", 3)

        with anyio.fail_after(HANG), pytest.raises(VersionConflictError, match="during step 2"):
            await three.rollout("m", "prod", 2, bake=0, check=check, on_step=on_step)
    assert [a.secondary_version_weight for a in stepped] == [10, 50]
    assert shape(await three.get_alias("m", "prod")) == ("3", None, None)
    assert (await history(three))[-1] == ("3", None, None)  # theirs stays the newest


async def test_a_writer_who_moves_the_alias_before_a_write_wins_and_the_rollout_stops(
    three: AsyncRepository, other: AsyncRepository
) -> None:
    async def check() -> bool:  # passes, but someone moves the alias right after
        await other.put_alias("m", "prod", 3)
        return True

    with anyio.fail_after(HANG), pytest.raises(VersionConflictError, match="revision"):
        await three.rollout("m", "prod", 2, bake=0, check=check)
    assert shape(await three.get_alias("m", "prod")) == ("3", None, None)
    assert await history(three) == [("1", None, None), ("1", "2", 10), ("3", None, None)]


async def test_a_writer_who_moves_the_alias_during_the_last_check_is_not_reported_as_done(
    three: AsyncRepository, other: AsyncRepository
) -> None:
    """Finding E1: an operator rolls back during the last step's check; the rollout does
    not return "prod -> 2" while the alias is elsewhere."""
    checks = 0

    async def check() -> bool:
        nonlocal checks
        checks += 1
        if checks == 2:  # the last step, 100%: the operator puts the canary back
            await other.put_alias("m", "prod", 1, secondary_version=2, secondary_version_weight=50)
        return True

    with anyio.fail_after(HANG), pytest.raises(VersionConflictError, match="the last check"):
        await three.rollout("m", "prod", 2, steps=(50, 100), bake=0, check=check)
    assert shape(await three.get_alias("m", "prod")) == ("1", "2", 50)


async def test_a_rollback_never_overwrites_another_writer(
    three: AsyncRepository, other: AsyncRepository
) -> None:
    async def check() -> bool:  # fails, and someone moves the alias meanwhile
        await other.put_alias("m", "prod", 3)
        return False

    with anyio.fail_after(HANG), pytest.raises(VersionConflictError):
        await three.rollout("m", "prod", 2, bake=0, check=check)
    assert shape(await three.get_alias("m", "prod")) == ("3", None, None)


async def test_a_rollout_interrupted_in_a_bake_leaves_the_alias_and_resumes(
    three: AsyncRepository,
) -> None:
    """Cancelled during the bake of step 2 (Ctrl-C, or a crash as far as S3 can tell)."""
    with anyio.fail_after(HANG):
        with anyio.CancelScope() as scope:

            def on_step(alias: Alias) -> None:
                if alias.secondary_version_weight == 50:
                    scope.cancel()

            await three.rollout("m", "prod", 2, bake=0.05, on_step=on_step)
        assert scope.cancelled_caught
        assert shape(await three.get_alias("m", "prod")) == ("1", "2", 50)
        log = RequestLog(three)
        with pytest.raises(VersionConflictError, match="resume"):
            await three.rollout("m", "prod", 2, bake=0)
        assert "PutObject" not in log.sent  # a refusal writes nothing
        checked: list[tuple[Any, ...]] = []

        async def check() -> bool:
            checked.append(shape(await three.get_alias("m", "prod")))
            return True

        final = await three.rollout("m", "prod", 2, bake=0, check=check, resume=True)
    assert shape(final) == ("2", None, None)
    assert checked == [("1", "2", 50), ("2", None, None)]  # step 2 again, then step 3
    assert await history(three) == [
        ("1", None, None),
        ("1", "2", 10),
        ("1", "2", 50),  # written once: the resumed rollout only baked and checked it
        ("2", None, None),
    ]


async def test_a_rollout_resumed_at_100_percent_can_still_roll_back(
    three: AsyncRepository,
) -> None:
    with anyio.fail_after(HANG):
        with anyio.CancelScope() as scope:

            def on_step(alias: Alias) -> None:
                if alias.secondary_version is None:
                    scope.cancel()

            await three.rollout("m", "prod", 2, bake=0.05, on_step=on_step)
        assert shape(await three.get_alias("m", "prod")) == ("2", None, None)
        # Without resume: already there. With it: the last step is checked again.
        assert shape(await three.rollout("m", "prod", 2, bake=0, check=lambda: False)) == (
            "2",
            None,
            None,
        )
        with pytest.raises(RolloutFailedError) as info:
            await three.rollout("m", "prod", 2, bake=0, check=lambda: False, resume=True)
    assert (info.value.step, info.value.weight, info.value.restored_version) == (3, 100, "1")
    assert shape(await three.get_alias("m", "prod")) == ("1", None, None)


async def test_bad_arguments_are_refused_before_any_request(three: AsyncRepository) -> None:
    log = RequestLog(three)
    for kwargs, argument in [
        ({"steps": (50, 10)}, "steps"),
        ({"bake": -1}, "bake"),
        ({"check": "true"}, "check"),
        ({"on_step": 1}, "on_step"),
        ({"resume": "yes"}, "resume"),
        ({"to_version": "two"}, "to_version"),
    ]:
        to_version = kwargs.pop("to_version", 2)
        with pytest.raises(InvalidInputError) as info:
            await three.rollout("m", "prod", to_version, **kwargs)
        assert info.value.argument == argument
    assert log.sent == []


def test_sync_rollout(sync_repo: Repository) -> None:
    for content in (b"one", b"two"):
        sync_repo.put_artifact("m", content)
        sync_repo.publish_artifact_version("m")
    sync_repo.put_alias("m", "prod", 1)
    threads = []

    def check() -> bool:
        threads.append(threading.current_thread())
        return True

    final = sync_repo.rollout("m", "prod", 2, steps=(50, 100), bake=0, check=check)
    assert shape(final) == ("2", None, None)
    assert len(threads) == 2 and threading.current_thread() not in threads
    with pytest.raises(RolloutFailedError):
        sync_repo.rollout("m", "prod", 1, steps=(100,), bake=0, check=lambda: False)
    assert sync_repo.get_alias("m", "prod").version == "2"


async def test_a_rollout_resumed_at_a_weight_not_in_its_steps_checks_it_first(
    three: AsyncRepository,
) -> None:
    """Issue 21, E3: the alias is split at 30% (an operator's put_alias, a rollout with
    other steps). Resumed with steps 10, 50, 100, the rollout bakes and checks the 30%
    it found before it writes 50%, as a fresh step would; a failed check there puts the
    alias back and nothing more was exposed."""
    await three.put_alias("m", "prod", 1, 2, 30)
    checked: list[tuple[Any, ...]] = []

    async def check() -> bool:
        checked.append(shape(await three.get_alias("m", "prod")))
        return False

    with anyio.fail_after(HANG), pytest.raises(RolloutFailedError) as info:
        await three.rollout("m", "prod", 2, bake=0, check=check, resume=True)
    assert checked == [("1", "2", 30)]
    assert (info.value.step, info.value.weight, info.value.restored_version) == (0, 30, "1")
    assert "step 0 (30%)" in str(info.value)
    assert await history(three) == [("1", None, None), ("1", "2", 30), ("1", None, None)]
    # Passing, it goes on from there.
    await three.put_alias("m", "prod", 1, 2, 30)
    checked.clear()

    async def passes() -> bool:
        checked.append(shape(await three.get_alias("m", "prod")))
        return True

    with anyio.fail_after(HANG):
        final = await three.rollout("m", "prod", 2, bake=0, check=passes, resume=True)
    assert shape(final) == ("2", None, None)
    assert checked == [("1", "2", 30), ("1", "2", 50), ("2", None, None)]
