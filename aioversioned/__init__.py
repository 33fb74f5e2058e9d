"""aioversioned: async versioned binary artifacts on Amazon S3.

The storage layout is the one of ``versioned`` 1.x; both libraries can share a bucket.
"""

# First, before anything slow is imported: Ctrl-C while the command line starts exits
# 130 with one line (this does nothing in any other program).
from ._cli_interrupts import guard_start_up as _guard_start_up

_guard_start_up()

from importlib.metadata import version as _version  # noqa: E402

from ._doctor import Probe, ServerCheck  # noqa: E402
from ._follow import AsyncAliasFollower  # noqa: E402
from ._models import Alias, AliasChange, Artifact  # noqa: E402
from ._repository import AsyncRepository  # noqa: E402
from ._sync import Repository  # noqa: E402
from ._sync_follow import AliasFollower  # noqa: E402
from .errors import (  # noqa: E402
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

__version__ = _version("aioversioned")

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
