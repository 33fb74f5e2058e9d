"""Documents read from the bucket: one bounded read and one validating parser for all.

Alias documents, history records, deletion marks and the alias index are JSON that any
tool with write access may have written: each is read with a size limit (checked from
the Content-Length, then enforced while reading, so an oversized object is never held
in memory) and parsed by pydantic's JSON parser, which refuses deep nesting, invalid
UTF-8 and lone surrogates with a ValueError. Whatever is wrong with a document becomes
CorruptDocumentError naming its key; each caller decides what a corrupt one means.

The limits are generous: ``versioned`` 1.x writes alias documents of about 400 bytes,
a history record is about 500 bytes, and a deletion mark lists at most 999,999
numbers (8 MB).
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter

from ._s3 import S3, TooLarge
from .errors import CorruptDocumentError

ALIAS_LIMIT = 1 << 20
"""The most bytes an alias document may hold (1 MiB)."""
RECORD_LIMIT = 1 << 20
"""The most bytes a history record may hold (1 MiB)."""
INDEX_LIMIT = 32 << 20
"""The most bytes an index (of aliases, of names) may hold (32 MiB, about 60,000 aliases)."""

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


def parse(adapter: TypeAdapter[T], body: bytes, key: str) -> T:
    """``body`` validated by ``adapter``; any defect raises CorruptDocumentError naming ``key``."""
    try:
        return adapter.validate_json(body)
    except ValueError as err:  # pydantic's ValidationError is one
        raise CorruptDocumentError(key, str(err)) from err


async def read_index(s3: S3, key: str, adapter: TypeAdapter[M]) -> tuple[M | None, str | None]:
    """An index object (a cache the listers keep: see _alias_index, _names): its document,
    None when it is missing, oversized or malformed, and its ETag, None when it is
    missing (an oversized or malformed one is replaced by the next write)."""
    try:
        found = await s3.get(key, limit=INDEX_LIMIT)
    except TooLarge as err:
        return None, err.info.etag if err.info is not None else None
    if found is None:
        return None, None
    body, info = found
    try:
        return parse(adapter, body, key), info.etag
    except CorruptDocumentError:
        return None, info.etag


async def write_index(s3: S3, key: str, document: dict[str, Any], etag: str | None) -> None:
    """Write ``document`` as the index object ``key`` if it still has ``etag`` (None: if
    there is none), else VersionConflictError; one too large to store is not written."""
    payload = json.dumps(document).encode()
    if len(payload) > INDEX_LIMIT:
        return
    await s3.put(
        key,
        payload,
        content_type="application/json",
        if_none_match=etag is None,
        if_match=etag,
        checked=False,  # a cache: an ignored condition costs the next reader requests
    )
