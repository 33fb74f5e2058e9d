"""Staged rollouts: an alias moved to a new version step by step, rolled back on a failed check.

A rollout of ``to_version`` from an alias at version A writes, for each weight W in
``steps``, "A, with ``to_version`` taking W percent of picks" (100: ``to_version``
alone), waits ``bake`` seconds, and asks ``check()``. What comes where, and why:

1. The plan (:func:`plan`, no I/O) comes from the alias and, when resuming at 100%,
   its last history record: where the rollout started (A alone; a rollout never
   changes the primary version before its last step) and which steps remain. An alias
   already mid-way (it has a secondary version) is refused without ``resume``: a
   rollback would put it somewhere its owner never had it.
2. Each step's write is compare-and-swap on the revision the rollout read or wrote
   last: another writer who moved the alias meanwhile wins, and the rollout stops with
   VersionConflictError, leaving their change alone.
3. After the bake, the alias is read again before the check: a check must judge the
   step the rollout wrote, not someone else's change (VersionConflictError, as in 2).
4. A failed check (False, anything but True, or an exception) puts the alias back
   where the rollout started, with one compare-and-swap write (recorded in the history
   like every alias write), and raises RolloutFailedError naming the step and reason.
5. A cancelled rollout (Ctrl-C during a bake, say) leaves the alias where it is; with
   ``resume=True`` the next rollout re-enters the step the alias is at (its bake and
   check again, whether its weight is one of ``steps`` or not) and continues from
   there.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio

from . import _callbacks, _keys, _validate
from ._models import Alias, AliasChange
from .errors import InvalidInputError, RolloutFailedError, VersionConflictError

if TYPE_CHECKING:
    from ._repository import AsyncRepository

Check = Callable[[], bool | Awaitable[bool]]
"""``check()``: sync (run in a worker thread) or async; True passes the step."""
OnStep = Callable[[Alias], object]
FULL = 100
MAX_BAKE = 7 * 86_400.0


@dataclass(frozen=True)
class Target:
    """What an alias routes to, without its bookkeeping (time, revision)."""

    version: str
    secondary_version: str | None = None
    secondary_version_weight: int | None = None


def target_of(item: Alias | AliasChange) -> Target:
    if item.version is None:
        raise ValueError("a deletion routes nowhere")
    return Target(item.version, item.secondary_version, item.secondary_version_weight)


def previous_target(change: AliasChange) -> Target | None:
    """What the alias routed to before ``change``, if the history says so."""
    if change.previous_version is None:
        return None
    return Target(
        change.previous_version,
        change.previous_secondary_version,
        change.previous_secondary_version_weight,
    )


def step_target(start: str, to_version: str, weight: int) -> Target:
    """The alias at one step: ``to_version`` takes ``weight`` percent (100: alone)."""
    if weight == FULL:
        return Target(to_version)
    return Target(start, to_version, weight)


@dataclass(frozen=True)
class Plan:
    """Where a rollout started (where a rollback goes) and the steps it has left.

    The first step may be the one the alias is at already (a resumed rollout), one of
    the rollout's steps or not: it is not written again, only baked and checked.
    """

    start: Target
    steps: tuple[int, ...]


def check_steps(steps: object) -> tuple[int, ...]:
    """``steps``: percentages in 1..100, strictly increasing, at least one."""
    if isinstance(steps, str | bytes) or not isinstance(steps, Sequence) or not steps:
        raise InvalidInputError("steps", f"must be a non-empty sequence of ints, got {steps!r}")
    weights = tuple(_validate.int_in(step, "steps", 1, FULL) for step in steps)
    if any(a >= b for a, b in itertools.pairwise(weights)):
        raise InvalidInputError("steps", f"must be strictly increasing, got {list(weights)}")
    return weights


def plan(
    key: str,
    current: Target,
    previous: Target | None,
    to_version: str,
    steps: tuple[int, ...],
    resume: bool,
) -> Plan | None:
    """The rollout to run, or None when there is nothing left to do.

    ``previous`` is what the alias routed to before its current document (from the
    history), used only to tell a rollout that reached 100% but was not checked
    there from an alias that simply points at ``to_version``. ``key`` names the alias
    in a VersionConflictError refusing an alias mid-way to another version, or mid-way
    to this one without ``resume``.
    """
    if current == Target(to_version):
        was_mid_way = (
            previous is not None
            and previous.secondary_version == to_version
            and previous.version != to_version
        )
        if resume and was_mid_way and steps[-1] == FULL:
            assert previous is not None
            return Plan(Target(previous.version), (FULL,))
        return None
    if current.secondary_version is None:
        return Plan(current, steps)
    weight = current.secondary_version_weight or 0
    if current.secondary_version != to_version or current.version == to_version:
        raise VersionConflictError(
            key,
            f"the alias is mid-way to version {current.secondary_version} ({weight}%); "
            "finish or undo that first",
        )
    if not resume:
        raise VersionConflictError(
            key,
            f"the alias is mid-way to version {to_version} ({weight}%); "
            "pass resume=True (--resume) to continue that rollout",
        )
    # The weight it is at first, one of ``steps`` or not: baked and checked before
    # more picks go to ``to_version``, as a step written now would be.
    left = tuple(step for step in steps if step > weight)
    return Plan(Target(current.version), (weight, *left))


async def _passes(check: Check | None) -> tuple[bool, str, BaseException | None]:
    """Run the check: (passed, why not, the exception it raised)."""
    if check is None:
        return True, "", None
    try:
        result = await _callbacks.call(check)
    except Exception as err:  # the user's check: any failure fails the step
        return False, f"check raised {type(err).__name__}: {err}", err
    if result is True:
        return True, "", None
    if result is False:
        return False, "check returned False", None
    return False, f"check returned {result!r}, not True", None


async def run_rollout(
    repo: AsyncRepository,
    name: str,
    alias: str,
    to_version: _keys.VersionLike,
    *,
    steps: Sequence[int],
    bake: float,
    check: Check | None,
    resume: bool,
    on_step: OnStep | None,
) -> Alias:
    """The rollout (see the module doc); returns the alias as the rollout left it."""
    repo.layout.check_name(name)
    _keys.validate_alias(alias)
    target_version = _keys.version_str(_keys.parse_version(to_version, "to_version"))
    weights = check_steps(steps)
    bake = _validate.seconds(bake, "bake", MAX_BAKE)
    for argument, value in (("check", check), ("on_step", on_step)):
        if value is not None and not callable(value):
            raise InvalidInputError(argument, f"must be None or a callable, got {value!r}")
    if not isinstance(resume, bool):
        raise InvalidInputError("resume", f"must be a bool, got {resume!r}")
    key = repo.layout.alias_key(name, alias)

    # 1. Where the alias is, where the rollout started, and what is left.
    current = await repo.get_alias(name, alias)
    previous = None
    if resume and target_of(current) == Target(target_version):
        newest = await repo.list_alias_history(name, alias, limit=1)
        if newest and newest[0].version is not None:
            # The newest record is the current document, or (if its writer died before
            # recording it) the one before it.
            mine = newest[0].revision == current.revision
            previous = previous_target(newest[0]) if mine else target_of(newest[0])
    todo = plan(key, target_of(current), previous, target_version, weights, resume)
    if todo is None:
        return current
    for weight in todo.steps:
        # Step 0: the weight a resumed rollout found the alias at, not one of steps.
        step = weights.index(weight) + 1 if weight in weights else 0
        # 2. The step's write, compare-and-swap on what the rollout read or wrote last.
        wanted = step_target(todo.start.version, target_version, weight)
        if target_of(current) != wanted:
            current = await repo.put_alias(
                name,
                alias,
                wanted.version,
                wanted.secondary_version,
                wanted.secondary_version_weight,
                expected_revision=current.revision,
            )
        if on_step is not None:
            on_step(current)
        await anyio.sleep(bake)
        # 3. Still the rollout's alias? Then its check judges the step written.
        await _still_ours(repo, current, key, f"step {step} ({weight}%)")
        passed, reason, error = await _passes(check)
        if not passed:
            # 4. Back to where the rollout started, over the rollout's own revision only.
            back = await repo.put_alias(
                name,
                alias,
                todo.start.version,
                todo.start.secondary_version,
                todo.start.secondary_version_weight,
                expected_revision=current.revision,
            )
            raise RolloutFailedError(
                name, alias, target_version, step, weight, reason, back.version
            ) from error
    # 5. The alias as the rollout left it: a move during the last check is not reported
    #    as the rollout's result.
    await _still_ours(repo, current, key, "the last check")
    return current


async def _still_ours(repo: AsyncRepository, current: Alias, key: str, when: str) -> None:
    """Raise VersionConflictError if another writer moved the alias since ``current``."""
    now = await repo.get_alias(current.name, current.alias)
    if now.revision != current.revision:
        raise VersionConflictError(
            key,
            f"another writer moved the alias during {when}; "
            "the rollout stopped and left their change",
        )
