"""A content cache on local disk: verified bytes of versions, stored under their sha256.

Entries are files named by the sha256 of their bytes, in one directory that several
processes may share. A writer fills a temporary file in that directory, fsyncs it and
renames it into place (``os.replace``), so a name never holds torn bytes and concurrent
writers of one entry just replace equal bytes with equal bytes.

A hit is verified again before it is served: serving reads every byte anyway, so the
check costs only hashing, and it turns a file damaged on disk, or put into the
directory by something else, into a miss (the entry is dropped) instead of wrong bytes.
Trusting the name alone would save that CPU but would trust every writer of the
directory forever.

Serving an entry sets its mtime (atime is unreliable: noatime, relatime). When the
entries exceed ``max_bytes``, the least recently used are deleted; :func:`plan_eviction`
decides which, without touching the disk.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from . import _validate
from .errors import InvalidInputError

_ENTRY_RE = re.compile(r"[0-9a-f]{64}")
TEMP_PREFIX = ".tmp-"
STALE_TEMP_SECONDS = 3600.0  # a temporary file this old was left by a writer that died
_READ_SIZE = 1 << 20


@dataclass(frozen=True)
class Entry:
    """A file of the cache directory: its name, size and mtime (last written or served)."""

    name: str
    size: int
    used: float


def plan_eviction(
    entries: Sequence[Entry], temps: Sequence[Entry], max_bytes: int, now: float
) -> list[str]:
    """Names to delete: stale temporary files, then the least recently used entries
    until the others fit in ``max_bytes``."""
    doomed = [temp.name for temp in temps if now - temp.used > STALE_TEMP_SECONDS]
    total = sum(entry.size for entry in entries)
    for entry in sorted(entries, key=lambda e: (e.used, e.name)):
        if total <= max_bytes:
            break
        doomed.append(entry.name)
        total -= entry.size
    return doomed


def new_temp_file(directory: Path, prefix: str) -> tuple[Path, IO[bytes]]:
    """Create a new file with a random name in ``directory`` (default permissions)."""
    while True:
        path = directory / f"{prefix}{secrets.token_hex(8)}"
        with contextlib.suppress(FileExistsError):
            return path, path.open("x+b")


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


class ContentCache:
    """Verified content by sha256 under ``directory``, at most ``max_bytes`` in total.

    Blocking file I/O: the repository calls it in worker threads.
    """

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes

    def _path(self, sha256: str) -> Path:
        return self.directory / sha256

    def _hit(self, path: Path, actual: str, sha256: str) -> bool:
        if actual != sha256:
            _unlink(path)
            return False
        with contextlib.suppress(FileNotFoundError):
            os.utime(path)
        return True

    def read(self, sha256: str) -> bytes | None:
        """The cached bytes with this sha256, or None (a miss, or a damaged entry dropped)."""
        path = self._path(sha256)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        return data if self._hit(path, hashlib.sha256(data).hexdigest(), sha256) else None

    def copy_into(self, sha256: str, file: IO[bytes]) -> bool:
        """Write the cached bytes with this sha256 into ``file``; False (file emptied) on a miss."""
        path = self._path(sha256)
        digest = hashlib.sha256()
        try:
            with path.open("rb") as source:
                while piece := source.read(_READ_SIZE):
                    digest.update(piece)
                    file.write(piece)
        except FileNotFoundError:
            return False
        if self._hit(path, digest.hexdigest(), sha256):
            return True
        file.seek(0)
        file.truncate()
        return False

    def store_bytes(self, sha256: str, data: bytes) -> None:
        """Cache ``data``, whose sha256 the caller verified."""
        self._store(sha256, len(data), lambda file: file.write(data))

    def store_file(self, sha256: str, source: Path) -> None:
        """Cache a copy of the file ``source``, whose sha256 the caller verified."""

        def copy(file: IO[bytes]) -> None:
            with source.open("rb") as reader:
                while piece := reader.read(_READ_SIZE):
                    file.write(piece)

        self._store(sha256, source.stat().st_size, copy)

    def _store(self, sha256: str, size: int, write: Callable[[IO[bytes]], object]) -> None:
        if size > self.max_bytes:
            return  # it would evict everything, itself included
        self.directory.mkdir(parents=True, exist_ok=True)
        temp, file = new_temp_file(self.directory, TEMP_PREFIX)
        try:
            with file:
                write(file)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temp, self._path(sha256))
        except BaseException:
            _unlink(temp)
            raise
        self.evict()

    def evict(self) -> None:
        """Delete stale temporary files and least recently used entries beyond ``max_bytes``."""
        entries: list[Entry] = []
        temps: list[Entry] = []
        with os.scandir(self.directory) as scan:
            for item in scan:
                with contextlib.suppress(FileNotFoundError):  # deleted by another process
                    stat = item.stat()
                    found = Entry(item.name, stat.st_size, stat.st_mtime)
                    if _ENTRY_RE.fullmatch(item.name):
                        entries.append(found)
                    elif item.name.startswith(TEMP_PREFIX):
                        temps.append(found)
        for name in plan_eviction(entries, temps, self.max_bytes, time.time()):
            _unlink(self.directory / name)


def content_cache(directory: object, max_bytes: object) -> ContentCache | None:
    """A cache for the constructor arguments, or None without ``cache_dir``."""
    max_bytes = _validate.at_least(max_bytes, "cache_max_bytes", 0)
    if directory is None:
        return None
    if not isinstance(directory, str | os.PathLike) or not os.fspath(directory):
        raise InvalidInputError(
            "cache_dir", f"must be a path (str or os.PathLike), got {directory!r}"
        )
    return ContentCache(Path(os.fsdecode(directory)), max_bytes)
