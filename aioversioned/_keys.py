"""The storage layout of ``versioned`` 1.x, and the rules for names and versions.

Pure functions only: nothing here sends a request.

S3 keys hold at most 1,024 bytes (UTF-8). A layout refuses a prefix and suffix, and a
name, whose longest key (:meth:`Layout.longest_key_bytes`) would exceed ``KEY_BUDGET``.

Right under the prefix, beside the artifacts' folders, are objects (never folders:
``versioned`` 1.x lists folders as artifacts) whose names start with '.', as no
artifact's does: ``{prefix}/.aioversioned-names{suffix}.json``, the names index of
each suffix (see _names.py), and the scratch objects of a server check.

A server check writes scratch objects ``{prefix}/.aioversioned-doctor-{run}-{part}`` for
the seconds it runs (:meth:`Layout.scratch_key`). Layout under
``s3://{bucket}/{prefix}/{name}/``::

    versions/000000_LATEST{suffix}      the mutable LATEST
    versions/999999_000001{suffix}      version 1 (newest sorts first)
    aliases/{alias}.json                alias documents
    .aioversioned/claims/999999_000001  number claims (aioversioned only)
    .aioversioned/uploads/{token}       streamed uploads in progress (aioversioned only)
    .aioversioned/history/{alias}/999999999999  alias changes, newest first (aioversioned only)
    .aioversioned/retired/999999_000001/{token}  one delete's tombstone of version 1
    .aioversioned/published/999999_000001_{etag}_{sha256}  sha256 of published versions
    .aioversioned/aliases-index.json    alias documents by ETag, read by list_aliases
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from .errors import InvalidInputError

LATEST = "LATEST"
MAX_VERSION = 999_999
SHA256_KEY = "artifact_sha256"  # object metadata of versioned 1.x
# The same key as s3fs's setxattr(artifact_sha256=...) stores it ('_' becomes '-').
SHA256_KEYS = (SHA256_KEY, "artifact-sha256")
NAME_KEY = "artifact_name"
# The content type put_artifact was asked for, when a server may store another one.
CONTENT_TYPE_KEY = "aioversioned-content-type"
RESERVED_METADATA = (NAME_KEY, *SHA256_KEYS, CONTENT_TYPE_KEY)
OWN_METADATA_PREFIX = "aioversioned-"  # every metadata key of this library starts so
_WIDTH = 6
_LATEST_STEM = "000000_LATEST"
_META_DIR = ".aioversioned"
_SCRATCH = ".aioversioned-doctor-"
_NAMES_INDEX = ".aioversioned-names"
_HISTORY_WIDTH = 12
_HISTORY_LIMIT = 1_000_000_000_000  # 10 ** _HISTORY_WIDTH
MAX_SEQUENCE = 99_999_999_999
"""The highest history record number: a change every millisecond for three years. A key
of a higher number is another tool's, not a record: it can not stop the next write."""

_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
_ALIAS_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
_STEM_RE = re.compile(r"([0-9]{6})_([0-9]{6})")  # ASCII: \d takes any script's digits
_SHA256_RE = re.compile(r"[0-9a-f]{64}")

MAX_KEY_BYTES = 1024  # S3's limit on a key, in UTF-8 bytes
KEY_BUDGET = 1000
"""The longest key a layout builds: 24 bytes of S3's 1,024 are left for ETags longer
than ``_LONGEST_ETAG`` (other servers) and for keys added later."""
_LONGEST_ETAG = 40  # a multipart ETag is 32 hex digits, '-' and up to 5 digits
_LONGEST_ALIAS = "A" * 64  # _ALIAS_RE
_TOKEN = "0" * 32  # uuid4().hex, in upload and tombstone keys
_TOKEN_RE = re.compile("[0-9a-f]{32}")

VersionLike = int | str | None
"""A version as accepted from users: ``1``, ``"1"``, ``"000001"``, ``"LATEST"`` or ``None``."""


def is_sha256(value: object) -> bool:
    """Whether ``value`` is a sha256 as the library writes it: 64 lowercase hex digits."""
    return isinstance(value, str) and _SHA256_RE.fullmatch(value) is not None


def stored_sha256(metadata: Mapping[str, str]) -> str | None:
    """The sha256 recorded in an object's metadata, or None when missing or malformed.

    The metadata comes from the bucket, which other tools write too: anything but 64
    lowercase hex digits (a path, say) is treated as no sha256 at all. ``artifact-sha256``
    (s3fs's spelling) counts as the same key.
    """
    for key in SHA256_KEYS:
        if is_sha256(value := metadata.get(key)):
            return value
    return None


def validate_name(name: object, argument: str = "name") -> str:
    """Return ``name`` if it is a valid artifact name, else raise InvalidInputError."""
    if not isinstance(name, str):
        raise InvalidInputError(argument, f"must be a str, got {type(name).__name__}")
    if name in (".", "..") or not _NAME_RE.fullmatch(name):
        raise InvalidInputError(
            argument,
            f"{name!r} must be 1-128 characters of [A-Za-z0-9._-], not starting with '.' or '-'",
        )
    return name


def validate_alias(alias: object, argument: str = "alias") -> str:
    """Return ``alias`` if it is a valid alias name, else raise InvalidInputError."""
    if not isinstance(alias, str):
        raise InvalidInputError(argument, f"must be a str, got {type(alias).__name__}")
    if alias == LATEST or not _ALIAS_RE.fullmatch(alias):
        raise InvalidInputError(
            argument,
            f"{alias!r} must match [A-Za-z][A-Za-z0-9_]{{0,63}} and not be 'LATEST'",
        )
    return alias


MAX_READ_ALIAS_BYTES = 512


def readable_alias(alias: object, argument: str = "alias") -> str:
    """Return ``alias`` if it names an alias this library reads, else raise InvalidInputError.

    Wider than :func:`validate_alias`, the rule for names this library creates: any name
    ``versioned`` 1.x's put_alias stores at ``aliases/{alias}.json`` as spelled (it refuses
    only a '-'): ``2024_release``, ``prod.blue``, ``team/canary``, ``LATEST``. Still
    refused: '-', an empty name, control characters, a lone surrogate, more than 512
    bytes, and '/'-separated parts that are empty, '.' or '..' (a server that normalizes
    paths would read another key).
    """
    if not isinstance(alias, str):
        raise InvalidInputError(argument, f"must be a str, got {type(alias).__name__}")
    _check_utf8(alias, argument)
    if (
        not alias
        or "-" in alias
        or not alias.isprintable()
        or _utf8_size(alias) > MAX_READ_ALIAS_BYTES
        or any(part in ("", ".", "..") for part in alias.split("/"))
    ):
        raise InvalidInputError(
            argument,
            f"{alias!r} is no alias name: 1-{MAX_READ_ALIAS_BYTES} bytes of printable"
            " characters without '-', and no empty, '.' or '..' part between '/'",
        )
    return alias


def parse_version(version: object, argument: str = "version") -> int | None:
    """Parse a user's version: ``None`` for LATEST, else an int in 1..999999."""
    if version is None or version == LATEST:
        return None
    if isinstance(version, bool) or not isinstance(version, int | str):
        raise InvalidInputError(
            argument, f"must be an int, a decimal str or 'LATEST', got {type(version).__name__}"
        )
    if isinstance(version, str):
        if not (version.isascii() and version.isdigit()):
            raise InvalidInputError(argument, f"{version!r} must be a decimal number or 'LATEST'")
        number = int(version)
    else:
        number = version
    if not 1 <= number <= MAX_VERSION:
        raise InvalidInputError(argument, f"{version!r} must be between 1 and {MAX_VERSION}")
    return number


def version_str(number: int | None) -> str:
    """The public form of a version: ``"LATEST"`` or a decimal string."""
    return LATEST if number is None else str(number)


def encode_stem(number: int | None) -> str:
    """File stem of a version: LATEST first, then newest to oldest in key order."""
    if number is None:
        return _LATEST_STEM
    return f"{MAX_VERSION - number + 1:0{_WIDTH}d}_{number:0{_WIDTH}d}"


def decode_stem(stem: str) -> int | None:
    """Inverse of :func:`encode_stem`; raises ValueError for a foreign stem."""
    if stem == _LATEST_STEM:
        return None
    match = _STEM_RE.fullmatch(stem)
    if match is None:
        raise ValueError(stem)
    number = int(match[2])
    if not 1 <= number <= MAX_VERSION or int(match[1]) != MAX_VERSION - number + 1:
        raise ValueError(stem)
    return number


def _numbered_key(directory: str, number: int) -> str:
    """The key of version ``number``'s entry in a folder of them (claims, tombstones)."""
    if not 1 <= number <= MAX_VERSION:
        raise ValueError(number)
    return f"{directory}{encode_stem(number)}"


def _parse_numbered_key(directory: str, key: str) -> int:
    """Inverse of :func:`_numbered_key`; ValueError for a key that is not one."""
    number = decode_stem(key.removeprefix(directory))
    if number is None or not key.startswith(directory):
        raise ValueError(key)
    return number


def _check_utf8(value: str, argument: str) -> None:
    """Keys are UTF-8: refuse a str that does not encode (a lone surrogate)."""
    try:
        value.encode()
    except UnicodeEncodeError as err:
        raise InvalidInputError(
            argument, f"{value!r} must encode as UTF-8 (a lone surrogate at {err.start})"
        ) from err


def _utf8_size(text: str) -> int:
    return len(text.encode(errors="surrogatepass"))


def validate_suffix(suffix: object) -> str:
    """Return ``suffix`` if it is usable after a version's file stem."""
    if not isinstance(suffix, str):
        raise InvalidInputError("suffix", f"must be a str, got {type(suffix).__name__}")
    if "/" in suffix or len(suffix) > 64:
        raise InvalidInputError("suffix", f"{suffix!r} must hold no '/' and at most 64 characters")
    _check_utf8(suffix, "suffix")
    return suffix


def normalize_prefix(prefix: object) -> str:
    """Strip slashes from a key prefix; an empty prefix is refused."""
    if not isinstance(prefix, str):
        raise InvalidInputError("s3_prefix", f"must be a str, got {type(prefix).__name__}")
    _check_utf8(prefix, "s3_prefix")
    stripped = prefix.strip("/")
    if not stripped or any(part in ("", ".", "..") for part in stripped.split("/")):
        raise InvalidInputError(
            "s3_prefix", f"{prefix!r} must be a non-empty path without empty, '.' or '..' parts"
        )
    return stripped


@dataclass(frozen=True)
class Layout:
    """Key builders for one repository (bucket, prefix and suffix).

    Raises InvalidInputError (``s3_prefix`` or ``suffix``) when even a 1-character
    name would have a key longer than ``KEY_BUDGET`` bytes.
    """

    bucket: str
    prefix: str
    suffix: str = ""

    def __post_init__(self) -> None:
        size = self.longest_key_bytes("a")
        if size <= KEY_BUDGET:
            return
        if self.suffix:
            Layout(self.bucket, self.prefix)  # raises for s3_prefix if the prefix is to blame
        argument, value = ("suffix", self.suffix) if self.suffix else ("s3_prefix", self.prefix)
        raise InvalidInputError(
            argument,
            f"is too long ({_utf8_size(value)} bytes in UTF-8): keys of a 1-character name"
            f" would take {size} bytes, more than the {KEY_BUDGET} of S3's {MAX_KEY_BYTES}"
            " this library uses",
        )

    def longest_key_bytes(self, name: str) -> int:
        """UTF-8 bytes of the longest key this layout can build for ``name``.

        Every kind of key with its longest parts: a 64-character alias, a 40-character
        ETag, a 32-character token, the widest numbers.
        """
        keys = (
            self.version_key(name, MAX_VERSION),
            self.alias_key(name, _LONGEST_ALIAS),
            self.claim_key(name, MAX_VERSION),
            self.retired_key(name, MAX_VERSION, _TOKEN),
            self.upload_key(name, _TOKEN),
            self.published_key(name, MAX_VERSION, "e" * _LONGEST_ETAG, "0" * 64),
            self.history_key(name, _LONGEST_ALIAS, 1),
            self.alias_index_key(name),
            self.scratch_key(_TOKEN, "created"),
        )
        return max(_utf8_size(key) for key in keys)

    def check_name(self, name: object, argument: str = "name") -> str:
        """:func:`validate_name`, and every key of ``name`` fits in S3's key limit."""
        valid = validate_name(name, argument)
        size = self.longest_key_bytes(valid)
        if size > KEY_BUDGET:
            fit = len(valid) - (size - KEY_BUDGET)
            raise InvalidInputError(
                argument,
                f"{valid!r} is too long for this s3_prefix and suffix: its keys would take"
                f" {size} of the {KEY_BUDGET} bytes used, names of at most {fit} characters fit",
            )
        return valid

    @property
    def root(self) -> str:
        """Key prefix of the whole repository, ending in ``/``."""
        return f"{self.prefix}/"

    def artifact_dir(self, name: str) -> str:
        return f"{self.prefix}/{name}/"

    def versions_dir(self, name: str) -> str:
        return f"{self.prefix}/{name}/versions/"

    def version_key(self, name: str, number: int | None) -> str:
        return f"{self.versions_dir(name)}{encode_stem(number)}{self.suffix}"

    def suffix_of(self, name: str, key: str) -> str | None:
        """The suffix with which ``key`` is a version key of ``name``; None if with none."""
        base = key.removeprefix(self.versions_dir(name))
        stem, suffix = base[: len(_LATEST_STEM)], base[len(_LATEST_STEM) :]  # stems: 13 chars
        try:
            decode_stem(stem)
        except ValueError:
            return None
        return suffix if base != key and "/" not in suffix else None

    def parse_version_key(self, name: str, key: str) -> int | None:
        """Version number of a key under ``versions/``; ValueError if foreign."""
        base = key.removeprefix(self.versions_dir(name))
        if base == key or not base.endswith(self.suffix):
            raise ValueError(key)
        return decode_stem(base[: len(base) - len(self.suffix)])

    def aliases_dir(self, name: str) -> str:
        return f"{self.prefix}/{name}/aliases/"

    def alias_index_key(self, name: str) -> str:
        """The alias index (see _alias_index.py): outside ``aliases/``, which
        ``versioned`` 1.x reads."""
        return f"{self.prefix}/{name}/{_META_DIR}/aliases-index.json"

    def alias_key(self, name: str, alias: str) -> str:
        return f"{self.aliases_dir(name)}{alias}.json"

    def parse_alias_key(self, name: str, key: str) -> str:
        """Alias name of a key under ``aliases/``; ValueError if foreign."""
        base = key.removeprefix(self.aliases_dir(name))
        alias = base.removesuffix(".json")
        if base == key or alias in (base, LATEST) or not _ALIAS_RE.fullmatch(alias):
            raise ValueError(key)
        return alias

    def parse_any_alias_key(self, name: str, key: str) -> str:
        """The alias name of any document under ``aliases/`` (``{alias}.json``, nested
        too, as ``versioned`` 1.x stores the names it accepts); ValueError for other keys.

        The name is not checked: every such document may reference versions.
        """
        base = key.removeprefix(self.aliases_dir(name))
        if base == key or not base.endswith(".json"):
            raise ValueError(key)
        return base.removesuffix(".json")

    def parse_version_uri(self, name: str, s3uri: str) -> int | None:
        """Version number of an ``s3://`` uri of this layout; ValueError if foreign."""
        bucket_root = f"s3://{self.bucket}/"
        if not s3uri.startswith(bucket_root):
            raise ValueError(s3uri)
        return self.parse_version_key(name, s3uri.removeprefix(bucket_root))

    def claims_dir(self, name: str) -> str:
        return f"{self.prefix}/{name}/{_META_DIR}/claims/"

    def claim_key(self, name: str, number: int) -> str:
        return _numbered_key(self.claims_dir(name), number)

    def parse_claim_key(self, name: str, key: str) -> int:
        return _parse_numbered_key(self.claims_dir(name), key)

    def upload_key(self, name: str, token: str) -> str:
        """Where a streamed upload lands before it is copied to LATEST."""
        return f"{self.prefix}/{name}/{_META_DIR}/uploads/{token}"

    def published_dir(self, name: str) -> str:
        return f"{self.prefix}/{name}/{_META_DIR}/published/"

    def published_key(self, name: str, number: int | None, etag: str, sha256: str) -> str:
        """Record of a version's sha256 while it has ``etag``: written when aioversioned
        publishes it, or learns the sha256 of an object that carries none (LATEST too)."""
        return f"{self.published_dir(name)}{encode_stem(number)}_{etag.strip(chr(34))}_{sha256}"

    def parse_published_key(self, name: str, key: str) -> tuple[int, str, str]:
        """``(number, etag, sha256)`` of a published version's record; ValueError if foreign
        (or LATEST's)."""
        number, etag, sha256 = self.parse_record_key(name, key)
        if number is None:
            raise ValueError(key)
        return number, etag, sha256

    def parse_record_key(self, name: str, key: str) -> tuple[int | None, str, str]:
        """``(number, etag, sha256)`` of any record, number None for LATEST's."""
        rest = key.removeprefix(self.published_dir(name))
        number = decode_stem(rest[:13])
        etag, _, sha256 = rest[14:].rpartition("_")
        if rest == key or rest[13:14] != "_" or not etag or not is_sha256(sha256):
            raise ValueError(key)
        return number, etag, sha256

    def published_prefix(self, name: str, number: int | None) -> str:
        """Key prefix of the records of one version."""
        return f"{self.published_dir(name)}{encode_stem(number)}_"

    def retired_dir(self, name: str) -> str:
        return f"{self.prefix}/{name}/{_META_DIR}/retired/"

    def retired_prefix(self, name: str, number: int) -> str:
        """Key prefix of version ``number``'s tombstones (see _deletion)."""
        return _numbered_key(self.retired_dir(name), number) + "/"

    def retired_key(self, name: str, number: int, token: str) -> str:
        """One delete's tombstone of version ``number``, named by that delete's token."""
        return self.retired_prefix(name, number) + token

    def parse_retired_key(self, name: str, key: str) -> int:
        """The version number of a tombstone; ValueError if foreign."""
        directory = self.retired_dir(name)
        stem, slash, token = key.removeprefix(directory).partition("/")
        if not key.startswith(directory) or not slash or not _TOKEN_RE.fullmatch(token):
            raise ValueError(key)
        return _parse_numbered_key(directory, directory + stem)

    def history_dir(self, name: str, alias: str) -> str:
        return f"{self.prefix}/{name}/{_META_DIR}/history/{alias}/"

    def history_key(self, name: str, alias: str, sequence: int) -> str:
        if not 1 <= sequence <= MAX_SEQUENCE:
            raise ValueError(sequence)
        return f"{self.history_dir(name, alias)}{_HISTORY_LIMIT - sequence:0{_HISTORY_WIDTH}d}"

    def parse_history_key(self, name: str, alias: str, key: str) -> int:
        stem = key.removeprefix(self.history_dir(name, alias))
        if stem == key or len(stem) != _HISTORY_WIDTH or not (stem.isascii() and stem.isdigit()):
            raise ValueError(key)
        number = _HISTORY_LIMIT - int(stem)
        if not 1 <= number <= MAX_SEQUENCE:
            raise ValueError(key)  # another tool's key: see MAX_SEQUENCE
        return number

    @property
    def names_index_key(self) -> str:
        """The names index of this suffix (see _names.py), an object right under the
        prefix: whether a folder has a version depends on the suffix."""
        return f"{self.prefix}/{_NAMES_INDEX}{self.suffix}.json"

    def scratch_key(self, run: str, part: str) -> str:
        """A scratch object of the server check ``run``.

        An object, not a folder, right under the prefix, named with a leading '.': no
        artifact's key (``{prefix}/{name}/...``, names never start with '.') can be one,
        and listings of artifacts (folders) never show it.
        """
        return f"{self.prefix}/{_SCRATCH}{run}-{part}"

    def s3uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"
