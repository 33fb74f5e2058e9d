"""The invariant checker: what the store holds after a seed, against what the calls said.

``observe()`` reads the store once the seed's calls have all ended (through the
library's public API, which must agree with itself, and raw listings through a plain
client); ``check()`` is a pure function of the plan, the call records and that
snapshot, and returns one line per violation.

Definitions used below. A call *succeeded* when it returned; it *failed* when it
raised an ``AioVersionedError``. A failure that is a ``StorageError`` (or a call
that hung) is *inconclusive*: the library admits it may have acted. Faults never
exhaust botocore's attempts (tests/explore/faults.py), so transient faults alone
never cause one. A call whose response was lost and retried is expected to report
what the server did (issue 9, finding 3): the checker treats its answer as the truth.

Every alias write with a secondary version carries a tag, ``secondary_version_weight
== call index``, so a document or a history record names the call that wrote it.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio

from aioversioned import AioVersionedError, AliasNotFoundError, AsyncRepository

from .workload import ALIASES, Plan

if TYPE_CHECKING:
    from .runner import Record

INCONCLUSIVE_ERRORS = {"StorageError", "BucketNotFoundError"}
# How faults.py traces a late request it delivers: its operation, and its key relative
# to the artifact's folder.
_DELIVERED = re.compile(r"delivering late (\S+) (\S+) ")
_VERSION_KEY = re.compile(r"versions/\d{6}_(\d{6})")


@dataclass(frozen=True)
class View:
    """What an alias (or a history record's current side) points to."""

    version: str | None
    secondary: str | None
    weight: int | None
    revision: str | None

    def show(self) -> str:
        if self.version is None:
            return f"(deleted) rev {self.revision}"
        second = f" + {self.secondary} w{self.weight}" if self.secondary else ""
        return f"{self.version}{second} rev {self.revision}"


@dataclass(frozen=True)
class Change:
    """One history record, newest first in ``Snapshot.history``."""

    current: View
    previous: View


@dataclass
class Snapshot:
    keys: list[str] = field(default_factory=list)  # every object of the artifact
    uploads: list[tuple[str, str]] = field(default_factory=list)  # multipart (key, id)
    raw_versions: dict[int | None, str] = field(default_factory=dict)  # number -> ETag
    retired: set[int] = field(default_factory=set)  # deleted, their bytes not removed yet
    records: list[tuple[int, str, str]] = field(default_factory=list)  # (number, ETag, sha)
    uploads_left: list[str] = field(default_factory=list)
    multipart_left: list[str] = field(default_factory=list)
    listing: dict[str, str] = field(default_factory=dict)  # version -> sha256
    contents: dict[str, str] = field(default_factory=dict)  # version -> sha256 of its bytes
    unreadable: list[str] = field(default_factory=list)  # errors of the checker's reads
    aliases: dict[str, View] = field(default_factory=dict)  # list_aliases
    current: dict[str, View | None] = field(default_factory=dict)  # get_alias
    at_now: dict[str, View | None] = field(default_factory=dict)  # get_alias(at=now)
    history: dict[str, list[Change]] = field(default_factory=dict)

    def describe(self) -> str:
        """The store at the end, for a replay's report."""
        numbers = sorted(self.raw_versions, key=lambda n: n or 0)
        versions = ", ".join(
            f"{'LATEST' if n is None else n}:{self.contents.get(str(n or 'LATEST'), '?')[:8]}"
            for n in numbers
        )
        lines = [f"store: versions {versions}"]
        for alias in ALIASES:
            current = self.current.get(alias)
            lines.append(f"  {alias}: {current.show() if current else 'absent'}; history:")
            lines += [
                f"    {c.current.show()}  (previous {c.previous.show()})"
                for c in self.history.get(alias, [])
            ]
        return "\n".join(lines)


def _view(alias: Any) -> View:
    return View(
        alias.version, alias.secondary_version, alias.secondary_version_weight, alias.revision
    )


async def observe(repo: AsyncRepository, raw: Any, bucket: str, name: str) -> Snapshot:
    """Read everything the checker needs; the library's errors become ``unreadable``."""
    snap = Snapshot()
    layout = repo.layout
    top = layout.artifact_dir(name)

    async def guarded(what: str, step: Any) -> Any:
        try:
            return await step()
        except AioVersionedError as err:
            snap.unreadable.append(f"{what} raised {type(err).__name__}: {err}")
        except Exception as err:  # a raw exception: the library's bug, reported as such
            snap.unreadable.append(f"{what} raised a raw {type(err).__name__}: {err}")
        return None

    async def raw_listing() -> None:
        paginator = raw.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=bucket, Prefix=top):
            for item in page.get("Contents", []):
                key, etag = item["Key"], item["ETag"].strip('"')
                snap.keys.append(key)
                if "/.aioversioned/uploads/" in key:
                    snap.uploads_left.append(key)
                with contextlib.suppress(ValueError):
                    snap.raw_versions[layout.parse_version_key(name, key)] = etag
                with contextlib.suppress(ValueError):
                    if item["Size"]:  # a tombstone taken back is emptied
                        snap.retired.add(layout.parse_retired_key(name, key))
                with contextlib.suppress(ValueError):
                    snap.records.append(layout.parse_published_key(name, key))
        uploads = await raw.list_multipart_uploads(Bucket=bucket, Prefix=top)
        snap.uploads = [(u["Key"], u["UploadId"]) for u in uploads.get("Uploads", [])]
        snap.multipart_left = [key for key, _ in snap.uploads]

    async def listing() -> None:
        found = await guarded("list_artifact_versions", partial(repo.list_artifact_versions, name))
        for artifact in found or []:
            snap.listing[artifact.version] = artifact.sha256

    async def alias_state(alias: str) -> None:
        async def read(at: datetime | None) -> View | None:
            try:
                return _view(await repo.get_alias(name, alias, at=at))
            except AliasNotFoundError:
                return None

        snap.current[alias] = await guarded(f"get_alias({alias})", partial(read, None))
        now = datetime.now(timezone.utc)
        snap.at_now[alias] = await guarded(f"get_alias({alias}, at=now)", partial(read, now))
        changes = await guarded(
            f"list_alias_history({alias})", partial(repo.list_alias_history, name, alias)
        )
        snap.history[alias] = [
            Change(
                View(c.version, c.secondary_version, c.secondary_version_weight, c.revision),
                View(
                    c.previous_version,
                    c.previous_secondary_version,
                    c.previous_secondary_version_weight,
                    c.previous_revision,
                ),
            )
            for c in changes or []
        ]

    async def all_aliases() -> None:
        found = await guarded("list_aliases", partial(repo.list_aliases, name))
        snap.aliases = {a.alias: _view(a) for a in found or []}

    async with anyio.create_task_group() as group:
        group.start_soon(raw_listing)
        group.start_soon(listing)
        group.start_soon(all_aliases)
        for alias in ALIASES:
            group.start_soon(alias_state, alias)

    async def content(version: str) -> None:
        data = await guarded(
            f"get_artifact_content({version})", partial(repo.get_artifact_content, name, version)
        )
        if data is not None:
            snap.contents[version] = hashlib.sha256(data).hexdigest()

    versions = {"LATEST" if n is None else str(n) for n in snap.raw_versions} | set(snap.listing)
    async with anyio.create_task_group() as group:
        for version in versions:
            group.start_soon(content, version)
    return snap


async def clean(raw: Any, bucket: str, snap: Snapshot) -> None:
    """Remove a checked seed's objects: a moto bucket lists in time linear in all its
    keys, so a soak in one bucket would slow down seed after seed."""
    for start in range(0, len(snap.keys), 1000):
        batch = [{"Key": key} for key in snap.keys[start : start + 1000]]
        await raw.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
    for key, upload_id in snap.uploads:
        await raw.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check(plan: Plan, records: list[Record], snap: Snapshot) -> list[str]:
    """Every violated invariant, one line each (empty: the seed passed)."""
    calls = {c.index: c for c in plan.calls}
    out: list[str] = []
    out += _outcomes(records)
    out += _not_found(plan, records)
    out += _numbers(calls, records, snap)
    out += _contents(plan, records, snap)
    out += _aliases_exist(snap)
    for alias in ALIASES:
        out += _alias_writes(alias, calls, records, snap)
    out += _leftover_uploads(records, snap)
    out += [f"leftover: temporary upload object {key}" for key in snap.uploads_left]
    out += [f"unreadable store: {line}" for line in snap.unreadable]
    return out


def _leftover_uploads(records: list[Record], snap: Snapshot) -> list[str]:
    """No multipart upload is left, but one begun by a late CreateMultipartUpload.

    Such a request lands after the client gave up on it, maybe after the call ended:
    the library never learns its upload id nor can tell when it lands, so no call can
    abort it (an empty upload, left to an AbortIncompleteMultipartUpload lifecycle
    rule, README's known limits). Each one delivered excuses one upload of its key.
    """
    late = Counter(key for op, key in _delivered_late(records) if op == "CreateMultipartUpload")
    out = []
    for key in snap.multipart_left:
        excused = next((k for k in late if late[k] and key.endswith(f"/{k}")), None)
        if excused is None:
            out.append(f"leftover: multipart upload of {key}")
        else:
            late[excused] -= 1
    return out


def _delivered_late(records: list[Record]) -> list[tuple[str, str]]:
    """The late requests faults.py delivered: (operation, key relative to the artifact's
    folder), one per delivery."""
    return [
        (match[1], match[2])
        for rec in records
        for line in rec.faults
        if (match := _DELIVERED.match(line))
    ]


def _show(rec: Record) -> str:
    outcome = "ok" if rec.status == "ok" else f"{rec.status} {rec.error}".strip()
    return f"#{rec.index} {rec.op} (writer {rec.writer}: {outcome})"


def _outcomes(records: list[Record]) -> list[str]:
    """Every call returned or raised an AioVersionedError, within CALL_TIMEOUT."""
    out = []
    for rec in records:
        if rec.status == "raw":
            out.append(f"raw exception: {_show(rec)}: {rec.detail.strip().splitlines()[-1]}")
        elif rec.status == "timeout":
            out.append(f"hang: {_show(rec)} {rec.detail}")
    return out


def _not_found(plan: Plan, records: list[Record]) -> list[str]:
    """No ArtifactNotFoundError for what existed throughout the concurrent phase.

    LATEST exists from the setup on (nothing in the workload deletes it), so a publish
    never raises it. A version the setup published exists throughout unless the seed
    has a delete_artifact_version of it or any purge, so a put_alias whose targets
    are all such versions (or LATEST) never raises it.
    """
    setup = {c.index for c in plan.setup}
    published = {
        r.result["version"]
        for r in records
        if r.index in setup and r.op == "publish" and r.status == "ok"
    }
    if any(r.op == "purge" for r in records):
        published = set()
    published -= {c.version for c in plan.calls if c.op == "delete"}
    stable = published | {"LATEST"}
    calls = {c.index: c for c in plan.calls}
    out = []
    for rec in records:
        if rec.error != "ArtifactNotFoundError" or rec.index in setup:
            continue
        call = calls[rec.index]
        targets = {v for v in (call.version, call.secondary) if v}
        if rec.op == "publish" or (rec.op in ("alias", "cas", "absent") and targets <= stable):
            out.append(f"not found: {_show(rec)} but its versions existed throughout: {rec.detail}")
    return out


def _publishes(records: list[Record]) -> list[Record]:
    return [r for r in records if r.op == "publish" and r.status == "ok"]


def _numbers(calls: dict[int, Any], records: list[Record], snap: Snapshot) -> list[str]:
    """Version numbers.

    - two-contents: successful publishes that returned one number report one sha256.
    - reuse: once a number is known deleted, no publish that started later returns it
      and it is not in the store at the end. Known deleted: a successful purge
      reported it (at its end), or a successful delete_artifact_version(N) started
      after a successful publish that returned N had ended (N existed then, so it is
      gone at the delete's end; numbers are never handed out again).
    - lost: a number a successful publish returned is in the store at the end unless a
      call may have deleted it: a delete_artifact_version of it that did not raise
      VersionInUseError, a successful purge that reported it, a purge that failed.
    - orphans: a number in the store (or reported by a purge) that no successful
      publish returned was made by a publish that failed; each failed publish makes
      at most one; a number a late copy of a publish landed on is excused. (A publish
      that copied twice and returned the second number otherwise leaves an orphan with
      no failed publish to account for it.)
    """
    out = []
    told: dict[str, set[str]] = defaultdict(set)
    for rec in _publishes(records):
        told[rec.result["version"]].add(rec.result["sha256"])
    for version, shas in sorted(told.items()):
        if len(shas) > 1:
            out.append(f"number {version} handed out for {len(shas)} different contents")

    deleted_at: dict[str, float] = {}  # number -> earliest time it is known deleted
    for rec in records:
        if rec.status != "ok":
            continue
        if rec.op == "purge":
            for version, _ in rec.result["deleted"]:
                deleted_at[version] = min(deleted_at.get(version, rec.t1), rec.t1)
        elif rec.op == "delete":
            version = calls[rec.index].version
            if any(p.result["version"] == version and p.t1 < rec.t0 for p in _publishes(records)):
                deleted_at[version] = min(deleted_at.get(version, rec.t1), rec.t1)
    # A deleted version's bytes stay for the grace period (its tombstone says so).
    present = {str(n) for n in snap.raw_versions if n is not None and n not in snap.retired}
    for version, when in sorted(deleted_at.items()):
        for pub in _publishes(records):
            if pub.result["version"] == version and pub.t0 > when:
                out.append(f"number reused: {_show(pub)} returned {version} after it was deleted")
        if version in present:
            out.append(f"number reused: version {version} is in the store after it was deleted")

    maybe_deleted: set[str] = set()
    any_version = False
    for rec in records:
        if rec.op == "delete" and rec.error != "VersionInUseError":
            maybe_deleted.add(calls[rec.index].version)
        elif rec.op == "purge":
            if rec.status == "ok":
                maybe_deleted |= {v for v, _ in rec.result["deleted"]}
            else:
                any_version = True
    for version in sorted(told, key=int):
        if version not in present and version not in maybe_deleted and not any_version:
            out.append(f"lost version: {version} was published and nothing deleted it")

    purged = {
        v for r in records if r.op == "purge" and r.status == "ok" for v, _ in r.result["deleted"]
    }
    # A publish's copy that lands after the publish moved on to another number (its
    # answer lost, the number found taken by then) leaves a whole version there that no
    # call reported: valid bytes under a number nobody else holds (protocol.md, Publish).
    landed_late = {
        str(int(number[1]))
        for op, key in _delivered_late(records)
        if op in ("CopyObject", "CompleteMultipartUpload") and (number := _VERSION_KEY.match(key))
    }
    orphans = sorted((present | purged) - set(told) - landed_late, key=int)
    failed = [r for r in records if r.op == "publish" and r.status != "ok"]
    if len(orphans) > len(failed):
        out.append(
            f"orphan versions: {', '.join(orphans)} were returned by no successful publish"
            f" and only {len(failed)} publish call(s) failed"
        )
    return out


def _contents(plan: Plan, records: list[Record], snap: Snapshot) -> list[str]:
    """Bytes and sha256.

    For every version in the store (raw listing) and LATEST: get_artifact_content
    returns bytes (an IntegrityError is a violation) that are one of the seed's
    contents; their sha256 equals list_artifact_versions' sha256 for it, the sha256
    every successful publish reported for that number, and the sha256 of every
    published record whose ETag is the version's ETag. The listing names exactly the
    versions in the store that are not deleted (retired).
    """
    out = []
    known = {_sha(c) for c in plan.contents}
    present = {"LATEST" if n is None else str(n): etag for n, etag in snap.raw_versions.items()}
    listed = set(snap.listing)
    live = {v for v in present if v == "LATEST" or int(v) not in snap.retired}
    if listed != live and not snap.unreadable:
        out.append(
            f"listing: list_artifact_versions shows {sorted(listed)}, the store holds"
            f" {sorted(live)} not deleted"
        )
    told: dict[str, set[str]] = defaultdict(set)
    for rec in _publishes(records):
        told[rec.result["version"]].add(rec.result["sha256"])
    for version in sorted(present, key=lambda v: -1 if v == "LATEST" else int(v)):
        actual = snap.contents.get(version)
        if actual is None:
            continue  # its read failed: reported as unreadable
        if actual not in known:
            out.append(f"torn content: version {version} holds bytes no put_artifact sent")
        if version in snap.listing and snap.listing[version] != actual:
            out.append(
                f"sha256: list_artifact_versions says {snap.listing[version][:12]} for"
                f" {version}, its bytes hash to {actual[:12]}"
            )
        for sha in told.get(version, ()):
            if sha != actual:
                out.append(
                    f"sha256: a publish reported {sha[:12]} for {version}, its bytes hash to"
                    f" {actual[:12]}"
                )
        for number, etag, sha in snap.records:
            if str(number) == version and etag == present[version] and sha != actual:
                out.append(
                    f"sha256: the published record of {version} says {sha[:12]}, its bytes"
                    f" hash to {actual[:12]}"
                )
    return out


def _aliases_exist(snap: Snapshot) -> list[str]:
    """Every alias points at versions in the store (the workload never forces a delete)."""
    out = []
    present = {"LATEST" if n is None else str(n) for n in snap.raw_versions}
    for alias, view in sorted(snap.aliases.items()):
        for version in (view.version, view.secondary):
            if version is not None and version not in present:
                out.append(f"dangling alias: {alias} -> {view.show()}: version {version} is gone")
    return out


def _overlaps(a: Record, b: Record) -> bool:
    return a.t0 < b.t1 and b.t0 < a.t1


def _alias_writes(
    alias: str, calls: dict[int, Any], records: list[Record], snap: Snapshot
) -> list[str]:
    """Compare-and-swap, attribution of writes, and the history of one alias.

    - cas: among put_alias calls that expected one revision R, at most one succeeded.
      Among those that expected "absent", at most one succeeded unless the seed has a
      delete_alias of this alias or its history has a deletion: with conditional writes
      only a delete makes an alias absent again (an undo puts back the document its
      write replaced, or deletes the alias when that document's target was deleted).
    - a successful tagged put_alias is in the history: the oldest record with its tag
      has the revision it returned and its targets, and for a compare-and-swap the
      record before it has the revision it expected (none for "absent"). Later records
      with its tag are allowed: an undo of another write puts its document back.
    - a tagged put_alias that failed (other than inconclusively) is not the current
      document, unless another write that replaced it while it was live put it back
      when undoing itself (its newest record, and a second one of it: the put-back is
      a new document with the same target), and it is in no history record unless a
      delete_artifact_version of
      one of its versions, or a purge, overlapped it in time: then its write may have
      landed, been seen and been recorded before the library undid it (the documented
      protocol: write, then look for a delete under way, then undo).
    - the history (asserted when no call on this alias was inconclusive, since only
      then is every change recorded): newest first, each record's previous side equals
      the next older record's current side; the oldest has no previous (the alias did
      not exist before the seed); the newest equals the current alias (a deletion
      record when it does not exist, nothing when there are no records); and
      get_alias(at=now) equals get_alias.

    Not asserted: "at most one record has previous_revision R" for every R. An undo
    that puts back a document with the same bytes brings back its revision (the ETag
    is the MD5), and that revision then rightly has a second successor; successful
    compare-and-swap writes are held to it through the two rules above.
    """
    out = []
    mine = [r for r in records if calls[r.index].alias == alias]
    writes = [r for r in mine if r.op in ("alias", "cas", "absent")]
    history = snap.history.get(alias, [])
    current = snap.current.get(alias)

    expected: dict[str, list[Record]] = defaultdict(list)
    for rec in writes:
        wanted = "absent" if rec.op == "absent" else rec.observed
        if wanted is not None:
            expected[wanted].append(rec)
    # An undo whose put-back target was deleted meanwhile deletes the alias too.
    deletes = any(r.op == "unalias" for r in mine) or any(
        c.current.version is None for c in history
    )
    for wanted, group in expected.items():
        won = [r for r in group if r.status == "ok"]
        if len(won) > 1 and (wanted != "absent" or not deletes):
            out.append(
                f"cas: {len(won)} writers of {alias} that expected {wanted} succeeded:"
                f" {', '.join(_show(r) for r in won)}"
            )

    for rec in writes:
        call = calls[rec.index]
        if call.weight is None:
            continue
        tagged = [
            i
            for i, c in enumerate(history)
            if c.current.weight == call.weight and c.current.secondary
        ]
        if rec.status == "ok":
            if not tagged:
                out.append(f"history: {_show(rec)} on {alias} is not recorded")
                continue
            change = history[tagged[-1]]
            wanted = "absent" if rec.op == "absent" else rec.observed
            if change.current.revision != rec.result["revision"]:
                out.append(
                    f"history: {_show(rec)} returned revision {rec.result['revision']},"
                    f" its record says {change.current.revision}"
                )
            if (change.current.version, change.current.secondary) != (call.version, call.secondary):
                out.append(f"history: the record of {_show(rec)} is {change.current.show()}")
            if wanted is not None and change.previous.revision != (
                None if wanted == "absent" else wanted
            ):
                out.append(
                    f"cas: {_show(rec)} expected {wanted}, its record follows"
                    f" {change.previous.show()}"
                )
        elif rec.status == "error" and rec.error not in INCONCLUSIVE_ERRORS:
            # Its document may be back only as another write's put-back: that write had
            # replaced it while it was live, then undid itself (a second record of it).
            put_back = len(tagged) >= 2 and tagged[0] == 0
            mine_in_place = (
                current is not None and current.weight == call.weight and current.secondary
            )
            if mine_in_place and not put_back:
                out.append(f"failed write in place: {alias} holds the document of {_show(rec)}")
            numbers = {v for v in (call.version, call.secondary) if v and v != "LATEST"}
            deleting = [
                r
                for r in records
                if (r.op == "purge" or (r.op == "delete" and calls[r.index].version in numbers))
                and _overlaps(r, rec)
            ]
            if tagged and not deleting:
                out.append(
                    f"failed write recorded: {_show(rec)} is in {alias}'s history and no"
                    " delete of its versions overlapped it"
                )

    if any(r.status in ("raw", "timeout") or r.error in INCONCLUSIVE_ERRORS for r in mine):
        return out
    for newer, older in itertools.pairwise(history):
        if newer.previous != older.current:
            out.append(
                f"history chain: {alias} record of {newer.current.show()} says it replaced"
                f" {newer.previous.show()}, the record before it is {older.current.show()}"
            )
    if history and history[-1].previous.version is not None:
        out.append(f"history chain: {alias}'s oldest record replaced {history[-1].previous.show()}")
    newest = history[0].current if history else None
    if newest is not None and newest.version is None:
        newest = None
    if newest != current:
        shown = newest.show() if newest else "absent"
        out.append(
            f"history current: {alias} is {current.show() if current else 'absent'},"
            f" its newest record says {shown}"
        )
    at_now = snap.at_now.get(alias)
    if at_now != current:
        out.append(
            f"history at now: get_alias({alias}, at=now) is"
            f" {at_now.show() if at_now else 'absent'},"
            f" get_alias is {current.show() if current else 'absent'}"
        )
    return out
