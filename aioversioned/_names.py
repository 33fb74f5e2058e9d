"""Artifact names at the cost of a folder listing: the names index.

An artifact is a folder ``{prefix}/{name}/`` with a version under ``versions/``. The
folder listing alone (one request per 1,000 names) is not enough: a folder may hold no
version (what ``purge_artifact`` leaves on a server that keeps empty folders, such as
SeaweedFS, or where a claim was left; aliases alone), and asking each folder for a
version costs one request per name. So the listers keep one object,
``{prefix}/.aioversioned-names{suffix}.json``, naming the folders they found a version
in (with the repository's suffix: another suffix has an index of its own). A
listing reads it beside the folders (one GET, concurrent with the first page); a folder
it names is an artifact; only a folder it does not name is asked (one small listing),
and a listing that found any such folder writes the index again, conditional on the one
it read (If-Match): of concurrent listers one wins, the others leave it. So the next
listing asks no more, and writes (put, publish) never touch the index.

Why one object and not a marker per name: listing objects is much slower than listing
folders on the servers tried (about 8x on SeaweedFS 4.48, 15x on moto, per page of
1,000), and markers beside the folders would make every folder listing, ``versioned``
1.x's too, page through them.

The index is a cache in no safety argument (docs/design/protocol.md); a missing,
oversized or malformed one is empty. A stale entry could list a name without a version,
so ``purge_artifact`` removes its name from the index before it deletes anything (a
purge that dies halfway leaves a folder the next listing asks about) and again after
(a listing that saw the version before the delete and writes later is refused: every
write of the index carries a fresh token, so its ETag changes even when its names do
not). What still lists a name without a version: another tool deleting every object of
an artifact on a server that keeps the empty folder; the next ``purge_artifact`` of that
name removes it.
"""

from __future__ import annotations

import contextlib
import uuid
from functools import partial
from typing import Literal

from pydantic import BaseModel, ConfigDict, TypeAdapter

from . import _keys
from ._documents import read_index, write_index
from ._keys import Layout
from ._s3 import S3
from ._tasks import both, gather
from .errors import InvalidInputError, StorageError, VersionConflictError

_FORMAT = 1
_FORGET_ATTEMPTS = 10  # a purge's index writes, against concurrent listers'


class _Stored(BaseModel):
    """The stored index, validated as strictly as a document from another tool."""

    model_config = ConfigDict(strict=True, frozen=True)

    format: Literal[1]
    token: str
    names: list[str]


_STORED = TypeAdapter(_Stored)


class Names:
    """Lists artifact names, and keeps the names index, for one repository."""

    def __init__(self, s3: S3, layout: Layout) -> None:
        self._s3 = s3
        self._layout = layout
        self._key = layout.names_index_key

    async def all(self) -> list[str]:
        """The names of the folders that have a version, sorted."""
        folders, (indexed, etag) = await both(self._folders, self._load)
        unknown = [name for name in folders if name not in indexed]
        found = await gather((partial(self._has_version, name) for name in unknown), self._s3.limit)
        names = {name for name in folders if name in indexed}
        names.update(name for name, has in zip(unknown, found, strict=True) if has)
        if names != indexed:
            # Credentials that may only read, or another lister first: the next asks again.
            with contextlib.suppress(StorageError, VersionConflictError):
                await self._store(names, etag)
        return sorted(names)

    async def forget(self, name: str) -> None:
        """Write the index without ``name`` (always a new ETag: see the module's docstring)."""
        for _ in range(_FORGET_ATTEMPTS):
            indexed, etag = await self._load()
            with contextlib.suppress(VersionConflictError):
                await self._store(indexed - {name}, etag)
                return
        raise VersionConflictError(
            self._key, f"other listers kept writing it; {name!r} may stay listed: purge again"
        )

    async def _folders(self) -> list[str]:
        root = self._layout.root
        names = []
        for folder in await self._s3.list_dirs(root):
            with contextlib.suppress(InvalidInputError):
                names.append(_keys.validate_name(folder.removeprefix(root).rstrip("/")))
        return names

    async def _load(self) -> tuple[set[str], str | None]:
        """The names the index holds, and its ETag (None when there is none)."""
        stored, etag = await read_index(self._s3, self._key, _STORED)
        names = set()
        for name in stored.names if stored is not None else ():
            with contextlib.suppress(InvalidInputError):
                names.add(_keys.validate_name(name))
        return names, etag

    async def _store(self, names: set[str], etag: str | None) -> None:
        """Write ``names`` as the index, if it still has ``etag``; an index too large to
        store is left as it is (listings then ask the folders it lacks)."""
        document = {"format": _FORMAT, "token": uuid.uuid4().hex, "names": sorted(names)}
        await write_index(self._s3, self._key, document, etag)

    async def _has_version(self, name: str) -> bool:
        async for page in self._s3.pages(self._layout.versions_dir(name), page_size=8):
            for info in page:
                with contextlib.suppress(ValueError):
                    self._layout.parse_version_key(name, info.key)
                    return True
        return False
