"""The exception tree of aioversioned.

Every error the library raises derives from `AioVersionedError`; a botocore
``ClientError`` never escapes, it is chained as ``__cause__``::

    AioVersionedError
    ├── InvalidInputError (ValueError)       a rejected argument; nothing was sent
    ├── ArtifactNotFoundError (LookupError)  no such artifact or version
    ├── AliasNotFoundError (LookupError)     no such alias
    ├── NothingToRollBackError (LookupError) an alias's history has no earlier target
    ├── CorruptDocumentError (ValueError)    a stored document that does not parse
    ├── VersionConflictError                 a conditional write lost to another writer
    ├── VersionInUseError                    an alias still points to the version
    ├── IntegrityError                       downloaded bytes do not match their sha256
    ├── RolloutFailedError                   a rollout's check failed; the alias was put back
    ├── RepositoryStateError (RuntimeError)  not open, closed, another event loop, after fork
    └── StorageError                         any other S3 failure
        ├── BucketNotFoundError (LookupError)
        ├── CredentialsNotFoundError         no AWS credentials anywhere botocore looks
        └── ConditionalWritesIgnoredError    the server ignores If-None-Match / If-Match

Errors keep their context as attributes and survive pickling.

One warning: `BlockingCallWarning` (a `RuntimeWarning`), issued once per blocking
`Repository` that is called from a thread running an event loop.
"""

from __future__ import annotations

__all__ = [
    "AioVersionedError",
    "AliasNotFoundError",
    "ArtifactNotFoundError",
    "BlockingCallWarning",
    "BucketNotFoundError",
    "ConditionalWritesIgnoredError",
    "CorruptDocumentError",
    "CredentialsNotFoundError",
    "IntegrityError",
    "InvalidInputError",
    "NothingToRollBackError",
    "RepositoryStateError",
    "RolloutFailedError",
    "StorageError",
    "VersionConflictError",
    "VersionInUseError",
]


class AioVersionedError(Exception):
    """Base class of every error raised by aioversioned."""


class InvalidInputError(AioVersionedError, ValueError):
    """An argument broke a rule; raised before any request is sent.

    ``argument`` names the argument, the message states the rule.
    """

    def __init__(self, argument: str, message: str) -> None:
        super().__init__(argument, message)
        self.argument = argument
        self.message = message

    def __str__(self) -> str:
        return f"{self.argument}: {self.message}"


class ArtifactNotFoundError(AioVersionedError, LookupError):
    """The artifact, or the requested version of it, does not exist.

    ``alias`` names the alias that pointed at the missing version, when one was read.
    """

    def __init__(self, name: str, version: str | None = None, alias: str | None = None) -> None:
        super().__init__(name, version, alias)
        self.name = name
        self.version = version
        self.alias = alias

    def __str__(self) -> str:
        if self.version is None:
            return f"artifact {self.name!r} not found"
        if self.alias is not None:
            return (
                f"artifact {self.name!r} version {self.version}, which alias {self.alias!r} "
                "points at, not found"
            )
        return f"artifact {self.name!r} version {self.version} not found"


class AliasNotFoundError(AioVersionedError, LookupError):
    """The alias does not exist for this artifact."""

    def __init__(self, name: str, alias: str) -> None:
        super().__init__(name, alias)
        self.name = name
        self.alias = alias

    def __str__(self) -> str:
        return f"alias {self.alias!r} of artifact {self.name!r} not found"


class NothingToRollBackError(AioVersionedError, LookupError):
    """``rollback_alias`` found no earlier target in the alias's history; nothing changed.

    ``splits_only`` is True when the history has earlier targets, all of them splits
    with a secondary version, which only ``one_step=True`` goes back to.
    """

    def __init__(self, name: str, alias: str, splits_only: bool = False) -> None:
        super().__init__(name, alias, splits_only)
        self.name = name
        self.alias = alias
        self.splits_only = splits_only

    def __str__(self) -> str:
        if self.splits_only:
            return (
                f"alias {self.alias!r} of artifact {self.name!r} has no earlier target "
                "without a secondary version in its history to roll back to; one_step=True "
                "(--one-step) goes back one change, to a split"
            )
        return (
            f"alias {self.alias!r} of artifact {self.name!r} has no earlier target in its "
            "history to roll back to"
        )


class CorruptDocumentError(AioVersionedError, ValueError):
    """A stored document could not be read: it does not parse, or it is larger than its
    kind may be; ``key`` names the S3 object.

    For an alias document, ``revision`` is the revision of the bad document:
    ``put_alias(..., expected_revision=err.revision)`` replaces exactly it (a put_alias
    without ``expected_revision`` replaces it too).
    """

    def __init__(self, key: str, detail: str, revision: str | None = None) -> None:
        super().__init__(key, detail, revision)
        self.key = key
        self.detail = detail
        self.revision = revision

    def __str__(self) -> str:
        return f"corrupt document at {self.key!r}: {self.detail}"


class VersionConflictError(AioVersionedError):
    """A conditional write lost: another writer changed the object first.

    Never retried by the library: it means another writer won. Also raised by a
    publish when every version number up to 999,999 was handed out.
    """

    def __init__(self, key: str, detail: str) -> None:
        super().__init__(key, detail)
        self.key = key
        self.detail = detail

    def __str__(self) -> str:
        return f"conflict on {self.key!r}: {self.detail}"


class VersionInUseError(AioVersionedError):
    """The version is referenced by aliases (named in ``aliases``); pass ``force=True``."""

    def __init__(self, name: str, version: str, aliases: tuple[str, ...]) -> None:
        super().__init__(name, version, aliases)
        self.name = name
        self.version = version
        self.aliases = aliases

    def __str__(self) -> str:
        names = ", ".join(self.aliases)
        return (
            f"artifact {self.name!r} version {self.version} is in use by aliases: {names}"
            " (force=True deletes it anyway)"
        )


class IntegrityError(AioVersionedError):
    """Downloaded bytes do not hash to the sha256 recorded for the version."""

    def __init__(self, key: str, expected: str, actual: str) -> None:
        super().__init__(key, expected, actual)
        self.key = key
        self.expected = expected
        self.actual = actual

    def __str__(self) -> str:
        return f"content of {self.key!r} has sha256 {self.actual}, expected {self.expected}"


class RolloutFailedError(AioVersionedError):
    """A rollout's check failed, and the alias was put back where the rollout started.

    ``step`` is the failed step (1 for the first of ``steps``; 0 for the weight a resumed
    rollout found the alias at, when it is not one of ``steps``) and ``weight`` its percent
    of picks for ``version`` (100: the alias pointed at it alone); ``reason`` says why
    the check failed (an exception it raised is also the ``__cause__``);
    ``restored_version`` is the version the alias points at again.
    """

    def __init__(
        self,
        name: str,
        alias: str,
        version: str,
        step: int,
        weight: int,
        reason: str,
        restored_version: str,
    ) -> None:
        super().__init__(name, alias, version, step, weight, reason, restored_version)
        self.name = name
        self.alias = alias
        self.version = version
        self.step = step
        self.weight = weight
        self.reason = reason
        self.restored_version = restored_version

    def __str__(self) -> str:
        return (
            f"rollout of {self.name!r} {self.alias} to version {self.version} failed at step "
            f"{self.step} ({self.weight}%): {self.reason}; {self.alias} is back at version "
            f"{self.restored_version}"
        )


class RepositoryStateError(AioVersionedError, RuntimeError):
    """The repository was used where its life does not allow it; the message says how.

    Not opened yet (or closed), opened on another event loop than the one calling it
    (each ``asyncio.run()`` starts a new loop), or used in a child process after ``fork``.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class StorageError(AioVersionedError):
    """An S3 request failed; carries ``operation``, ``bucket``, ``key`` and ``code``."""

    def __init__(
        self, operation: str, bucket: str, key: str | None, code: str, detail: str
    ) -> None:
        super().__init__(operation, bucket, key, code, detail)
        self.operation = operation
        self.bucket = bucket
        self.key = key
        self.code = code
        self.detail = detail

    def __str__(self) -> str:
        where = f"s3://{self.bucket}/{self.key}" if self.key else f"s3://{self.bucket}"
        return f"{self.operation} {where} failed ({self.code}): {self.detail}"


class BucketNotFoundError(StorageError, LookupError):
    """The bucket does not exist; ``bootstrap()`` creates it."""


_CREDENTIAL_SOURCES = (
    "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE (or profile=) in"
    " ~/.aws/credentials and ~/.aws/config, SSO, container and instance roles"
)


class CredentialsNotFoundError(StorageError):
    """botocore found no credentials; nothing was sent. The message lists where it looked."""

    def __str__(self) -> str:
        return (
            f"no AWS credentials found for {self.operation} (looked at {_CREDENTIAL_SOURCES});"
            " set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile"
        )


class BlockingCallWarning(RuntimeWarning):
    """A blocking ``Repository`` was called from a thread that runs an event loop.

    The call works, but the loop waits for S3 meanwhile: a web server (a FastAPI
    handler) serves nothing else until it returns. Use ``AsyncRepository`` there and
    await its methods. Issued once per ``Repository``; silence it with
    ``warnings.filterwarnings("ignore", category=BlockingCallWarning)`` where blocking is
    what you want (a Jupyter cell).
    """


class ConditionalWritesIgnoredError(StorageError):
    """The server ignores a condition on PutObject; the write was not sent.

    Raised by the writes that rest on ``If-None-Match`` / ``If-Match`` (claims, alias
    writes, history records) when the check run before a repository's first such write
    found the server accepting a write it must refuse: their guarantees would not hold.
    ``detail`` says which condition and what the server did. Pass
    ``require_conditional_writes=False`` to write anyway, without those guarantees.
    """

    def __init__(self, bucket: str, key: str, detail: str) -> None:
        super().__init__("PutObject", bucket, key, "ConditionalWritesIgnored", detail)
        self.args = (bucket, key, detail)  # what pickling passes back to __init__

    def __str__(self) -> str:
        return (
            f"PutObject s3://{self.bucket}/{self.key} not sent: the server ignores conditional"
            f" writes ({self.detail}), so the guarantees that rest on them would not hold;"
            " pass require_conditional_writes=False to write anyway"
        )
