"""Pydantic documents: :class:`Artifact`, :class:`Alias` and the stored alias JSON."""

from __future__ import annotations

import hashlib
import json
import random
from datetime import datetime, timezone
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from ._keys import MAX_SEQUENCE, parse_version, version_str
from .errors import CorruptDocumentError, InvalidInputError

# The exact keys of an alias document: ``versioned`` 1.x rejects any other key.
ALIAS_DOCUMENT_FIELDS = (
    "name",
    "alias",
    "update_at",
    "version",
    "secondary_version",
    "secondary_version_weight",
    "version_s3uri",
    "secondary_version_s3uri",
)
_DATETIME = TypeAdapter(datetime)


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("must be timezone-aware")
    try:
        return value.astimezone(timezone.utc)
    except OverflowError as err:  # 0001-01-01T00:00+01:00 is before year 1 in UTC
        raise ValueError(f"{value.isoformat()} is out of range in UTC") from err


def _canonical_version(value: str | None) -> str | None:
    """A stored version in its one public form: ``"LATEST"`` or a decimal without leading
    zeros (``versioned`` 1.x strips them too: ``"03"`` is version 3)."""
    return None if value is None else version_str(parse_version(value))


def split_s3uri(s3uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` to ``(bucket, key)``."""
    bucket, _, key = s3uri.removeprefix("s3://").partition("/")
    return bucket, key


class Artifact(BaseModel):
    """One version of an artifact: LATEST or an immutable number.

    ``version`` is ``"LATEST"`` or a decimal string; ``sha256`` is the hex digest of
    the content; ``update_at`` is the S3 modification time (UTC); ``size`` is in bytes.
    ``content_type`` and ``metadata`` are what the content was put with:
    ``metadata`` holds the user's keys only (as S3 returns them: lowercase), without
    those the libraries keep for themselves; ``{}`` means the version has none. Both
    are None when the call did not read them (unknown, not empty): a listing
    (``list_artifact_versions`` without ``details=True``, LATEST excepted, and
    ``purge_artifact_versions``) and a ``publish_artifact_version`` that found LATEST
    published already read keys and sizes only. ``get_artifact_version`` (one HEAD)
    or ``details=True`` fills them. ``unchanged``
    is True only when the call that returned it wrote nothing: ``put_artifact`` found
    the same bytes (and content type and metadata) in LATEST, or
    ``publish_artifact_version`` found LATEST already published as this version.
    """

    model_config = ConfigDict(frozen=True)

    name: str
    version: str
    update_at: datetime
    s3uri: str
    sha256: str
    size: int | None = None
    content_type: str | None = None
    metadata: dict[str, str] | None = Field(default_factory=dict)
    unchanged: bool = False

    _check_update_at = field_validator("update_at")(_utc)

    def __hash__(self) -> int:  # hashable as before metadata, a dict, was a field
        items = None if self.metadata is None else tuple(sorted(self.metadata.items()))
        return hash((self.name, self.version, self.update_at, self.s3uri, self.sha256, items))

    @property
    def console_url(self) -> str:
        """Link to this object in the AWS S3 console."""
        bucket, key = split_s3uri(self.s3uri)
        return f"https://console.aws.amazon.com/s3/object/{bucket}?prefix={quote(key)}"


class Alias(BaseModel):
    """A named pointer to a version, optionally splitting traffic with a second one.

    ``secondary_version_weight`` percent (0-99) of picks go to ``secondary_version``.
    """

    model_config = ConfigDict(frozen=True)

    name: str
    alias: str
    update_at: datetime
    version: str
    secondary_version: str | None = None
    secondary_version_weight: int | None = Field(default=None, ge=0, le=99)
    version_s3uri: str
    secondary_version_s3uri: str | None = None
    revision: str | None = None
    """Opaque token of the stored document (its ETag); pass it as ``expected_revision``."""

    _check_update_at = field_validator("update_at")(_utc)

    def random_artifact(self) -> str:
        """The s3 uri of the primary or the secondary version, in the configured proportion."""
        weight = self.secondary_version_weight or 0
        if self.secondary_version_s3uri is not None and random.randrange(100) < weight:
            return self.secondary_version_s3uri
        return self.version_s3uri

    def to_document(self) -> bytes:
        """The JSON body stored in S3, readable by ``versioned`` 1.x.

        ``update_at`` is written as ``datetime.isoformat()`` writes it ("+00:00", not
        "Z"), as ``versioned`` 1.x does: its ``datetime.fromisoformat`` on Python < 3.11
        refuses a "Z".
        """
        document = self.model_dump(mode="json", include=set(ALIAS_DOCUMENT_FIELDS))
        document["update_at"] = self.update_at.isoformat()
        return json.dumps(document, separators=(",", ":")).encode()

    def pick_version(self, key: str | None = None) -> str:
        """The version to serve: ``secondary_version`` for its weight in percent of picks.

        Without ``key`` the pick is random. With a key (a user id, a host name) it is
        sticky: the same key gets the same version for as long as the weight stays,
        in every process (sha256 of the artifact, alias and key, not Python's salted
        ``hash``), and raising the weight only moves keys from the primary version to
        the secondary one, never back.
        """
        if key is not None and not isinstance(key, str):
            raise InvalidInputError("key", f"must be None or a str, got {type(key).__name__}")
        weight = self.secondary_version_weight or 0
        if self.secondary_version is None or weight == 0:
            return self.version
        if key is None:
            bucket = random.randrange(100)
        else:
            digest = hashlib.sha256("\0".join((self.name, self.alias, key)).encode()).digest()
            bucket = int.from_bytes(digest[:8], "big") % 100
        return self.secondary_version if bucket < weight else self.version


class AliasChange(BaseModel):
    """One recorded change of an alias: what it pointed to before and after.

    ``version`` is None when the change deleted the alias; ``previous_version`` is
    None when it created it. ``update_at`` is the server time of the alias write and
    ``sequence`` the order in which changes were recorded (1, 2, 3 ...). ``restores``
    is set on a change made by ``rollback_alias``: the sequence of the change whose
    target it restored (see ``AsyncRepository.rollback_alias``).
    """

    model_config = ConfigDict(frozen=True)

    name: str
    alias: str
    sequence: int = Field(ge=1, le=MAX_SEQUENCE)
    update_at: datetime
    version: str | None
    secondary_version: str | None = None
    secondary_version_weight: int | None = Field(default=None, ge=0, le=99)
    revision: str | None = None
    previous_version: str | None = None
    previous_secondary_version: str | None = None
    previous_secondary_version_weight: int | None = Field(default=None, ge=0, le=99)
    previous_revision: str | None = None
    restores: int | None = Field(default=None, ge=1, le=MAX_SEQUENCE)

    _check_update_at = field_validator("update_at")(_utc)
    _check_versions = field_validator(
        "version", "secondary_version", "previous_version", "previous_secondary_version"
    )(_canonical_version)


def parse_alias_change(body: bytes, key: str) -> AliasChange:
    """Parse a stored history record; any defect raises CorruptDocumentError naming ``key``."""
    try:
        return AliasChange.model_validate_json(body)
    except ValueError as err:
        raise CorruptDocumentError(key, str(err)) from err


class _AliasDocument(BaseModel):
    """The stored alias JSON as ``versioned`` 1.x writes it (``update_at`` may be "unknown")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    alias: str
    update_at: str
    version: str
    secondary_version: str | None
    secondary_version_weight: int | None = Field(ge=0, le=99)
    version_s3uri: str
    secondary_version_s3uri: str | None


def parse_alias_document(
    body: bytes, key: str, last_modified: datetime, revision: str | None = None
) -> Alias:
    """Parse a stored alias; any defect raises CorruptDocumentError naming ``key`` (and
    carrying ``revision``, so that a compare-and-swap can still replace it).

    ``versioned`` 1.x stores ``"unknown"`` as ``update_at`` and reads the object's
    modification time instead; we do the same when the field holds no timestamp. A
    timestamp that has no UTC form (before year 1 or after 9999 once converted) makes
    the document corrupt. Versions are read in their canonical form (``"03"`` is
    ``"3"``, as ``versioned`` 1.x writes it).
    """
    try:
        doc = _AliasDocument.model_validate_json(body)
        version, secondary = (_canonical_version(doc.version), doc.secondary_version)
        secondary = _canonical_version(secondary)
        try:
            update_at = _DATETIME.validate_python(doc.update_at)
        except ValidationError:
            update_at = last_modified
        if update_at.tzinfo is None:
            update_at = update_at.replace(tzinfo=timezone.utc)
        if (doc.secondary_version is None) != (doc.secondary_version_s3uri is None):
            raise ValueError("secondary_version and secondary_version_s3uri disagree")
        return Alias(
            **{
                **doc.model_dump(),
                "update_at": update_at,
                "version": version,
                "secondary_version": secondary,
                "revision": revision,
            }
        )
    except ValueError as err:  # pydantic's ValidationError and InvalidInputError included
        raise CorruptDocumentError(key, str(err), revision) from err
