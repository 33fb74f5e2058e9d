"""Pass-through settings on every request, and no credentials in reprs or errors."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from aioversioned import AsyncRepository, InvalidInputError, Repository, StorageError

WRITES = {"PutObject", "CopyObject", "CreateMultipartUpload"}


async def test_owner_on_every_request_and_encryption_on_every_write(
    endpoint_url: str, bucket: str
) -> None:
    seen: list[tuple[str, dict[str, str]]] = []

    def capture(request: Any, operation_name: str, **_: Any) -> None:
        seen.append((operation_name, {k.lower(): str(v) for k, v in request.headers.items()}))

    async with AsyncRepository(
        bucket,
        endpoint_url=endpoint_url,
        expected_bucket_owner="123456789012",
        sse="aws:kms",
        sse_kms_key_id="alias/artifacts",
    ) as repo:
        repo._s3._client.meta.events.register("before-sign.s3", capture)
        await repo.bootstrap()
        await repo.put_artifact("m", b"x")
        await repo.publish_artifact_version("m")
        await repo.put_alias("m", "prod", 1)
        await repo.list_artifact_versions("m")
        await repo.list_aliases("m")
        await repo.purge_artifact_versions("m", keep_last_n=0, purge_older_than_secs=0)
        repo._s3._client.meta.events.unregister("before-sign.s3", capture)
        head = await repo._s3._client.head_object(
            Bucket=bucket, Key=repo.layout.version_key("m", 1)
        )
    assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", "alias/artifacts")
    operations = {name for name, _ in seen}
    assert {"PutObject", "CopyObject", "HeadObject", "ListObjectsV2", "GetObject"} <= operations
    for name, headers in seen:
        if name != "CreateBucket":  # the one call S3 does not take an owner on
            assert headers.get("x-amz-expected-bucket-owner") == "123456789012", name
        if name in WRITES:
            assert headers.get("x-amz-server-side-encryption") == "aws:kms", name
            assert headers.get("x-amz-server-side-encryption-aws-kms-key-id") == "alias/artifacts"


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"expected_bucket_owner": "12345"}, "expected_bucket_owner"),
        ({"sse": "rot13"}, "sse"),
        ({"sse_kms_key_id": "k"}, "sse_kms_key_id"),
        ({"sse": "AES256", "sse_kms_key_id": "k"}, "sse_kms_key_id"),
    ],
)
def test_bad_security_settings(kwargs: dict[str, Any], argument: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        AsyncRepository("ok-bucket", **kwargs)
    assert info.value.argument == argument


async def test_credentials_never_show(
    endpoint_url: str, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "wJalrXUtnFEMI-K7MDENG-SECRETKEYEXAMPLE"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEKEYID1234")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    async with AsyncRepository(bucket, endpoint_url=endpoint_url) as repo:
        texts = [repr(repo), str(vars(repo))]
        with pytest.raises(StorageError) as info:
            await repo._s3.put("k", b"x")  # the bucket was never created
        err = info.value
        texts += [str(err), repr(err), repr(pickle.loads(pickle.dumps(err)))]
    with Repository(bucket, endpoint_url=endpoint_url) as sync_repo:
        texts.append(repr(sync_repo))
    for text in texts:
        assert secret not in text and "AKIAEXAMPLEKEYID1234" not in text
    assert "NoSuchBucket" in str(err)
