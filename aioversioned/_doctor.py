"""Whether the server enforces the conditions the guarantees rest on.

``check_server`` probes each condition with a few requests on scratch objects of its
own; ``PutConditionsGuard`` runs the two PutObject probes once, before a repository's
first conditional write, and refuses such writes on a server that ignores them.

Scratch keys (:meth:`Layout.scratch_key`) are objects directly under the repository's
prefix whose names start with ``.aioversioned-doctor-`` and a run id: no artifact key of
this library or of ``versioned`` 1.x has a name starting with '.' there or lacks a '/'
after it, folder listings (both libraries' ``list_artifact_names``) never show objects,
and no folder is made (SeaweedFS keeps an emptied folder, which ``versioned`` 1.x would
list as an artifact). Every scratch object is deleted when the probes end, fail or are
cancelled.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from functools import partial

import anyio
from pydantic import BaseModel, ConfigDict, computed_field

from ._keys import Layout
from ._s3 import S3, WriteResult
from ._tasks import gather
from .errors import ConditionalWritesIgnoredError, StorageError, VersionConflictError

# The promises of README's "Safety" table, by its first column.
NUMBERS = "Concurrent publishers never get the same number"
NOT_OVERWRITTEN = "A published version is never overwritten"
EXACT_BYTES = "A version holds exactly the bytes whose sha256 it reports"
PROTECTED = "Versions that aliases point to are protected"
COMPARE_AND_SWAP = "Alias moves can be compare-and-swap, with one honest winner"
HISTORY = "Every alias change is recorded, in the order the server applied them"
ROLLOUT = "A rollout never overwrites another writer's change"

WRITERS = 8  # concurrent writers of the one-winner probes
_WRONG_ETAG = '"' + "0" * 32 + '"'  # the MD5 of no content this module writes
_PARTS = ("created", "copy", "copied", "creates", "swaps")  # the scratch objects of a run


class Probe(BaseModel):
    """One condition probed on the server: whether it holds, and what depends on it."""

    model_config = ConfigDict(frozen=True)

    name: str
    """Stable identifier, e.g. ``put_if_none_match``."""
    condition: str
    """The request and header probed, e.g. ``If-None-Match: * on PutObject``."""
    holds: bool
    detail: str
    """What the server answered."""
    guarantees: tuple[str, ...]
    """The promises of README's "Safety" section that rest on it."""


class ServerCheck(BaseModel):
    """The result of :meth:`AsyncRepository.check_server`: one :class:`Probe` a condition."""

    model_config = ConfigDict(frozen=True)

    endpoint_url: str
    probes: tuple[Probe, ...]

    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented use on a property
    @property
    def all_hold(self) -> bool:
        """Whether every probed condition holds on this server."""
        return all(probe.holds for probe in self.probes)


def _probe(name: str, condition: str, guarantees: tuple[str, ...]) -> Callable[[bool, str], Probe]:
    """What makes the :class:`Probe` of one condition from its outcome."""

    def outcome(holds: bool, detail: str) -> Probe:
        return Probe(
            name=name, condition=condition, holds=holds, detail=detail, guarantees=guarantees
        )

    return outcome


_PUT_IF_NONE_MATCH = _probe(
    "put_if_none_match", "If-None-Match: * on PutObject", (NUMBERS, COMPARE_AND_SWAP, HISTORY)
)
_PUT_IF_MATCH = _probe(
    "put_if_match", "If-Match on PutObject", (COMPARE_AND_SWAP, HISTORY, ROLLOUT)
)
_DELETE_IF_MATCH = _probe("delete_if_match", "If-Match on DeleteObject", (PROTECTED, HISTORY))
_COPY_IF_NONE_MATCH = _probe(
    "copy_if_none_match", "If-None-Match: * on CopyObject", (NOT_OVERWRITTEN,)
)
_COPY_SOURCE_IF_MATCH = _probe(
    "copy_source_if_match", "x-amz-copy-source-if-match on CopyObject", (EXACT_BYTES,)
)
_CONCURRENT_CREATES = _probe(
    "concurrent_creates",
    f"one winner of {WRITERS} If-None-Match: * PutObjects at once",
    (NUMBERS, COMPARE_AND_SWAP, HISTORY),
)
_CONCURRENT_SWAPS = _probe(
    "concurrent_swaps",
    f"one winner of {WRITERS} If-Match PutObjects at once",
    (COMPARE_AND_SWAP, HISTORY, ROLLOUT),
)


def _refused(err: StorageError) -> str:
    return f"refused ({err.code}): {err.detail}; the writes that send it fail"


async def _put(
    s3: S3,
    key: str,
    body: bytes,
    *,
    if_none_match: bool = False,
    if_match: str | None = None,
    strict: bool = False,
) -> WriteResult | str:
    """A probe's write: its result, or why it did not happen ("412" when refused so).

    With ``strict``, a StorageError (no permission, say) is raised, not described.
    """
    try:
        return await s3.put(
            key, body, if_none_match=if_none_match, if_match=if_match, checked=False
        )
    except VersionConflictError:
        return "412"
    except StorageError as err:
        if strict or err.code == "NoSuchBucket":
            raise
        return _refused(err)


async def _put_if_none_match(s3: S3, key: str, strict: bool = False) -> tuple[Probe, str | None]:
    """Create ``key``, then create it again: the second must be refused.

    Returns the probe and the key's ETag (None if it could not be created).
    """
    first = await _put(s3, key, b"first", if_none_match=True, strict=strict)
    if not isinstance(first, WriteResult):
        detail = "a create of a new key was refused" if first == "412" else first
        return _PUT_IF_NONE_MATCH(False, detail), None
    second = await _put(s3, key, b"second", if_none_match=True, strict=strict)
    if isinstance(second, WriteResult):
        return _PUT_IF_NONE_MATCH(False, "ignored: a create of an existing key succeeded"), (
            second.etag
        )
    if second != "412":
        return _PUT_IF_NONE_MATCH(False, second), first.etag
    return _PUT_IF_NONE_MATCH(True, "a create of an existing key was refused (412)"), first.etag


async def _put_if_match(s3: S3, key: str, etag: str, strict: bool = False) -> tuple[Probe, str]:
    """A write If-Match another ETag must be refused, one If-Match the key's must not.

    Returns the probe and the key's ETag by then.
    """
    wrong = await _put(s3, key, b"wrong", if_match=_WRONG_ETAG, strict=strict)
    if isinstance(wrong, WriteResult):
        return _PUT_IF_MATCH(False, "ignored: a write If-Match another ETag succeeded"), wrong.etag
    if wrong != "412":
        return _PUT_IF_MATCH(False, wrong), etag
    right = await _put(s3, key, b"right", if_match=etag, strict=strict)
    if not isinstance(right, WriteResult):
        detail = "a write If-Match the current ETag was refused" if right == "412" else right
        return _PUT_IF_MATCH(False, detail), etag
    detail = "a write If-Match another ETag was refused (412), one If-Match the current succeeded"
    return _PUT_IF_MATCH(True, detail), right.etag


async def _copies(s3: S3, source: str, etag: str, target: str, other: str) -> list[Probe]:
    """Copy ``source`` to ``target`` twice If-None-Match (the second must be refused),
    then to ``other`` from a wrong source ETag (refused too)."""
    probes = []
    try:
        await s3.copy(source, target, source_etag=etag, if_none_match=True)
    except (VersionConflictError, StorageError) as err:
        detail = (
            _refused(err) if isinstance(err, StorageError) else "a copy to a new key was refused"
        )
        probes.append(_COPY_IF_NONE_MATCH(False, detail))
    else:
        try:
            await s3.copy(source, target, source_etag=etag, if_none_match=True)
            probes.append(
                _COPY_IF_NONE_MATCH(False, "ignored: a copy over an existing key succeeded")
            )
        except VersionConflictError:
            probes.append(
                _COPY_IF_NONE_MATCH(True, "a copy over an existing key was refused (412)")
            )
        except StorageError as err:
            probes.append(_COPY_IF_NONE_MATCH(False, _refused(err)))
    try:
        await s3.copy(source, other, source_etag=_WRONG_ETAG, if_none_match=False)
        detail = "ignored: a copy from a source with another ETag succeeded"
        probes.append(_COPY_SOURCE_IF_MATCH(False, detail))
    except VersionConflictError:
        detail = "a copy from a source with another ETag was refused (412)"
        probes.append(_COPY_SOURCE_IF_MATCH(True, detail))
    except StorageError as err:
        probes.append(_COPY_SOURCE_IF_MATCH(False, _refused(err)))
    return probes


async def _delete_if_match(s3: S3, key: str, etag: str) -> Probe:
    """A delete If-Match another ETag must leave the key; one If-Match its ETag removes it."""
    try:
        if await s3.delete_if(key, _WRONG_ETAG) is not None:
            return _DELETE_IF_MATCH(
                False, "ignored: a delete If-Match another ETag deleted the key"
            )
        if await s3.delete_if(key, etag) is None or await s3.head(key) is not None:
            return _DELETE_IF_MATCH(False, "a delete If-Match the current ETag was refused")
    except StorageError as err:
        return _DELETE_IF_MATCH(False, _refused(err))
    detail = "a delete If-Match another ETag was refused (412), one If-Match the current succeeded"
    return _DELETE_IF_MATCH(True, detail)


async def _one_winner(
    s3: S3, key: str, probe: Callable[[bool, str], Probe], if_match: str | None = None
) -> Probe:
    """``WRITERS`` writes of ``key`` at once, If-Match ``if_match`` or else If-None-Match:
    exactly one must succeed."""
    write = partial(_put, s3, key, if_none_match=if_match is None, if_match=if_match)
    outcomes = await gather(
        (partial(write, f"writer {n}".encode()) for n in range(WRITERS)), WRITERS
    )
    won = sum(isinstance(outcome, WriteResult) for outcome in outcomes)
    refused = [o for o in outcomes if isinstance(o, str) and o != "412"]
    detail = f"{won} of {WRITERS} writers sent at once succeeded"
    if refused:
        return probe(False, f"{detail}; {refused[0]}")
    return probe(won == 1, detail if won == 1 else f"{detail}, not exactly one")


async def _cleanup(s3: S3, layout: Layout, run: str) -> None:
    """Delete every scratch object of ``run``, even when the caller was cancelled."""
    with anyio.CancelScope(shield=True):
        await s3.delete([layout.scratch_key(run, part) for part in _PARTS])


async def check_server(s3: S3, layout: Layout) -> ServerCheck:
    """Probe every condition in turn (about 30 requests); see the module's docstring."""
    run = uuid.uuid4().hex
    key = partial(layout.scratch_key, run)
    try:
        probes = []
        created, etag = await _put_if_none_match(s3, key("created"))
        probes.append(created)
        if etag is None:
            raise StorageError(
                "PutObject", layout.bucket, key("created"), "ProbeFailed", created.detail
            )
        swapped, etag = await _put_if_match(s3, key("created"), etag)
        probes.append(swapped)
        probes += await _copies(s3, key("created"), etag, key("copy"), key("copied"))
        probes.append(await _delete_if_match(s3, key("created"), etag))
        probes.append(await _one_winner(s3, key("creates"), _CONCURRENT_CREATES))
        base = await s3.put(key("swaps"), b"base")
        probes.append(await _one_winner(s3, key("swaps"), _CONCURRENT_SWAPS, if_match=base.etag))
    finally:
        await _cleanup(s3, layout, run)
    return ServerCheck(endpoint_url=s3.endpoint_url, probes=tuple(probes))


async def _put_conditions(s3: S3, layout: Layout) -> tuple[Probe, ...]:
    """The two PutObject probes (4 requests and one DeleteObjects); a StorageError
    (the scratch key may not be written, say) is raised: nothing was learned."""
    run = uuid.uuid4().hex
    key = layout.scratch_key(run, "created")
    try:
        created, etag = await _put_if_none_match(s3, key, strict=True)
        if etag is None:
            return (created,)
        swapped, _ = await _put_if_match(s3, key, etag, strict=True)
        return created, swapped
    finally:
        await _cleanup(s3, layout, run)


class PutConditionsGuard:
    """Refuses conditional PutObjects on a server that ignores their conditions.

    The first conditional write of a repository runs the PutObject probes (5 requests),
    others wait for it; the answer is kept for the repository's life. A probe that
    fails with a StorageError (no permission to write the scratch key, say) fails the
    write that asked and is run again by the next one.
    """

    def __init__(self, s3: S3, layout: Layout) -> None:
        self._check: Callable[[], Awaitable[tuple[Probe, ...]]] = partial(
            _put_conditions, s3, layout
        )
        self._layout = layout
        self._lock = anyio.Lock()
        self._failed: tuple[Probe, ...] | None = None

    async def __call__(self, key: str) -> None:
        """Return once PutObject conditions are known to hold; else raise
        ConditionalWritesIgnoredError naming ``key``."""
        if self._failed is None:
            async with self._lock:
                if self._failed is None:
                    self._failed = tuple(p for p in await self._check() if not p.holds)
        if self._failed:
            raise ConditionalWritesIgnoredError(
                self._layout.bucket,
                key,
                "; ".join(f"{p.condition}: {p.detail}" for p in self._failed),
            )
