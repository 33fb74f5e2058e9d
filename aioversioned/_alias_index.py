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
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, TypeAdapter

from ._documents import read_index, write_index
from ._keys import Layout
from ._s3 import S3
from .errors import StorageError, VersionConflictError

_FORMAT = 1


class _Stored(BaseModel):
    """The stored index, validated as strictly as a document from another tool."""

    model_config = ConfigDict(strict=True, frozen=True)

    format: Literal[1]
    documents: dict[str, tuple[str, str]]


_STORED = TypeAdapter(_Stored)


class AliasIndex:
    """The index of one artifact's aliases: ``{key: (etag, body)}``."""

    def __init__(self, s3: S3, layout: Layout, name: str) -> None:
        self._s3 = s3
        self.key = layout.alias_index_key(name)
        self._prefix = layout.aliases_dir(name)
        self.documents: dict[str, tuple[str, bytes]] = {}
        self._etag: str | None = None

    async def load(self) -> None:
        """Read the index; a missing, oversized or malformed one is empty (and, unless
        missing, replaced by the next store)."""
        stored, self._etag = await read_index(self._s3, self.key, _STORED)
        if stored is not None:
            self.documents = {
                self._prefix + name: (etag, text.encode())
                for name, (etag, text) in stored.documents.items()
            }

    async def store(self, documents: Mapping[str, tuple[str, bytes]]) -> None:
        """Write ``documents`` as the index unless another lister changed it since it was
        loaded, or it holds them already; a failure only costs the next lister GETs."""
        if documents == self.documents:
            return
        entries = {}
        for key, (etag, body) in documents.items():
            with contextlib.suppress(UnicodeDecodeError):  # JSON that parsed is UTF-8
                entries[key.removeprefix(self._prefix)] = [etag, body.decode()]
        with contextlib.suppress(StorageError, VersionConflictError):
            await write_index(
                self._s3, self.key, {"format": _FORMAT, "documents": entries}, self._etag
            )
