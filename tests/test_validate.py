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


@pytest.mark.parametrize("name", ["m", "n" * 128])
def test_metadata_budget_is_what_the_library_leaves(name: str) -> None:
    # S3 keeps 2,048 bytes of keys and values; the library stores two of its own.
    room = 2048 - len("artifact_name") - len(name) - len("artifact_sha256") - 64
    exact = {"k": "v" * (room - 1)}
    assert _validate.metadata(exact, name) == exact
    two = {"ab": "v" * (room - 10), "cdef": "w" * 4}
    assert _validate.metadata(two, name) == two
    with pytest.raises(
        InvalidInputError, match=rf"^metadata: keys and values must total at most {room} bytes"
    ):
        _validate.metadata({"k": "v" * room}, name)
    with pytest.raises(InvalidInputError, match=r"^metadata: "):
        _validate.metadata({"ab": "v" * (room - 10), "cdef": "w" * 5}, name)
    assert _validate.metadata(None, name) == {}


@pytest.mark.parametrize("value", [{"k": "\ud800"}, {"\ud800": "v"}, {"k": "a\r\nb"}])
def test_metadata_refuses_what_does_not_travel_in_a_header(value: dict[str, str]) -> None:
    with pytest.raises(InvalidInputError, match=r"^metadata: "):
        _validate.metadata(value, "m")


@pytest.mark.parametrize("value", [math.inf, 1e11, _validate.MAX_AGE_SECONDS + 1, 10**400])
def test_seconds_beyond_the_maximum_are_refused(value: object) -> None:
    with pytest.raises(InvalidInputError, match=r"^age: must be a number of seconds <= 3,155,"):
        _validate.seconds(value, "age", _validate.MAX_AGE_SECONDS)


def test_seconds_a_float_can_not_hold_are_refused() -> None:
    assert _validate.seconds(math.inf, "max_age") == math.inf  # no maximum: forever
    with pytest.raises(InvalidInputError, match=r"^max_age: must be a number of seconds"):
        _validate.seconds(10**400, "max_age")
    with pytest.raises(InvalidInputError, match=r"^age: .* got <int too large to show>$"):
        _validate.seconds(10**5000, "age", _validate.MAX_AGE_SECONDS)


def test_seconds_maximum_is_inclusive_and_a_century() -> None:
    assert _validate.MAX_AGE_SECONDS == 100 * 365.25 * 86400
    maximum = _validate.MAX_AGE_SECONDS
    assert _validate.seconds(maximum, "age", maximum) == float(maximum)
    with pytest.raises(InvalidInputError, match=r"^age: must be a number of seconds >= 0"):
        _validate.seconds(math.nan, "age", maximum)


@pytest.mark.parametrize(
    "value",
    ["application/octet-stream", "text/plain; charset=utf-8", "a", "x/" + "y" * 254],
)
def test_content_type_accepts_printable_ascii(value: str) -> None:
    assert _validate.content_type(value) == value


@pytest.mark.parametrize(
    "value",
    [
        "text/plain\r\nX-Injected: 1",
        "text/plain\n",
        "a\x00b",
        "a\tb",
        "a\x7fb",
        "",
        " text/plain",
        "text/plain ",
        "modèle/x",
        "\ud800",
        "x/" + "y" * 255,
        None,
        42,
        b"text/plain",
    ],
)
def test_content_type_refuses_control_characters_and_the_rest(value: object) -> None:
    with pytest.raises(InvalidInputError) as info:
        _validate.content_type(value)
    assert info.value.argument == "content_type"


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
