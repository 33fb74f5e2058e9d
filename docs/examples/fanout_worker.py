"""A worker that fetches, for every artifact, the version an alias points at, all at once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import anyio

from aioversioned import AliasNotFoundError, AsyncRepository, Repository


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


async def main(bucket: str = "my-artifacts", alias: str = "prod") -> None:
    target = anyio.Path("models")
    await target.mkdir(exist_ok=True)
    async with AsyncRepository(bucket) as repo:
        print(await fetch_all(repo, alias, Path(target)))


if __name__ == "__main__":
    anyio.run(main)
