"""The alias index: list_aliases in two round trips, never a stale answer."""

from __future__ import annotations

import json

import anyio
import pytest

from aioversioned import Alias, AsyncRepository
from aioversioned._alias_index import AliasIndex
from tests.s3log import RequestLog

ALIASES = [f"a{i:02d}" for i in range(20)]


async def _store(repo: AsyncRepository) -> None:
    await repo.put_artifact("m", b"one")
    await repo.publish_artifact_version("m")
    await repo.put_artifact("m", b"two")
    await repo.publish_artifact_version("m")
    async with anyio.create_task_group() as tg:
        for alias in ALIASES:
            tg.start_soon(repo.put_alias, "m", alias, 1)


async def _documents(
    repo: AsyncRepository, aliases: list[str] = ALIASES
) -> list[tuple[str, str, str | None]]:
    """(alias, version, revision) of each document, read one by one."""
    return [
        (a, (got := await repo.get_alias("m", a)).version, got.revision) for a in sorted(aliases)
    ]


def _seen(aliases: list[Alias]) -> list[tuple[str, str, str | None]]:
    return [(a.alias, a.version, a.revision) for a in aliases]


async def test_a_second_listing_reads_no_document(any_repo: AsyncRepository) -> None:
    await _store(any_repo)
    log = RequestLog(any_repo)
    first = await any_repo.list_aliases("m")
    assert log.sent.count("GetObject") == 1 + len(ALIASES)  # the (missing) index, each doc
    assert log.sent.count("PutObject") == 1  # the index
    log.clear()
    second = await any_repo.list_aliases("m")
    assert sorted(log.sent) == ["GetObject", "ListObjectsV2"]  # the index beside the listing
    assert second == first
    assert _seen(second) == await _documents(any_repo)


async def test_a_changed_document_is_read_again(any_repo: AsyncRepository) -> None:
    """Changes through aioversioned and through another tool (here a plain PutObject
    of another body under the same key) are never answered from the index."""
    await _store(any_repo)
    await any_repo.list_aliases("m")
    await any_repo.put_alias("m", "a03", 2)
    key = any_repo.layout.alias_key("m", "a07")
    body = (await any_repo._s3.get(key, limit=None))[0]  # type: ignore[index]
    doc = json.loads(body)
    doc["version"] = "2"
    doc["version_s3uri"] = any_repo.layout.s3uri(any_repo.layout.version_key("m", 2))
    await any_repo._s3.put(key, json.dumps(doc).encode())
    await any_repo.delete_alias("m", "a11")
    log = RequestLog(any_repo)
    listed = await any_repo.list_aliases("m")
    assert log.sent.count("GetObject") == 1 + 2  # the index, a03 and a07
    assert _seen(listed) == await _documents(any_repo, [a for a in ALIASES if a != "a11"])
    assert {a.alias: a.version for a in listed}["a07"] == "2"
    assert {a.alias: a.version for a in listed}["a03"] == "2"
    assert "a11" not in {a.alias for a in listed}


@pytest.mark.parametrize(
    "stored",
    [
        b"not json",
        b'{"format": 2, "documents": {}}',
        b'{"format": 1, "documents": {"a01.json": ["x"]}}',
        b"[]",
    ],
)
async def test_a_malformed_index_is_an_empty_one(repo: AsyncRepository, stored: bytes) -> None:
    await _store(repo)
    await repo._s3.put(repo.layout.alias_index_key("m"), stored)
    assert _seen(await repo.list_aliases("m")) == await _documents(repo)
    index = AliasIndex(repo._s3, repo.layout, "m")
    await index.load()
    assert len(index.documents) == len(ALIASES)  # written again, whole


async def test_an_index_entry_that_is_not_the_listed_document_is_not_believed(
    repo: AsyncRepository,
) -> None:
    """Another writer forges the index: a01's entry has the ETag the listing shows and
    another body (version 2). The body's MD5 is not that ETag: the document is read."""
    await _store(repo)
    await repo.list_aliases("m")
    index_key = repo.layout.alias_index_key("m")
    stored = json.loads((await repo._s3.get(index_key, limit=None))[0])  # type: ignore[index]
    etag, body = stored["documents"]["a01.json"]
    forged = json.loads(body)
    forged["version"] = "2"
    forged["version_s3uri"] = repo.layout.s3uri(repo.layout.version_key("m", 2))
    stored["documents"]["a01.json"] = [etag, json.dumps(forged)]
    await repo._s3.put(index_key, json.dumps(stored).encode())
    listed = {a.alias: a.version for a in await repo.list_aliases("m")}
    assert listed["a01"] == "1"
    # What protects versions uses the same reading: version 1 stays referenced.
    _, deleted = await repo.purge_artifact_versions("m", keep_last_n=0, purge_older_than_secs=0)
    assert "1" not in {a.version for a in deleted}
