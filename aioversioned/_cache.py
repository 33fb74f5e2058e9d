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

The sha256 to look up comes from the bucket, so it is untrusted: the cache never opens,
replaces or deletes a path outside its directory. Only a name of 64 lowercase hex digits
is an entry (any other name is a miss and is not stored); entries are opened with
``O_NOFOLLOW`` and served only if they are regular files, so a symlink, a directory or a
FIFO with an entry's name is a miss, and a symlink is removed (the link, never its
target). A store that fails (a directory in the way, a full disk, no permission) only
skips caching and removes its temporary file; it never raises.

Processes sharing the directory fill an entry once: the one that misses takes an
exclusive ``flock`` on a lock file named after the entry (``.lock-<sha256>``) for the
time of its download, and the others wait for the lock, then find the entry. The
kernel drops the lock of a process that dies, so a crash never leaves a stale lock; the
holder removes the file before it unlocks, and a process that locked a file since
removed (its inode no longer the name's) tries again, so two never hold one entry's
lock at once. Where ``fcntl`` is missing (Windows) or the lock file can not be made (a
read-only cache), processes do not wait for each other and may download in parallel.

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
import stat
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from . import _validate

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no cross-process fill lock
    fcntl = None  # type: ignore[assignment]
from .errors import InvalidInputError

_ENTRY_RE = re.compile(r"[0-9a-f]{64}")
TEMP_PREFIX = ".tmp-"
LOCK_PREFIX = ".lock-"
STALE_TEMP_SECONDS = 3600.0  # a temporary file this old was left by a writer that died
_READ_SIZE = 1 << 20
# O_NOFOLLOW: a symlink with an entry's name fails to open instead of leading out of the
# directory. O_NONBLOCK: opening a FIFO with an entry's name must not wait for a writer.
_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_BINARY", 0)
)


@dataclass(frozen=True)
class FillLock:
    """A cross-process lock on filling one entry; ``fd`` None when none could be taken."""

    fd: int | None = None
    path: Path | None = None


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
    """Remove the directory entry ``path`` (a link itself, not its target), if possible."""
    with contextlib.suppress(OSError):
        path.unlink()


def _open_entry(path: Path) -> IO[bytes] | None:
    """``path`` opened for reading if it is a regular file, without following a link.

    None for anything else. A symlink, or a file with a second (hard) link that may be
    outside the directory, is removed: the link in the directory, never its target.
    """
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError:  # missing, a symlink (ELOOP), a socket, no permission: a miss
        if path.is_symlink():
            _unlink(path)
        return None
    info = os.fstat(fd)
    # No link (st_nlink 0): replaced by a writer since it was opened; still a whole entry.
    if not stat.S_ISREG(info.st_mode) or info.st_nlink > 1:  # a directory, a FIFO, ...
        os.close(fd)
        if stat.S_ISREG(info.st_mode):
            _unlink(path)
        return None
    return os.fdopen(fd, "rb")


def _touch(path: Path, file: IO[bytes]) -> None:
    """Mark an entry as just used (its mtime), through the open file where possible."""
    with contextlib.suppress(OSError):  # a read-only shared cache still serves
        if os.utime in os.supports_fd:
            os.utime(file.fileno())
        else:
            os.utime(path)


class ContentCache:
    """Verified content by sha256 under ``directory``, at most ``max_bytes`` in total.

    Blocking file I/O: the repository calls it in worker threads.
    """

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes

    def _path(self, sha256: str) -> Path | None:
        """The entry of ``sha256`` in the directory; None unless it is 64 lowercase hex."""
        if not isinstance(sha256, str) or _ENTRY_RE.fullmatch(sha256) is None:
            return None
        return self.directory / sha256

    def _verified(self, path: Path, file: IO[bytes], actual: str, sha256: str) -> bool:
        """Whether the entry read from ``file`` hashed right; a damaged one is dropped."""
        if actual != sha256:
            _unlink(path)
            return False
        _touch(path, file)
        return True

    def read(self, sha256: str) -> bytes | None:
        """The cached bytes with this sha256, or None (a miss, or a damaged entry dropped)."""
        path = self._path(sha256)
        source = None if path is None else _open_entry(path)
        if path is None or source is None:
            return None
        with source:
            data = source.read()
            good = self._verified(path, source, hashlib.sha256(data).hexdigest(), sha256)
        return data if good else None

    def copy_into(self, sha256: str, file: IO[bytes]) -> bool:
        """Write the cached bytes with this sha256 into ``file``; False (file emptied) on a miss."""
        path = self._path(sha256)
        source = None if path is None else _open_entry(path)
        if path is None or source is None:
            return False
        digest = hashlib.sha256()
        with source:
            while piece := source.read(_READ_SIZE):
                digest.update(piece)
                file.write(piece)
            if self._verified(path, source, digest.hexdigest(), sha256):
                return True
        file.seek(0)
        file.truncate()
        return False

    def store_bytes(self, sha256: str, data: bytes) -> None:
        """Cache ``data``, whose sha256 the caller verified; a failure only skips caching."""
        self._store(sha256, len(data), lambda file: file.write(data))

    def store_file(self, sha256: str, source: Path) -> None:
        """Cache a copy of the file ``source``, whose sha256 the caller verified.

        A failure (``source`` gone too) only skips caching.
        """

        def copy(file: IO[bytes]) -> None:
            with source.open("rb") as reader:
                while piece := reader.read(_READ_SIZE):
                    file.write(piece)

        try:
            size = source.stat().st_size
        except OSError:
            return
        self._store(sha256, size, copy)

    def _store(self, sha256: str, size: int, write: Callable[[IO[bytes]], object]) -> None:
        path = self._path(sha256)
        if path is None or size > self.max_bytes:
            return  # not an entry's name; or it would evict everything, itself included
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            temp, file = new_temp_file(self.directory, TEMP_PREFIX)
        except OSError:
            return
        try:
            with file:
                write(file)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temp, path)  # replaces a link itself, never its target
        except OSError:  # a directory in the way, a full disk: only skip caching
            _unlink(temp)
            return
        except BaseException:
            _unlink(temp)
            raise
        with contextlib.suppress(OSError):  # the directory removed meanwhile, say
            self.evict()

    def try_lock_fill(self, sha256: str) -> FillLock | None:
        """Lock the filling of ``sha256`` against other processes; None while one holds it.

        Never blocks. A FillLock without ``fd`` means no lock can be had here (no fcntl,
        a read-only directory, a symlink in the way): fill without one.
        """
        entry = self._path(sha256)
        if entry is None or fcntl is None:
            return FillLock()
        path = self.directory / f"{LOCK_PREFIX}{entry.name}"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
        except OSError:
            return FillLock()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            named = os.stat(path, follow_symlinks=False)
            mine = os.fstat(fd)
        except BlockingIOError:  # another process fills it
            os.close(fd)
            return None
        except FileNotFoundError:  # its holder removed it as we locked: try again
            os.close(fd)
            return None
        except OSError:
            os.close(fd)
            return FillLock()
        if (named.st_dev, named.st_ino) != (mine.st_dev, mine.st_ino):  # replaced: again
            os.close(fd)
            return None
        return FillLock(fd, path)

    def unlock_fill(self, lock: FillLock) -> None:
        """Release a lock of :meth:`try_lock_fill`: the file goes first, then the lock."""
        if lock.fd is None or lock.path is None:
            return
        _unlink(lock.path)
        os.close(lock.fd)

    def evict(self) -> None:
        """Delete stale temporary files and least recently used entries beyond ``max_bytes``."""
        entries: list[Entry] = []
        temps: list[Entry] = []
        with os.scandir(self.directory) as scan:
            for item in scan:
                with contextlib.suppress(FileNotFoundError):  # deleted by another process
                    info = item.stat(follow_symlinks=False)
                    if not stat.S_ISREG(info.st_mode):
                        continue  # never count, or delete, what is not a file of ours
                    found = Entry(item.name, info.st_size, info.st_mtime)
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
