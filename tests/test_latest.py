"""What put_artifact writes over LATEST: the pure decision (aioversioned/_latest.py)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone

from aioversioned._latest import Write, plan_put
from aioversioned._s3 import ObjectInfo

SHA = hashlib.sha256(b"same").hexdigest()
OTHER = hashlib.sha256(b"other").hexdigest()
GENERIC = "application/octet-stream"


def latest(content_type: str | None = "text/x-a", **metadata: str) -> ObjectInfo:
    stored = {"artifact_name": "m", "artifact_sha256": SHA, **metadata}
    return ObjectInfo("k", '"e"', datetime.now(timezone.utc), 4, stored, content_type)


def test_the_same_bytes_without_metadata_or_content_type_write_nothing() -> None:
    current = latest(foo="bar")
    assert plan_put("m", SHA, None, None, current, SHA) is current
    assert plan_put("m", SHA, {"foo": "bar"}, "text/x-a", current, SHA) is current
    assert plan_put("m", SHA, {"foo": "bar"}, None, current, SHA) is current


def test_what_is_not_given_is_kept_from_latest_when_the_bytes_are_the_same() -> None:
    current = latest(foo="bar")
    assert plan_put("m", SHA, {}, None, current, SHA) == Write(
        {"artifact_name": "m", "artifact_sha256": SHA}, "text/x-a"
    )
    assert plan_put("m", SHA, None, "text/x-b", current, SHA) == Write(
        {"artifact_name": "m", "artifact_sha256": SHA, "foo": "bar"}, "text/x-b"
    )


def test_new_bytes_start_afresh() -> None:
    current = latest(foo="bar")
    assert plan_put("m", OTHER, None, None, current, SHA) == Write(
        {"artifact_name": "m", "artifact_sha256": OTHER}, GENERIC
    )
    assert plan_put("m", OTHER, None, None, None, None) == Write(
        {"artifact_name": "m", "artifact_sha256": OTHER}, GENERIC
    )


def test_an_explicit_generic_type_is_recorded_and_compared_not_the_servers() -> None:
    write = plan_put("m", SHA, None, GENERIC, None, None)
    assert isinstance(write, Write)
    assert write.metadata["aioversioned-content-type"] == GENERIC
    # The server stored the type it sniffed: what was asked for is compared.
    sniffed = latest("application/zip", **{"aioversioned-content-type": GENERIC})
    assert plan_put("m", SHA, None, GENERIC, sniffed, SHA) is sniffed
    assert plan_put("m", SHA, {}, GENERIC, sniffed, SHA) is sniffed
    moved = plan_put("m", SHA, {"k": "v"}, None, sniffed, SHA)  # the record is kept
    assert isinstance(moved, Write)
    assert moved.metadata["aioversioned-content-type"] == GENERIC
    assert moved.content_type == GENERIC
    # A specific type is not recorded: servers keep it as sent.
    specific = plan_put("m", SHA, None, "application/zip", None, None)
    assert isinstance(specific, Write) and "aioversioned-content-type" not in specific.metadata


def test_the_record_is_left_out_when_metadata_leaves_no_room() -> None:
    full = {"k": "v" * 1950}  # within the 2 KB, but not with the record
    write = plan_put("m", SHA, full, GENERIC, None, None)
    assert isinstance(write, Write) and "aioversioned-content-type" not in write.metadata


def test_other_spellings_of_the_sha256_count_and_are_not_user_metadata() -> None:
    current = ObjectInfo(
        "k", '"e"', datetime.now(timezone.utc), 4, {"artifact-sha256": SHA, "note": "x"}, None
    )
    assert plan_put("m", SHA, {"note": "x"}, None, current, SHA) is current


def test_bytes_not_known_to_be_the_same_are_written_again() -> None:
    """LATEST's metadata claims the sha256, but no record of its ETag vouches for it:
    another tool may have written other bytes under that metadata."""
    current = latest(foo="bar")
    assert plan_put("m", SHA, None, None, current, None) == Write(
        {"artifact_name": "m", "artifact_sha256": SHA, "foo": "bar"}, "text/x-a"
    )
    assert plan_put("m", SHA, None, None, current, OTHER) == Write(
        {"artifact_name": "m", "artifact_sha256": SHA, "foo": "bar"}, "text/x-a"
    )
