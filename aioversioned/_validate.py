"""Checks of constructor and method arguments that are not names or versions.

Pure functions only: each returns the accepted value or raises
:class:`InvalidInputError` naming the argument and the rule, before any request.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from . import _keys
from .errors import InvalidInputError

_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_META_KEY_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,127}")
_METADATA_LIMIT = 2048  # S3's limit on user metadata, keys and values together
_METADATA_ROOM = 200  # left for the keys the library adds itself


def bucket(value: object) -> str:
    """An S3 bucket name."""
    if not isinstance(value, str) or not _BUCKET_RE.fullmatch(value):
        raise InvalidInputError("s3_bucket", f"{value!r} must be 3-63 characters of [a-z0-9.-]")
    return value


def int_in(value: object, argument: str, low: int, high: int) -> int:
    """An int (not a bool) in ``low..high``."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInputError(argument, f"must be an int in {low}..{high}, got {value!r}")
    return value


def at_least(value: object, argument: str, low: int) -> int:
    """An int (not a bool) >= ``low``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise InvalidInputError(argument, f"must be an int >= {low}, got {value!r}")
    return value


def seconds(value: object, argument: str) -> float:
    """A number of seconds >= 0 (NaN refused)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise InvalidInputError(argument, f"must be a number of seconds >= 0, got {value!r}")
    return float(value)


def metadata(value: object) -> dict[str, str]:
    """User metadata: lowercase keys, printable ASCII values, within S3's size limit."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidInputError("metadata", f"must be a dict of str, got {type(value).__name__}")
    size = 0
    for key, item in value.items():
        if not isinstance(key, str) or not _META_KEY_RE.fullmatch(key):
            raise InvalidInputError(
                "metadata", f"key {key!r} must match [a-z0-9][a-z0-9_-]* (S3 lowercases keys)"
            )
        if key in (_keys.SHA256_KEY, _keys.NAME_KEY):
            raise InvalidInputError("metadata", f"key {key!r} is reserved")
        if not isinstance(item, str) or not (item.isascii() and item.isprintable()):
            raise InvalidInputError("metadata", f"value of {key!r} must be printable ASCII str")
        size += len(key) + len(item)
    if size > _METADATA_LIMIT - _METADATA_ROOM:
        raise InvalidInputError(
            "metadata",
            f"keys and values must total at most {_METADATA_LIMIT - _METADATA_ROOM} characters",
        )
    return dict(value)


def bucket_owner(value: object) -> str | None:
    """None or a 12-digit AWS account id."""
    if value is None or (isinstance(value, str) and re.fullmatch(r"\d{12}", value)):
        return value
    raise InvalidInputError(
        "expected_bucket_owner", f"must be a 12-digit account id, got {value!r}"
    )


def encryption_args(sse: object, kms_key_id: object) -> dict[str, str]:
    """The ServerSideEncryption arguments to send on every write."""
    if sse not in (None, "AES256", "aws:kms", "aws:kms:dsse"):
        raise InvalidInputError(
            "sse", f"must be None, 'AES256', 'aws:kms' or 'aws:kms:dsse', got {sse!r}"
        )
    if kms_key_id is None:
        return {} if sse is None else {"ServerSideEncryption": str(sse)}
    if not isinstance(kms_key_id, str) or not kms_key_id or not str(sse).startswith("aws:kms"):
        raise InvalidInputError("sse_kms_key_id", "must be a non-empty str and needs sse='aws:kms'")
    return {"ServerSideEncryption": str(sse), "SSEKMSKeyId": kms_key_id}


def secondary(
    number: int | None, secondary_version: _keys.VersionLike, weight: object
) -> int | None:
    """The secondary version number, checking that it and its weight go together."""
    if secondary_version is None and weight is None:
        return None
    if secondary_version is None:
        raise InvalidInputError("secondary_version", "is required with secondary_version_weight")
    if weight is None:
        raise InvalidInputError("secondary_version_weight", "is required with secondary_version")
    parsed = _keys.parse_version(secondary_version, "secondary_version")
    int_in(weight, "secondary_version_weight", 0, 99)
    if parsed == number:
        raise InvalidInputError("secondary_version", "must differ from version")
    return parsed
