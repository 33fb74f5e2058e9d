"""The benchmark's bucket: the ``versioned`` 1.x key layout written by hand, and seeding.

Seeding talks straight to the S3 server, not through the delaying proxy, and is
never timed. Keys are built here rather than with the library's own helpers, so the
floor contender and the seeds stay independent of the code under test.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
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


def names_index(prefix: str, names: Iterable[str]) -> tuple[str, bytes]:
    """The key and body of the names index a listing by aioversioned leaves."""
    body = {"format": 1, "token": "0" * 32, "names": sorted(names)}
    return f"{prefix}/.aioversioned-names.json", json.dumps(body).encode()


def versions_dir(prefix: str, name: str) -> str:
    """Folder of all versions of ``name``, ending in ``/``."""
    return f"{prefix}/{name}/versions/"


def published_dir(prefix: str, name: str) -> str:
    """Folder of aioversioned's records of the versions it published."""
    return f"{prefix}/{name}/.aioversioned/published/"


def published_key(prefix: str, name: str, number: int | None, etag: str, sha256: str) -> str:
    """aioversioned's record of a version's sha256 (LATEST's too): its ETag and sha256
    in the key."""
    stem = version_key(prefix, name, number).rsplit("/", 1)[-1]
    return f"{published_dir(prefix, name)}{stem}_{etag.strip(chr(34))}_{sha256}"


def parse_published_key(key: str) -> tuple[int, str, str]:
    """``(number, etag, sha256)`` of a record key."""
    stem_and_rest = key.rsplit("/", 1)[-1]
    number = int(stem_and_rest[7:13])
    etag, _, sha256 = stem_and_rest[14:].rpartition("_")
    return number, etag, sha256


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

    async def put(self, key: str, body: bytes, sha256: str | None = None) -> str:
        """Write one object and return its ETag; versions carry their digest in metadata."""
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "Body": body}
        if sha256 is not None:
            kwargs["Metadata"] = {SHA256_KEY: sha256}
        resp = await self.client.put_object(**kwargs)
        return str(resp["ETag"])

    async def put_versions(
        self,
        name: str,
        numbers: Iterable[int | None],
        size: int = 64,
        records: bool = False,
    ) -> dict[int | None, bytes]:
        """Write LATEST (``None``) and published versions with distinct small bodies.

        With ``records``, also write the record aioversioned leaves when it publishes
        a version, so the store looks as if aioversioned had published them all.
        Bodies depend only on name and number: rewriting a version keeps its ETag,
        so records written once stay valid.
        """
        bodies = {
            number: (hashlib.sha256(f"{name}/{number}".encode()).digest() * (size // 32 + 1))[:size]
            for number in numbers
        }

        async def one(number: int | None, body: bytes) -> None:
            digest = hashlib.sha256(body).hexdigest()
            etag = await self.put(version_key(self.prefix, name, number), body, digest)
            if records and number is not None:
                await self.put(published_key(self.prefix, name, number, etag, digest), b"")

        await bounded_gather(
            (lambda n=number, b=body: one(n, b) for number, body in bodies.items()),
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
