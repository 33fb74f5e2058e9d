"""Writes whose answer is lost on the wire, after the server acted (issue 21, part A).

aiohttp sends a PUT or DELETE again, unseen by botocore, when its connection drops
before the answer; the resend's 412 then looked like another writer's win. The
library's client turns that resend off, so botocore sees the lost attempt and the
library reads what the server holds. Each test loses one answer through
``tests/lostproxy.py`` on a pooled connection and checks the outcome and the requests
the server was sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import pytest

from aioversioned import AsyncRepository
from tests.lostproxy import LostAnswerProxy, Seen


@pytest.fixture
def proxy(any_endpoint: str) -> Iterator[LostAnswerProxy]:
    with LostAnswerProxy(any_endpoint) as running:
        yield running


@pytest.fixture
async def lossy(proxy: LostAnswerProxy, bucket: str) -> AsyncIterator[AsyncRepository]:
    """A repository whose requests go through the proxy."""
    async with AsyncRepository(bucket, endpoint_url=proxy.url, aws_region="us-east-1") as r:
        await r.bootstrap()
        yield r


def _lost_on_pooled_connection(seen: list[Seen]) -> None:
    assert seen[0].lost and seen[0].earlier > 0, seen  # a pooled connection, reused
    assert not any(s.lost for s in seen[1:]), seen


@pytest.mark.parametrize("expected", ["revision", "absent"])
async def test_a_conditional_alias_write_whose_answer_was_lost_succeeds(
    lossy: AsyncRepository, proxy: LostAnswerProxy, expected: str
) -> None:
    for content in (b"one", b"two"):
        await lossy.put_artifact("m", content)
        await lossy.publish_artifact_version("m")
    condition = "absent"
    if expected == "revision":
        condition = (await lossy.put_alias("m", "prod", 1)).revision or ""
    alias_path = "/m/aliases/prod.json"
    before = len(proxy.requests("PUT", alias_path))
    proxy.lose("PUT", alias_path)

    written = await lossy.put_alias("m", "prod", 2, expected_revision=condition)

    assert written.version == "2"
    stored = await lossy.get_alias("m", "prod")
    assert (stored.version, stored.revision) == ("2", written.revision)
    history = await lossy.list_alias_history("m", "prod")
    assert history[0].version == "2" and history[0].revision == written.revision
    sent = proxy.requests("PUT", alias_path)[before:]
    _lost_on_pooled_connection(sent)
    # If-Match: botocore sends it again and its 412 is read as "maybe ours" (the key
    # holds this call's token). If-None-Match: never sent again, the key is read.
    assert len(sent) == (2 if expected == "revision" else 1), sent


async def test_a_publish_whose_copy_answer_was_lost_makes_one_version(
    lossy: AsyncRepository, proxy: LostAnswerProxy
) -> None:
    await lossy.put_artifact("m", b"first")
    await lossy.publish_artifact_version("m")
    await lossy.put_artifact("m", b"second")
    rule = proxy.lose("PUT", "", header="x-amz-copy-source")

    published = await lossy.publish_artifact_version("m")

    assert published.version == "2"
    versions = await lossy.list_artifact_versions("m")
    assert [v.version for v in versions] == ["LATEST", "2", "1"]
    assert await lossy.get_artifact_content("m", "2") == b"second"
    assert await lossy.get_artifact_content("m", None) == b"second"
    lost = [s for s in proxy.seen if s.lost]
    assert rule.hits == 1 and len(lost) == 1 and lost[0].earlier > 0, proxy.seen
    assert "/m/versions/" in lost[0].path, lost
    # The create-only copy is sent once: nothing sends it again.
    assert len(proxy.requests("PUT", lost[0].path)) == 1, proxy.seen


async def test_a_delete_alias_whose_answer_was_lost_is_done_and_recorded(
    lossy: AsyncRepository, proxy: LostAnswerProxy
) -> None:
    await lossy.put_artifact("m", b"one")
    await lossy.publish_artifact_version("m")
    await lossy.put_alias("m", "prod", 1)
    alias_path = "/m/aliases/prod.json"
    proxy.lose("DELETE", alias_path)

    await lossy.delete_alias("m", "prod")

    assert await lossy.list_aliases("m") == []
    history = await lossy.list_alias_history("m", "prod")
    assert [(c.previous_version, c.version) for c in history] == [("1", None), (None, "1")]
    sent = proxy.requests("DELETE", alias_path)
    _lost_on_pooled_connection(sent)
    assert len(sent) == 2, sent  # botocore sends it again; its 412 or 404 means "gone"


async def test_a_read_on_a_closed_pooled_connection_is_sent_again_at_once(
    lossy: AsyncRepository, proxy: LostAnswerProxy
) -> None:
    await lossy.put_artifact("m", b"one")
    await lossy.publish_artifact_version("m")
    botocore_sent: list[str] = []

    def count(event_name: str, **_: Any) -> None:
        botocore_sent.append(event_name.rsplit(".", 1)[1])

    lossy._s3._client.meta.events.register("before-send.s3.GetObject", count)
    key = lossy.layout.version_key("m", 1)
    proxy.close("GET", key)

    assert await lossy.get_artifact_content("m", "1") == b"one"

    sent = proxy.requests("GET", key)
    _lost_on_pooled_connection(sent)
    # Sent again below botocore, as aiohttp did before: no retry and no back-off.
    assert len(sent) == 2 and botocore_sent == ["GetObject"], (sent, botocore_sent)


async def test_a_delete_whose_tombstone_answer_was_lost_deletes_the_version_once(
    lossy: AsyncRepository, proxy: LostAnswerProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    for content in (b"one", b"two", b"three"):
        await lossy.put_artifact("m", content)
        await lossy.publish_artifact_version("m")
    tombstone = "/" + lossy.layout.retired_prefix("m", 2).split("/", 1)[1]
    proxy.lose("PUT", tombstone)

    assert await lossy.delete_artifact_version("m", 2) == ()

    assert [v.version for v in await lossy.list_artifact_versions("m")] == ["LATEST", "3", "1"]
    sent = proxy.requests("PUT", tombstone)
    _lost_on_pooled_connection(sent)
    assert len(sent) == 1, sent  # create-only: never sent again, the key is read instead
    # Its collection, whose DeleteObjects answer is lost too: botocore sends the POST
    # again (nothing below it does), and the bytes and the tombstone go.
    monkeypatch.setattr("aioversioned._deletion.GRACE", timedelta(0))
    bucket_path = f"/{lossy.layout.bucket}"
    proxy.lose("POST", bucket_path)
    await lossy.delete_artifact_version("m", 1)
    assert len([s for s in proxy.requests("POST", bucket_path) if s.lost]) == 1
    assert await lossy._s3.head(lossy.layout.version_key("m", 2)) is None
    assert await lossy._s3.list_all(lossy.layout.retired_prefix("m", 2)) == []
    await lossy.put_artifact("m", b"four")
    assert (await lossy.publish_artifact_version("m")).version == "4"
