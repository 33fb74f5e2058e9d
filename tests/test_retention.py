"""Which versions a purge removes: pure decisions."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from aioversioned._retention import select_purge

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _versions(*ages_days: int) -> list[tuple[int, datetime]]:
    """Newest first: version numbers count down, ages in days."""
    n = len(ages_days)
    return [(n - i, NOW - timedelta(days=age)) for i, age in enumerate(ages_days)]


def test_only_old_versions_outside_keep_last_n_go() -> None:
    versions = _versions(1, 2, 100, 200, 300)
    assert select_purge(versions, keep_last_n=2, cutoff=NOW - timedelta(days=90)) == [3, 2, 1]
    assert select_purge(versions, keep_last_n=4, cutoff=NOW - timedelta(days=90)) == [1]


def test_young_versions_stay_even_outside_keep_last_n() -> None:
    versions = _versions(1, 2, 3, 400)
    assert select_purge(versions, keep_last_n=0, cutoff=NOW - timedelta(days=90)) == [1]


def test_keep_everything() -> None:
    assert select_purge(_versions(500, 600), keep_last_n=10, cutoff=NOW) == []
    assert select_purge([], keep_last_n=0, cutoff=NOW) == []
