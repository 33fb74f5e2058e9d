"""aioversioned: async versioned binary artifacts on Amazon S3.

The storage layout is the one of ``versioned`` 1.x; both libraries can share a bucket.
"""

# First, before anything slow is imported: Ctrl-C while the command line starts exits
# 130 with one line (this does nothing in any other program).
from ._cli_interrupts import guard_start_up as _guard_start_up

_guard_start_up()

import typing as _typing  # noqa: E402

from .errors import (  # noqa: E402  # no third-party import: cheap
    AioVersionedError,
    AliasNotFoundError,
    ArtifactNotFoundError,
    BlockingCallWarning,
    BucketNotFoundError,
    ConditionalWritesIgnoredError,
    CorruptDocumentError,
    CredentialsNotFoundError,
    IntegrityError,
    InvalidInputError,
    NothingToRollBackError,
    RepositoryStateError,
    RolloutFailedError,
    StorageError,
    VersionConflictError,
    VersionInUseError,
)

if _typing.TYPE_CHECKING:
    from ._doctor import Probe, ServerCheck
    from ._follow import AsyncAliasFollower
    from ._models import Alias, AliasChange, Artifact
    from ._repository import AsyncRepository
    from ._sync import Repository
    from ._sync_follow import AliasFollower

    __version__: str

# The classes are imported when first used, so that ``aioversioned --version`` or
# ``--help`` never pays for aiobotocore, botocore and pydantic (most of a second).
_LAZY = {
    "Alias": "._models",
    "AliasChange": "._models",
    "AliasFollower": "._sync_follow",
    "Artifact": "._models",
    "AsyncAliasFollower": "._follow",
    "AsyncRepository": "._repository",
    "Probe": "._doctor",
    "Repository": "._sync",
    "ServerCheck": "._doctor",
}


def __getattr__(name: str) -> object:
    if name == "__version__":
        from importlib.metadata import version

        value: object = version("aioversioned")
    elif name in _LAZY:
        from importlib import import_module

        value = getattr(import_module(_LAZY[name], __name__), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "AioVersionedError",
    "Alias",
    "AliasChange",
    "AliasFollower",
    "AliasNotFoundError",
    "Artifact",
    "ArtifactNotFoundError",
    "AsyncAliasFollower",
    "AsyncRepository",
    "BlockingCallWarning",
    "BucketNotFoundError",
    "ConditionalWritesIgnoredError",
    "CorruptDocumentError",
    "CredentialsNotFoundError",
    "IntegrityError",
    "InvalidInputError",
    "NothingToRollBackError",
    "Probe",
    "Repository",
    "RepositoryStateError",
    "RolloutFailedError",
    "ServerCheck",
    "StorageError",
    "VersionConflictError",
    "VersionInUseError",
    "__version__",
]
