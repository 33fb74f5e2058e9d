"""Safety guarantees on both real servers: CAS aliases, history, protected versions, integrity."""

from __future__ import annotations

import hashlib
import os
from datetime import timedelta

import anyio
import pytest

from aioversioned import (
    AliasNotFoundError,
    AsyncRepository,
    IntegrityError,
    InvalidInputError,
    VersionConflictError,
    VersionInUseError,
)
from tests.interpose import Interposer


async def publish(repo: AsyncRepository, name: str, content: bytes) -> str:
    await repo.put_artifact(name, content)
    return (await repo.publish_artifact_version(name)).version


async def test_compare_and_swap_alias(any_repo: AsyncRepository) -> None:
    repo = any_repo
    for i in range(3):
        await publish(repo, "m", bytes([i]))
    with pytest.raises(VersionConflictError):
        await repo.put_alias("m", "prod", 1, expected_revision="0" * 32)  # does not exist yet
    first = await repo.put_alias("m", "prod", 1, expected_revision="absent")
    assert first.revision
    with pytest.raises(VersionConflictError):
        await repo.put_alias("m", "prod", 2, expected_revision="absent")
    second = await repo.put_alias("m", "prod", 2, expected_revision=first.revision)
    assert second.revision and second.revision != first.revision
    with pytest.raises(VersionConflictError):
        await repo.put_alias("m", "prod", 3, expected_revision=first.revision)  # stale
    assert await repo.get_alias("m", "prod") == second
    assert [a.revision for a in await repo.list_aliases("m")] == [second.revision]
    # Lost writes leave no history record.
    assert [c.version for c in await repo.list_alias_history("m", "prod")] == ["2", "1"]
    with pytest.raises(InvalidInputError, match=r"^expected_revision: "):
        await repo.put_alias("m", "prod", 3, expected_revision="")


async def test_eight_cas_writers_one_winner_per_round(any_repo: AsyncRepository) -> None:
    repo = any_repo
    for i in range(8):
        await publish(repo, "m", bytes([i]))
    current = await repo.put_alias("m", "prod", 1)

    async def writer(version: int, seen: str, outcomes: list[str | None]) -> None:
        try:
            outcomes.append(
                (await repo.put_alias("m", "prod", version, expected_revision=seen)).version
            )
        except VersionConflictError:
            outcomes.append(None)

    for round_ in range(3):
        outcomes: list[str | None] = []
        assert current.revision is not None
        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                for version in range(1, 9):
                    tg.start_soon(writer, version, current.revision, outcomes)
        winners = [v for v in outcomes if v is not None]
        assert (len(winners), len(outcomes)) == (1, 8), f"round {round_}"
        current = await repo.get_alias("m", "prod")
        assert current.version == winners[0]
    history = await repo.list_alias_history("m", "prod")
    assert len(history) == 4  # the first put and one winner per round
    assert [c.sequence for c in history] == [4, 3, 2, 1]


async def test_alias_history_and_point_in_time(any_repo: AsyncRepository) -> None:
    repo = any_repo
    for i in range(3):
        await publish(repo, "m", bytes([i]))
    await repo.put_alias("m", "prod", 1)
    await anyio.sleep(1.1)  # S3 times have one-second resolution
    await repo.put_alias("m", "prod", 2, secondary_version=3, secondary_version_weight=10)
    await anyio.sleep(1.1)
    await repo.delete_alias("m", "prod")
    await repo.delete_alias("m", "prod")  # no-op: not recorded again

    deleted, canary, created = await repo.list_alias_history("m", "prod")
    assert (created.version, created.previous_version) == ("1", None)
    assert (canary.version, canary.secondary_version, canary.secondary_version_weight) == (
        "2",
        "3",
        10,
    )
    assert (canary.previous_version, canary.previous_revision) == ("1", created.revision)
    assert (deleted.version, deleted.previous_version, deleted.previous_secondary_version) == (
        None,
        "2",
        "3",
    )
    assert created.update_at < canary.update_at < deleted.update_at
    assert len(await repo.list_alias_history("m", "prod", limit=1)) == 1

    with pytest.raises(AliasNotFoundError):
        await repo.get_alias("m", "prod")
    then = await repo.get_alias("m", "prod", at=canary.update_at)
    assert (then.version, then.secondary_version, then.secondary_version_weight) == ("2", "3", 10)
    assert then.secondary_version_s3uri == repo.layout.s3uri(repo.layout.version_key("m", 3))
    before = await repo.get_alias("m", "prod", at=canary.update_at - timedelta(microseconds=1))
    assert before.version == "1"
    with pytest.raises(AliasNotFoundError):
        await repo.get_alias("m", "prod", at=created.update_at - timedelta(seconds=1))
    with pytest.raises(AliasNotFoundError):
        await repo.get_alias("m", "prod", at=deleted.update_at)
    with pytest.raises(InvalidInputError, match=r"^at: "):
        await repo.get_alias("m", "prod", at=deleted.update_at.replace(tzinfo=None))


async def test_versions_in_use_are_protected(any_repo: AsyncRepository) -> None:
    repo = any_repo
    for i in range(6):
        await publish(repo, "m", bytes([i]))
    await repo.put_alias("m", "prod", 2, secondary_version=1, secondary_version_weight=5)
    await repo.put_alias("m", "beta", 1)
    with pytest.raises(VersionInUseError) as info:
        await repo.delete_artifact_version("m", 1)
    assert info.value.aliases == ("beta", "prod")
    assert "beta" in str(info.value) and "prod" in str(info.value)
    assert await repo.get_artifact_content("m", 1) == b"\x00"

    _, planned = await repo.purge_artifact_versions(
        "m", keep_last_n=1, purge_older_than_secs=0, dry_run=True
    )
    assert [a.version for a in planned] == ["5", "4", "3"]
    assert len(await repo.list_artifact_versions("m")) == 7  # dry run deleted nothing
    _, deleted = await repo.purge_artifact_versions("m", keep_last_n=1, purge_older_than_secs=0)
    assert deleted == planned
    assert [a.version for a in await repo.list_artifact_versions("m")] == ["LATEST", "6", "2", "1"]

    await repo.delete_artifact_version("m", 1, force=True)
    assert [a.version for a in await repo.list_artifact_versions("m")] == ["LATEST", "6", "2"]


async def test_content_is_verified_on_download(any_repo: AsyncRepository) -> None:
    repo = any_repo
    await publish(repo, "m", b"genuine")
    key = repo.layout.version_key("m", 1)
    info = await repo._s3.head(key)
    assert info is not None
    await repo._s3.put(key, b"tampered", metadata=info.metadata)  # behind the library's back
    with pytest.raises(IntegrityError) as caught:
        await repo.get_artifact_content("m", 1)
    assert caught.value.expected == hashlib.sha256(b"genuine").hexdigest()
    assert caught.value.actual == hashlib.sha256(b"tampered").hexdigest()
    assert caught.value.key == key
    assert await repo.get_artifact_content("m") == b"genuine"  # LATEST is untouched


async def test_content_of_many_chunks_is_verified_to_its_last_byte(
    any_repo: AsyncRepository,
) -> None:
    """Chunks are hashed while the next ones arrive: every byte still counts."""
    repo = any_repo
    genuine = os.urandom(5 * 1024 * 1024 // 2 + 1)  # 2.5 MiB and a byte: three reads
    await publish(repo, "m", genuine)
    assert await repo.get_artifact_content("m", 1) == genuine
    key = repo.layout.version_key("m", 1)
    info = await repo._s3.head(key)
    assert info is not None
    tampered = genuine[:-1] + bytes([genuine[-1] ^ 1])
    await repo._s3.put(key, tampered, metadata=info.metadata)
    with pytest.raises(IntegrityError) as caught:
        await repo.get_artifact_content("m", 1)
    assert caught.value.actual == hashlib.sha256(tampered).hexdigest()
    assert caught.value.expected == hashlib.sha256(genuine).hexdigest()


async def test_put_alias_racing_a_purge_never_dangles(any_repo: AsyncRepository) -> None:
    """put_alias checked version 1 before the purge retired it, and writes after the
    purge read the aliases: its check after the write finds 1 retired, and it undoes
    itself."""
    repo = any_repo
    for i in range(3):
        await publish(repo, "m", bytes([i]))
    before = await repo.put_alias("m", "prod", 3)
    async with AsyncRepository(
        repo.layout.bucket, endpoint_url=repo._connect_args["endpoint_url"]
    ) as other:
        writing = Interposer(other).hold("PutObject", "aliases/prod.json")
        raised: list[Exception] = []

        async def move() -> None:
            try:
                await other.put_alias("m", "prod", 1)
            except VersionConflictError as err:
                raised.append(err)

        async with anyio.create_task_group() as tg:
            tg.start_soon(move)
            with anyio.fail_after(30):
                await writing.arrived.wait()
            _, deleted = await repo.purge_artifact_versions(
                "m", keep_last_n=1, purge_older_than_secs=0
            )
            writing.release()
    assert [a.version for a in deleted] == ["2", "1"]
    assert len(raised) == 1 and "deleted meanwhile" in str(raised[0])
    after = await repo.get_alias("m", "prod")
    assert after.version == "3"  # put back as it was
    assert [a.version for a in await repo.list_artifact_versions("m")] == ["LATEST", "3"]
    # The history shows what readers could have seen: the move to 1, then the way back.
    assert [c.version for c in await repo.list_alias_history("m", "prod")] == ["3", "1", "3"]
    assert before.version == after.version
