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

from typing import TypeVar

from pydantic import TypeAdapter

from .errors import CorruptDocumentError

ALIAS_LIMIT = 1 << 20
"""The most bytes an alias document may hold (1 MiB)."""
RECORD_LIMIT = 1 << 20
"""The most bytes a history record may hold (1 MiB)."""
INDEX_LIMIT = 32 << 20
"""The most bytes the alias index may hold (32 MiB, about 60,000 aliases)."""

T = TypeVar("T")


def parse(adapter: TypeAdapter[T], body: bytes, key: str) -> T:
    """``body`` validated by ``adapter``; any defect raises CorruptDocumentError naming ``key``."""
    try:
        return adapter.validate_json(body)
    except ValueError as err:  # pydantic's ValidationError is one
        raise CorruptDocumentError(key, str(err)) from err
