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
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import AsyncGenerator

import anyio

from . import _keys, _validate
from ._documents import ALIAS_LIMIT
from ._history import revision
from ._keys import Layout
from ._models import Alias, parse_alias_document
from ._s3 import NOT_MODIFIED, S3
from .errors import AliasNotFoundError, CorruptDocumentError, InvalidInputError, StorageError

logger = logging.getLogger("aioversioned")

MIN_INTERVAL = 0.01
MAX_INTERVAL = 86_400.0
MAX_BACKOFF = 60.0
"""Backoff after failed polls grows up to this (or to ``interval`` when longer)."""
TRANSIENT = (StorageError, CorruptDocumentError, OSError)
"""Poll failures a watch outlives: the server, the network, a document being rewritten."""


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
    """The polls of one alias through one S3 client.

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
        self._etag: str | None = None
        self._rng = rng or random.Random()
        self._origin: float | None = None
        self.failures = 0

    async def poll(self) -> Alias | None:
        """Read the alias once (a conditional GET once it was read); None if it is gone.

        Raises the S3 client's errors and CorruptDocumentError.
        """
        if self._etag is None:
            found = await self._s3.get(self.key, limit=ALIAS_LIMIT)
        else:
            changed = await self._s3.get_if_changed(self.key, self._etag, limit=ALIAS_LIMIT)
            if changed is NOT_MODIFIED:
                return self.current
            found = changed
        if found is None:
            self._etag, self.current = None, None
            return None
        body, info = found
        alias = parse_alias_document(body, self.key, info.last_modified, revision(info.etag))
        self._etag, self.current = info.etag, alias
        return alias

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
        if self.failures:
            await anyio.sleep(retry_delay(self.interval, self.failures, self._rng.random()))
        else:
            await anyio.sleep_until(next_poll(now, self._origin, self.interval))

    async def poll_when_due(self) -> Alias | None:
        """Wait for the next poll and do it; a transient failure is logged and kept in
        ``error``, and the alias as last read is returned."""
        await self.wait()
        try:
            found = await self.poll()
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
        return found

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
