"""The example on the home page: publish a model, point ``prod`` at it, load it back."""

import anyio

from aioversioned import AsyncRepository


async def main(bucket: str = "my-artifacts") -> bytes:
    # --8<-- [start:example]
    async with AsyncRepository(bucket) as repo:
        await repo.bootstrap()  # creates the bucket if it does not exist
        await repo.put_artifact("my-model", b"weights v1")  # upload as LATEST
        v1 = await repo.publish_artifact_version("my-model")  # freeze LATEST as version 1
        await repo.put_alias("my-model", "prod", version=v1.version)  # prod -> 1

        prod = await repo.get_alias("my-model", "prod")  # what a server reads at start-up
        model = await repo.get_artifact_content("my-model", prod.version)
    # --8<-- [end:example]
    return model


if __name__ == "__main__":
    print(anyio.run(main))
