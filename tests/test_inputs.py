"""Every rejected argument raises InvalidInputError naming it, and nothing is written."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from aioversioned import AsyncRepository, InvalidInputError

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
    ("metadata", "upper key", lambda r: r.put_artifact("m", b"x", metadata={"Key": "v"})),
    (
        "metadata",
        "reserved",
        lambda r: r.put_artifact("m", b"x", metadata={"artifact_sha256": "0"}),
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
    ("alias", "digit first", lambda r: r.get_alias("m", "1prod")),
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
    with pytest.raises(InvalidInputError) as info:
        await call(repo)
    assert info.value.argument == argument
    assert str(info.value).startswith(f"{argument}: ")
    assert isinstance(info.value, ValueError)
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
    ],
)
def test_bad_constructor_arguments(kwargs: dict[str, Any], argument: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        AsyncRepository(**kwargs)
    assert info.value.argument == argument
