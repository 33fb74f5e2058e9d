"""Checks of constructor and method arguments that are not names or versions.

Pure functions only: each returns the accepted value or raises
:class:`InvalidInputError` naming the argument and the rule, before any request.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from . import _keys
from .errors import InvalidInputError

_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_META_KEY_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,127}")
# S3's limit on user metadata: the UTF-8 bytes of every key and value, summed.
METADATA_LIMIT = 2048
_SHA256_LENGTH = 64
MAX_CONTENT_TYPE = 256
_CONTENT_TYPE_RE = re.compile(rf"[\x20-\x7e]{{1,{MAX_CONTENT_TYPE}}}")
MAX_AGE_SECONDS = 36_525 * 24 * 3600
"""The longest age a purge takes: 100 years, so that now minus it is a datetime."""


def bucket(value: object) -> str:
    """An S3 bucket name."""
    if not isinstance(value, str) or not _BUCKET_RE.fullmatch(value):
        raise InvalidInputError("s3_bucket", f"{value!r} must be 3-63 characters of [a-z0-9.-]")
    return value


def endpoint_url(value: object, argument: str = "endpoint_url") -> str | None:
    """None, or an ``http://`` / ``https://`` URL with a host (botocore's rule, typed)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            parts = urlsplit(value)
        except ValueError:  # an unclosed [ of an IPv6 address
            parts = None
        if parts is not None and parts.scheme in ("http", "https") and parts.netloc:
            return value
    example = "http://127.0.0.1:9000"
    if isinstance(value, str) and value and "://" not in value:
        example = f"http://{value}"
    raise InvalidInputError(
        argument, f"{value!r} is not an http(s) URL with a host, e.g. {example}"
    )


def flag(value: object, argument: str) -> bool:
    """A bool (not a truthy object: ``"false"`` is one)."""
    if not isinstance(value, bool):
        raise InvalidInputError(argument, f"must be True or False, got {value!r}")
    return value


def int_in(value: object, argument: str, low: int, high: int) -> int:
    """An int (not a bool) in ``low..high``."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInputError(argument, f"must be an int in {low}..{high}, got {value!r}")
    return value


MAX_PRESIGN_SECONDS = 7 * 86_400  # S3 refuses a SigV4 presigned URL valid for longer


def presign_expiry(value: object) -> int:
    """``expires_in`` of a presigned URL: whole seconds, 1 up to S3's 7 days."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not 1 <= value <= MAX_PRESIGN_SECONDS
    ):
        raise InvalidInputError(
            "expires_in",
            f"must be an int of seconds in 1..{MAX_PRESIGN_SECONDS} (S3 signs URLs for at most"
            f" 7 days), got {_shown(value)}",
        )
    return value


def at_least(value: object, argument: str, low: int) -> int:
    """An int (not a bool) >= ``low``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise InvalidInputError(argument, f"must be an int >= {low}, got {value!r}")
    return value


def _shown(value: object) -> str:
    """The repr of a rejected value, cut short (an int past 4,300 digits has none)."""
    try:
        text = repr(value)
    except ValueError:
        return f"<{type(value).__name__} too large to show>"
    return text if len(text) <= 60 else f"{text[:57]}..."


def seconds(value: object, argument: str, maximum: float | None = None) -> float:
    """A number of seconds >= 0 and at most ``maximum`` if given (NaN refused)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise InvalidInputError(argument, f"must be a number of seconds >= 0, got {_shown(value)}")
    if maximum is not None and not value <= maximum:  # inf, or an int beyond float's range
        raise InvalidInputError(
            argument, f"must be a number of seconds <= {maximum:,.0f}, got {_shown(value)}"
        )
    try:
        return float(value)
    except OverflowError as err:
        raise InvalidInputError(
            argument, f"must be a number of seconds a float can hold, got {_shown(value)}"
        ) from err


def positive_seconds(value: object, argument: str) -> float:
    """A number of seconds > 0 and at most an hour."""
    accepted = seconds(value, argument, 3600)
    if not accepted > 0:
        raise InvalidInputError(argument, f"must be a number of seconds > 0, got {_shown(value)}")
    return accepted


def _size(text: str) -> int:
    """Bytes of ``text`` in UTF-8, as S3 counts them."""
    return len(text.encode())


def content_type(value: object) -> str:
    """A Content-Type header value: printable ASCII, no control characters (CR, LF)."""
    if not isinstance(value, str) or not _CONTENT_TYPE_RE.fullmatch(value):
        raise InvalidInputError(
            "content_type",
            f"must be 1-{MAX_CONTENT_TYPE} printable ASCII characters, no control characters"
            f" such as CR or LF, got {_shown(value)}",
        )
    if value != value.strip():
        raise InvalidInputError(
            "content_type",
            f"must not start or end with spaces (HTTP drops them), got {_shown(value)}",
        )
    return value


def metadata(value: object, name: str) -> dict[str, str]:
    """User metadata for artifact ``name``: lowercase keys, printable ASCII values.

    The size limit is S3's 2 KB (2,048 bytes, keys and values in UTF-8) minus exactly
    what the library adds: ``artifact_name`` with ``name``, and ``artifact_sha256`` with
    64 hex digits.
    """
    room = METADATA_LIMIT - (
        _size(_keys.NAME_KEY) + _size(name) + _size(_keys.SHA256_KEY) + _SHA256_LENGTH
    )
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
        if key in _keys.RESERVED_METADATA or key.startswith(_keys.OWN_METADATA_PREFIX):
            raise InvalidInputError(
                "metadata", f"key {key!r} is reserved (as is every key starting 'aioversioned-')"
            )
        if not isinstance(item, str) or not (item.isascii() and item.isprintable()):
            raise InvalidInputError("metadata", f"value of {key!r} must be printable ASCII str")
        size += _size(key) + _size(item)
    if size > room:
        raise InvalidInputError(
            "metadata",
            f"keys and values must total at most {room} bytes for artifact {name!r}"
            f" (S3 keeps {METADATA_LIMIT} bytes of user metadata, the library's own keys"
            f" take {METADATA_LIMIT - room}), got {size}",
        )
    return dict(value)


def bucket_owner(value: object) -> str | None:
    """None or a 12-digit AWS account id."""
    if value is None or (isinstance(value, str) and re.fullmatch(r"[0-9]{12}", value)):
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
