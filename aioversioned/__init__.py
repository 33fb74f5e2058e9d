"""aioversioned: async versioned binary artifacts on Amazon S3.

The storage layout is the one of ``versioned`` 1.x; both libraries can share a bucket.
"""

from importlib.metadata import version as _version

from ._models import Alias, AliasChange, Artifact
from ._repository import AsyncRepository
from ._sync import Repository
from .errors import (
    AioVersionedError,
    AliasNotFoundError,
    ArtifactNotFoundError,
    BucketNotFoundError,
    CorruptDocumentError,
    IntegrityError,
    InvalidInputError,
    StorageError,
    VersionConflictError,
    VersionInUseError,
)

__version__ = _version("aioversioned")

__all__ = [
    "AioVersionedError",
    "Alias",
    "AliasChange",
    "AliasNotFoundError",
    "Artifact",
    "ArtifactNotFoundError",
    "AsyncRepository",
    "BucketNotFoundError",
    "CorruptDocumentError",
    "IntegrityError",
    "InvalidInputError",
    "Repository",
    "StorageError",
    "VersionConflictError",
    "VersionInUseError",
    "__version__",
]
