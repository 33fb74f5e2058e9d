"""Watching one alias: a conditional GET per interval, on a schedule of its own.

A watch remembers the ETag of the alias document it last read and asks again with
``If-None-Match``: an unchanged alias costs one GET answered 304, with no body.

Each watch polls on its own fixed grid, ``interval`` seconds apart, shifted by a random
phase drawn when it starts: a thousand watches started together spread their polls
evenly over the interval instead of beating in step, a change is seen within one
interval (plus the time of one request), and a slow answer does not push the later
polls back. A poll that fails (after botocore's own retries) is tried again after an
exponential backoff with jitter, then the watch returns to its grid.

A deleted alias is not an event: the watch keeps polling (a GET answered 404) and
reports the alias again once it is created anew. An alias missing when the watch
starts raises AliasNotFoundError.

Where the answers come from is a :class:`Reads`: S3 itself (:class:`S3Reads`), or the
one poll a host shares (:mod:`aioversioned._host_poll`), whose reads of a local file
may also answer NO_NEWS: nothing new, not even a poll, so the last error stays.
"""

from __future__ import annotations

import enum
import logging
import math
import random
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import anyio

from . import _keys, _validate
from ._documents import ALIAS_LIMIT
from ._history import revision
from ._keys import Layout
from ._models import Alias, parse_alias_document
from ._s3 import NOT_MODIFIED, S3, NotModified
from .errors import AliasNotFoundError, CorruptDocumentError, InvalidInputError, StorageError

logger = logging.getLogger("aioversioned")

MIN_INTERVAL = 0.01
MAX_INTERVAL = 86_400.0
MAX_BACKOFF = 60.0
"""Backoff after failed polls grows up to this (or to ``interval`` when longer)."""
LOCAL_READS = 5
"""Reads of the host's shared poll per interval, where another process polls S3: a
change reaches every process within about 1.2 intervals, not two."""
TRANSIENT = (StorageError, CorruptDocumentError, OSError)
"""Poll failures a watch outlives: the server, the network, a document being rewritten."""


@dataclass(frozen=True)
class Document:
    """An alias document as a GET answered it: its body, not yet parsed, and its ETag."""

    body: bytes
    etag: str
    last_modified: datetime


class NoNews(enum.Enum):
    """Nothing was learnt: no poll answered since the last read."""

    NO_NEWS = "no news"


NO_NEWS = NoNews.NO_NEWS
Read = Document | None | NotModified | NoNews
"""What a read of the alias found: a document, none (404), unchanged (304), or no news."""


class Reads(Protocol):
    """Where a watch's answers come from."""

    @property
    def remote(self) -> bool:
        """Whether the next read goes to S3 (failures then back off), or to a local file."""
        ...

    async def read(self, etag: str | None, *, fresh: bool = False) -> Read:
        """The alias now, or NOT_MODIFIED while it has ``etag``; ``fresh``: from S3 itself.

        Raises the S3 client's errors and CorruptDocumentError.
        """
        ...

    def close(self) -> None:
        """Let go of what the reads hold (files, locks); idempotent."""
        ...


class S3Reads:
    """Reads of the alias document from S3: a GET, conditional once an ETag is known."""

    remote = True

    def __init__(self, s3: S3, key: str) -> None:
        self._s3 = s3
        self.key = key

    async def read(self, etag: str | None, *, fresh: bool = False) -> Read:
        if etag is None:
            found = await self._s3.get(self.key, limit=ALIAS_LIMIT)
        else:
            changed = await self._s3.get_if_changed(self.key, etag, limit=ALIAS_LIMIT)
            if changed is NOT_MODIFIED:
                return NOT_MODIFIED
            found = changed
        if found is None:
            return None
        body, info = found
        return Document(body, info.etag, info.last_modified)

    def close(self) -> None:
        pass


def check_interval(value: object, argument: str = "interval") -> float:
    """A poll interval in seconds: at least MIN_INTERVAL, at most a day."""
    seconds = _validate.seconds(value, argument, MAX_INTERVAL)
    if seconds < MIN_INTERVAL:
        raise InvalidInputError(argument, f"must be at least {MIN_INTERVAL} s, got {value!r}")
    return seconds


def next_poll(now: float, origin: float, interval: float) -> float:
    """The first point of the grid ``origin + k * interval`` strictly after ``now``."""
    steps = math.floor((now - origin) / interval) + 1
    return origin + max(steps, 0) * interval


def retry_delay(interval: float, failures: int, draw: float) -> float:
    """Seconds before the next try after ``failures`` (>= 1) failures in a row.

    Doubles from ``interval`` up to ``max(interval, MAX_BACKOFF)``, and ``draw`` (in
    [0, 1)) takes it down to as little as half, so that watchers that failed together
    do not retry together.
    """
    ceiling = max(interval, MAX_BACKOFF)
    base = min(interval * 2.0 ** min(failures - 1, 32), ceiling)
    return base * (0.5 + 0.5 * draw)


def same_revision(first: Alias | None, second: Alias | None) -> bool:
    """Whether two reads found the same document (or both found none)."""
    if first is None or second is None:
        return first is second
    return first.revision == second.revision


class AliasWatch:
    """The polls of one alias through one S3 client (or the host's shared poll: ``reads``).

    ``current`` is the alias as last read (None while it is deleted); ``error`` is the
    failure of the last poll, None once a poll succeeded.
    """

    def __init__(
        self,
        s3: S3,
        layout: Layout,
        name: str,
        alias: str,
        interval: float,
        *,
        rng: random.Random | None = None,
        reads: Reads | None = None,
    ) -> None:
        layout.check_name(name)
        _keys.validate_alias(alias)
        self.name = name
        self.alias = alias
        self.interval = check_interval(interval)
        self.key = layout.alias_key(name, alias)
        self.current: Alias | None = None
        self.error: Exception | None = None
        self._s3 = s3
        self._reads: Reads = reads or S3Reads(s3, self.key)
        self._etag: str | None = None
        self._rng = rng or random.Random()
        self._origin: float | None = None
        self.failures = 0

    async def poll(self) -> Alias | None:
        """Read the alias from S3 once (a conditional GET once it was read); None if it
        is gone.

        Raises the S3 client's errors and CorruptDocumentError.
        """
        return self._take(await self._reads.read(self._etag, fresh=True))

    def _take(self, found: Read) -> Alias | None:
        """The alias a read found (parsed here, whatever its source), now ``current``."""
        if isinstance(found, NotModified | NoNews):
            return self.current
        if found is None:
            self._etag, self.current = None, None
            return None
        etag = revision(found.etag)
        alias = parse_alias_document(found.body, self.key, found.last_modified, etag)
        self._etag, self.current = found.etag, alias
        return alias

    def close(self) -> None:
        """Let go of the reads' files and locks (the host's poll passes to another)."""
        self._reads.close()

    async def first(self) -> Alias:
        """The alias now, and the start of the polling grid; errors are raised as they are.

        Raises AliasNotFoundError (BucketNotFoundError without the bucket).
        """
        found = await self.poll()
        self._origin = anyio.current_time() + self._rng.uniform(0, self.interval)
        if found is None:
            await self._s3.ensure_bucket()
            raise AliasNotFoundError(self.name, self.alias)
        return found

    async def wait(self) -> None:
        """Sleep until the next poll is due: the next grid point, or a backoff."""
        now = anyio.current_time()
        if self._origin is None:
            self._origin = now
        if not self._reads.remote:  # a local file: cheap to read, no backoff needed
            await anyio.sleep_until(next_poll(now, self._origin, self.interval / LOCAL_READS))
        elif self.failures:
            await anyio.sleep(retry_delay(self.interval, self.failures, self._rng.random()))
        else:
            await anyio.sleep_until(next_poll(now, self._origin, self.interval))

    async def poll_when_due(self) -> Alias | None:
        """Wait for the next poll and do it; a transient failure is logged and kept in
        ``error``, and the alias as last read is returned."""
        await self.wait()
        try:
            found = await self._reads.read(self._etag)
            if found is NO_NEWS:  # not a poll: the last one's error and failures stay
                return self.current
            alias = self._take(found)
        except TRANSIENT as err:
            self.failures += 1
            self.error = err
            logger.warning(
                "watch of alias %r of %r: poll failed (%d in a row), retrying: %s",
                self.alias,
                self.name,
                self.failures,
                err,
            )
            return self.current
        self.failures, self.error = 0, None
        return alias

    async def changes(self) -> AsyncGenerator[Alias, None]:
        """The alias now, then each time its revision changes (see the module doc)."""
        first = await self.first()
        yield first
        seen: Alias | None = first
        while True:
            found = await self.poll_when_due()  # after a failure: the alias as last read
            if found is not None and not same_revision(found, seen):
                yield found
            seen = found
