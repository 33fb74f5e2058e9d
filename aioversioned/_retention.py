"""Which versions a purge removes: a pure decision, tested without a server."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime


def select_purge(
    versions: Sequence[tuple[int, datetime]],
    keep_last_n: int,
    cutoff: datetime,
    protected: Collection[int] = (),
) -> list[int]:
    """Numbers to delete from ``versions`` (published only, newest first).

    A version goes only when it is outside the newest ``keep_last_n``, was last
    modified before ``cutoff`` and is not ``protected`` (referenced by an alias).
    LATEST is never in ``versions``.
    """
    return [
        number
        for number, modified in versions[keep_last_n:]
        if modified < cutoff and number not in protected
    ]


def referenced_versions(targets: Iterable[str | None]) -> set[int]:
    """Version numbers among alias targets (``"LATEST"`` and None are not numbers)."""
    return {int(target) for target in targets if target is not None and target.isdigit()}
