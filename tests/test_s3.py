"""aioversioned._s3 apart from requests: how botocore's timestamps are parsed."""

from __future__ import annotations

from datetime import timezone

import botocore.utils
import pytest

from aioversioned import AsyncRepository
from aioversioned._s3 import parse_timestamp


@pytest.mark.parametrize(
    "value",
    [
        "2026-11-26T14:47:13.000Z",  # S3 and moto listings
        "2026-11-26T14:47:13Z",  # no fraction
        "2026-11-26T14:47:13.123456Z",
        "2026-11-26T14:47:13.5Z",
        "1999-12-31T23:59:59.999Z",
        "Thu, 26 Nov 2026 14:47:13 GMT",  # HTTP dates (Last-Modified, Date headers)
        "1764168433",  # epoch seconds
    ],
)
def test_timestamps_parse_to_the_instant_botocore_gives(value: str) -> None:
    assert parse_timestamp(value) == botocore.utils.parse_timestamp(value)
    assert parse_timestamp(value).utcoffset() is not None


@pytest.mark.parametrize("value", ["Z", "not a dateZ", "2026-13-45T99:00:00Z"])
def test_what_botocore_refuses_is_refused_the_same_way(value: str) -> None:
    with pytest.raises(ValueError):
        botocore.utils.parse_timestamp(value)
    with pytest.raises(ValueError):
        parse_timestamp(value)


async def test_listings_are_parsed_by_it_and_agree_with_a_head(repo: AsyncRepository) -> None:
    await repo._s3.put("stamps/one", b"1")
    [[listed]] = [page async for page in repo._s3.pages("stamps/")]
    headed = await repo._s3.head("stamps/one")
    assert headed is not None
    assert listed.last_modified.tzinfo is timezone.utc  # the fast path, not dateutil's
    # The listing has milliseconds, the Last-Modified header whole seconds.
    assert listed.last_modified.replace(microsecond=0) == headed.last_modified
