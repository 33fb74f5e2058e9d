"""The pure argument checks: accepted values come back, rejected ones name argument and rule."""

from __future__ import annotations

import math

import pytest

from aioversioned import _validate
from aioversioned.errors import InvalidInputError


@pytest.mark.parametrize("value", [True, 1.0, "3", None, -1])
def test_at_least_rejects(value: object) -> None:
    with pytest.raises(InvalidInputError, match=r"^keep_last_n: must be an int >= 0, got "):
        _validate.at_least(value, "keep_last_n", 0)


def test_at_least_and_int_in_accept_their_bounds() -> None:
    assert _validate.at_least(0, "keep_last_n", 0) == 0
    assert _validate.int_in(1, "w", 1, 3) == 1
    assert _validate.int_in(3, "w", 1, 3) == 3
    with pytest.raises(InvalidInputError, match=r"^w: must be an int in 1\.\.3, got 4$"):
        _validate.int_in(4, "w", 1, 3)


@pytest.mark.parametrize("value", [math.nan, -0.5, True, "1"])
def test_seconds_rejects(value: object) -> None:
    with pytest.raises(InvalidInputError, match=r"^max_age: must be a number of seconds >= 0"):
        _validate.seconds(value, "max_age")


def test_seconds_accepts_int_and_float() -> None:
    assert _validate.seconds(3, "max_age") == 3.0
    assert _validate.seconds(0.25, "max_age") == 0.25


def test_metadata_limit_is_inclusive() -> None:
    room = 2048 - 200
    exact = {"k": "v" * (room - 1)}
    assert _validate.metadata(exact) == exact
    with pytest.raises(InvalidInputError, match=r"^metadata: keys and values must total"):
        _validate.metadata({"k": "v" * room})
    assert _validate.metadata(None) == {}


def test_encryption_args() -> None:
    assert _validate.encryption_args(None, None) == {}
    assert _validate.encryption_args("AES256", None) == {"ServerSideEncryption": "AES256"}
    assert _validate.encryption_args("aws:kms", "key-1") == {
        "ServerSideEncryption": "aws:kms",
        "SSEKMSKeyId": "key-1",
    }
    with pytest.raises(InvalidInputError, match=r"^sse_kms_key_id: .*needs sse='aws:kms'"):
        _validate.encryption_args("AES256", "key-1")
    with pytest.raises(InvalidInputError, match=r"^sse: must be None"):
        _validate.encryption_args("aes256", None)


def test_bucket_and_owner() -> None:
    assert _validate.bucket("my.bucket-1") == "my.bucket-1"
    assert _validate.bucket_owner("123456789012") == "123456789012"
    with pytest.raises(InvalidInputError, match=r"^s3_bucket: "):
        _validate.bucket("My_Bucket")
    with pytest.raises(InvalidInputError, match=r"^expected_bucket_owner: must be a 12-digit"):
        _validate.bucket_owner("12345")


def test_secondary_goes_with_its_weight() -> None:
    assert _validate.secondary(1, None, None) is None
    assert _validate.secondary(1, "000002", 0) == 2
    assert _validate.secondary(None, 3, 99) == 3
    with pytest.raises(InvalidInputError, match=r"^secondary_version: must differ from version"):
        _validate.secondary(2, 2, 10)
    with pytest.raises(InvalidInputError, match=r"^secondary_version_weight: must be an int in"):
        _validate.secondary(1, 2, 100)
