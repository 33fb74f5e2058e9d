"""What put_artifact writes over LATEST: a pure decision, tested without a server.

As in ``versioned`` 1.x, the same bytes again are a no-op (when a record of LATEST's ETag
says they are the same, not only its metadata: see :func:`plan_put`): ``metadata=None`` and
``content_type=None`` mean "as LATEST has them" when the bytes are the same, and
nothing is uploaded unless the caller asked for other metadata or another content
type. Different bytes start afresh: the given metadata only, the given content type or
``application/octet-stream``.

"Asked for" is compared, not what a server stored: some servers (SeaweedFS) store the
type they sniff (``application/zip``) for a ``.zip`` key sent as
``application/octet-stream``. A server keeps a specific type as sent, so only an
explicit ``application/octet-stream`` is recorded, in the object metadata
``aioversioned-content-type``, when S3's 2 KB of metadata leave room for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from . import _keys
from ._s3 import TOKEN_KEY, ObjectInfo
from ._validate import METADATA_LIMIT

DEFAULT_CONTENT_TYPE = "application/octet-stream"
_OURS = {*_keys.RESERVED_METADATA, TOKEN_KEY}


@dataclass(frozen=True)
class Write:
    """The object metadata and content type to write to LATEST."""

    metadata: dict[str, str]
    content_type: str


def user_metadata(stored: Mapping[str, str]) -> dict[str, str]:
    """An object's metadata without the keys the libraries keep for themselves
    (``versioned`` 1.x's, s3fs's spelling of the sha256, and every ``aioversioned-*``)."""
    return {
        key: value
        for key, value in stored.items()
        if key not in _OURS and not key.startswith(_keys.OWN_METADATA_PREFIX)
    }


def asked_content_type(current: ObjectInfo) -> str | None:
    """The content type LATEST was written with as asked (recorded), else as stored."""
    return current.metadata.get(_keys.CONTENT_TYPE_KEY) or current.content_type


def plan_put(
    name: str,
    sha256: str,
    metadata: Mapping[str, str] | None,
    content_type: str | None,
    current: ObjectInfo | None,
    known: str | None,
) -> Write | ObjectInfo:
    """What to write for content of ``sha256`` over ``current`` LATEST, or ``current``
    itself when it holds all that already (nothing to write). ``metadata`` and
    ``content_type`` are the caller's, checked.

    ``known`` is the sha256 that ``current``'s bytes are known to have: a record of its
    ETag, written by whoever wrote or read those bytes (see _hashes.py). Its metadata
    alone is what it claims, and another tool may have written other bytes under it:
    without that record the same bytes are written again (the metadata kept as for the
    same bytes), never taken as already there.
    """
    asked = content_type
    if current is not None and _keys.stored_sha256(current.metadata) == sha256:
        kept_metadata = user_metadata(current.metadata)
        kept_type = asked_content_type(current)
        if (
            known == sha256
            and (metadata is None or dict(metadata) == kept_metadata)
            and (content_type is None or content_type == kept_type)
        ):
            return current
        if metadata is None:
            metadata = kept_metadata
        if content_type is None:
            content_type = kept_type
            asked = current.metadata.get(_keys.CONTENT_TYPE_KEY)
    stored = {_keys.NAME_KEY: name, _keys.SHA256_KEY: sha256, **(metadata or {})}
    record = {_keys.CONTENT_TYPE_KEY: DEFAULT_CONTENT_TYPE}
    if asked == DEFAULT_CONTENT_TYPE and _size({**stored, **record}) <= METADATA_LIMIT:
        stored.update(record)
    return Write(stored, content_type or DEFAULT_CONTENT_TYPE)


def _size(metadata: Mapping[str, str]) -> int:
    return sum(len(key.encode()) + len(value.encode()) for key, value in metadata.items())
