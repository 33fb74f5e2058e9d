"""A worker that fetches, for every artifact, the version an alias points at; or follows them."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import anyio

from aioversioned import AliasNotFoundError, AsyncAliasFollower, AsyncRepository, Repository


# --8<-- [start:async]
async def fetch_all(repo: AsyncRepository, alias: str, target: Path) -> dict[str, str]:
    """Write each artifact's ``alias`` version to ``target/NAME``; return NAME -> version."""
    fetched: dict[str, str] = {}

    async def fetch(name: str) -> None:
        try:
            pointer = await repo.get_alias(name, alias)
        except AliasNotFoundError:
            return  # not deployed under this alias
        content = await repo.get_artifact_content(name, pointer.version)
        await anyio.Path(target / name).write_bytes(content)
        fetched[name] = pointer.version

    names = await repo.list_artifact_names()
    # Start them all: the repository keeps at most max_concurrency requests in flight.
    async with anyio.create_task_group() as tg:
        for name in names:
            tg.start_soon(fetch, name)
    return fetched


# --8<-- [end:async]


# --8<-- [start:threads]
def fetch_all_threads(repo: Repository, alias: str, target: Path) -> dict[str, str]:
    """The same with the blocking Repository, which threads may share."""

    def fetch(name: str) -> tuple[str, str] | None:
        try:
            pointer = repo.get_alias(name, alias)
        except AliasNotFoundError:
            return None
        (target / name).write_bytes(repo.get_artifact_content(name, pointer.version))
        return name, pointer.version

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = pool.map(fetch, repo.list_artifact_names())
        return dict(result for result in results if result is not None)


# --8<-- [end:threads]


# --8<-- [start:follow]
@contextlib.asynccontextmanager
async def follow_all(
    repo: AsyncRepository, alias: str, *, interval: float = 5.0
) -> AsyncIterator[dict[str, AsyncAliasFollower]]:
    """Follow ``alias`` of every artifact that has it, for as long as the block lasts."""
    followers: dict[str, AsyncAliasFollower] = {}
    async with contextlib.AsyncExitStack() as stack:
        for name in await repo.list_artifact_names():
            follower = repo.follow_alias(name, alias, interval=interval)
            try:
                await stack.enter_async_context(follower)  # downloads what it names
            except AliasNotFoundError:
                continue  # not deployed under this alias
            followers[name] = follower
        yield followers


async def handle(followers: dict[str, AsyncAliasFollower], name: str, job: str) -> bytes:
    """One job: the bytes of the version of ``name`` that the alias picks for ``job``."""
    follower = followers[name]
    version = follower.pick(job).version  # sticky per job id during a canary
    return await anyio.Path(follower.path(version)).read_bytes()


# --8<-- [end:follow]


async def main(bucket: str = "my-artifacts", alias: str = "prod") -> None:
    target = anyio.Path("models")
    await target.mkdir(exist_ok=True)
    async with AsyncRepository(bucket) as repo:
        print(await fetch_all(repo, alias, Path(target)))


if __name__ == "__main__":
    anyio.run(main)
