"""aioversioned: async versioned binary artifacts on Amazon S3.

The storage layout is the one of ``versioned`` 1.x; both libraries can share a bucket.
"""

from importlib.metadata import version as _version

from ._models import Alias, Artifact
from ._repository import AsyncRepository
from ._sync import Repository
from .errors import (
    AioVersionedError,
    AliasNotFoundError,
    ArtifactNotFoundError,
    BucketNotFoundError,
    CorruptDocumentError,
    InvalidInputError,
    StorageError,
    VersionConflictError,
)

__version__ = _version("aioversioned")

__all__ = [
    "AioVersionedError",
    "Alias",
    "AliasNotFoundError",
    "Artifact",
    "ArtifactNotFoundError",
    "AsyncRepository",
    "BucketNotFoundError",
    "CorruptDocumentError",
    "InvalidInputError",
    "Repository",
    "StorageError",
    "VersionConflictError",
    "__version__",
]
