"""Alias rollback: back to the previous target, one step further back each time.

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
  current one; its document takes that change's position.

So after changes to 1, 2 and 3, rollbacks go 3 -> 2 -> 1 (the second one starts below
the position of 2, not from its own new number), and then raise
NothingToRollBackError. A change made after a rollback is at its own number again:
the next rollback undoes it. The write is compare-and-swap on the revision read, so a
writer who moved the alias meanwhile wins and the rollback raises VersionConflictError.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import _keys
from ._aliases import ABSENT
from ._models import Alias, AliasChange
from ._rollout import Target, target_of
from ._tasks import both
from .errors import AliasNotFoundError, NothingToRollBackError

if TYPE_CHECKING:
    from ._repository import AsyncRepository


def position(change: AliasChange) -> int:
    """A recorded change's position (see the module doc); a ``restores`` that is not
    below the change's own number is not believed."""
    restored = change.restores
    return restored if restored is not None and restored < change.sequence else change.sequence


async def rollback(repo: AsyncRepository, name: str, alias: str) -> Alias:
    """Move ``alias`` back one position in its history (see the module doc)."""
    repo.layout.check_name(name)
    _keys.validate_alias(alias)
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

    def earlier(change: AliasChange) -> bool:
        return change.version is not None and target_of(change) != current

    found = await history.newest_where(earlier, below=at)
    if found is None:
        raise NothingToRollBackError(name, alias)
    return await repo._put_alias(
        name,
        alias,
        found.version,
        found.secondary_version,
        found.secondary_version_weight,
        expected,
        restores=position(found),
    )
