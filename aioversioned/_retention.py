"""Which versions a purge removes: a pure decision, tested without a server."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import datetime

from ._models import Alias


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
    return {
        int(target)
        for target in targets
        if target is not None and target.isascii() and target.isdigit()  # ASCII only
    }


def alias_references(alias: Alias, version_of_uri: Callable[[str], int | None]) -> set[int]:
    """Version numbers an alias document keeps alive: its versions, and the versions its
    s3 uris name (``versioned`` 1.x routes by the uris; a hand-edited document may
    disagree with itself). ``version_of_uri`` raises ValueError for a foreign uri."""
    numbers = referenced_versions((alias.version, alias.secondary_version))
    for uri in (alias.version_s3uri, alias.secondary_version_s3uri):
        with contextlib.suppress(ValueError):
            if uri is not None and (number := version_of_uri(uri)) is not None:
                numbers.add(number)
    return numbers
