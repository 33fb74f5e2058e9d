"""AsyncRepository: the only code that orchestrates S3 requests."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    Awaitable,
    Callable,
    Mapping,
    Sequence,
)
from datetime import datetime, timedelta, timezone
from functools import partial
from types import TracebackType
from typing import Any, TypeVar

import anyio

from . import _keys, _sources, _transfer, _validate
from ._cache import content_cache
from ._content import ContentOperations
from ._copies import LocalCopies, local_suffix
from ._deletion import Deletion
from ._doctor import PutConditionsGuard, ServerCheck, check_server
from ._flights import Flights
from ._follow import AsyncAliasFollower, OnChange
from ._hashes import Records
from ._host_poll import HostPoll
from ._keys import LATEST, NAME_KEY, SHA256_KEY, Layout, VersionLike
from ._latest import Write, asked_content_type, plan_put, user_metadata
from ._models import Alias, Artifact
from ._names import Names
from ._retention import alias_references, select_purge
from ._rollback import rollback
from ._rollout import Check, OnStep, run_rollout
from ._s3 import S3, ObjectInfo, ObjectMissing, RetriedConflict, WriteResult
from ._sources import Content
from ._tasks import Started, both, gather, task_group
from ._transfer import GiB, OnProgress
from ._watch import AliasWatch
from .errors import (
    ArtifactNotFoundError,
    CorruptDocumentError,
    InvalidInputError,
    RepositoryStateError,
    StorageError,
    VersionConflictError,
    VersionInUseError,
)

_COPY_ATTEMPTS = 8
T = TypeVar("T")


def _empty(_: int) -> bytes:
    return b""


def _known(latest: ObjectInfo | None, records: Records) -> str | None:
    """The sha256 LATEST's bytes are known to have: the record of its ETag (not its
    metadata, which another tool may have written over other bytes; see _hashes.py)."""
    return None if latest is None else records.sha256(None, latest.etag)


async def _outcome(call: Callable[[], Awaitable[T]]) -> T | VersionConflictError:
    """The call's result, or the conflict it raised (for a caller to raise or not)."""
    try:
        return await call()
    except VersionConflictError as err:
        return err


class AsyncRepository(ContentOperations):
    """Versioned artifacts and aliases under ``s3://{s3_bucket}/{s3_prefix}/``.

    The layout is the one of ``versioned`` 1.x, so both libraries can share a bucket.
    ``suffix`` is appended to every version key as given, so it carries its dot
    (``".zip"``: ``000000_LATEST.zip``); one without (``"zip"``: ``000000_LATESTzip``)
    is accepted, as ``versioned`` 1.x accepts it.
    Use as ``async with AsyncRepository(...) as repo:``; the client is created on entry
    and closed by ``aclose()``. Credentials come from the standard AWS chain and
    ``AWS_ENDPOINT_URL`` works as botocore defines it. At most ``max_concurrency``
    requests are in flight at once, matched by the connection pool. A request is sent
    at most ``max_attempts`` times (botocore's standard retries: throttling, 5xx and
    connection errors), and a connection attempt gives up after ``connect_timeout``
    seconds.

    Content above ``multipart_threshold`` bytes (64 MiB) moves in parts of
    ``multipart_chunksize`` (8 MiB, at least 5 MiB), several at a time. With ``cache_dir``,
    downloaded content is kept on disk by sha256 (at most ``cache_max_bytes``, least
    recently used evicted first), safe to share between processes.

    With ``require_conditional_writes`` (the default), the first write that rests on
    ``If-None-Match`` / ``If-Match`` (a claim, an alias write) checks once, with 5
    requests on a scratch object, that the server enforces them; where it does not, such
    writes raise ``ConditionalWritesIgnoredError`` instead of losing their guarantees
    silently. ``False`` skips the check (for a server known to be fine, or to write
    anyway); :meth:`check_server` probes every condition.
    """

    def __init__(
        self,
        s3_bucket: str,
        s3_prefix: str = "versioned-artifacts",
        suffix: str = "",
        *,
        aws_region: str | None = None,
        endpoint_url: str | None = None,
        profile: str | None = None,
        max_concurrency: int = 32,
        expected_bucket_owner: str | None = None,
        sse: str | None = None,
        sse_kms_key_id: str | None = None,
        multipart_threshold: int = _transfer.DEFAULT_THRESHOLD,
        multipart_chunksize: int = _transfer.DEFAULT_CHUNKSIZE,
        cache_dir: str | os.PathLike[str] | None = None,
        cache_max_bytes: int = GiB,
        connect_timeout: float = 10.0,
        max_attempts: int = 5,
        require_conditional_writes: bool = True,
    ) -> None:
        self.layout = Layout(
            _validate.bucket(s3_bucket),
            _keys.normalize_prefix(s3_prefix),
            _keys.validate_suffix(suffix),
        )
        self._connect_args: dict[str, Any] = {
            "region": aws_region,
            "endpoint_url": _validate.endpoint_url(endpoint_url),
            "profile": profile,
            "max_concurrency": _validate.int_in(max_concurrency, "max_concurrency", 1, 1024),
            "expected_bucket_owner": _validate.bucket_owner(expected_bucket_owner),
            "write_args": _validate.encryption_args(sse, sse_kms_key_id),
            "connect_timeout": _validate.positive_seconds(connect_timeout, "connect_timeout"),
            "max_attempts": _validate.int_in(max_attempts, "max_attempts", 1, 20),
        }
        self._config = _transfer.transfer_config(multipart_threshold, multipart_chunksize)
        self._cache = content_cache(cache_dir, cache_max_bytes)
        self._require_conditions = _validate.flag(
            require_conditional_writes, "require_conditional_writes"
        )
        self._flights = Flights()
        self._alias_memo = {}
        self._stack: contextlib.AsyncExitStack | None = None
        self._s3_client: S3 | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        where = f"s3://{self.layout.bucket}/{self.layout.root}"
        return f"{type(self).__name__}({where}, suffix={self.layout.suffix!r})"

    @property
    def endpoint_url(self) -> str:
        """The S3 endpoint requests go to, as botocore resolved it; needs an open repository."""
        return self._s3.endpoint_url

    async def __aenter__(self) -> AsyncRepository:
        if self._stack is not None:
            raise RepositoryStateError("AsyncRepository is already open")
        stack = contextlib.AsyncExitStack()
        self._s3_client = await stack.enter_async_context(
            S3.connect(self.layout.bucket, **self._connect_args)
        )
        self._loop = asyncio.get_running_loop()
        if self._require_conditions:
            self._s3_client.guard = PutConditionsGuard(self._s3_client, self.layout)
        self._stack = stack
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the S3 client; the repository can not be used afterwards."""
        stack, self._stack, self._s3_client = self._stack, None, None
        if stack is not None:
            await self._flights.aclose()  # their requests need the client
            await stack.aclose()

    # -- helpers -------------------------------------------------------------------------

    def _artifact(
        self,
        name: str,
        number: int | None,
        info: ObjectInfo,
        sha256: str | None = None,
        *,
        unchanged: bool = False,
    ) -> Artifact:
        digest = sha256 or _keys.stored_sha256(info.metadata)
        if not digest:
            raise CorruptDocumentError(
                info.key, f"object has no {SHA256_KEY!r} metadata of 64 lowercase hex digits"
            )
        return Artifact(
            name=name,
            version=_keys.version_str(number),
            update_at=info.last_modified,
            s3uri=self.layout.s3uri(info.key),
            sha256=digest,
            size=info.size,
            # A listing tells neither: unknown (None), not empty; a HEAD or GET tells both.
            content_type=None if info.listed else asked_content_type(info),
            metadata=None if info.listed else user_metadata(info.metadata),
            unchanged=unchanged,
        )

    async def _listed_versions(
        self, name: str
    ) -> tuple[list[tuple[int | None, ObjectInfo]], datetime | None]:
        """LATEST and published versions from one listing, in key order (foreign keys and
        deleted versions skipped), and the server's time of the listing (None if unknown)."""
        found = []
        (listed, now), retired = await both(
            partial(self._s3.list_timed, self.layout.versions_dir(name)),
            self._deletion(name).retired,
        )
        for info in listed:
            with contextlib.suppress(ValueError):
                if (number := self.layout.parse_version_key(name, info.key)) not in retired:
                    found.append((number, info))
        return found, now

    def _deletion(self, name: str) -> Deletion:
        async def users() -> dict[int, list[str]]:
            return (await self._alias_users(name))[0]

        return Deletion(self._s3, self.layout, name, users)

    @property
    def _names(self) -> Names:
        return Names(self._s3, self.layout)

    # -- artifacts -----------------------------------------------------------------------

    async def bootstrap(self) -> None:
        """Create the bucket if it does not exist (idempotent)."""
        if not await self._s3.bucket_exists():
            await self._s3.create_bucket()

    async def check_server(self) -> ServerCheck:
        """Probe whether the server enforces each condition the guarantees rest on.

        About 30 requests on scratch objects under the prefix
        (``.aioversioned-doctor-{run id}-*``, never listed), deleted at the end, also
        when a probe fails or the call is cancelled. Each :class:`Probe` says whether
        its condition holds, what the server did, and which promises of README's
        "Safety" section rest on it. Raises StorageError when the first scratch object
        can not be written (no permission, no bucket).
        """
        return await check_server(self._s3, self.layout)

    async def put_artifact(
        self,
        name: str,
        content: Content,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        *,
        on_progress: OnProgress | None = None,
    ) -> Artifact:
        """Upload ``content`` as the mutable LATEST version of ``name``.

        ``content`` is bytes, a path (``pathlib.Path`` or any ``os.PathLike``; a str is
        refused), a binary file (read from its position, left open) or an async
        iterable of bytes. Above ``multipart_threshold`` it goes up as a multipart
        upload, several parts at a time, memory bounded by the part size. Readers
        see the old LATEST or the new one, never a mix; a failed or cancelled upload
        is aborted. A stream (an async iterable, a file that can not seek) has no
        sha256 until it was read, so it is uploaded under ``.aioversioned/uploads/``
        and then copied to LATEST. A file
        that changes while it is sent raises IntegrityError and changes nothing.
        When LATEST already holds the same bytes, nothing is uploaded and the existing
        LATEST is returned, unless other metadata or another content type is asked
        for: ``metadata=None`` and ``content_type=None`` mean "as LATEST has them" for
        the same bytes (``metadata={}`` clears), and mean none and
        ``application/octet-stream`` for new bytes. ``on_progress(done_bytes,
        total_bytes)`` is called on the event loop as bytes are sent (``total_bytes``
        is None for a stream).
        """
        self.layout.check_name(name)
        source = _sources.check_content(content)
        if content_type is not None:
            content_type = _validate.content_type(content_type)
        user_metadata = None if metadata is None else _validate.metadata(metadata, name)
        _transfer.check_callback(on_progress)
        async with task_group() as tg:
            # What LATEST is now is asked while the content is hashed (not for a stream:
            # it is asked once the stream was uploaded).
            asked = not isinstance(source, AsyncIterable)
            current = Started(tg, partial(self._latest_now, name)) if asked else None
            async with _sources.measured(
                source, self._config.threshold, self._config.chunksize
            ) as body:
                if isinstance(body, _sources.Chunks):
                    return await self._put_stream(
                        name, body, content_type, user_metadata, on_progress
                    )
                latest, records = (
                    await current.result() if current else await self._latest_now(name)
                )
                plan = plan_put(
                    name, body.sha256, user_metadata, content_type, latest, _known(latest, records)
                )
                if isinstance(plan, ObjectInfo):
                    return self._artifact(name, None, plan, body.sha256, unchanged=True)
                written = await _transfer.upload(
                    self._s3,
                    self.layout.version_key(name, None),
                    body,
                    self._config,
                    metadata=plan.metadata,
                    content_type=plan.content_type,
                    progress=_transfer.progress_counter(on_progress, body.size),
                )
                await self._hashes(name).vouch_latest(written.etag, body.sha256, records)
        return self._latest(name, written, body.sha256, body.size, plan)

    async def _latest_now(self, name: str) -> tuple[ObjectInfo | None, Records]:
        """LATEST's HEAD and the records of its sha256 (see _hashes.py), at once."""
        return await both(
            partial(self._s3.head, self.layout.version_key(name, None)),
            partial(self._hashes(name).records, None),
        )

    async def _put_stream(
        self,
        name: str,
        chunks: _sources.Chunks,
        content_type: str | None,
        user_metadata: dict[str, str] | None,
        on_progress: OnProgress | None,
    ) -> Artifact:
        """Upload a stream under a temporary key, then copy it to LATEST with its sha256."""
        temp = self.layout.upload_key(name, uuid.uuid4().hex)
        key = self.layout.version_key(name, None)
        try:
            uploaded, digest = await _transfer.upload_stream(
                self._s3,
                temp,
                chunks,
                self._config,
                metadata={NAME_KEY: name},
                content_type=content_type,
                progress=_transfer.progress_counter(on_progress, None),
            )
            latest, records = await self._latest_now(name)
            plan = plan_put(
                name, digest, user_metadata, content_type, latest, _known(latest, records)
            )
            if isinstance(plan, ObjectInfo):
                return self._artifact(name, None, plan, digest, unchanged=True)
            try:
                written = await _transfer.copy_object(
                    self._s3,
                    uploaded,
                    key,
                    self._config.part_size(uploaded.size),
                    metadata=plan.metadata,
                    content_type=plan.content_type,
                    if_none_match=False,
                )
            except ObjectMissing:
                raise VersionConflictError(
                    temp, "the uploaded stream was deleted (by a purge?) before it was copied"
                ) from None
            await self._hashes(name).vouch_latest(written.etag, digest, records)
        finally:
            # Left behind only if this fails too; purge_artifact() removes it then.
            with anyio.CancelScope(shield=True), contextlib.suppress(StorageError):
                await self._s3.delete([temp])
        return self._latest(name, written, digest, uploaded.size, plan)

    def _latest(
        self, name: str, written: WriteResult, sha256: str, size: int, plan: Write
    ) -> Artifact:
        key = self.layout.version_key(name, None)
        info = ObjectInfo(
            key, written.etag, written.last_modified, size, plan.metadata, plan.content_type
        )
        return self._artifact(name, None, info, sha256)

    async def get_artifact_version(
        self, name: str, version: VersionLike = None, *, alias: str | None = None
    ) -> Artifact:
        """Describe one version (default LATEST), or with ``alias`` the version it points at.

        One HEAD: the size, content type and user metadata are filled. An alias with a
        canary describes its primary ``version``. Raises ArtifactNotFoundError if the
        version is missing (naming the alias that points at it), AliasNotFoundError if
        the alias is, and InvalidInputError for both ``version`` and ``alias``.
        """
        self.layout.check_name(name)
        number, info = await self._head_of(name, version, alias)
        try:
            return await self._described(name, number, info)
        except ArtifactNotFoundError as err:  # deleted since the HEAD
            raise ArtifactNotFoundError(name, err.version, alias) from None

    async def _head_of(
        self, name: str, version: VersionLike, alias: str | None
    ) -> tuple[int | None, ObjectInfo]:
        """The number and HEAD of the version asked for, directly (a deleted one is not
        found) or (read now) through ``alias``'s primary version (which it names even if
        deleted since: its bytes stay while it does); ArtifactNotFoundError names the
        alias."""
        if alias is None:
            number = _keys.parse_version(version)
            return number, await self._head_target(name, number)
        if version is not None:
            raise InvalidInputError("alias", "give a version or an alias, not both")
        number = _keys.parse_version((await self.get_alias(name, alias)).version)
        try:
            return number, await self._head_version(name, number)
        except ArtifactNotFoundError as err:
            raise ArtifactNotFoundError(name, err.version, alias) from None

    async def presign_artifact(
        self,
        name: str,
        version: VersionLike = None,
        *,
        alias: str | None = None,
        expires_in: int = 3600,
    ) -> str:
        """A URL that downloads one version (default LATEST) with a plain HTTP GET.

        Whoever holds the URL needs no credentials until it expires, ``expires_in``
        seconds (1 up to S3's limit of 7 days) from now; it is signed with this
        repository's credentials, and stops working earlier if they expire first
        (temporary credentials). ``alias`` is resolved now, at signing time, to its
        primary version: the URL keeps giving that version when the alias moves on.
        A LATEST URL gives whatever LATEST holds when it is used. The bytes are not
        checked by anyone on download: compare with the version's ``sha256``.
        Raises ArtifactNotFoundError (naming the alias) when the version does not
        exist, AliasNotFoundError, and InvalidInputError before any request.
        """
        self.layout.check_name(name)
        expires = _validate.presign_expiry(expires_in)
        _, info = await self._head_of(name, version, alias)
        return await self._s3.presign_get(info.key, expires)

    async def list_artifact_names(self) -> list[str]:
        """Names of all artifacts in the repository, sorted.

        An artifact is a folder with a version (LATEST or a number) under ``versions/``.
        The folders are listed (one request per 1,000) while the names index is read
        (``.aioversioned-names{suffix}.json``, one GET): the names it holds are artifacts. A
        folder it lacks (an artifact created since the last listing, one ``versioned``
        1.x wrote, what ``purge_artifact`` leaves on a server that keeps empty folders
        such as SeaweedFS, aliases alone) is asked for a version with one small
        listing, ``max_concurrency`` at a time, and the index is written again with
        what was found (conditional on the one read; a failure, such as credentials
        that may only read, just leaves the asking to the next call).
        """
        return await self._names.all()

    async def list_artifact_suffixes(self, name: str) -> list[str]:
        """The suffixes that ``name`` has versions with, sorted (``""`` for none).

        A repository finds only versions with its own ``suffix``; when an artifact is
        not found, this tells which suffix would find it. One listing page (1,000 keys).
        """
        self.layout.check_name(name)
        async for page in self._s3.pages(self.layout.versions_dir(name)):
            found = {self.layout.suffix_of(name, info.key) for info in page}
            return sorted(suffix for suffix in found if suffix is not None)
        return []

    async def list_artifact_versions(self, name: str, details: bool = False) -> list[Artifact]:
        """LATEST first, then published versions newest to oldest.

        At once: the versions listing, the records aioversioned keeps of what it
        published, and a HEAD of LATEST; then HEADs only for versions without a record
        (written by ``versioned`` 1.x, say). An object another tool wrote without a
        sha256 is streamed once and its sha256 recorded. Every version has its
        ``size`` (from the listing); ``content_type`` and ``metadata`` are filled for
        LATEST only (None, unknown, for the others). With ``details=True`` every
        version is HEADed (concurrently, within ``max_concurrency``) and all are
        filled. Raises ArtifactNotFoundError when the artifact has no version at all.
        """
        self.layout.check_name(name)
        if not isinstance(details, bool):
            raise InvalidInputError("details", f"must be a bool, got {details!r}")
        ((entries, _), records), latest = await both(
            partial(both, partial(self._listed_versions, name), partial(self._records, name)),
            partial(self._s3.head, self.layout.version_key(name, None)),
        )
        artifacts = await self._describe(name, entries, records, latest, details=details)
        if not artifacts:
            raise ArtifactNotFoundError(name)  # the listing already proved the bucket exists
        return artifacts

    async def _records(self, name: str) -> Records:
        """Every sha256 record of ``name``: of the versions it published, and learned ones."""
        listed = await self._s3.list_all(self.layout.published_dir(name))
        return Records.parse(self.layout, name, listed)

    async def _describe(
        self,
        name: str,
        entries: list[tuple[int | None, ObjectInfo]],
        records: Records,
        latest: ObjectInfo | None = None,
        *,
        details: bool = False,
    ) -> list[Artifact]:
        """Artifacts for listed versions: from a record whose ETag matches, else (or
        always, with ``details``) a HEAD (and, for an object without a sha256, a stream
        that learns it). Without ``details`` only LATEST has its content type and
        metadata.

        Versions deleted between the listing and a HEAD are left out.
        """

        async def described(number: int | None, info: ObjectInfo) -> Artifact | None:
            if number is None and latest is not None:
                info = latest
            elif (head := await self._s3.head(info.key)) is not None:
                info = head
            else:
                return None
            sha256 = _keys.stored_sha256(info.metadata) or records.sha256(number, info.etag)
            if sha256:
                artifact = self._artifact(name, number, info, sha256=sha256)
            elif (learned := await self._hashes(name).learn(number, info)) is not None:
                artifact = self._artifact(name, number, learned[1], learned[0])
            else:
                return None
            if details or number is None:
                return artifact
            # Only LATEST's HEAD is sent whatever the records say: one listing answers
            # the same for a version whether its sha256 came from a record or a HEAD.
            return artifact.model_copy(update={"content_type": None, "metadata": None})

        def recorded(number: int | None, info: ObjectInfo) -> Artifact | None:
            if details or (number is None and latest is not None):
                return None
            sha256 = records.sha256(number, info.etag)
            return self._artifact(name, number, info, sha256=sha256) if sha256 else None

        # A version its record describes needs no request: only the others are awaited.
        found = [recorded(number, info) for number, info in entries]
        misses = [index for index, artifact in enumerate(found) if artifact is None]
        heads = await gather(
            (partial(described, *entries[index]) for index in misses), self._s3.limit
        )
        for index, artifact in zip(misses, heads, strict=True):
            found[index] = artifact
        return [artifact for artifact in found if artifact is not None]

    async def publish_artifact_version(self, name: str) -> Artifact:
        """Freeze LATEST as the next version number by a server-side copy.

        Numbers are claimed with conditional writes, so concurrent publishers never
        get the same number and a number is never handed out twice, even after the
        newest version was deleted. When LATEST's sha256 equals the newest published
        version's, nothing is copied and that version is returned. Numbers can be left
        out, never reused: when the newest version was written by another tool with the
        same size as LATEST, the next number is claimed while that version is read, and
        stays unused if it holds LATEST's bytes.
        """
        self.layout.check_name(name)
        # One round trip: LATEST, its records and the newest version's record (one
        # listing), the newest version and the tombstones.
        (latest, (records, record)), (retired, newest) = await both(
            partial(
                both,
                partial(self._s3.head, self.layout.version_key(name, None)),
                self._hashes(name).latest_and_newest,
            ),
            partial(
                both,
                self._deletion(name).retired,
                partial(
                    self._s3.first_numbered,
                    self.layout.versions_dir(name),
                    partial(self.layout.parse_version_key, name),
                    self.layout.version_key(name, None),
                ),
            ),
        )
        if latest is None:
            raise await self._not_found(name, None)
        digest, latest = await self._sha256_of_latest(name, latest, records)
        following = (newest[0] if newest else 0) + 1
        claimed: int | VersionConflictError | None = None
        # A deleted (retired) newest version is never handed back as LATEST's.
        if newest is not None and newest[0] not in retired:
            number, previous = newest
            _, etag, sha256 = (
                self.layout.parse_published_key(name, record[1].key) if record else (0, "", "")
            )
            # Equal ETags mean equal bytes, other sizes other bytes; else the record (if it
            # is this object's) or a HEAD tells the newest version's sha256.
            if previous.etag == latest.etag:
                return self._artifact(name, number, previous, sha256=digest, unchanged=True)
            if record and record[0] == number and etag == previous.etag.strip('"'):
                if sha256 == digest:
                    return self._artifact(name, number, previous, sha256=digest, unchanged=True)
            elif previous.size == latest.size:
                # The next number is claimed during the HEAD, not after it: a claim that
                # then goes unused (same bytes) only leaves that number out.
                known, claimed = await both(
                    partial(self._sha256_of_version, name, number, previous.key),
                    partial(_outcome, partial(self._claim, name, following)),
                )
                if known is not None and known[0] == digest:
                    return self._artifact(name, number, known[1], sha256=digest, unchanged=True)
        if isinstance(claimed, VersionConflictError):
            raise claimed
        number = claimed or await self._claim(name, following)
        # The record assumes the copy keeps LATEST's ETag; if it does not, it matches
        # nothing and listings fall back to a HEAD (and a right record is written below).
        (published, etag), _ = await both(
            partial(self._copy_latest, name, number, latest, digest),
            partial(self._put_record, name, number, latest.etag, digest),
        )
        if (published.version, etag) != (str(number), latest.etag):
            # Never leave a record that matches nothing: the one written with the copy.
            await self._put_record(name, int(published.version), etag, published.sha256)
            with contextlib.suppress(StorageError):
                await self._s3.delete(
                    [self.layout.published_key(name, number, latest.etag, digest)]
                )
        return published

    async def _sha256_of_latest(
        self, name: str, latest: ObjectInfo | None = None, records: Records | None = None
    ) -> tuple[str, ObjectInfo]:
        """The sha256 LATEST's bytes are known to have and what it is by then (without
        ``latest``: HEAD and records first): the record of its ETag, else learned by
        streaming it once (another tool wrote it; its metadata may not tell its bytes)."""
        if latest is None or records is None:
            latest, records = await self._latest_now(name)
        found = None if latest is None else await self._hashes(name).latest_sha256(latest, records)
        if found is None:
            raise await self._not_found(name, None)
        return found

    async def _sha256_of_version(
        self, name: str, number: int, key: str
    ) -> tuple[str, ObjectInfo] | None:
        """A numbered version's sha256 (learned if it has none) and what it is by then,
        from a HEAD; None when it is gone."""
        head = await self._s3.head(key)
        return None if head is None else await self._hashes(name).of(number, head)

    async def _put_record(self, name: str, number: int, etag: str, sha256: str) -> None:
        """Record a published version's sha256; a failure only costs listings a HEAD."""
        with contextlib.suppress(StorageError, VersionConflictError):
            await self._s3.put(self.layout.published_key(name, number, etag, sha256), b"")

    async def _claim(self, name: str, number: int) -> int:
        """Take the first free version number from ``number`` on by writing its claim.

        The first try is ``number`` itself: the successor of the newest version is free
        unless a newer version was deleted, or is being published, or its publisher
        crashed. Only a lost first try lists the claims to skip to the highest.
        """
        key_of = partial(self.layout.claim_key, name)
        if number <= _keys.MAX_VERSION:
            with contextlib.suppress(VersionConflictError):
                return await self._s3.create_first_free(key_of, number, _empty, attempts=1)
            claimed = await self._s3.first_numbered(
                self.layout.claims_dir(name), partial(self.layout.parse_claim_key, name)
            )
            number = max(number + 1, claimed[0] + 1 if claimed else 0)
        if number > _keys.MAX_VERSION:
            raise VersionConflictError(
                self.layout.claims_dir(name),
                f"every version number up to {_keys.MAX_VERSION:,} was handed out",
            )
        return await self._s3.create_first_free(key_of, number, _empty)

    async def _copy_latest(
        self, name: str, number: int, latest: ObjectInfo, digest: str
    ) -> tuple[Artifact, str]:
        """Copy LATEST (whose sha256 is ``digest``) to the claimed ``number``, retrying
        when LATEST changes meanwhile.

        Returns the new version and its ETag.
        """
        target = self.layout.version_key(name, number)
        for _ in range(_COPY_ATTEMPTS):
            # A LATEST that another tool wrote without our key gives its copy the key,
            # so that versioned 1.x reads the version too (its metadata, content type kept).
            metadata = None
            if latest.metadata.get(SHA256_KEY) != digest:
                metadata = {**latest.metadata, SHA256_KEY: digest}
            part_size = await self._parts_of(latest)
            try:
                written = await _transfer.copy_object(
                    self._s3,
                    latest,
                    target,
                    part_size or self._config.part_size(latest.size),
                    metadata=metadata,
                    content_type=latest.content_type if metadata is not None else None,
                    if_none_match=True,
                    in_parts=part_size is not None,
                    exclusive=True,  # only this call holds the number's claim
                )
            except ObjectMissing:
                raise ArtifactNotFoundError(name, LATEST) from None
            except RetriedConflict:
                # The answer was lost: if the target exists, the attempt made it, since
                # only this call holds the number's claim. What it copied is checked
                # below as any copy's: where CopySourceIfMatch is ignored (moto) it may
                # be a newer LATEST, under the sha256 read before.
                if (info := await self._s3.head(target)) is None:
                    digest, latest = await self._sha256_of_latest(name)
                    continue
                written = WriteResult(info.etag, info.last_modified)
            except VersionConflictError:
                if await self._s3.head(target) is not None:
                    # A writer that ignores claims (versioned 1.x) put a version there,
                    # or this call's own first attempt, kept back, landed meanwhile: the
                    # two can not be told apart, and either is a whole version
                    # (protocol.md, Publish, "Orphans").
                    number = await self._claim(name, number + 1)
                    target = self.layout.version_key(name, number)
                digest, latest = await self._sha256_of_latest(name)
                continue
            if written.etag == latest.etag:
                info = ObjectInfo(
                    target,
                    written.etag,
                    written.last_modified,
                    latest.size,
                    latest.metadata,
                    latest.content_type,
                )
                return self._artifact(name, number, info, digest), written.etag
            # A multipart copy has an ETag of its own, or the server ignored
            # CopySourceIfMatch while LATEST changed: the bytes decide. Parts copied
            # from two contents (moto, a part copy retried after LATEST changed) do not
            # hold the sha256 the copy carries: that copy goes, its number stays claimed
            # (never handed out again), and the next number is tried.
            try:
                if (info := await self._s3.head(target)) is None:
                    raise ObjectMissing(target)
                stored = _keys.stored_sha256(info.metadata)
                if stored is None or (await self._hashes(name).stream(info))[0] == stored:
                    return await self._described(name, number, info), info.etag
            except (ObjectMissing, ArtifactNotFoundError) as err:
                raise VersionConflictError(
                    target, "published, then deleted at once by another call (a purge?)"
                ) from err
            await self._s3.delete_if(target, info.etag)
            number = await self._claim(name, number + 1)
            target = self.layout.version_key(name, number)
            digest, latest = await self._sha256_of_latest(name)
        raise VersionConflictError(target, "LATEST kept changing while it was being published")

    async def _parts_of(self, latest: ObjectInfo) -> int | None:
        """The part size of a multipart LATEST, to copy it in the same parts so that its
        version gets the same ETag, or None to copy it whole.

        versioned 1.x compares ETags, and would publish again a version whose ETag is not
        LATEST's. A CopyObject gives a copy of a multipart object an MD5 ETag on S3 and
        moto; copied in the same parts it gets the same multipart ETag (copy_object
        falls back to a CopyObject where the server's part ETags would not make it).
        """
        count = _transfer.multipart_count(latest.etag)
        if count is None:
            return None
        found = await self._s3.first_part(latest.key)
        if found is None:
            return None
        size, parts = found
        if parts != count or not _transfer.same_parts(latest.size, size, count):
            return None
        return size

    async def _alias_users(self, name: str) -> tuple[dict[int, list[str]], datetime | None]:
        """Which aliases reference each published version of ``name``, and the server's
        time when the aliases were listed (None if unknown)."""
        users: dict[int, list[str]] = {}
        try:
            aliases, now = await self._aliases_timed(name, every=True)
        except CorruptDocumentError as err:  # fail closed: it may reference any version
            raise CorruptDocumentError(
                err.key,
                f"{err.detail} (no version was deleted: an alias document that can not be"
                " read may reference any of them; fix or remove it)",
            ) from err
        version_of_uri = partial(self.layout.parse_version_uri, name)
        for alias in aliases:
            for number in alias_references(alias, version_of_uri):
                users.setdefault(number, []).append(alias.alias)
        return users, now

    async def delete_artifact_version(
        self, name: str, version: VersionLike, force: bool = False
    ) -> tuple[str, ...]:
        """Delete one published version; a missing version is a no-op, LATEST is refused.

        A version that an alias references raises VersionInUseError naming the
        aliases, unless ``force=True``. Its number is never handed out again. Returns
        the aliases left pointing at the deleted version (read after the delete; only a
        forced delete leaves any).
        """
        self.layout.check_name(name)
        number = _keys.parse_version(version)
        if number is None:
            raise InvalidInputError("version", "LATEST can not be deleted; use purge_artifact()")
        deletion = self._deletion(name)
        if force:
            await deletion.remove_now([number])
            return await self._dangling(name, number)
        users, _ = await self._alias_users(name)
        if in_use := (await deletion.delete([number], users)).get(number):
            raise VersionInUseError(name, str(number), tuple(in_use))
        return ()

    async def _dangling(self, name: str, number: int) -> tuple[str, ...]:
        """The aliases that point at deleted version ``number``, sorted."""
        try:
            aliases, _ = await self._aliases_timed(name, every=True)
        except CorruptDocumentError as err:
            raise CorruptDocumentError(
                err.key, f"{err.detail} (version {number} was deleted; this alias may point at it)"
            ) from err
        version_of_uri = partial(self.layout.parse_version_uri, name)
        return tuple(
            sorted(a.alias for a in aliases if number in alias_references(a, version_of_uri))
        )

    async def purge_artifact_versions(
        self,
        name: str,
        keep_last_n: int = 10,
        purge_older_than_secs: float = 90 * 24 * 60 * 60,
        dry_run: bool = False,
    ) -> tuple[datetime, list[Artifact]]:
        """Delete versions outside the newest ``keep_last_n`` AND older than the age limit.

        LATEST and versions that an alias references are never deleted. Ages are
        measured on the server's clock. Returns the purge time and the deleted
        versions; with ``dry_run=True`` returns what would be deleted and deletes
        nothing.
        """
        self.layout.check_name(name)
        keep = _validate.at_least(keep_last_n, "keep_last_n", 0)
        max_age = _validate.seconds(
            purge_older_than_secs, "purge_older_than_secs", _validate.MAX_AGE_SECONDS
        )
        ((listed, now), records), (users, _) = await both(
            partial(both, partial(self._listed_versions, name), partial(self._records, name)),
            partial(self._alias_users, name),
        )
        # Ages by the server's clock (LastModified is the server's too), whose Date
        # header names the second: the end of it, so that an age of 0 takes everything.
        # The client's clock only if the server sends no Date.
        purge_time = now + timedelta(seconds=1) if now else datetime.now(timezone.utc)
        doomed = select_purge(
            [(number, info.last_modified) for number, info in listed if number is not None],
            keep,
            purge_time - timedelta(seconds=max_age),
            protected=users,
        )
        listed_info = dict(listed)
        doomed_artifacts = await self._describe(
            name, [(n, listed_info[n]) for n in doomed], records
        )
        numbers = [int(artifact.version) for artifact in doomed_artifacts]
        kept = {} if dry_run else await self._deletion(name).delete(numbers, users)
        return purge_time, [a for a in doomed_artifacts if int(a.version) not in kept]

    async def purge_artifact(self, name: str) -> None:
        """Delete everything of one artifact: versions, aliases and bookkeeping.

        The claims go too, so an artifact published again under this name starts at
        version 1. Meant for an artifact nobody writes any more: it takes no claim or
        mark, so a publish or alias change running meanwhile may leave objects behind.
        """
        self.layout.check_name(name)
        # Out of the names index before (a purge that stops halfway leaves a folder the
        # next listing asks about) and after (a listing that saw a version meanwhile).
        await self._names.forget(name)
        await self._purge_prefix(self.layout.artifact_dir(name))
        await self._names.forget(name)

    async def purge_all(self) -> None:
        """Delete every object under the repository prefix."""
        await self._purge_prefix(self.layout.root)

    async def _purge_prefix(self, prefix: str) -> None:
        async for page in self._s3.pages(prefix):
            await self._s3.delete([info.key for info in page])

    async def rollback_alias(self, name: str, alias: str, *, one_step: bool = False) -> Alias:
        """Move ``alias`` back to its last stable target; called again, further back.

        A stable target has no secondary version: after a rollout or a canary
        (1 -> 1+2 (10%) -> 1+2 (50%) -> 2) one call goes back to 1, passing over the
        splits. With ``one_step=True`` it goes back one change, to any target (2 ->
        1+2 (50%)). The rule comes from the alias history alone: each change has a
        position, its sequence number, except a rollback's change, whose position is
        the one it restored (``AliasChange.restores``). A rollback goes to the newest
        change below the alias's current position whose target differs from the
        current one (deletions skipped; splits too, without ``one_step``), and takes
        that change's position. So changes to 1, 2, 3 roll back 3 -> 2 -> 1; a change
        made after a rollback is undone by the next one; a deleted alias is recreated
        at its last target. The write is compare-and-swap on the revision read:
        VersionConflictError, and nothing changes, if another writer moved the alias
        meanwhile. Raises NothingToRollBackError when the history has no such change
        (``splits_only`` tells when ``one_step=True`` would find one),
        AliasNotFoundError when the alias neither exists nor has a history, and
        ArtifactNotFoundError when the earlier target's version was deleted.
        """
        return await rollback(self, name, alias, one_step)

    # -- live aliases: thin entries to _watch.py, _follow.py and _rollout.py ------------

    _followed: LocalCopies | None = None  # the followers' files, made by the first one

    def watch_alias(
        self, name: str, alias: str, *, interval: float = 5.0
    ) -> AsyncGenerator[Alias, None]:
        """Yield ``alias`` now, then each time its revision changes.

        An unchanged poll is one conditional GET answered 304, without a body. Each
        watch polls every ``interval`` seconds on a grid of its own (a random phase), so
        that many watchers do not poll in step and a change is seen within one
        interval. A failed poll is retried with backoff and does not end the iteration.
        A deleted alias is not yielded: the watch waits until it exists again. Raises
        AliasNotFoundError if it does not exist at the start. Cancelling the consumer
        stops the watch at once; close one you leave early (``contextlib.aclosing``).
        """
        return AliasWatch(self._s3, self.layout, name, alias, interval).changes()

    def follow_alias(
        self,
        name: str,
        alias: str,
        *,
        interval: float = 5.0,
        on_change: OnChange | None = None,
        retain: float = 60.0,
    ) -> AsyncAliasFollower:
        """Keep the versions ``alias`` names downloaded and verified, following its moves.

        ``async with repo.follow_alias(name, "prod") as follower:``, then
        ``follower.pick(key)`` (an Artifact, by the alias's weights; sticky per key) and
        ``follower.path(version)`` (its verified local file). The alias is watched as
        by watch_alias; new versions are downloaded and verified before they are
        swapped in, and a failed download keeps the old ones served and is retried.
        ``on_change(old_alias, new_alias)`` (sync in a worker thread, or async) runs on
        entry (``old_alias`` None) and after each swap. A swap's retired files stay for
        ``retain`` seconds. Files live in a private temporary folder, or inside
        ``cache_dir`` (fetched through the content cache); followers of one repository
        share them. With ``cache_dir``, the followers of one alias in all the processes
        that share it share one poll: one process polls S3, the others read what it saw
        from a file there (see the guide "Live aliases"). A file's name ends with the
        repository's ``suffix`` (``.onnx``), for loaders that pick a format by extension;
        InvalidInputError (``suffix``) when it can not end a file name here (a NUL, a
        path separator).
        """
        if self._followed is None:
            parent = self._cache.directory if self._cache is not None else None
            self._followed = LocalCopies(self, parent, local_suffix(self.layout.suffix))
        key = self.layout.alias_key(self.layout.check_name(name), _keys.validate_alias(alias))
        reads = None
        if self._cache is not None:  # processes sharing cache_dir share one poll
            layout = self.layout
            identity = (self._s3.endpoint_url, layout.bucket, layout.prefix, layout.suffix)
            reads = HostPoll(self._s3, key, self._cache.directory, (*identity, name, alias))
        watch = AliasWatch(self._s3, self.layout, name, alias, interval, reads=reads)
        return AsyncAliasFollower(self._followed, watch, on_change=on_change, retain=retain)

    async def rollout(
        self,
        name: str,
        alias: str,
        to_version: VersionLike,
        *,
        steps: Sequence[int] = (10, 50, 100),
        bake: float = 300.0,
        check: Check | None = None,
        resume: bool = False,
        on_step: OnStep | None = None,
    ) -> Alias:
        """Move ``alias`` to ``to_version`` step by step; back where it started if a check fails.

        At each weight in ``steps`` (100: ``to_version`` alone) the alias is written
        compare-and-swap on the rollout's last revision, ``bake`` seconds pass, and
        ``check()`` (sync in a worker thread, or async) must return True. A failed check
        puts the alias back where it started (one compare-and-swap write) and raises
        RolloutFailedError. Another writer moving the alias stops the rollout with
        VersionConflictError, their change untouched. A cancelled rollout leaves the
        alias where it is; ``resume=True`` continues from the step it is at, baked and
        checked again even at a weight not in ``steps`` (without it, an alias mid-way
        to a version is refused with VersionConflictError).
        ``on_step(alias)`` is called on the event loop after each step is written.
        Returns the alias as the rollout left it.
        """
        return await run_rollout(
            self,
            name,
            alias,
            to_version,
            steps=steps,
            bake=bake,
            check=check,
            resume=resume,
            on_step=on_step,
        )
