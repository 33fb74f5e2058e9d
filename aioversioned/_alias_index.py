"""The alias index: the alias documents of one artifact, by ETag, in one object.

``list_aliases`` reads it beside the listing of ``aliases/``: a document whose listed
ETag is the one the index holds for it is taken from the index, any other is read
(GET). The listing decides which documents exist and which bytes they hold (an ETag
names one content), so an out-of-date index costs GETs, never a stale answer; a
document another tool wrote is simply read. After reading documents the index did not
hold, the lister writes the index again, conditional on the one it read: of concurrent
listers one wins, the others leave it. Nothing else writes it, and everything in it is
checked as if it came from another tool: a defect makes it an empty index.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping

from ._keys import Layout
from ._s3 import S3, ObjectMissing
from .errors import StorageError, VersionConflictError

_FORMAT = 1
_MAX_BYTES = 32 << 20  # about 60,000 aliases; a larger object is not read


class AliasIndex:
    """The index of one artifact's aliases: ``{key: (etag, body)}``."""

    def __init__(self, s3: S3, layout: Layout, name: str) -> None:
        self._s3 = s3
        self.key = layout.alias_index_key(name)
        self._prefix = layout.aliases_dir(name)
        self.documents: dict[str, tuple[str, bytes]] = {}
        self._etag: str | None = None

    async def load(self) -> None:
        """Read the index; a missing, oversized or malformed one is empty."""
        try:
            async with self._s3.open(self.key) as (info, read):
                if info.size > _MAX_BYTES:
                    return
                body = await read(info.size)
        except ObjectMissing:
            return
        self._etag = info.etag
        self.documents = _parse(body, self._prefix)

    async def store(self, documents: Mapping[str, tuple[str, bytes]]) -> None:
        """Write ``documents`` as the index unless another lister changed it since it was
        loaded, or it holds them already; a failure only costs the next lister GETs."""
        if documents == self.documents:
            return
        entries = {}
        for key, (etag, body) in documents.items():
            with contextlib.suppress(UnicodeDecodeError):  # JSON that parsed is UTF-8
                entries[key.removeprefix(self._prefix)] = [etag, body.decode()]
        payload = json.dumps({"format": _FORMAT, "documents": entries}).encode()
        if len(payload) > _MAX_BYTES:
            return
        with contextlib.suppress(StorageError, VersionConflictError):
            await self._s3.put(
                self.key,
                payload,
                content_type="application/json",
                if_none_match=self._etag is None,
                if_match=self._etag,
                checked=False,  # a cache: an ignored condition costs the next lister GETs
            )


def _parse(body: bytes, prefix: str) -> dict[str, tuple[str, bytes]]:
    """The documents of a stored index, or none when anything in it is off."""
    try:
        stored = json.loads(body)
    except ValueError:
        return {}
    if not isinstance(stored, dict) or stored.get("format") != _FORMAT:
        return {}
    entries = stored.get("documents")
    if not isinstance(entries, dict):
        return {}
    documents = {}
    for name, entry in entries.items():
        if not (
            isinstance(entry, list)
            and len(entry) == 2
            and all(isinstance(part, str) for part in entry)
        ):
            return {}
        documents[prefix + name] = (entry[0], entry[1].encode())
    return documents
