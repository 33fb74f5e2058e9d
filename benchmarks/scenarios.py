"""The scenarios, each run by three contenders on the same store.

* ``lib``: this library's :class:`aioversioned.AsyncRepository`.
* ``peer``: ``versioned`` 1.0.1's ``s3_only_backend.Repository`` (sync, boto3).
* ``floor``: hand-written aiobotocore that sends the fewest requests able to return
  the same information as the API (for example the sha256 of every listed version,
  which only a HEAD can tell), all at once with ``asyncio.gather``.

Every contender's result is checked, so a fast failure can never pass as a fast run.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from typing import Any

from aioversioned import AsyncRepository

from .store import (
    SHA256_KEY,
    Store,
    aliases_dir,
    bounded_gather,
    names_index,
    parse_published_key,
    published_dir,
    published_key,
    version_key,
    version_number,
    versions_dir,
)

MIB = 1024 * 1024


@dataclass(frozen=True)
class Peer:
    """The ``versioned`` repository and the session manager it needs on every call."""

    repo: Any  # versioned.s3_only_backend.Repository
    bsm: Any  # boto_session_manager.BotoSesManager


@dataclass(frozen=True)
class Floor:
    """An aiobotocore client with an unbounded connection pool, and where to look."""

    client: Any
    bucket: str
    prefix: str

    async def list_keys(self, prefix: str) -> list[dict[str, Any]]:
        """Every object under ``prefix``, following continuation tokens."""
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        items: list[dict[str, Any]] = []
        for _ in range(100_000):
            resp = await self.client.list_objects_v2(**kwargs)
            items.extend(resp.get("Contents", []))
            if not resp.get("IsTruncated"):
                return items
            kwargs["ContinuationToken"] = resp["NextContinuationToken"]
        raise RuntimeError("listing did not end")

    async def head_sha256(self, key: str) -> str:
        """The digest recorded in a version's user metadata."""
        resp = await self.client.head_object(Bucket=self.bucket, Key=key)
        return str(resp["Metadata"][SHA256_KEY])

    async def get(self, key: str) -> bytes:
        """The body of ``key``."""
        resp = await self.client.get_object(Bucket=self.bucket, Key=key)
        async with resp["Body"] as stream:
            body: bytes = await stream.read()
        return body


class Case:
    """One measured situation. Subclasses fill in the three contenders."""

    scenario = ""

    def __init__(self, param: int) -> None:
        self.param = param

    @property
    def label(self) -> str:
        """How the case is named in the table and the JSON."""
        return f"{self.scenario} {self.param}"

    async def seed(self, store: Store) -> None:
        """Write the data the case reads; once per run, untimed."""

    async def prepare(self, store: Store) -> Any:
        """Reset mutable state before every single run; untimed. Returns the run's input."""
        return None

    async def lib(self, repo: AsyncRepository, state: Any) -> Any:
        """This library's way."""
        raise NotImplementedError

    def peer(self, peer: Peer, state: Any) -> Any:
        """The ``versioned`` 1.0.1 way."""
        raise NotImplementedError

    async def floor(self, floor: Floor, state: Any) -> Any:
        """The fewest requests, all concurrent."""
        raise NotImplementedError

    def check(self, contender: str, result: Any, state: Any) -> None:
        """Raise AssertionError unless ``result`` is the right answer."""


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


class ListVersions(Case):
    """``list_artifact_versions`` of an artifact with LATEST and N published versions.

    With ``records`` (the default) the store looks as aioversioned leaves it after
    publishing each version; without, as ``versioned`` 1.x leaves it (the "legacy"
    scenario), where the sha256 of each version is only in its metadata.
    """

    scenario = "list_artifact_versions"

    def __init__(self, param: int, records: bool = True) -> None:
        super().__init__(param)
        self.records = records
        if not records:
            self.scenario = "list_artifact_versions_legacy"

    @property
    def label(self) -> str:
        suffix = "" if self.records else " (legacy, no records)"
        return f"list_artifact_versions N={self.param}{suffix}"

    @property
    def name(self) -> str:
        return f"list-{self.param}" if self.records else f"legacy-{self.param}"

    async def seed(self, store: Store) -> None:
        await store.put_versions(self.name, [None, *range(1, self.param + 1)], records=self.records)

    async def lib(self, repo: AsyncRepository, state: Any) -> Any:
        return [(a.version, a.sha256) for a in await repo.list_artifact_versions(self.name)]

    def peer(self, peer: Peer, state: Any) -> Any:
        versions = peer.repo.list_artifact_versions(peer.bsm, self.name)
        return [(a.version, a.sha256) for a in versions]

    async def floor(self, floor: Floor, state: Any) -> Any:
        if self.records:
            return await self._floor_with_records(floor)
        # HEADs start as soon as their listing page arrives, overlapping later pages.
        kwargs: dict[str, Any] = {
            "Bucket": floor.bucket,
            "Prefix": versions_dir(floor.prefix, self.name),
        }
        heads: list[tuple[int | None, asyncio.Task[str]]] = []
        for _ in range(100_000):
            resp = await floor.client.list_objects_v2(**kwargs)
            for item in resp.get("Contents", []):
                task = asyncio.ensure_future(floor.head_sha256(item["Key"]))
                heads.append((version_number(item["Key"]), task))
            if not resp.get("IsTruncated"):
                break
            kwargs["ContinuationToken"] = resp["NextContinuationToken"]
        digests = await asyncio.gather(*(task for _, task in heads))
        return [
            ("LATEST" if number is None else str(number), digest)
            for (number, _), digest in zip(heads, digests, strict=True)
        ]

    async def _floor_with_records(self, floor: Floor) -> Any:
        # Both listings and LATEST's HEAD (its key is known) go out at once.
        items, records, latest = await asyncio.gather(
            floor.list_keys(versions_dir(floor.prefix, self.name)),
            floor.list_keys(published_dir(floor.prefix, self.name)),
            floor.head_sha256(version_key(floor.prefix, self.name, None)),
        )
        known = {}
        for record in records:
            number, etag, digest = parse_published_key(record["Key"])
            known[number] = (etag, digest)
        result: list[tuple[str, str]] = []
        for item in items:
            number = version_number(item["Key"])
            if number is None:
                result.append(("LATEST", latest))
                continue
            etag, digest = known.get(number, ("", ""))
            if etag != item["ETag"].strip('"'):
                digest = await floor.head_sha256(item["Key"])  # never in this store
            result.append((str(number), digest))
        return result

    def check(self, contender: str, result: Any, state: Any) -> None:
        expected = ["LATEST", *(str(n) for n in range(self.param, 0, -1))]
        _expect([v for v, _ in result] == expected, f"{contender}: wrong versions listed")
        _expect(all(len(d) == 64 for _, d in result), f"{contender}: missing sha256")


class ListNames(Case):
    """``list_artifact_names`` of a prefix with ``param`` artifacts (LATEST and version 1
    each, and the names index a first listing leaves). Names of other cases seeded
    before are left out of the check, not of the timing: this scenario runs first."""

    scenario = "list_artifact_names"

    @property
    def label(self) -> str:
        return f"{self.scenario} {self.param} names"

    @property
    def names(self) -> list[str]:
        return [f"names-{i:05d}" for i in range(self.param)]

    async def seed(self, store: Store) -> None:
        await bounded_gather(
            (partial(store.put_versions, name, [None, 1]) for name in self.names), 4
        )
        await store.put(*names_index(store.prefix, self.names))  # as a first listing leaves it

    async def lib(self, repo: AsyncRepository, state: Any) -> Any:
        return await repo.list_artifact_names()

    def peer(self, peer: Peer, state: Any) -> Any:
        return sorted(peer.repo.list_artifact_names(peer.bsm))

    async def floor(self, floor: Floor, state: Any) -> Any:
        # The folders alone, as the peer lists them.
        kwargs: dict[str, Any] = {"Bucket": floor.bucket, "Prefix": f"{floor.prefix}/"}
        names: list[str] = []
        for _ in range(100_000):
            resp = await floor.client.list_objects_v2(Delimiter="/", **kwargs)
            names += [p["Prefix"].split("/")[-2] for p in resp.get("CommonPrefixes", [])]
            if not resp.get("IsTruncated"):
                return names
            kwargs["ContinuationToken"] = resp["NextContinuationToken"]
        raise RuntimeError("listing did not end")

    def check(self, contender: str, result: Any, state: Any) -> None:
        got = [name for name in result if name.startswith("names-")]
        _expect(got == self.names, f"{contender}: listed {len(got)} of {self.param} names")


class ListAliases(Case):
    """``list_aliases`` of an artifact with ``param`` aliases."""

    scenario = "list_aliases"

    @property
    def label(self) -> str:
        return f"{self.scenario} {self.param} aliases"

    @property
    def name(self) -> str:
        return f"aliases-{self.param}"

    async def seed(self, store: Store) -> None:
        await store.put_versions(self.name, [None, 1])
        await store.put_aliases((self.name, f"a{i:03d}", 1) for i in range(self.param))

    async def lib(self, repo: AsyncRepository, state: Any) -> Any:
        return sorted((a.alias, a.version) for a in await repo.list_aliases(self.name))

    def peer(self, peer: Peer, state: Any) -> Any:
        return sorted((a.alias, a.version) for a in peer.repo.list_aliases(peer.bsm, self.name))

    async def floor(self, floor: Floor, state: Any) -> Any:
        items = await floor.list_keys(aliases_dir(floor.prefix, self.name))
        bodies = await asyncio.gather(*(floor.get(item["Key"]) for item in items))
        documents = [json.loads(body) for body in bodies]
        return sorted((d["alias"], d["version"]) for d in documents)

    def check(self, contender: str, result: Any, state: Any) -> None:
        expected = [(f"a{i:03d}", "1") for i in range(self.param)]
        _expect(result == expected, f"{contender}: wrong aliases {result[:3]}...")


class PurgeVersions(Case):
    """``purge_artifact_versions(keep_last_n=5, purge_older_than_secs=0)`` of ``param``+5
    versions that aioversioned published (records present)."""

    scenario = "purge_artifact_versions"
    keep = 5

    @property
    def label(self) -> str:
        return f"{self.scenario} {self.param} of {self.param + self.keep}"

    @property
    def name(self) -> str:
        return f"purge-{self.param}"

    async def seed(self, store: Store) -> None:
        await store.put_versions(
            self.name, [None, *range(1, self.param + self.keep + 1)], records=True
        )

    async def prepare(self, store: Store) -> Any:
        # The purge deleted the versions and their records: put both back. The library's
        # purge retires them (tombstones, their bytes kept for the grace period): take the
        # tombstones away too, or the next purge finds nothing left to purge.
        await store.put_versions(self.name, range(1, self.param + 1), records=True)
        retired = await store.client.list_objects_v2(
            Bucket=store.bucket, Prefix=f"{store.prefix}/{self.name}/.aioversioned/retired/"
        )
        if keys := [{"Key": item["Key"]} for item in retired.get("Contents", [])]:
            await store.client.delete_objects(Bucket=store.bucket, Delete={"Objects": keys})
        return None

    async def lib(self, repo: AsyncRepository, state: Any) -> Any:
        _, deleted = await repo.purge_artifact_versions(
            self.name, keep_last_n=self.keep, purge_older_than_secs=0
        )
        return sorted((int(a.version), a.sha256) for a in deleted)

    def peer(self, peer: Peer, state: Any) -> Any:
        _, deleted = peer.repo.purge_artifact_versions(
            peer.bsm, self.name, keep_last_n=self.keep, purge_older_than_secs=0
        )
        return sorted((int(a.version), a.sha256) for a in deleted)

    async def floor(self, floor: Floor, state: Any) -> Any:
        now = datetime.now(timezone.utc)
        items, records = await asyncio.gather(
            floor.list_keys(versions_dir(floor.prefix, self.name)),
            floor.list_keys(published_dir(floor.prefix, self.name)),
        )
        known = {}
        for record in records:
            number, etag, digest = parse_published_key(record["Key"])
            known[number] = (etag, digest)
        published = [item for item in items if version_number(item["Key"]) is not None]
        doomed = [item for item in published[self.keep :] if item["LastModified"] < now]
        deleted = []
        for item in doomed:
            number = version_number(item["Key"]) or 0
            etag, digest = known.get(number, ("", ""))
            if etag != item["ETag"].strip('"'):
                digest = await floor.head_sha256(item["Key"])  # never in this store
            deleted.append((number, digest))
        keys = [item["Key"] for item in doomed]
        await asyncio.gather(
            *(
                floor.client.delete_objects(
                    Bucket=floor.bucket,
                    Delete={"Objects": [{"Key": k} for k in keys[i : i + 1000]], "Quiet": True},
                )
                for i in range(0, len(keys), 1000)
            )
        )
        return sorted(deleted)

    def check(self, contender: str, result: Any, state: Any) -> None:
        numbers = [number for number, _ in result]
        _expect(numbers == list(range(1, self.param + 1)), f"{contender}: purged {len(result)}")
        _expect(all(len(d) == 64 for _, d in result), f"{contender}: missing sha256")


class Publish(Case):
    """``publish_artifact_version`` after LATEST changed (so a copy is needed)."""

    scenario = "publish_artifact_version"

    @property
    def label(self) -> str:
        return self.scenario

    name = "publish"
    _record: str | None = None  # LATEST's record of the last prepare

    async def seed(self, store: Store) -> None:
        await store.put_versions(self.name, [None, 1, 2, 3])

    async def prepare(self, store: Store) -> Any:
        body = os.urandom(1024)
        digest = hashlib.sha256(body).hexdigest()
        etag = await store.put(version_key(store.prefix, self.name, None), body, digest)
        # LATEST as put_artifact leaves it: with the record of its ETag's sha256, the
        # previous one deleted (without a record, a publish streams LATEST once, as
        # another tool may have written it; see aioversioned/_hashes.py).
        record = published_key(store.prefix, self.name, None, etag, digest)
        await store.put(record, b"")
        if self._record is not None:
            await store.client.delete_object(Bucket=store.bucket, Key=self._record)
        self._record = record
        return await store.newest_version(self.name) + 1

    async def lib(self, repo: AsyncRepository, state: Any) -> Any:
        return int((await repo.publish_artifact_version(self.name)).version)

    def peer(self, peer: Peer, state: Any) -> Any:
        return int(peer.repo.publish_artifact_version(peer.bsm, self.name).version)

    async def floor(self, floor: Floor, state: Any) -> Any:
        latest = version_key(floor.prefix, self.name, None)
        head, listing = await asyncio.gather(
            floor.client.head_object(Bucket=floor.bucket, Key=latest),
            floor.client.list_objects_v2(
                Bucket=floor.bucket,
                Prefix=versions_dir(floor.prefix, self.name),
                StartAfter=latest,
                MaxKeys=1,
            ),
        )
        newest = listing.get("Contents", [])
        number = (version_number(newest[0]["Key"]) or 0) if newest else 0
        if newest and newest[0]["ETag"] == head["ETag"]:
            return number
        await floor.client.copy_object(
            Bucket=floor.bucket,
            Key=version_key(floor.prefix, self.name, number + 1),
            CopySource={"Bucket": floor.bucket, "Key": latest},
        )
        return number + 1

    def check(self, contender: str, result: Any, state: Any) -> None:
        _expect(result == state, f"{contender}: published {result}, expected {state}")


class PutArtifact(Case):
    """``put_artifact`` of ``param`` bytes of new content."""

    scenario = "put_artifact"

    @property
    def label(self) -> str:
        return f"{self.scenario} {_size(self.param)}"

    @property
    def name(self) -> str:
        return f"put-{self.param}"

    async def prepare(self, store: Store) -> Any:
        body = os.urandom(self.param)
        return body, hashlib.sha256(body).hexdigest()

    async def lib(self, repo: AsyncRepository, state: Any) -> Any:
        return (await repo.put_artifact(self.name, state[0])).sha256

    def peer(self, peer: Peer, state: Any) -> Any:
        return peer.repo.put_artifact(peer.bsm, self.name, state[0]).sha256

    async def floor(self, floor: Floor, state: Any) -> Any:
        body = state[0]
        digest = hashlib.sha256(body).hexdigest()
        await floor.client.put_object(
            Bucket=floor.bucket,
            Key=version_key(floor.prefix, self.name, None),
            Body=body,
            Metadata={SHA256_KEY: digest},
        )
        return digest

    def check(self, contender: str, result: Any, state: Any) -> None:
        _expect(result == state[1], f"{contender}: wrong sha256")


class GetContent(Case):
    """``get_artifact_content`` of LATEST, ``param`` bytes."""

    scenario = "get_artifact_content"

    @property
    def label(self) -> str:
        return f"{self.scenario} {_size(self.param)}"

    @property
    def name(self) -> str:
        return f"get-{self.param}"

    async def seed(self, store: Store) -> None:
        self._body = os.urandom(self.param)
        await store.put(
            version_key(store.prefix, self.name, None),
            self._body,
            hashlib.sha256(self._body).hexdigest(),
        )

    async def lib(self, repo: AsyncRepository, state: Any) -> Any:
        return await repo.get_artifact_content(self.name)

    def peer(self, peer: Peer, state: Any) -> Any:
        # versioned has no content getter on the repository: describe, then download.
        return peer.repo.get_artifact_version(peer.bsm, self.name).get_content(peer.bsm)

    async def floor(self, floor: Floor, state: Any) -> Any:
        return await floor.get(version_key(floor.prefix, self.name, None))

    def check(self, contender: str, result: Any, state: Any) -> None:
        _expect(result == self._body, f"{contender}: wrong content")


class FanOut(Case):
    """``param`` artifacts, each resolved through its ``prod`` alias and downloaded."""

    scenario = "fan_out"
    size = 64 * 1024

    @property
    def label(self) -> str:
        return f"{self.scenario} {self.param} artifacts"

    @property
    def names(self) -> list[str]:
        return [f"fan-{i:04d}" for i in range(self.param)]

    async def seed(self, store: Store) -> None:
        seeded = await asyncio.gather(
            *(store.put_versions(name, [None, 1], size=self.size) for name in self.names)
        )
        self._digests = {
            name: hashlib.sha256(bodies[1]).hexdigest()
            for name, bodies in zip(self.names, seeded, strict=True)
        }
        await store.put_aliases((name, "prod", 1) for name in self.names)

    async def lib(self, repo: AsyncRepository, state: Any) -> Any:
        async def one(name: str) -> bytes:
            alias = await repo.get_alias(name, "prod")
            return await repo.get_artifact_content(name, alias.version)

        return await asyncio.gather(*(one(name) for name in self.names))

    def peer(self, peer: Peer, state: Any) -> Any:
        return [
            peer.repo.get_alias(peer.bsm, name, "prod").get_version_content(peer.bsm)
            for name in self.names
        ]

    async def floor(self, floor: Floor, state: Any) -> Any:
        async def one(name: str) -> bytes:
            document = json.loads(await floor.get(f"{floor.prefix}/{name}/aliases/prod.json"))
            return await floor.get(version_key(floor.prefix, name, int(document["version"])))

        return await asyncio.gather(*(one(name) for name in self.names))

    def check(self, contender: str, result: Any, state: Any) -> None:
        got = [hashlib.sha256(body).hexdigest() for body in result]
        _expect(got == [self._digests[n] for n in self.names], f"{contender}: wrong content")


def _size(size: int) -> str:
    return f"{size // MIB} MiB" if size % MIB == 0 else f"{size // 1024} KiB"


SCENARIOS = (
    "list_artifact_names",  # first: it lists every artifact under the prefix
    "list_artifact_versions",
    "list_artifact_versions_legacy",
    "list_aliases",
    "purge_artifact_versions",
    "publish_artifact_version",
    "put_artifact",
    "get_artifact_content",
    "fan_out",
)


def build_cases(names: list[str], quick: bool) -> list[Case]:
    """The cases of the chosen scenarios, full size or ``quick`` (tiny, for tests)."""
    sizes = [64 * 1024] if quick else [1 * MIB, 20 * MIB]
    factories: dict[str, list[Case]] = {
        "list_artifact_names": [ListNames(n) for n in ([5] if quick else [10, 300, 1000])],
        "list_artifact_versions": [
            ListVersions(n) for n in ([3, 10] if quick else [10, 100, 200, 1000])
        ],
        "list_artifact_versions_legacy": [ListVersions(3 if quick else 200, records=False)],
        "list_aliases": [ListAliases(n) for n in ([5] if quick else [20, 1000])],
        "purge_artifact_versions": [PurgeVersions(20 if quick else 200)],
        "publish_artifact_version": [Publish(1)],
        "put_artifact": [PutArtifact(size) for size in sizes],
        "get_artifact_content": [GetContent(size) for size in sizes],
        "fan_out": [FanOut(10 if quick else 100)],
    }
    return [case for name in names for case in factories[name]]
