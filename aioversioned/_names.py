"""Artifact names at the cost of a folder listing: name markers.

An artifact is a folder ``{prefix}/{name}/`` with a version under ``versions/``. The
folder listing alone (one request per 1,000 names) is not enough: a folder may hold no
version (what ``purge_artifact`` leaves on a server that keeps empty folders, such as
SeaweedFS; aliases alone), and asking each folder for a version costs one request per
name. So each artifact this library created has a marker, an empty object
``{prefix}/.aioversioned-name-{name}`` right under the prefix (an object, not a folder:
``versioned`` 1.x lists folders only and never shows it). A listing reads the folders
and the markers; a folder with a marker is an artifact; only a folder without one is
asked for a version, and gets its marker when it has one, so the next listing asks no
more. Markers sort before every folder, so up to about 500 names come in one page of the
prefix's level, one request; beyond, the rest of the markers and the folders come in two
listings at once: two requests per 1,000 names, in the round trips of one.

A marker is a hint, in no safety argument (docs/design/protocol.md). Every order below
errs towards a missing marker, which costs one request and is then repaired:
``put_artifact`` writes it after LATEST, ``purge_artifact`` deletes it before the
artifact's objects, and a listing writes one only for a folder it saw a version in. A
marker without a folder is ignored. What can list a name without a version: a purge
running at the same time as a put that creates the artifact, or a listing that marks
it; and another tool that deletes every object of an artifact on a server that keeps
the empty folder. The next ``purge_artifact`` of that name removes the marker.
"""

from __future__ import annotations

import contextlib
from functools import partial

from . import _keys
from ._keys import Layout
from ._s3 import S3, ObjectInfo
from ._tasks import both, gather
from .errors import InvalidInputError, StorageError


class Names:
    """Lists artifact names, and keeps their markers, for one repository."""

    def __init__(self, s3: S3, layout: Layout) -> None:
        self._s3 = s3
        self._layout = layout

    async def all(self) -> list[str]:
        """The names of the folders that have a version, sorted."""
        folders, marked = await self._listed()
        unmarked = [name for name in folders if name not in marked]
        found = await gather(
            (partial(self._has_version, name) for name in unmarked), self._s3.limit
        )
        confirmed = [name for name, has in zip(unmarked, found, strict=True) if has]
        await self._mark_found(confirmed)
        return sorted({name for name in folders if name in marked}.union(confirmed))

    async def _listed(self) -> tuple[list[str], set[str]]:
        """The valid folder names and the marked names, in as few round trips as the
        listing allows: markers sort before every artifact's folder, so a first page of
        the prefix's level holds both when there are few; when that page holds only
        hidden objects, the rest of the markers and the folders come in two listings
        at once."""
        root = self._layout.root
        dirs, objects, token = await self._s3.level(root)
        marked = self._markers(objects)
        if token and not dirs and objects:
            more, dirs = await both(
                partial(self._marked, start_after=objects[-1].key),
                partial(self._s3.list_dirs, root, start_after=self._layout.hidden_end),
            )
            marked |= more
        elif token:
            dirs += await self._s3.list_dirs(root, token=token)
        names = []
        for folder in dirs:
            with contextlib.suppress(InvalidInputError):
                names.append(_keys.validate_name(folder.removeprefix(root).rstrip("/")))
        return names, marked

    async def mark(self, name: str) -> None:
        """Write ``name``'s marker; a failure is left for the next listing to repair."""
        with contextlib.suppress(StorageError):
            await self._s3.put(self._layout.name_marker_key(name), b"")

    async def unmark(self, name: str) -> None:
        """Delete ``name``'s marker (a missing one is fine)."""
        await self._s3.delete([self._layout.name_marker_key(name)])

    async def _marked(self, start_after: str) -> set[str]:
        marked = set()
        async for page in self._s3.pages(self._layout.name_markers_prefix, start_after=start_after):
            marked |= self._markers(page)
        return marked

    def _markers(self, objects: list[ObjectInfo]) -> set[str]:
        """The names of the markers among ``objects`` (other keys are left out)."""
        marked = set()
        for info in objects:
            with contextlib.suppress(ValueError):
                marked.add(self._layout.parse_name_marker(info.key))
        return marked

    async def _has_version(self, name: str) -> bool:
        async for page in self._s3.pages(self._layout.versions_dir(name), page_size=8):
            for info in page:
                with contextlib.suppress(ValueError):
                    self._layout.parse_version_key(name, info.key)
                    return True
        return False

    async def _mark_found(self, names: list[str]) -> None:
        """Mark the names a listing found without one: the first alone, the rest only if
        it was written (credentials that may only read are then asked once per call)."""
        if not names:
            return
        try:
            await self._s3.put(self._layout.name_marker_key(names[0]), b"")
        except StorageError:
            return
        await gather((partial(self.mark, name) for name in names[1:]), self._s3.limit)
