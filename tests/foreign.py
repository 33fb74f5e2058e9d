"""Other tools writing to the bucket, for real: ``versioned`` 1.0.1, the AWS CLI, s3fs, obstore."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from boto_session_manager import BotoSesManager
from versioned.api import s3_only_backend as peer

from aioversioned import AsyncRepository


def endpoint_of(repo: AsyncRepository) -> str:
    return str(repo._connect_args["endpoint_url"])


def bsm_for(endpoint_url: str) -> BotoSesManager:
    return BotoSesManager(
        region_name="us-east-1", default_client_kwargs={"endpoint_url": endpoint_url}
    )


def peer_of(repo: AsyncRepository) -> peer.Repository:
    """``versioned`` 1.0.1 on the same bucket, prefix and suffix as ``repo``."""
    return peer.Repository(
        aws_region="us-east-1",
        s3_bucket=repo.layout.bucket,
        s3_prefix=repo.layout.prefix,
        suffix=repo.layout.suffix,
    )


async def put_unrecorded_version(
    repo: AsyncRepository, name: str, number: int, body: bytes
) -> None:
    """A version as ``versioned`` 1.x leaves it: its sha256 in metadata, no record; in one
    part of a multipart upload, so that its ETag is not the MD5 of its bytes."""
    key = repo.layout.version_key(name, number)
    upload = await repo._s3.create_multipart(
        key, metadata={"artifact_sha256": hashlib.sha256(body).hexdigest()}, content_type=None
    )
    etag = await repo._s3.upload_part(key, upload, 1, body)
    await repo._s3.complete_multipart(key, upload, [etag])


def aws(endpoint_url: str, *args: str) -> str:
    """The AWS CLI (``python -m awscli``) against ``endpoint_url``, with the test credentials."""
    done = subprocess.run(
        [sys.executable, "-m", "awscli", "--endpoint-url", endpoint_url, *args],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def aws_cp(repo: AsyncRepository, source: Path, key: str, *options: str) -> None:
    """``aws s3 cp FILE s3://bucket/key``: an object without any metadata of ours."""
    aws(endpoint_of(repo), "s3", "cp", str(source), f"s3://{repo.layout.bucket}/{key}", *options)


def s3fs_of(repo: AsyncRepository) -> Any:
    import s3fs

    return s3fs.S3FileSystem(
        key=os.environ["AWS_ACCESS_KEY_ID"],
        secret=os.environ["AWS_SECRET_ACCESS_KEY"],
        endpoint_url=endpoint_of(repo),
        client_kwargs={"region_name": "us-east-1"},
        skip_instance_cache=True,
        use_listings_cache=False,
    )


def obstore_of(repo: AsyncRepository) -> Any:
    from obstore.store import S3Store

    return S3Store(
        repo.layout.bucket,
        endpoint=endpoint_of(repo),
        region="us-east-1",
        access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
        secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
        client_options={"allow_http": True},
        virtual_hosted_style_request=False,
    )
