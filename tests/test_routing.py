"""Alias.pick_version: canary proportions, sticky keys, monotonic weights; get_alias_content."""

from __future__ import annotations

import random
from datetime import datetime, timezone

import pytest

from aioversioned import Alias, AsyncRepository, InvalidInputError, Repository

KEYS = [f"user-{i}" for i in range(20_000)]


def alias(weight: int | None, secondary: str | None = "2", name: str = "m", **extra: str) -> Alias:
    return Alias(
        name=name,
        alias=extra.get("alias", "prod"),
        update_at=datetime.now(timezone.utc),
        version="1",
        secondary_version=secondary,
        secondary_version_weight=weight,
        version_s3uri="s3://b/p/m/versions/999999_000001",
        secondary_version_s3uri=None if secondary is None else "s3://b/p/m/versions/999998_000002",
        revision=extra.get("revision"),
    )


def secondary_share(a: Alias, keys: list[str]) -> float:
    return sum(a.pick_version(key) == "2" for key in keys) / len(keys)


def test_without_a_secondary_or_weight_the_primary_is_picked() -> None:
    for a in (alias(None, None), alias(0)):
        assert {a.pick_version(), a.pick_version("user-1")} == {"1"}
        assert {a.pick_version(key) for key in KEYS[:500]} == {"1"}


def test_keys_follow_the_weight() -> None:
    assert 0.18 <= secondary_share(alias(20), KEYS) <= 0.22
    assert 0.48 <= secondary_share(alias(50), KEYS) <= 0.52
    assert 0.975 <= secondary_share(alias(99), KEYS) <= 1.0


def test_random_picks_follow_the_weight() -> None:
    random.seed(11)
    a = alias(20)
    share = sum(a.pick_version() == "2" for _ in range(20_000)) / 20_000
    assert 0.18 <= share <= 0.22


def test_a_key_always_gets_the_same_version() -> None:
    first = alias(30)
    picks = [first.pick_version(key) for key in KEYS[:2000]]
    assert [first.pick_version(key) for key in KEYS[:2000]] == picks
    # Another reading of the same alias (new time, new revision) routes alike.
    again = alias(30, revision="abc")
    assert [again.pick_version(key) for key in KEYS[:2000]] == picks


def test_the_bucket_is_a_stable_hash_not_pythons_salted_hash() -> None:
    # sha256("m\0prod\0user-1") starts with 8 bytes whose big-endian value is 72 mod 100,
    # for "user-2" 59: pinned so that every process, machine and Python routes them alike.
    assert alias(72).pick_version("user-1") == "1"
    assert alias(73).pick_version("user-1") == "2"
    assert alias(59).pick_version("user-2") == "1"
    assert alias(60).pick_version("user-2") == "2"


def test_raising_the_weight_only_moves_keys_to_the_secondary() -> None:
    keys = KEYS[:3000]
    previous = {key for key in keys if alias(0).pick_version(key) == "2"}
    assert previous == set()
    for weight in range(1, 100):
        current = {key for key in keys if alias(weight).pick_version(key) == "2"}
        assert previous <= current, weight
        previous = current
    assert len(previous) > 0.97 * len(keys)


def test_other_aliases_split_keys_differently() -> None:
    prod = {key for key in KEYS[:5000] if alias(50).pick_version(key) == "2"}
    beta = {key for key in KEYS[:5000] if alias(50, alias="beta").pick_version(key) == "2"}
    other = {key for key in KEYS[:5000] if alias(50, name="n").pick_version(key) == "2"}
    assert prod != beta and prod != other
    assert 0.4 < len(prod & beta) / len(prod) < 0.6  # independent halves


def test_key_must_be_a_str() -> None:
    with pytest.raises(InvalidInputError) as info:
        alias(20).pick_version(42)  # type: ignore[arg-type]
    assert info.value.argument == "key"


async def test_get_alias_content_serves_the_version_a_key_picks(repo: AsyncRepository) -> None:
    await repo.put_artifact("m", b"stable")
    await repo.publish_artifact_version("m")
    await repo.put_artifact("m", b"canary")
    await repo.publish_artifact_version("m")
    routed = await repo.put_alias("m", "prod", 1, secondary_version=2, secondary_version_weight=50)
    for key in KEYS[:20]:
        expected = b"stable" if routed.pick_version(key) == "1" else b"canary"
        assert await repo.get_alias_content("m", "prod", key) == expected
    seen = {await repo.get_alias_content("m", "prod") for _ in range(40)}
    assert seen == {b"stable", b"canary"}
    with pytest.raises(InvalidInputError) as info:
        await repo.get_alias_content("m", "prod", 7)  # type: ignore[arg-type]
    assert info.value.argument == "key"


def test_sync_get_alias_content(sync_repo: Repository) -> None:
    sync_repo.put_artifact("m", b"stable")
    sync_repo.publish_artifact_version("m")
    sync_repo.put_alias("m", "prod", 1)
    assert sync_repo.get_alias_content("m", "prod", "host-a", max_age=30) == b"stable"
