"""Verified copies of versions on local disk, shared by the followers of one repository.

One file per content, named by its sha256 and the repository's suffix (``{sha256}.onnx``:
a loader that picks a format by extension sees the one the user chose; nothing read
from the bucket names a file), in one folder that the first follower
creates and the last one to close removes: a private temporary folder, or a folder
inside ``cache_dir`` when the repository has one (downloads then go through the
content cache, so a content another process already fetched costs no GET). The files
are not the cache's own entries: the cache evicts its least recently used entries and
may be shared by other processes, while a follower's file must stay where it is for as
long as a follower hands it out.

A file is written under a temporary name, verified (``download_artifact`` checks the
sha256 before it renames) and only then renamed to its final name: a name that exists
holds exactly those bytes. Files are counted: each follower holds the contents it routes to
(and, for a while, those it retired); a file is deleted when nobody holds it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
from collections.abc import Awaitable
from pathlib import Path
from typing import Protocol

import anyio
import anyio.to_thread

from . import _keys
from ._models import Artifact
from .errors import CorruptDocumentError, InvalidInputError, VersionConflictError

try:
    import fcntl
except ImportError:  # not POSIX: folders left by a dead process are not swept
    fcntl = None  # type: ignore[assignment]

_OWNER = ".owner"  # the file a live folder's process holds locked


class Source(Protocol):
    """What the copies need of a repository."""

    def get_artifact_version(
        self, name: str, version: _keys.VersionLike = None
    ) -> Awaitable[Artifact]: ...

    def download_artifact(
        self, name: str, path: str | os.PathLike[str], version: _keys.VersionLike = None
    ) -> Awaitable[Artifact]: ...


def _make_folder(parent: Path | None) -> Path:
    """A new folder of copies, after removing the folders their owners left behind."""
    prefix = ".followed-" if parent is not None else "aioversioned-followed-"
    if parent is not None:
        parent.mkdir(parents=True, exist_ok=True)
    _sweep(parent or Path(tempfile.gettempdir()), prefix)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=parent))


def _own(folder: Path) -> int | None:
    """Lock the folder's owner file for as long as the returned descriptor is open: a
    process that dies (SIGKILL) releases it, and the next one that makes a folder in the
    same place removes this one (see _sweep). None where there is no flock."""
    if fcntl is None:
        return None
    # Locked before it has its name: a sweep never finds it unlocked while we live.
    making = folder / f"{_OWNER}-{secrets.token_hex(8)}"
    fd = os.open(making, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.replace(making, folder / _OWNER)
    return fd


def _sweep(parent: Path, prefix: str) -> None:
    """Remove the folders of copies under ``parent`` whose owner file nobody holds: their
    process died. A folder without an owner file (being made, or of an older release)
    stays."""
    if fcntl is None:
        return
    with contextlib.suppress(OSError):
        for folder in parent.iterdir():
            if not folder.name.startswith(prefix) or folder.is_symlink():
                continue
            try:
                fd = os.open(folder / _OWNER, os.O_RDWR | os.O_NOFOLLOW)
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # held: its process is alive
            finally:
                os.close(fd)
            shutil.rmtree(folder, ignore_errors=True)


def _unlink(path: Path) -> None:
    with contextlib.suppress(OSError):  # gone already; or open elsewhere (Windows)
        path.unlink()


def local_suffix(suffix: str) -> str:
    """``suffix`` if it can end a file name here (the repository already refused a '/').

    Raises InvalidInputError (``suffix``) for a NUL or this system's path separator.
    """
    if "\0" in suffix or os.sep in suffix or (os.altsep is not None and os.altsep in suffix):
        raise InvalidInputError(
            "suffix", f"{suffix!r} can not end a local file name (a NUL or a path separator)"
        )
    return suffix


class LocalCopies:
    """The folder of verified copies of one repository (see the module doc).

    ``suffix`` (checked by :func:`local_suffix`) ends every file name.
    """

    def __init__(self, source: Source, parent: Path | None, suffix: str) -> None:
        self._source = source
        self._suffix = suffix
        self._parent = parent
        self._folder: Path | None = None
        self._owner: int | None = None  # the descriptor that holds the folder's owner file
        self._users = 0
        self._opening = anyio.Lock()
        self._holds: dict[str, int] = {}  # sha256 -> holds
        self._fills: dict[str, anyio.Lock] = {}  # sha256 -> held while it is downloaded
        # A numbered version's description, and the alias revision it was made for.
        self._known: dict[tuple[str, str], tuple[str, Artifact]] = {}
        self._describing: dict[tuple[str, str], anyio.Lock] = {}  # held during its HEAD

    @property
    def folder(self) -> Path | None:
        """The folder of the copies while a follower is open."""
        return self._folder

    async def open(self) -> None:
        """A follower starts using the copies: the folder exists from now on."""
        self._users += 1  # first: a close() meanwhile must not remove the folder
        try:
            async with self._opening:  # followers entering together make one folder
                if self._folder is None:
                    folder = await anyio.to_thread.run_sync(_make_folder, self._parent)
                    self._owner = await anyio.to_thread.run_sync(_own, folder)
                    self._folder = folder
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """A follower is done (it released its holds); the last one removes the folder."""
        self._users -= 1
        if self._users == 0 and self._folder is not None:
            folder, self._folder = self._folder, None
            owner, self._owner = self._owner, None
            self._holds.clear()
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(shutil.rmtree, folder, True)
                if owner is not None:
                    os.close(owner)

    async def acquire(self, name: str, version: str, revision: str | None) -> tuple[Artifact, Path]:
        """Hold a verified copy of ``version`` of ``name``: its description and its file.

        ``revision`` is that of the alias document that names the version. A numbered
        version is described (a HEAD) once per revision, LATEST every time: a number
        names other bytes only after ``purge_artifact`` (claims included) and a new
        publish, and the purge deleted the aliases, so an alias that names the new
        version is a new document, whose followers must not get the old one's
        description (its file, if still held, or a download that never matches). A
        content that is held already is not downloaded again; concurrent calls for one
        content share a download. Raises the repository's errors (StorageError,
        IntegrityError, ArtifactNotFoundError, ...) and VersionConflictError when LATEST
        changed between its HEAD and its download; nothing is held then.
        """
        folder = self._folder
        if folder is None:
            raise RuntimeError("LocalCopies.open() first")
        artifact = await self._describe(name, version, revision)
        sha256 = artifact.sha256
        if not _keys.is_sha256(sha256):  # never a path from the bucket
            raise CorruptDocumentError(artifact.s3uri, f"sha256 {sha256!r} is not 64 hex digits")
        async with self._fills.setdefault(sha256, anyio.Lock()):
            if sha256 not in self._holds:
                await self._download(folder, name, version, sha256)
            self._holds[sha256] = self._holds.get(sha256, 0) + 1
        return artifact, folder / f"{sha256}{self._suffix}"

    async def _describe(self, name: str, version: str, revision: str | None) -> Artifact:
        """A numbered version's description for the alias ``revision`` that names it,
        from one HEAD however many ask at once."""
        if version == _keys.LATEST or revision is None:
            return await self._source.get_artifact_version(name, version)
        async with self._describing.setdefault((name, version), anyio.Lock()):
            known = self._known.get((name, version))
            if known is not None and known[0] == revision:
                return known[1]
            artifact = await self._source.get_artifact_version(name, version)
            self._known[(name, version)] = (revision, artifact)
        return artifact

    async def _download(self, folder: Path, name: str, version: str, sha256: str) -> None:
        part = folder / f".part-{secrets.token_hex(8)}"
        try:
            got = await self._source.download_artifact(name, part, version)
            if got.sha256 != sha256:
                raise VersionConflictError(got.s3uri, "LATEST changed while it was downloaded")
            await anyio.to_thread.run_sync(os.replace, part, folder / f"{sha256}{self._suffix}")
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(_unlink, part)

    def release(self, sha256: str) -> None:
        """Drop one hold; the file goes with the last one."""
        holds = self._holds.get(sha256, 0) - 1
        if holds > 0:
            self._holds[sha256] = holds
            return
        self._holds.pop(sha256, None)
        if self._folder is not None and holds == 0:
            _unlink(self._folder / f"{sha256}{self._suffix}")
