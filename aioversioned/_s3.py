"""The one module that talks to aiobotocore.

It owns the client, pagination, conditional writes, the bound on requests in flight,
and the mapping of botocore errors to library errors.
"""

from __future__ import annotations

import contextlib
import email.utils
import enum
import io
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from typing import Any

import aiohttp.payload
import anyio
import botocore.utils
from aiobotocore.config import AioConfig
from aiobotocore.httpsession import AIOHTTPSession
from aiobotocore.session import AioSession
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    NoCredentialsError,
)

from ._tasks import gather
from .errors import (
    BucketNotFoundError,
    CorruptDocumentError,
    CredentialsNotFoundError,
    InvalidInputError,
    StorageError,
    VersionConflictError,
)

Guard = Callable[[str], Awaitable[None]]  # awaited before a conditional PutObject of a key

DELETE_BATCH = 1000  # the most keys one DeleteObjects request takes
_LOST_ATTEMPTS = 5  # create-only writes sent again by us when their answer was lost
_SEND_PIECE = 1 << 20  # what aiohttp is handed at a time: its buffer drains in between
_READ_PIECE = 64 << 10  # a bounded read asks for this much at a time
_EXPECT_FROM = 1 << 20  # request bodies from this size ask the server before they are sent
_MISSING_CODES = {"404", "NoSuchKey", "NotFound"}
_CONFLICT_CODES = {"412", "PreconditionFailed", "ConditionalRequestConflict"}
_NOT_MODIFIED_CODES = {"304", "NotModified"}


TOKEN_KEY = "aioversioned-token"  # object metadata: which call wrote a conditional write


class ObjectMissing(Exception):
    """Internal: the key does not exist. Callers turn it into a library error.

    ``retried``: the answer came to a retry, so the first attempt may have acted.
    """

    def __init__(self, key: str | None, retried: bool = False) -> None:
        super().__init__(key, retried)
        self.retried = retried


class RetriedConflict(VersionConflictError):
    """A 412 answered to a retry: the first attempt, whose response was lost, may have won.

    Only the server can tell: the caller looks at what the key holds before it reports
    a conflict.
    """


class RangeIgnored(StorageError):
    """A ranged GET answered with other bytes than those asked for (a server or proxy
    that ignores Range answers 200 with the whole object)."""


class _ResendRefused(Exception):
    """A create-only write botocore would send again: its first attempt may have landed."""


class LostWrite(RetriedConflict):
    """A create-only write whose answer was lost left no object behind (``put`` with
    ``resend_lost=False``; its one caller handles it).

    It never landed, or it landed and was deleted since: only the caller can tell (an
    alias from its history, where every delete records the document it deletes first).
    """


def _no_blind_resend(
    request_dict: Mapping[str, Any], caught_exception: Exception | None = None, **kwargs: Any
) -> None:
    """Stop botocore from sending a create-only write again (``needs-retry`` handler)
    after an attempt that may have acted: a lost answer, a 500.

    Sent again, a PUT whose first attempt landed and was then deleted (an alias that
    ``delete_alias`` removed meanwhile) would bring the object back; a copy on a server
    that ignores If-None-Match on CopyObject (moto) would copy again from the source as
    it is by then. The caller reads the key instead and decides. A 503 (SlowDown) is a
    request the server turned away: botocore sends it again, after its back-off.
    """
    if "If-None-Match" not in request_dict.get("headers", {}):
        return
    response = kwargs.get("response")
    status = response[0].status_code if response is not None else 0
    if caught_exception is not None or (status >= 500 and status != 503):
        raise _ResendRefused


# aiohttp 3.11 and later can turn off its resend (3.9 has none, 3.10 one that can not be
# turned off: pyproject.toml excludes it). tests/test_upstream.py pins the code relied on.
_RESEND_SWITCH = "_retry_connection" in aiohttp.ClientSession.ATTRS
_SAFE_METHODS = ("GET", "HEAD")


class _NoResendSession(AIOHTTPSession):  # type: ignore[misc]  # aiobotocore is untyped
    """aiobotocore's HTTP session without aiohttp's resend of a PUT or DELETE.

    aiohttp sends an idempotent request (PUT and DELETE among them) a second time when
    its connection drops before the answer, and botocore never learns of the first
    attempt: a conditional write that acted and lost its answer then gets the 412 of
    its own write, with no retry to tell it may have won. Turned off, botocore sees the
    dropped connection; the write's caller then reads what the server holds (see
    :class:`RetriedConflict`, ``_no_blind_resend``). A GET or HEAD, which can not act,
    is sent again at once, as aiohttp 3.11 on did (3.9 did not): on a pooled connection
    the server had closed, botocore's retry would wait for its back-off first (0.5 s on
    average).
    """

    async def _get_session(self, proxy_url: str | None) -> aiohttp.ClientSession:
        session: aiohttp.ClientSession = await super()._get_session(proxy_url)
        if _RESEND_SWITCH:
            session._retry_connection = False
        return session

    async def send(self, request: Any) -> Any:
        try:
            return await super().send(request)
        except ConnectionClosedError:
            if request.method not in _SAFE_METHODS:
                raise
        return await super().send(request)


class NotModified(enum.Enum):
    """The answer of a conditional read whose object still has the given ETag."""

    NOT_MODIFIED = "not modified"


NOT_MODIFIED = NotModified.NOT_MODIFIED


class _BytesReader(io.RawIOBase):
    """A seekable read-only file over bytes, for request bodies.

    botocore wraps a bytes body in a BytesIO, which aiohttp then copies whole
    (``getbuffer``) and sends in copied chunks: for 64 MiB that cost 24 ms of CPU more
    than boto3's sendall. botocore reads this file to sign and checksum it, and rewinds
    it to retry; aiohttp sends it as a :class:`_BytesPayload`, without a copy.
    """

    def __init__(self, data: bytes) -> None:
        self._view = memoryview(data)
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        piece = self._view[self._position : self._position + len(buffer)]
        buffer[: len(piece)] = piece
        self._position += len(piece)
        return len(piece)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: len(self._view)}
        self._position = base[whence] + offset
        return self._position

    def tell(self) -> int:
        return self._position

    def rest(self) -> memoryview:
        """The bytes from the position on, not copied."""
        return self._view[self._position :]


class _BytesPayload(aiohttp.payload.Payload):
    """How aiohttp sends a :class:`_BytesReader` (aiobotocore hands it over in a proxy):
    slices of its bytes from the position botocore left it at, none of them copied."""

    def __init__(self, value: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(value, *args, **kwargs)
        self._size = len(value.rest())

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        return bytes(self._value.rest()).decode(encoding, errors)

    async def write(self, writer: Any) -> None:
        rest = self._value.rest()
        for start in range(0, len(rest), _SEND_PIECE):
            await writer.write(rest[start : start + _SEND_PIECE])


aiohttp.payload.register_payload(_BytesPayload, _BytesReader, order=aiohttp.payload.Order.try_first)


def _expect_only_large(params: dict[str, Any], **_: Any) -> None:
    """Take back botocore's ``Expect: 100-continue`` from a small request body.

    botocore asks it for every PutObject and UploadPart body: the body waits for the
    server's go-ahead, and one the server refuses (a 412) is never sent. That pays for a
    large body only. A server answers an empty or small one without the go-ahead, and
    aiohttp then closes the connection (it can not tell the body was not needed): every
    claim and record cost a new connection, on the critical path of a publish.
    """
    headers = params.get("headers", {})
    if (
        "Expect" in headers
        and (botocore.utils.determine_content_length(params.get("body")) or 0) < _EXPECT_FROM
    ):
        del headers["Expect"]


@dataclass(frozen=True)
class ObjectInfo:
    """What a HEAD, GET or listing tells about one object."""

    key: str
    etag: str
    last_modified: datetime
    size: int
    metadata: Mapping[str, str] = field(default_factory=dict)
    content_type: str | None = None
    listed: bool = False  # from a listing: metadata and content type were not told


@dataclass(frozen=True)
class WriteResult:
    """ETag and server time of a successful write (and the token of a conditional one)."""

    etag: str
    last_modified: datetime
    token: str | None = None


def quoted(etag: str) -> str:
    """An ETag as HEAD and GET spell it, in quotes (SeaweedFS answers copies without)."""
    return f'"{etag.strip(chr(34))}"' if etag else etag


def _object_info(key: str, response: Mapping[str, Any], size: int) -> ObjectInfo:
    return ObjectInfo(
        key=key,
        etag=quoted(response["ETag"]),
        last_modified=response["LastModified"],
        size=size,
        metadata=response.get("Metadata", {}),
        content_type=response.get("ContentType"),
    )


class TooLarge(CorruptDocumentError):
    """A document larger than its reader takes. ``info`` tells what the GET found, and
    ``revision`` is its ETag: a writer may still replace it (If-Match)."""

    def __init__(
        self, key: str, detail: str, revision: str | None = None, info: ObjectInfo | None = None
    ) -> None:
        super().__init__(key, detail, revision)
        self.info = info


async def _read_body(key: str, resp: Mapping[str, Any], limit: int | None) -> bytes:
    """A GET's body, of at most ``limit`` bytes (None: any): a larger one raises TooLarge
    from its Content-Length, or as soon as more arrived, so at most ``limit`` + 1 bytes
    are ever held."""
    # The body itself, not what its ``async with`` gives: aiobotocore 2.x gives aiohttp's
    # response there, whose read() takes no size.
    stream = resp["Body"]
    async with stream:
        if limit is None:
            whole: bytes = await stream.read()
            return whole
        announced = resp.get("ContentLength")
        if isinstance(announced, int) and announced > limit:
            raise _too_large(key, resp, limit, f"{announced:,} bytes")
        pieces: list[bytes] = []
        held = 0
        while piece := await stream.read(min(_READ_PIECE, limit + 1 - held)):
            pieces.append(piece)
            held += len(piece)
            if held > limit:
                raise _too_large(key, resp, limit, "more bytes than its Content-Length said")
        return b"".join(pieces)


def _checked(kwargs: dict[str, Any], verified: bool) -> dict[str, Any]:
    """GetObject's arguments, asking botocore to check the server's checksum of the body
    unless the caller checks it against a sha256 it knew before (``verified``).

    For a 20 MiB read that checksum (CRC32) costs 6 ms of CPU beside the sha256's 13;
    it stays wherever the bytes are not checked otherwise: documents, and the reads
    that learn the sha256 of an object another tool wrote.
    """
    return kwargs if verified else {**kwargs, "ChecksumMode": "ENABLED"}


def _too_large(key: str, resp: Mapping[str, Any], limit: int, size: str) -> TooLarge:
    info = _object_info(key, resp, resp.get("ContentLength") or 0)
    detail = f"{size}, more than the {limit:,} it may hold; not read"
    return TooLarge(key, detail, info.etag.strip('"'), info)


def parse_timestamp(value: Any) -> datetime:
    """botocore's timestamp parser, with a fast path for the ISO 8601 form of listings.

    botocore parses every ``LastModified`` with dateutil, about 26 µs a value here: 40%
    of its CPU for a listing page of 1,000 keys. ``fromisoformat`` takes 0.2 µs and gives
    the same instant. Any other form (HTTP dates in headers) goes to botocore's parser.
    """
    if isinstance(value, str) and value.endswith("Z"):
        with contextlib.suppress(ValueError):
            return datetime.fromisoformat(value[:-1] + "+00:00")
    parsed: datetime = botocore.utils.parse_timestamp(value)
    return parsed


def server_time(response: Mapping[str, Any]) -> datetime | None:
    """The server's clock from a response's Date header (None if it sent none).

    Safety decisions take times from here and from LastModified, never from the
    client's clock.
    """
    date = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
    if not date:
        return None
    with contextlib.suppress(TypeError, ValueError, OverflowError):  # year 1 at +01:00
        return email.utils.parsedate_to_datetime(date).astimezone(timezone.utc)
    return None


def botocore_error(
    operation: str, bucket: str, key: str | None, err: BotoCoreError
) -> StorageError:
    """The library's error for a botocore failure that is not an S3 answer."""
    kind = CredentialsNotFoundError if isinstance(err, NoCredentialsError) else StorageError
    return kind(operation, bucket, key, type(err).__name__, str(err))


def _write_time(response: Mapping[str, Any]) -> datetime:
    """When a write happened, for reports: the server's Date, else the client's clock."""
    return server_time(response) or datetime.now(timezone.utc)


class S3:
    """A bucket seen through one aiobotocore client, with a bound on requests in flight."""

    def __init__(
        self,
        client: Any,
        bucket: str,
        region: str | None,
        limit: int,
        *,
        expected_bucket_owner: str | None = None,
        write_args: Mapping[str, str] | None = None,
    ) -> None:
        self._client = client
        self.bucket = bucket
        self._region = region
        self.limit = limit  # requests in flight at most
        self._limiter = anyio.CapacityLimiter(limit)
        self._owner: dict[str, str] = {}
        self._source_owner: dict[str, str] = {}
        if expected_bucket_owner:
            self._owner["ExpectedBucketOwner"] = expected_bucket_owner
            self._source_owner["ExpectedSourceBucketOwner"] = expected_bucket_owner
        self._write_args = dict(write_args or {})
        self.guard: Guard | None = None  # set by a repository that requires conditions
        for operation in ("CopyObject", "PutObject"):
            client.meta.events.register_first(f"needs-retry.s3.{operation}", _no_blind_resend)
        # After botocore's own handler, which sits at this level.
        client.meta.events.register_last("before-call.s3", _expect_only_large)

    @property
    def endpoint_url(self) -> str:
        """Where requests go, as botocore resolved it (arguments, environment, config)."""
        return str(self._client.meta.endpoint_url)

    def _args(self, **kwargs: Any) -> dict[str, Any]:
        """Request arguments with the bucket and the expected owner on every request."""
        return {"Bucket": self.bucket, **self._owner, **kwargs}

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(
        cls,
        bucket: str,
        *,
        region: str | None,
        endpoint_url: str | None,
        profile: str | None,
        max_concurrency: int,
        expected_bucket_owner: str | None = None,
        write_args: Mapping[str, str] | None = None,
        connect_timeout: float = 10.0,
        max_attempts: int = 5,
    ) -> AsyncIterator[S3]:
        """Create the client on the running loop and close it on exit."""
        config = AioConfig(
            max_pool_connections=max_concurrency,
            retries={"mode": "standard", "max_attempts": max_attempts},
            # SigV4 for presigned URLs too (botocore presigns S3 with SigV2 by default,
            # which AWS refuses for buckets made since 2020); requests use it already.
            signature_version="s3v4",
            connect_timeout=connect_timeout,
            read_timeout=60,
            http_session_cls=_NoResendSession,
            # Responses are checked (CRC32 and the like) only where a read asks for it
            # (``_checked``): every read but those of bytes the caller checks against
            # their sha256, for which a second checksum only costs CPU.
            response_checksum_validation="when_required",
        )
        session = AioSession(profile=profile)
        session.get_component("response_parser_factory").set_parser_defaults(
            timestamp_parser=parse_timestamp
        )
        try:
            async with contextlib.AsyncExitStack() as stack:
                creator = session.create_client(
                    "s3", region_name=region, endpoint_url=endpoint_url, config=config
                )
                try:
                    client = await stack.enter_async_context(creator)
                except ValueError as err:  # an endpoint from the environment or a config file
                    raise InvalidInputError(
                        "AWS_ENDPOINT_URL", f"{err}; give an http(s) URL with a host"
                    ) from err
                yield cls(
                    client,
                    bucket,
                    region or client.meta.region_name,
                    max_concurrency,
                    expected_bucket_owner=expected_bucket_owner,
                    write_args=write_args,
                )
        except BotoCoreError as err:
            raise botocore_error("Connect", bucket, None, err) from err

    @contextlib.asynccontextmanager
    async def _request(
        self, operation: str, key: str | None, missing_ok: bool = False
    ) -> AsyncIterator[None]:
        # Borrowed for a token, not for the task: a streamed body (open()) may be closed
        # by another task than the one that opened it (the sync facade's portal hops).
        token = object()
        await self._limiter.acquire_on_behalf_of(token)
        try:
            try:
                yield
            except ClientError as err:
                error = err.response.get("Error", {})
                code = str(error.get("Code", "Unknown"))
                message = str(error.get("Message", "")) or str(err)
                if code == "NoSuchBucket":
                    raise BucketNotFoundError(
                        operation, self.bucket, key, code, "bucket does not exist; run bootstrap()"
                    ) from err
                retried = bool(err.response.get("ResponseMetadata", {}).get("RetryAttempts"))
                if code in _CONFLICT_CODES:
                    conflict = RetriedConflict if retried else VersionConflictError
                    raise conflict(key or self.bucket, f"{operation}: {message}") from err
                if missing_ok and code in _MISSING_CODES:
                    raise ObjectMissing(key, retried) from err
                raise StorageError(operation, self.bucket, key, code, message) from err
            except BotoCoreError as err:
                raise botocore_error(operation, self.bucket, key, err) from err
        finally:
            self._limiter.release_on_behalf_of(token)

    async def bucket_exists(self) -> bool:
        try:
            async with self._request("HeadBucket", None, missing_ok=True):
                await self._client.head_bucket(**self._args())
        except (ObjectMissing, BucketNotFoundError):
            return False
        return True

    async def create_bucket(self) -> None:
        kwargs: dict[str, Any] = {"Bucket": self.bucket}
        if self._region and self._region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self._region}
        try:
            async with self._request("CreateBucket", None):
                await self._client.create_bucket(**kwargs)
        except StorageError as err:
            if err.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise

    async def ensure_bucket(self) -> None:
        """Raise BucketNotFoundError if the bucket is missing.

        Called where a 404 is about to become a "not found" error: HEAD responses
        carry no error code, so a missing key and a missing bucket look alike.
        """
        if not await self.bucket_exists():
            raise BucketNotFoundError(
                "HeadBucket",
                self.bucket,
                None,
                "NoSuchBucket",
                "bucket does not exist; run bootstrap()",
            )

    async def head(self, key: str) -> ObjectInfo | None:
        """Metadata of ``key``, or None when it does not exist."""
        try:
            async with self._request("HeadObject", key, missing_ok=True):
                resp = await self._client.head_object(**self._args(Key=key))
        except ObjectMissing:
            return None
        return ObjectInfo(
            key=key,
            etag=quoted(resp["ETag"]),
            last_modified=resp["LastModified"],
            size=resp["ContentLength"],
            metadata=resp.get("Metadata", {}),
            content_type=resp.get("ContentType"),
        )

    async def presign_get(self, key: str, expires_in: int) -> str:
        """A GET URL of ``key``, signed for ``expires_in`` seconds; sends no request.

        Without ExpectedBucketOwner: its header would be part of the signature, and
        whoever downloads would have to send it.
        """
        try:
            url = await self._client.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_in
            )
        except BotoCoreError as err:  # no credentials, say
            raise botocore_error("PresignGetObject", self.bucket, key, err) from err
        return str(url)

    async def first_part(self, key: str) -> tuple[int, int] | None:
        """``(size, number of parts)`` that HeadObject with PartNumber=1 tells of a
        multipart object; None when the server tells no parts or the object is gone."""
        try:
            async with self._request("HeadObject", key, missing_ok=True):
                resp = await self._client.head_object(**self._args(Key=key, PartNumber=1))
        except ObjectMissing:
            return None
        count, size = resp.get("PartsCount"), resp.get("ContentLength")
        return (size, count) if isinstance(count, int) and isinstance(size, int) else None

    async def get(
        self, key: str, *, limit: int | None, verified: bool = False
    ) -> tuple[bytes, ObjectInfo] | None:
        """Body and metadata of ``key``, or None when it does not exist.

        ``limit``: the most bytes the caller takes (None: any size, for artifact
        content). A larger object raises :class:`TooLarge` (a CorruptDocumentError)
        from its Content-Length, before its body is read, or once the body passes the
        limit: never more than ``limit`` + 1 bytes are held. ``verified``: the caller
        checks the bytes against a sha256 it knows, so the server's checksum is not
        checked too (see ``_checked``).
        """
        try:
            async with self._request("GetObject", key, missing_ok=True):
                resp = await self._client.get_object(**_checked(self._args(Key=key), verified))
                body = await _read_body(key, resp, limit)
        except ObjectMissing:
            return None
        return body, _object_info(key, resp, len(body))

    async def put(
        self,
        key: str,
        body: bytes,
        *,
        metadata: Mapping[str, str] | None = None,
        content_type: str | None = None,
        if_none_match: bool = False,
        if_match: str | None = None,
        token: str | None = None,
        resend_lost: bool = True,
        lost_before: bool = False,
        checked: bool = True,
    ) -> WriteResult:
        """Write ``key``.

        ``if_none_match`` makes it fail with VersionConflictError if the key exists,
        ``if_match`` unless the key exists with that ETag. A conditional write carries
        a token in the metadata (``TOKEN_KEY``: ``token``, else a new one), returned in
        the result: when an attempt's answer was lost, or botocore retried it and the
        retry lost, the key is read, and if it holds this token the write is done. A
        create-only write whose answer was lost and that left no object is sent again,
        or with ``resend_lost=False`` raises LostWrite for the caller to decide. Once an
        attempt was lost (or, with ``lost_before``, an earlier call with this token), it
        may still land late, before a later attempt: any conflict reads the key too.
        A conditional write first awaits ``guard`` (which raises where the server ignores
        the conditions), unless ``checked=False``: a write that rests on no guarantee
        (a cache) or a probe of the server itself.
        """
        if if_none_match or if_match is not None:
            if checked and self.guard is not None:
                await self.guard(key)
            token = token or uuid.uuid4().hex
        metadata = {**(metadata or {}), **({TOKEN_KEY: token} if token else {})}
        kwargs = self._args(Key=key, **self._write_args)
        if metadata:
            kwargs["Metadata"] = metadata
        if content_type:
            kwargs["ContentType"] = content_type
        if if_none_match:
            kwargs["IfNoneMatch"] = "*"
        if if_match is not None:
            kwargs["IfMatch"] = if_match
        lost = lost_before
        for _ in range(_LOST_ATTEMPTS):
            try:
                try:
                    async with self._request("PutObject", key, missing_ok=True):
                        resp = await self._client.put_object(Body=_BytesReader(body), **kwargs)
                except ObjectMissing as err:  # If-Match on a key that does not exist
                    conflict = RetriedConflict if err.retried else VersionConflictError
                    raise conflict(key, "the object does not exist") from err.__cause__
            except _ResendRefused:
                if (found := await self.head(key)) is None:
                    if resend_lost:
                        lost = True
                        continue
                    raise LostWrite(
                        key, "PutObject: its answer was lost; it is not there"
                    ) from None
                if found.metadata.get(TOKEN_KEY) == token:
                    return WriteResult(found.etag, found.last_modified, token)
                raise RetriedConflict(key, "PutObject: its answer was lost") from None
            except VersionConflictError as err:
                if not (lost or isinstance(err, RetriedConflict)):
                    raise
                if (found := await self.head(key)) and found.metadata.get(TOKEN_KEY) == token:
                    return WriteResult(found.etag, found.last_modified, token)
                if isinstance(err, RetriedConflict):
                    raise
                raise RetriedConflict(key, err.detail) from err
            return WriteResult(quoted(resp["ETag"]), _write_time(resp), token)
        raise StorageError(
            "PutObject", self.bucket, key, "AnswerLost", f"no answer in {_LOST_ATTEMPTS} tries"
        )

    async def delete_if(self, key: str, etag: str) -> datetime | None:
        """Delete ``key`` only while it has ``etag`` (If-Match); when it went, or None.

        None when the key holds another ETag: someone else wrote it since. A key
        already gone counts as deleted (a retried delete whose first attempt won);
        the time is then the server's when it was found gone (a deletion record is
        dated by it: never by the client's clock).
        """
        try:
            async with self._request("DeleteObject", key, missing_ok=True):
                resp = await self._client.delete_object(**self._args(Key=key, IfMatch=etag))
        except ObjectMissing:
            return await self._gone_at(key)
        except RetriedConflict:
            return None if await self.head(key) else await self._gone_at(key)
        except VersionConflictError:
            return None
        return _write_time(resp)

    async def _gone_at(self, key: str) -> datetime:
        """The server's time now, for a key found gone (a listing's Date)."""
        _, now = await self.list_timed(key)
        return now or datetime.now(timezone.utc)

    async def copy(
        self,
        source: str,
        target: str,
        *,
        source_etag: str,
        metadata: Mapping[str, str] | None = None,
        content_type: str | None = None,
        if_none_match: bool = True,
    ) -> WriteResult:
        """Server-side copy of ``source`` (only while it has ``source_etag``) to ``target``.

        The copy keeps the source's metadata and content type unless ``metadata`` is
        given (then both are replaced). Raises ObjectMissing when the source is gone and
        VersionConflictError when the source changed or, with ``if_none_match``, the
        target exists (on servers that enforce the conditions). A create-only copy that
        failed is never sent again by botocore: RetriedConflict, since it may have landed.
        """
        kwargs = self._args(Key=target, **self._write_args)
        if if_none_match:
            kwargs["IfNoneMatch"] = "*"
        if metadata is None:
            kwargs["MetadataDirective"] = "COPY"
        else:
            kwargs.update(MetadataDirective="REPLACE", Metadata=dict(metadata))
            if content_type:
                kwargs["ContentType"] = content_type
        try:
            async with self._request("CopyObject", target, missing_ok=True):
                resp = await self._client.copy_object(
                    **kwargs,
                    **self._source_owner,
                    CopySource={"Bucket": self.bucket, "Key": source},
                    CopySourceIfMatch=source_etag,
                )
        except _ResendRefused:
            raise RetriedConflict(target, "CopyObject: its answer was lost") from None
        result = resp["CopyObjectResult"]
        return WriteResult(etag=quoted(result["ETag"]), last_modified=result["LastModified"])

    async def first_numbered(
        self, directory: str, parse: Callable[[str], int | None], start_after: str | None = None
    ) -> tuple[int, ObjectInfo] | None:
        """The first key under ``directory`` that ``parse`` maps to a number, reading few keys.

        In a reverse-sorted folder (versions, claims, history) that is the highest number.
        Keys that ``parse`` rejects with ValueError, or maps to None, are skipped.
        """
        async for page in self.pages(directory, start_after=start_after, page_size=8):
            for info in page:
                with contextlib.suppress(ValueError):
                    if (number := parse(info.key)) is not None:
                        return number, info
        return None

    async def create_first_free(
        self,
        key_of: Callable[[int], str],
        start: int,
        body_of: Callable[[int], bytes],
        attempts: int = 64,
    ) -> int:
        """Create the first key ``key_of(n)``, n = start, start + 1 ..., that does not exist.

        Each try is a conditional write (If-None-Match), so concurrent writers never
        create the same key. ``key_of`` raises ValueError past its last number; ``start``
        must have a key.
        """
        first = key = key_of(start)
        number = start
        for _ in range(attempts):
            try:
                await self.put(key, body_of(number), if_none_match=True)
            except VersionConflictError:
                number += 1
                try:
                    key = key_of(number)
                except ValueError:
                    break
                continue
            return number
        raise VersionConflictError(first, f"no free number from {start} to {number - 1}")

    async def pages(
        self, prefix: str, *, start_after: str | None = None, page_size: int = 1000
    ) -> AsyncIterator[list[ObjectInfo]]:
        """Objects under ``prefix`` in key order, one list per ListObjectsV2 page."""
        async for page, _ in self._timed_pages(prefix, start_after, page_size):
            yield page

    async def _timed_pages(
        self, prefix: str, start_after: str | None, page_size: int
    ) -> AsyncIterator[tuple[list[ObjectInfo], datetime | None]]:
        kwargs = self._args(Prefix=prefix, MaxKeys=page_size)
        if start_after:
            kwargs["StartAfter"] = start_after
        while True:
            async with self._request("ListObjectsV2", prefix):
                resp = await self._client.list_objects_v2(**kwargs)
            page = [
                ObjectInfo(
                    key=item["Key"],
                    etag=quoted(item.get("ETag", "")),
                    last_modified=item["LastModified"],
                    size=item.get("Size", 0),
                    listed=True,
                )
                for item in resp.get("Contents", [])
            ]
            yield page, server_time(resp)
            token = resp.get("NextContinuationToken")
            if not resp.get("IsTruncated") or not token:
                return
            kwargs["ContinuationToken"] = token

    async def list_all(self, prefix: str) -> list[ObjectInfo]:
        """Every object under ``prefix``, in key order."""
        return (await self.list_timed(prefix))[0]

    async def list_timed(self, prefix: str) -> tuple[list[ObjectInfo], datetime | None]:
        """Every object under ``prefix``, and the server's time when the listing began
        (None if the server sent no Date)."""
        found: list[ObjectInfo] = []
        times: list[datetime | None] = []
        async for page, when in self._timed_pages(prefix, None, 1000):
            found.extend(page)
            times.append(when)
        return found, times[0]

    async def list_dirs(self, prefix: str) -> list[str]:
        """The immediate sub-folders of ``prefix`` (common prefixes), with their trailing ``/``."""
        kwargs = self._args(Prefix=prefix, Delimiter="/")
        dirs: list[str] = []
        while True:
            async with self._request("ListObjectsV2", prefix):
                resp = await self._client.list_objects_v2(**kwargs)
            dirs.extend(p["Prefix"] for p in resp.get("CommonPrefixes", []))
            token = resp.get("NextContinuationToken")
            if not resp.get("IsTruncated") or not token:
                return dirs
            kwargs["ContinuationToken"] = token

    async def delete(self, keys: list[str]) -> datetime:
        """Delete ``keys`` (missing ones are fine), 1000 per DeleteObjects, batches concurrently.

        Returns the server time of the (last) response.
        """

        async def batch(chunk: list[str]) -> datetime:
            async with self._request("DeleteObjects", chunk[0]):
                resp = await self._client.delete_objects(
                    **self._args(),
                    Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True},
                )
            if errors := resp.get("Errors"):
                first = errors[0]
                raise StorageError(
                    "DeleteObjects",
                    self.bucket,
                    first.get("Key"),
                    first.get("Code", "Unknown"),
                    f"{len(errors)} of {len(chunk)} keys not deleted: {first.get('Message', '')}",
                )
            return _write_time(resp)

        chunks = [keys[start : start + DELETE_BATCH] for start in range(0, len(keys), DELETE_BATCH)]
        times = await gather(partial(batch, chunk) for chunk in chunks)
        return max(times, default=datetime.now(timezone.utc))

    # -- large objects: streamed reads, ranges, multipart and conditional reads ---------

    async def get_if_changed(
        self, key: str, etag: str, *, limit: int | None
    ) -> tuple[bytes, ObjectInfo] | NotModified | None:
        """Like :meth:`get`, but NOT_MODIFIED (a 304 without a body) while ``key`` has ``etag``."""
        try:
            async with self._request("GetObject", key, missing_ok=True):
                try:
                    resp = await self._client.get_object(
                        **_checked(self._args(Key=key, IfNoneMatch=etag), verified=False)
                    )
                except ClientError as err:
                    if err.response.get("Error", {}).get("Code") in _NOT_MODIFIED_CODES:
                        return NOT_MODIFIED
                    raise
                body = await _read_body(key, resp, limit)
        except ObjectMissing:
            return None
        return body, _object_info(key, resp, len(body))

    @contextlib.asynccontextmanager
    async def open(
        self, key: str, *, if_match: str | None = None, verified: bool = False
    ) -> AsyncIterator[tuple[ObjectInfo, Callable[[int], Awaitable[bytes]]]]:
        """Stream ``key``: yields its info and ``read(n)``, which returns n bytes (fewer at end).

        Raises ObjectMissing when the key does not exist and VersionConflictError when
        it no longer has the ETag ``if_match``. The request slot and the connection are
        held until exit, which may happen in another task than the entry. ``verified``:
        as in :meth:`get`.
        """
        kwargs = _checked(self._args(Key=key), verified)
        if if_match is not None:
            kwargs["IfMatch"] = if_match
        async with self._request("GetObject", key, missing_ok=True):
            resp = await self._client.get_object(**kwargs)
            # Read the body itself: aiobotocore before 3.x enters the aiohttp response,
            # whose read() takes no size.
            stream = resp["Body"]
            async with stream:

                async def read(size: int) -> bytes:
                    pieces: list[bytes] = []
                    wanted = size
                    while wanted > 0 and (piece := await stream.read(wanted)):
                        pieces.append(piece)
                        wanted -= len(piece)
                    return b"".join(pieces)

                yield _object_info(key, resp, resp["ContentLength"]), read

    async def get_range(
        self, key: str, first: int, last: int, *, if_match: str, verified: bool = False
    ) -> bytes:
        """Bytes ``first`` to ``last`` (inclusive) of ``key``, only while it has ETag ``if_match``.

        Raises ObjectMissing when the key is gone, VersionConflictError when it changed,
        and RangeIgnored when the server answers with other bytes than those asked for
        (some servers and proxies ignore Range: a 200 with the whole object, whose body
        is then not read). At most the range's size plus one byte is held.
        ``verified``: as in :meth:`get`.
        """
        size = last - first + 1
        kwargs = self._args(Key=key, Range=f"bytes={first}-{last}", IfMatch=if_match)
        async with self._request("GetObject", key, missing_ok=True):
            resp = await self._client.get_object(**_checked(kwargs, verified))
            status = resp.get("ResponseMetadata", {}).get("HTTPStatusCode")
            answered = str(resp.get("ContentRange") or "none")
            body = b""
            if status == 206 and answered.startswith(f"bytes {first}-{last}/"):
                body = await _read_body(key, resp, size)
            else:
                async with resp["Body"]:  # closed with its body unread
                    pass
            if len(body) != size:
                raise RangeIgnored(
                    "GetObject",
                    self.bucket,
                    key,
                    "RangeIgnored",
                    f"asked for bytes {first}-{last}, the server answered status {status}, "
                    f"Content-Range {answered}, {len(body):,} bytes read",
                )
        return body

    async def create_multipart(
        self,
        key: str,
        *,
        metadata: Mapping[str, str],
        content_type: str | None,
        exclusive: bool = False,
    ) -> str:
        """Start a multipart upload of ``key``; returns its upload id.

        ``exclusive``: no one else uploads to ``key`` (a key of this call's own). When
        botocore retried the request, an attempt whose response was lost may have
        started an upload too; every other upload of an exclusive key is such a one
        and is aborted, so none is left behind.
        """
        kwargs = self._args(Key=key, Metadata=dict(metadata), **self._write_args)
        if content_type:
            kwargs["ContentType"] = content_type
        async with self._request("CreateMultipartUpload", key):
            resp = await self._client.create_multipart_upload(**kwargs)
        upload_id: str = resp["UploadId"]
        if exclusive and resp.get("ResponseMetadata", {}).get("RetryAttempts"):
            with contextlib.suppress(StorageError):  # else the lifecycle rule's work
                async with self._request("ListMultipartUploads", key):
                    listed = await self._client.list_multipart_uploads(**self._args(Prefix=key))
                for upload in listed.get("Uploads", []):
                    if upload.get("Key") == key and upload.get("UploadId") != upload_id:
                        await self.abort_multipart(key, upload["UploadId"])
        return upload_id

    async def upload_part(self, key: str, upload_id: str, number: int, body: bytes) -> str:
        """Upload part ``number`` (1-based); returns its ETag."""
        async with self._request("UploadPart", key):
            resp = await self._client.upload_part(
                **self._args(
                    Key=key, UploadId=upload_id, PartNumber=number, Body=_BytesReader(body)
                )
            )
        etag = quoted(resp["ETag"])
        return etag

    async def copy_part(
        self,
        key: str,
        upload_id: str,
        number: int,
        *,
        source: str,
        source_etag: str,
        first: int,
        last: int,
    ) -> str:
        """Copy bytes ``first`` to ``last`` of ``source`` (while it has ``source_etag``) as a part.

        Raises ObjectMissing when the source is gone and VersionConflictError when it
        changed. Returns the part's ETag.
        """
        async with self._request("UploadPartCopy", key, missing_ok=True):
            resp = await self._client.upload_part_copy(
                **self._args(Key=key, UploadId=upload_id, PartNumber=number),
                **self._source_owner,
                CopySource={"Bucket": self.bucket, "Key": source},
                CopySourceRange=f"bytes={first}-{last}",
                CopySourceIfMatch=source_etag,
            )
        etag = quoted(resp["CopyPartResult"]["ETag"])
        return etag

    async def complete_multipart(
        self, key: str, upload_id: str, etags: list[str], *, if_none_match: bool = False
    ) -> WriteResult:
        """Assemble the parts (ETags in part order) into ``key``, atomically.

        With ``if_none_match`` it fails with VersionConflictError if ``key`` exists.
        """
        kwargs = self._args(
            Key=key,
            UploadId=upload_id,
            MultipartUpload={
                "Parts": [{"PartNumber": n, "ETag": etag} for n, etag in enumerate(etags, 1)]
            },
        )
        if if_none_match:
            kwargs["IfNoneMatch"] = "*"
        async with self._request("CompleteMultipartUpload", key):
            resp = await self._client.complete_multipart_upload(**kwargs)
        return WriteResult(etag=quoted(resp["ETag"]), last_modified=_write_time(resp))

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        """Abort a multipart upload and free its parts."""
        async with self._request("AbortMultipartUpload", key):
            await self._client.abort_multipart_upload(**self._args(Key=key, UploadId=upload_id))
