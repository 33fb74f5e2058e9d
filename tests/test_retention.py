"""Which versions a purge removes: pure decisions."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from functools import partial

from aioversioned._keys import Layout
from aioversioned._models import Alias
from aioversioned._retention import alias_references, select_purge

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


def test_an_alias_keeps_its_versions_and_those_its_uris_name() -> None:
    layout = Layout("bkt", "arts")
    uri = partial(layout.parse_version_uri, "m")
    alias = Alias(
        name="m",
        alias="prod",
        update_at=NOW,
        version="3",
        secondary_version="LATEST",
        secondary_version_weight=10,
        version_s3uri=layout.s3uri(layout.version_key("m", 5)),  # hand-edited: disagrees
        secondary_version_s3uri="s3://elsewhere/x",
    )
    assert alias_references(alias, uri) == {3, 5}
    assert alias_references(alias.model_copy(update={"version_s3uri": "junk"}), uri) == {3}
