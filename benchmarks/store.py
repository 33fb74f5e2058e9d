"""The benchmark's bucket: the ``versioned`` 1.x key layout written by hand, and seeding.

Seeding talks straight to the S3 server, not through the delaying proxy, and is
never timed. Keys are built here rather than with the library's own helpers, so the
floor contender and the seeds stay independent of the code under test.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from aioversioned import AsyncRepository

SHA256_KEY = "artifact_sha256"
MAX_VERSION = 999_999
SEED_CONCURRENCY = 16  # the single-threaded server gains nothing from more
T = TypeVar("T")


def version_key(prefix: str, name: str, number: int | None) -> str:
    """Key of LATEST (``number=None``) or of a published version."""
    stem = "000000_LATEST" if number is None else f"{MAX_VERSION - number + 1:06d}_{number:06d}"
    return f"{prefix}/{name}/versions/{stem}"


def versions_dir(prefix: str, name: str) -> str:
    """Folder of all versions of ``name``, ending in ``/``."""
    return f"{prefix}/{name}/versions/"


def aliases_dir(prefix: str, name: str) -> str:
    """Folder of the alias documents of ``name``, ending in ``/``."""
    return f"{prefix}/{name}/aliases/"


def version_number(key: str) -> int | None:
    """Inverse of :func:`version_key` for the last path part; None for LATEST."""
    stem = key.rsplit("/", 1)[-1]
    return None if stem == "000000_LATEST" else int(stem.split("_", 1)[1])


async def bounded_gather(calls: Iterable[Callable[[], Awaitable[T]]], limit: int) -> list[T]:
    """Run the calls concurrently, at most ``limit`` at a time, results in order."""
    semaphore = asyncio.Semaphore(limit)

    async def run(call: Callable[[], Awaitable[T]]) -> T:
        async with semaphore:
            return await call()

    return list(await asyncio.gather(*(run(call) for call in calls)))


@dataclass(frozen=True)
class Store:
    """A bucket and prefix, with a client that reaches the server without delay."""

    bucket: str
    prefix: str
    client: Any  # aiobotocore S3 client
    endpoint_url: str

    async def put(self, key: str, body: bytes, sha256: str | None = None) -> None:
        """Write one object; versions carry their digest as the layout requires."""
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "Body": body}
        if sha256 is not None:
            kwargs["Metadata"] = {SHA256_KEY: sha256}
        await self.client.put_object(**kwargs)

    async def put_versions(
        self, name: str, numbers: Iterable[int | None], size: int = 64
    ) -> dict[int | None, bytes]:
        """Write LATEST (``None``) and published versions with distinct small bodies."""
        bodies = {
            number: hashlib.sha256(f"{name}/{number}".encode()).digest() * (size // 32 + 1)
            for number in numbers
        }
        bodies = {number: body[:size] for number, body in bodies.items()}
        await bounded_gather(
            (
                lambda number=number, body=body: self.put(
                    version_key(self.prefix, name, number), body, hashlib.sha256(body).hexdigest()
                )
                for number, body in bodies.items()
            ),
            SEED_CONCURRENCY,
        )
        return bodies

    async def newest_version(self, name: str) -> int:
        """Highest published version number of ``name`` (0 when none)."""
        resp = await self.client.list_objects_v2(
            Bucket=self.bucket,
            Prefix=versions_dir(self.prefix, name),
            StartAfter=version_key(self.prefix, name, None),
            MaxKeys=1,
        )
        contents = resp.get("Contents", [])
        return (version_number(contents[0]["Key"]) or 0) if contents else 0

    async def put_aliases(self, entries: Iterable[tuple[str, str, int]]) -> None:
        """Write ``(name, alias, version)`` documents through the library, so both
        libraries can read them."""
        async with AsyncRepository(
            self.bucket, self.prefix, endpoint_url=self.endpoint_url, aws_region="us-east-1"
        ) as repo:
            await bounded_gather(
                (
                    lambda entry=entry: repo.put_alias(entry[0], entry[1], entry[2])
                    for entry in entries
                ),
                SEED_CONCURRENCY,
            )
