"""Alias rollback: back to the last stable target, or one change back; further each time.

The rule, derived from the stored history alone:

- Every recorded change has a *position*: its own sequence number, except a change
  made by a rollback, whose position is the one it restored. The rollback's alias
  document carries that position in its metadata (``aioversioned-restores``), and
  its record copies it (``AliasChange.restores``), whoever writes the record.
- The alias is at the position of its current document: a rollback's document at the
  position it restored, any other at its own number, which is the newest (its record,
  if written, has the current target, so the search below skips it).
- A rollback moves the alias to the target of the newest recorded change numbered
  below that position which names a target (a deletion names none) other than the
  current one, and by default one without a secondary version (a *stable* target: the
  steps of a canary or a rollout are passed over, so one call undoes a whole rollout);
  ``one_step`` takes any target. Its document takes that change's position.

So after changes to 1, 2 and 3, rollbacks go 3 -> 2 -> 1 (the second one starts below
the position of 2, not from its own new number), and then raise
NothingToRollBackError; after a rollout 1 -> 1+2 (10%) -> 1+2 (50%) -> 2, one rollback
goes back to 1 (with ``one_step``: to 1+2 (50%), then 1+2 (10%), then 1). A change
made after a rollback is at its own number again: the next rollback undoes it. The
write is compare-and-swap on the revision read, so a writer who moved the alias
meanwhile wins and the rollback raises VersionConflictError.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from . import _keys
from ._aliases import ABSENT
from ._models import Alias, AliasChange
from ._rollout import Target, target_of
from ._tasks import both
from .errors import AliasNotFoundError, InvalidInputError, NothingToRollBackError

if TYPE_CHECKING:
    from ._repository import AsyncRepository


def position(change: AliasChange) -> int:
    """A recorded change's position (see the module doc); a ``restores`` that is not
    below the change's own number is not believed."""
    restored = change.restores
    return restored if restored is not None and restored < change.sequence else change.sequence


def wanted(current: Target | None, one_step: bool) -> Callable[[AliasChange], bool]:
    """Which recorded changes a rollback from ``current`` may go back to (module doc)."""

    def earlier(change: AliasChange) -> bool:
        if change.version is None or target_of(change) == current:
            return False
        return one_step or change.secondary_version is None

    return earlier


async def rollback(repo: AsyncRepository, name: str, alias: str, one_step: bool) -> Alias:
    """Move ``alias`` back in its history (see the module doc)."""
    repo.layout.check_name(name)
    _keys.validate_alias(alias)
    if not isinstance(one_step, bool):
        raise InvalidInputError("one_step", f"must be a bool, got {one_step!r}")
    history = repo._history(name, alias)
    state, (newest, _) = await both(history.read, history.newest)
    current: Target | None = None
    at, expected = newest + 1, ABSENT  # a deleted alias: undoing the delete recreates it
    if state is not None:
        # A document that can not be read has no target: any earlier one is restored.
        current = None if state.alias is None else target_of(state.alias)
        expected = state.revision
        restored = state.restores
        if restored is not None and restored <= newest:  # else not believed
            at = restored
    elif newest == 0:
        await repo._s3.ensure_bucket()
        raise AliasNotFoundError(name, alias)

    found = await history.newest_where(wanted(current, one_step), below=at)
    if found is None:
        # Worth saying when only splits are left: --one-step would go back to one.
        split = None if one_step else await history.newest_where(wanted(current, True), below=at)
        raise NothingToRollBackError(name, alias, splits_only=split is not None)
    return await repo._put_alias(
        name,
        alias,
        found.version,
        found.secondary_version,
        found.secondary_version_weight,
        expected,
        restores=position(found),
    )
