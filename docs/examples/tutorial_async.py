"""The tutorial with AsyncRepository: every operation once, printing what it returns.

Start a local S3 server with ``aioversioned serve``, export the variables it prints,
then run ``python tutorial_async.py``.
"""

import anyio

from aioversioned import AsyncRepository, VersionConflictError, VersionInUseError


async def main(bucket: str = "my-artifacts") -> None:
    """Walk through the whole API against ``bucket``; leaves the bucket empty."""
    # --8<-- [start:connect]
    async with AsyncRepository(bucket) as repo:
        await repo.bootstrap()
        # --8<-- [end:connect]

        # --8<-- [start:put]
        latest = await repo.put_artifact("my-model", b"weights v1", metadata={"commit": "a1b2c3"})
        print(latest.version, latest.sha256[:12])  # LATEST 13e35c44395f
        # --8<-- [end:put]

        # --8<-- [start:publish]
        v1 = await repo.publish_artifact_version("my-model")
        await repo.put_artifact("my-model", b"weights v2", metadata={"commit": "d4e5f6"})
        v2 = await repo.publish_artifact_version("my-model")
        again = await repo.publish_artifact_version("my-model")  # LATEST unchanged
        print(v1.version, v2.version, again.version)  # 1 2 2
        # --8<-- [end:publish]

        # --8<-- [start:alias]
        prod = await repo.put_alias("my-model", "prod", version=1)
        print(prod.version, prod.revision is not None)  # 1 True
        # --8<-- [end:alias]

        # --8<-- [start:canary]
        prod = await repo.put_alias(
            "my-model", "prod", version=1, secondary_version=2, secondary_version_weight=20
        )
        picks = [prod.pick_version() for _ in range(1000)]
        print(round(picks.count("2") / 1000, 1))  # 0.2, give or take
        # --8<-- [end:canary]

        # --8<-- [start:serve]
        prod = await repo.get_alias("my-model", "prod")
        version = prod.pick_version()  # one draw per request: 20 % get the canary
        model = await repo.get_artifact_content("my-model", version)
        print(model in (b"weights v1", b"weights v2"))  # True
        sticky = prod.pick_version(key="host-17")  # the same key, the same version
        print(all(prod.pick_version(key="host-17") == sticky for _ in range(100)))  # True
        # --8<-- [end:serve]

        # --8<-- [start:promote]
        seen = await repo.get_alias("my-model", "prod")
        await repo.put_alias("my-model", "prod", version=2, expected_revision=seen.revision)
        try:  # a second writer that read prod at the same time loses
            await repo.put_alias("my-model", "prod", version=1, expected_revision=seen.revision)
        except VersionConflictError:
            print("prod was changed by someone else")  # prod was changed by someone else
        history = await repo.list_alias_history("my-model", "prod")
        print([change.version for change in history])  # ['2', '1', '1']
        # --8<-- [end:promote]

        # --8<-- [start:rollback]
        back = await repo.rollback_alias("my-model", "prod")  # past the canary: 1 alone
        print(back.version, back.secondary_version)  # 1 None
        newest = (await repo.list_alias_history("my-model", "prod", limit=1))[0]
        print(newest.restores)  # 1
        await repo.put_alias("my-model", "prod", version=2)  # and forward again
        # --8<-- [end:rollback]

        # --8<-- [start:list]
        print(await repo.list_artifact_names())  # ['my-model']
        versions = await repo.list_artifact_versions("my-model")
        print([artifact.version for artifact in versions])  # ['LATEST', '2', '1']
        print(await repo.get_artifact_content("my-model", version=1))  # b'weights v1'
        # --8<-- [end:list]

        # --8<-- [start:cleanup]
        _, deleted = await repo.purge_artifact_versions(
            "my-model", keep_last_n=1, purge_older_than_secs=0
        )
        print([artifact.version for artifact in deleted])  # ['1']
        try:
            await repo.delete_artifact_version("my-model", 2)
        except VersionInUseError as err:
            print(err.aliases)  # ('prod',)
        await repo.purge_all()
        print(await repo.list_artifact_names())  # []
        # --8<-- [end:cleanup]


if __name__ == "__main__":
    anyio.run(main)
