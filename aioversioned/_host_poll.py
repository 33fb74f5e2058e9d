"""One poll per host: the followers of one alias that share a ``cache_dir`` share its polls.

The processes of one host (gunicorn or Celery workers) that follow the same alias (same
endpoint, bucket, prefix, suffix, name and alias) with the same ``cache_dir`` would each
poll S3; here one of them does, and the others read what it saw:

1. The lease: a file in ``cache_dir`` named from a hash of that identity
   (``.poll-<sha256>.lock``), on which a process holds an exclusive ``flock``, taken
   without waiting. Its holder polls S3. The kernel drops the lock of a process that
   dies (SIGKILL included) or closes its follower, so a lease is never stale; the other
   processes try to take it at each of their reads, so one of them polls within about
   one fifth of an interval. Who polls is decided by the lease alone, never by a
   timestamp: no clock of this host takes part. The holder checks at each poll that
   the file's name is still its inode (someone may remove or replace the file, and a
   process locking the new one would hold a second lease); if not, it steps down. The
   lease file is never removed by a follower, so two live holders of one name can only
   come from such a replacement, and last until the next poll.
2. The state: ``.poll-<sha256>.json``, what the holder's last poll found: the alias
   document as S3 answered it (its raw body, ETag and Last-Modified), none (404), or
   the poll's failure (its code and message), with the poll's number. It is written
   to a temporary file, fsynced and renamed into place (``os.replace``), so it is never
   torn: one small write per interval.
3. The others read the state file five times per interval (a small local read, no
   request) and act on a new one exactly as on a poll's answer: the document goes
   through the same parser as one fetched from S3 (a bad one is CorruptDocumentError, and
   the follower keeps serving); a failure shows in ``error`` as the StorageError (or
   CorruptDocumentError) it was. The state file is untrusted as the bucket is: anything
   may write ``cache_dir``. It is read without following a link, at most STATE_LIMIT
   bytes, and validated field by field; a malformed, oversized or unreadable one is
   CorruptDocumentError (reported once per content, as a poll's failure is) and never
   a crash; no field of it names a path or is sent to S3 (a new holder's first GET is
   unconditional, whatever ETag the state carried). At worst a writer of ``cache_dir``
   makes its followers serve another version that the bucket holds, downloaded and
   verified as always: never bytes that are not a version's. That writer could replace
   the followers' verified files in ``cache_dir`` anyway.

Order. A process entering reads S3 itself (entry errors stay those of a follower alone),
and so did a holder that steps down. The next state it finds may come from a poll that
began before that read ended, and would take it back in time. A rename is seen by every
read that starts after it, and the holder polls one poll at a time, so the second state
written after the process's own read comes from a poll begun after that read. Hence
the first new state after a process's own read is used only if it names the same
document; otherwise it is passed over, and the next poll's state is used (a change
seen one interval later, only just after entering). A dead holder's state file is just
the last thing seen: nothing acts on it until a new holder, or a process entering,
has read S3.

Where there is no ``fcntl`` (Windows), or the lease file can not be made (a read-only
cache, a symlink in its place), each process polls S3 as it would alone. Without
``cache_dir`` nothing here is used. A holder that can not write the state file (a full
disk) keeps polling for itself and logs it; the others see no news until it can.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import logging
import os
import secrets
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import anyio
import anyio.to_thread
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter

from ._cache import TEMP_PREFIX, new_temp_file
from ._documents import ALIAS_LIMIT
from ._s3 import NOT_MODIFIED, S3
from ._watch import NO_NEWS, Document, Read, S3Reads
from .errors import CorruptDocumentError, StorageError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: every process polls
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger("aioversioned")

STATE_LIMIT = ALIAS_LIMIT * 2
"""The most bytes of a state file read: a base64 alias document of ALIAS_LIMIT fits."""
_DETAIL_CHARS = 2000
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
_LEASE_FLAGS = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_Printable = Annotated[str, StringConstraints(pattern=r"^[\x20-\x7e]*$")]


@dataclass(frozen=True)
class PollFailure:
    """A failed poll as the holder publishes it: what kind of error, its code and message."""

    error: Literal["storage", "corrupt"]
    code: str
    detail: str

    def raised(self, bucket: str, key: str) -> CorruptDocumentError | StorageError:
        """The error a follower reports for it, naming its own bucket and key."""
        detail = f"{self.detail} (seen by the process that polls for this host)"
        if self.error == "corrupt":
            return CorruptDocumentError(key, detail)
        return StorageError("GetObject", bucket, key, self.code, detail)


Outcome = Document | None | PollFailure
"""What one poll found: a document, no document (404), or a failure."""
PUBLISHED = (StorageError, CorruptDocumentError, OSError)
"""Poll failures the holder publishes (its watch outlives them; so do the others')."""


def failure_of(err: BaseException) -> PollFailure:
    """A poll's failure (one of PUBLISHED) as published."""
    if isinstance(err, CorruptDocumentError):
        return PollFailure("corrupt", "CorruptDocument", err.detail)
    if isinstance(err, StorageError):
        return PollFailure("storage", err.code, err.detail)
    return PollFailure("storage", type(err).__name__, str(err))


# -- the state file: pure encoding and validation ----------------------------------------


class _State(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    format: Literal[1]
    poll: Annotated[int, Field(ge=0)]  # makes each poll's state new, however alike


class _DocumentState(_State):
    kind: Literal["document"]
    body: Annotated[str, StringConstraints(max_length=STATE_LIMIT, pattern=r"^[A-Za-z0-9+/=]*$")]
    etag: Annotated[str, StringConstraints(pattern=r"^[\x21-\x7e]{1,256}$")]
    last_modified: AwareDatetime  # strict: an ISO text in JSON, never a number


class _MissingState(_State):
    kind: Literal["missing"]


class _FailedState(_State):
    kind: Literal["failed"]
    error: Literal["storage", "corrupt"]
    code: Annotated[_Printable, StringConstraints(min_length=1, max_length=128)]
    detail: Annotated[_Printable, StringConstraints(max_length=_DETAIL_CHARS)]


_STATE: TypeAdapter[_DocumentState | _MissingState | _FailedState] = TypeAdapter(
    Annotated[_DocumentState | _MissingState | _FailedState, Field(discriminator="kind")]
)


def _printable(text: str, limit: int) -> str:
    return "".join(c if " " <= c <= "~" else "?" for c in text[:limit])


def encode_state(outcome: Outcome, poll: int) -> bytes:
    """The state file's bytes for ``outcome``, found by the holder's poll number ``poll``."""
    state: dict[str, object] = {"format": 1, "poll": poll}
    if isinstance(outcome, Document):
        state |= {
            "kind": "document",
            "body": base64.b64encode(outcome.body).decode("ascii"),
            "etag": outcome.etag,
            "last_modified": outcome.last_modified.isoformat(),
        }
    elif outcome is None:
        state["kind"] = "missing"
    else:
        code = _printable(outcome.code, 128) or "Error"
        detail = _printable(outcome.detail, _DETAIL_CHARS)
        state |= {"kind": "failed", "error": outcome.error, "code": code, "detail": detail}
    return json.dumps(state, sort_keys=True).encode()


def decode_state(data: bytes, where: str) -> Outcome:
    """What a state file says; CorruptDocumentError naming ``where`` for any defect."""
    try:
        state = _STATE.validate_json(data)
        if isinstance(state, _DocumentState):
            body = base64.b64decode(state.body, validate=True)
            if len(body) > ALIAS_LIMIT:
                raise ValueError(f"the document holds more than {ALIAS_LIMIT} bytes")
            return Document(body, state.etag, state.last_modified)
    except (ValueError, binascii.Error) as err:  # pydantic's ValidationError is a ValueError
        raise CorruptDocumentError(where, f"the host's poll state is malformed: {err}") from err
    if isinstance(state, _MissingState):
        return None
    return PollFailure(state.error, state.code, state.detail)


# -- the files ------------------------------------------------------------------------------


def read_state(path: Path) -> bytes | None:
    """The state file's bytes, None if there is none; CorruptDocumentError if it is not a
    regular file (a symlink is not followed), can not be read or exceeds STATE_LIMIT."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except FileNotFoundError:
        return None
    except OSError as err:  # a symlink (ELOOP), no permission, ...
        detail = f"the host's poll state can not be read: {err}"
        raise CorruptDocumentError(str(path), detail) from err
    with os.fdopen(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise CorruptDocumentError(str(path), "the host's poll state is not a regular file")
        data = file.read(STATE_LIMIT + 1)
    if len(data) > STATE_LIMIT:
        raise CorruptDocumentError(str(path), f"the host's poll state exceeds {STATE_LIMIT} bytes")
    return data


def write_state(path: Path, data: bytes) -> None:
    """Put ``data`` in the state file, whole (temporary file, fsync, rename). Raises OSError."""
    temp, file = new_temp_file(path.parent, TEMP_PREFIX)
    try:
        with file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)  # replaces a symlink itself, never its target
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise


class Lease:
    """An exclusive ``flock`` on one file, taken without waiting and kept until released."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.held = False
        self._fd: int | None = None

    def hold(self) -> bool | None:
        """Whether this process holds the lease now, taking it if it is free; None where
        no lease can be had (no fcntl, a read-only folder, a symlink in the way)."""
        if fcntl is None:
            return None
        if self._fd is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fd = os.open(self.path, _LEASE_FLAGS, 0o644)
            except OSError:
                return None
        if not self.held:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # closed: only holders keep a descriptor open
                self.release()
                return False
            except OSError:
                self.release()
                return None
        # The name must still be our file: a process that opened a replacement would lock it.
        try:
            named = os.stat(self.path, follow_symlinks=False)
            mine = os.fstat(self._fd)
            ours = (named.st_dev, named.st_ino) == (mine.st_dev, mine.st_ino)
        except OSError:
            ours = False
        if not ours:
            self.release()  # opened again at the next try
            return False
        self.held = True
        return True

    def release(self) -> None:
        """Unlock and close (the kernel does both if the process dies)."""
        fd, self._fd, self.held = self._fd, None, False
        if fd is not None:
            os.close(fd)


def _snapshot(path: Path) -> tuple[bytes | None, bytes | None, CorruptDocumentError | None]:
    """The state file now: a digest of what was found, its bytes, or why it can't be read."""
    try:
        data = read_state(path)
    except CorruptDocumentError as err:
        return hashlib.sha256(str(err).encode()).digest(), None, err
    return (None if data is None else hashlib.sha256(data).digest()), data, None


# -- the reads --------------------------------------------------------------------------------


def poll_files(folder: Path, identity: Sequence[str]) -> tuple[Path, Path]:
    """The lease and state files of one alias followed from ``folder``: named by a hash
    of ``identity`` (endpoint, bucket, prefix, suffix, name, alias), never by its text."""
    digest = hashlib.sha256(json.dumps(list(identity)).encode()).hexdigest()
    return folder / f".poll-{digest}.lock", folder / f".poll-{digest}.json"


class HostPoll:
    """The reads of a watch whose host shares one poll (see the module doc).

    Blocking file work runs in worker threads; ``close()`` releases the lease.
    """

    def __init__(self, s3: S3, key: str, folder: Path, identity: Sequence[str]) -> None:
        self.key = key
        self._s3 = S3Reads(s3, key)
        self._bucket = s3.bucket
        lease, self._state = poll_files(folder, identity)
        self._lease = Lease(lease)
        self._role: bool | None = None  # True: we poll; False: another does; None: no lease
        self._last: Document | None = None  # as holder: the document S3 last answered
        # As holder: the number of the next poll, from a random start, so that no state
        # of ours repeats the bytes of an earlier holder's.
        self._polls = secrets.randbits(48)
        self._seen: bytes | None = None  # a digest of the state file as last read
        self._doubt = False  # the next new state may predate our own last read of S3

    @property
    def remote(self) -> bool:
        return self._role is not False

    @property
    def holding(self) -> bool:
        """Whether this process polls S3 for the host."""
        return self._role is True

    async def read(self, etag: str | None, *, fresh: bool = False) -> Read:
        role = await anyio.to_thread.run_sync(self._lease.hold)
        if role != self._role:
            who = {True: "this process polls", False: "another process polls", None: "no lease"}
            logger.info("shared poll of %s: %s for the host", self.key, who[role])
            self._role = role
        if role is None:
            return await self._s3.read(etag)
        if role:
            return await self._poll(etag)
        if fresh:
            return await self._own_read(etag)
        return await self._follow(etag)

    async def _poll(self, etag: str | None) -> Read:
        """As the holder: poll S3, publish what it answered."""
        # A new holder reads the whole document first, so that it can publish it.
        known = self._last is not None and self._last.etag == etag
        try:
            found = await self._s3.read(etag if known else None)
        except PUBLISHED as err:
            await self._publish(failure_of(err))
            raise
        if found is not NOT_MODIFIED:
            self._last = found if isinstance(found, Document) else None
        await self._publish(self._last)
        return found

    async def _publish(self, outcome: Outcome) -> None:
        self._polls += 1
        data = encode_state(outcome, self._polls)
        try:
            await anyio.to_thread.run_sync(write_state, self._state, data)
        except OSError as err:  # a full disk: this process still follows; the others wait
            logger.warning("shared poll of %s: can not write %s: %s", self.key, self._state, err)
        await self._note_own_read()

    async def _own_read(self, etag: str | None) -> Read:
        """As a non-holder: read S3 itself (on entry)."""
        found = await self._s3.read(etag)
        await self._note_own_read()
        return found

    async def _note_own_read(self) -> None:
        self._seen = (await anyio.to_thread.run_sync(_snapshot, self._state))[0]
        self._doubt = True

    async def _follow(self, etag: str | None) -> Read:
        """As a non-holder: what the holder published since the last read, if anything."""
        seen, data, problem = await anyio.to_thread.run_sync(_snapshot, self._state)
        if seen == self._seen:
            return NO_NEWS
        self._seen = seen
        if problem is not None:
            raise problem
        if data is None:  # removed: a holder writes it again at its next poll
            return NO_NEWS
        outcome = decode_state(data, str(self._state))
        if self._doubt:  # the first poll published since our own read may predate it
            self._doubt = False
            if not (isinstance(outcome, Document) and outcome.etag == etag):
                return NO_NEWS  # the next poll's settles it
        if isinstance(outcome, PollFailure):
            raise outcome.raised(self._bucket, self.key)
        if isinstance(outcome, Document) and outcome.etag == etag:
            return NOT_MODIFIED
        return outcome

    def close(self) -> None:
        self._lease.release()
        self._role = None
