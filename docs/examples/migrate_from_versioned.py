"""Moving from ``versioned`` 1.x: the same bucket, read and extended by aioversioned."""

from __future__ import annotations


def before(bucket: str) -> None:
    """What a ``versioned`` 1.x deployment wrote (its s3_only_backend)."""
    # --8<-- [start:before]
    from boto_session_manager import BotoSesManager
    from versioned.api import s3_only_backend

    bsm = BotoSesManager(region_name="us-east-1")
    repo = s3_only_backend.Repository(aws_region="us-east-1", s3_bucket=bucket)
    repo.bootstrap(bsm)
    repo.put_artifact(bsm, name="my-model", content=b"weights v1")
    repo.publish_artifact_version(bsm, name="my-model")
    repo.put_alias(bsm, name="my-model", alias="prod", version=1)
    prod = repo.get_alias(bsm, name="my-model", alias="prod")
    model = prod.get_version_content(bsm)
    # --8<-- [end:before]
    assert model == b"weights v1"


def after(bucket: str) -> bytes:
    """The same calls with aioversioned, on the same bucket and the same objects."""
    # --8<-- [start:after]
    from aioversioned import Repository

    with Repository(bucket, aws_region="us-east-1") as repo:  # s3_prefix and suffix as before
        repo.put_artifact("my-model", b"weights v2")
        repo.publish_artifact_version("my-model")  # version 2, after versioned's 1
        repo.put_alias("my-model", "prod", version=2)
        prod = repo.get_alias("my-model", "prod")
        model = repo.get_artifact_content("my-model", prod.version)
    # --8<-- [end:after]
    return model


def read_back_with_versioned(bucket: str) -> bytes:
    """``versioned`` 1.x still reads what aioversioned wrote."""
    from boto_session_manager import BotoSesManager
    from versioned.api import s3_only_backend

    bsm = BotoSesManager(region_name="us-east-1")
    repo = s3_only_backend.Repository(aws_region="us-east-1", s3_bucket=bucket)
    content: bytes = repo.get_alias(bsm, name="my-model", alias="prod").get_version_content(bsm)
    return content
