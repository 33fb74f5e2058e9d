"""Which versions a purge removes: a pure decision, tested without a server."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime


def select_purge(
    versions: Sequence[tuple[int, datetime]], keep_last_n: int, cutoff: datetime
) -> list[int]:
    """Numbers to delete from ``versions`` (published only, newest first).

    A version goes only when it is outside the newest ``keep_last_n`` and was last
    modified before ``cutoff``. LATEST is never in ``versions``.
    """
    return [number for number, modified in versions[keep_last_n:] if modified < cutoff]
