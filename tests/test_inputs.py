"""Every rejected argument raises InvalidInputError naming it, and nothing is written."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from aioversioned import AsyncRepository, InvalidInputError
from tests.s3log import RequestLog

GiB = 1 << 30
CENTURY = 100 * 365.25 * 86400

Call = Callable[[AsyncRepository], Awaitable[Any]]

BAD_CALLS: list[tuple[str, str, Call]] = [
    ("name", "traversal", lambda r: r.put_artifact("../etc", b"x")),
    ("name", "path-like", lambda r: r.put_artifact("a/b", b"x")),
    ("name", "encoded slash", lambda r: r.put_artifact("a%2Fb", b"x")),
    ("name", "unicode", lambda r: r.put_artifact("modèle", b"x")),
    ("name", "dot", lambda r: r.publish_artifact_version(".")),
    ("name", "not a str", lambda r: r.get_artifact_version(42)),  # type: ignore[arg-type]
    ("content", "str", lambda r: r.put_artifact("m", "text")),  # type: ignore[arg-type]
    ("content", "path str", lambda r: r.put_artifact("m", "/etc/passwd")),  # type: ignore[arg-type]
    ("content", "None", lambda r: r.put_artifact("m", None)),  # type: ignore[arg-type]
    ("content_type", "empty", lambda r: r.put_artifact("m", b"x", content_type="")),
    ("content_type", "CRLF", lambda r: r.put_artifact("m", b"x", content_type="a/b\r\nX-Y: z")),
    ("content_type", "LF", lambda r: r.put_artifact("m", b"x", content_type="text/plain\n")),
    ("content_type", "NUL", lambda r: r.put_artifact("m", b"x", content_type="a\x00b")),
    ("content_type", "surrogate", lambda r: r.put_artifact("m", b"x", content_type="\ud800")),
    ("content_type", "long", lambda r: r.put_artifact("m", b"x", content_type="a/" + "b" * 300)),
    ("content_type", "int", lambda r: r.put_artifact("m", b"x", content_type=1)),  # type: ignore[arg-type]
    ("metadata", "surrogate value", lambda r: r.put_artifact("m", b"x", metadata={"k": "\ud800"})),
    ("metadata", "surrogate key", lambda r: r.put_artifact("m", b"x", metadata={"\udc00": "v"})),
    ("metadata", "CRLF value", lambda r: r.put_artifact("m", b"x", metadata={"k": "a\r\nb"})),
    (
        "metadata",
        "over the budget by one byte",
        lambda r: r.put_artifact("m", b"x", metadata={"k": "v" * (2048 - 13 - 1 - 15 - 64)}),
    ),
    ("metadata", "upper key", lambda r: r.put_artifact("m", b"x", metadata={"Key": "v"})),
    (
        "metadata",
        "reserved",
        lambda r: r.put_artifact("m", b"x", metadata={"artifact_sha256": "0"}),
    ),
    (
        "metadata",
        "reserved, s3fs's spelling",
        lambda r: r.put_artifact("m", b"x", metadata={"artifact-sha256": "0"}),
    ),
    (
        "metadata",
        "reserved content type record",
        lambda r: r.put_artifact("m", b"x", metadata={"aioversioned-content-type": "a/b"}),
    ),
    ("metadata", "non-ascii", lambda r: r.put_artifact("m", b"x", metadata={"k": "é"})),
    ("metadata", "int value", lambda r: r.put_artifact("m", b"x", metadata={"k": 1})),  # type: ignore[dict-item]
    ("metadata", "too big", lambda r: r.put_artifact("m", b"x", metadata={"k": "v" * 3000})),
    ("version", "zero", lambda r: r.get_artifact_version("m", 0)),
    ("version", "negative", lambda r: r.get_artifact_content("m", -3)),
    ("version", "too big", lambda r: r.delete_artifact_version("m", 1_000_000)),
    ("version", "bool", lambda r: r.put_alias("m", "prod", True)),
    ("version", "float", lambda r: r.put_alias("m", "prod", 1.0)),  # type: ignore[arg-type]
    ("alias", "LATEST", lambda r: r.put_alias("m", "LATEST")),
    ("alias", "hyphen", lambda r: r.put_alias("m", "prod-1")),
    ("alias", "digit first", lambda r: r.put_alias("m", "1prod")),  # get_alias reads it
    ("alias", "slash", lambda r: r.delete_alias("m", "a/b")),
    (
        "secondary_version_weight",
        "missing",
        lambda r: r.put_alias("m", "p", 1, secondary_version=2),
    ),
    (
        "secondary_version",
        "missing",
        lambda r: r.put_alias("m", "p", 1, secondary_version_weight=5),
    ),
    (
        "secondary_version_weight",
        "100",
        lambda r: r.put_alias("m", "p", 1, secondary_version=2, secondary_version_weight=100),
    ),
    (
        "secondary_version_weight",
        "negative",
        lambda r: r.put_alias("m", "p", 1, secondary_version=2, secondary_version_weight=-1),
    ),
    (
        "secondary_version_weight",
        "bool",
        lambda r: r.put_alias("m", "p", 1, secondary_version=2, secondary_version_weight=True),
    ),
    (
        "secondary_version_weight",
        "float",
        lambda r: r.put_alias("m", "p", 1, secondary_version=2, secondary_version_weight=5.0),  # type: ignore[arg-type]
    ),
    (
        "secondary_version",
        "same as version",
        lambda r: r.put_alias("m", "p", 1, secondary_version="000001", secondary_version_weight=5),
    ),
    (
        "secondary_version",
        "zero",
        lambda r: r.put_alias("m", "p", 1, secondary_version=0, secondary_version_weight=5),
    ),
    ("keep_last_n", "negative", lambda r: r.purge_artifact_versions("m", keep_last_n=-1)),
    ("keep_last_n", "bool", lambda r: r.purge_artifact_versions("m", keep_last_n=True)),
    (
        "purge_older_than_secs",
        "negative",
        lambda r: r.purge_artifact_versions("m", purge_older_than_secs=-1),
    ),
    (
        "purge_older_than_secs",
        "nan",
        lambda r: r.purge_artifact_versions("m", purge_older_than_secs=float("nan")),
    ),
    (
        "purge_older_than_secs",
        "inf",
        lambda r: r.purge_artifact_versions("m", purge_older_than_secs=math.inf),
    ),
    (
        "purge_older_than_secs",
        "1e11",
        lambda r: r.purge_artifact_versions("m", purge_older_than_secs=1e11, dry_run=True),
    ),
    (
        "purge_older_than_secs",
        "a century and a second",
        lambda r: r.purge_artifact_versions("m", purge_older_than_secs=CENTURY + 1),
    ),
    (
        "purge_older_than_secs",
        "an int no float holds",
        lambda r: r.purge_artifact_versions("m", purge_older_than_secs=10**400),
    ),
]


@pytest.mark.parametrize(
    ("argument", "case", "call"), BAD_CALLS, ids=[f"{a}-{c}" for a, c, _ in BAD_CALLS]
)
async def test_bad_input_is_rejected_before_any_write(
    repo: AsyncRepository, argument: str, case: str, call: Call
) -> None:
    await repo.put_artifact("m", b"seed")
    await repo.publish_artifact_version("m")
    before = [(i.key, i.etag) for i in await repo._s3.list_all("")]
    log = RequestLog(repo)
    with pytest.raises(InvalidInputError) as info:
        await call(repo)
    assert info.value.argument == argument
    assert str(info.value).startswith(f"{argument}: ")
    assert isinstance(info.value, ValueError)
    assert log.sent == []  # refused before any request, reads included
    assert [(i.key, i.etag) for i in await repo._s3.list_all("")] == before


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"s3_bucket": "Bad_Bucket"}, "s3_bucket"),
        ({"s3_bucket": "ok-bucket", "s3_prefix": ""}, "s3_prefix"),
        ({"s3_bucket": "ok-bucket", "s3_prefix": "a/../b"}, "s3_prefix"),
        ({"s3_bucket": "ok-bucket", "suffix": "/x"}, "suffix"),
        ({"s3_bucket": "ok-bucket", "max_concurrency": 0}, "max_concurrency"),
        ({"s3_bucket": "ok-bucket", "max_concurrency": True}, "max_concurrency"),
        ({"s3_bucket": "ok-bucket", "s3_prefix": "a\ud800"}, "s3_prefix"),
        ({"s3_bucket": "ok-bucket", "suffix": ".\udfff"}, "suffix"),
        ({"s3_bucket": "ok-bucket", "s3_prefix": "p" * 855}, "s3_prefix"),
        ({"s3_bucket": "ok-bucket", "s3_prefix": "é" * 428}, "s3_prefix"),
        ({"s3_bucket": "ok-bucket", "s3_prefix": "p" * 800, "suffix": "😀" * 64}, "suffix"),
        ({"s3_bucket": "ok-bucket", "multipart_threshold": 5 * GiB + 1}, "multipart_threshold"),
        ({"s3_bucket": "ok-bucket", "multipart_threshold": 1e10}, "multipart_threshold"),
        ({"s3_bucket": "ok-bucket", "connect_timeout": 0}, "connect_timeout"),
        ({"s3_bucket": "ok-bucket", "connect_timeout": 3601}, "connect_timeout"),
        ({"s3_bucket": "ok-bucket", "max_attempts": 0}, "max_attempts"),
        ({"s3_bucket": "ok-bucket", "max_attempts": 21}, "max_attempts"),
    ],
)
def test_bad_constructor_arguments(kwargs: dict[str, Any], argument: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        AsyncRepository(**kwargs)
    assert info.value.argument == argument
    assert str(info.value).startswith(f"{argument}: ")


def test_constructor_limits_are_inclusive() -> None:
    assert AsyncRepository("ok-bucket", multipart_threshold=5 * GiB)._config.threshold == 5 * GiB
    assert AsyncRepository("ok-bucket", s3_prefix="p" * 854).layout.prefix == "p" * 854
    assert AsyncRepository("ok-bucket", s3_prefix="é" * 427).layout.prefix == "é" * 427


async def test_a_name_too_long_for_the_key_limit_is_refused_before_any_request(
    endpoint_url: str, bucket: str
) -> None:
    prefix = "p" * 800  # the published records take 800 + len(name) + 145 bytes
    async with AsyncRepository(bucket, prefix, endpoint_url=endpoint_url) as repo:
        await repo.bootstrap()
        longest = "m" * 55
        await repo.put_artifact(longest, b"fits")
        await repo.publish_artifact_version(longest)
        await repo.put_alias(longest, "A" * 64, 1)
        assert await repo.get_alias_content(longest, "A" * 64) == b"fits"
        keys = [info.key for info in await repo._s3.list_all("")]
        assert all(key.startswith(f"{prefix}/{longest}/") for key in keys)
        assert max(len(key.encode()) for key in keys) <= 1000
        log = RequestLog(repo)
        calls: list[Call] = [
            lambda r: r.put_artifact(longest + "m", b"x"),
            lambda r: r.get_artifact_content(longest + "m"),
            lambda r: r.list_artifact_versions(longest + "m"),
            lambda r: r.publish_artifact_version(longest + "m"),
            lambda r: r.put_alias(longest + "m", "prod", 1),
            lambda r: r.get_alias(longest + "m", "prod"),
            lambda r: r.purge_artifact(longest + "m"),
        ]
        for call in calls:
            with pytest.raises(InvalidInputError) as info:
                await call(repo)
            assert info.value.argument == "name"
            assert "names of at most 55 characters fit" in str(info.value)
        assert log.sent == []


@pytest.mark.parametrize("name", ["m", "n" * 128])
async def test_metadata_budget_boundary_on_the_server(repo: AsyncRepository, name: str) -> None:
    # S3's 2,048 bytes of user metadata less exactly the library's two keys for this name.
    room = 2048 - len("artifact_name") - len(name) - len("artifact_sha256") - 64
    largest = {"first": "a" * 100, "second": "b" * (room - 100 - len("first") - len("second"))}
    artifact = await repo.put_artifact(name, b"content", metadata=largest)
    info = await repo._s3.head(repo.layout.version_key(name, None))
    assert info is not None
    assert info.metadata == {"artifact_name": name, "artifact_sha256": artifact.sha256, **largest}
    stored = sum(len(k.encode()) + len(v.encode()) for k, v in info.metadata.items())
    assert stored == 2048
    log = RequestLog(repo)
    with pytest.raises(InvalidInputError) as refused:
        await repo.put_artifact(name, b"other", metadata={**largest, "first": "a" * 101})
    assert refused.value.argument == "metadata"
    assert f"at most {room} bytes" in str(refused.value)
    assert log.sent == []
    assert await repo.get_artifact_content(name) == b"content"
