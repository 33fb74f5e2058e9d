"""The quick-start tour: every operation once, against a local moto server."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable

from ._local import LocalS3, fake_credentials
from ._sync import Repository
from .errors import VersionInUseError

BUCKET = "aioversioned-quickstart"


def run(say: Callable[[str], None]) -> None:
    """Start a local S3 server, run the tour through the sync Repository, stop the server."""
    os.environ.update(fake_credentials())
    with LocalS3() as server:
        say(f"local S3 (moto) listening at {server.endpoint_url}")
        with Repository(BUCKET, endpoint_url=server.endpoint_url, aws_region="us-east-1") as repo:
            tour(repo, say)


def tour(repo: Repository, say: Callable[[str], None]) -> None:
    """Walk through the whole API once, printing each step."""
    repo.bootstrap()
    say(f"1. bootstrap: bucket s3://{BUCKET} is ready")

    art = repo.put_artifact("my-model", b"weights v1", metadata={"commit": "a1b2c3"})
    say(f"2. put_artifact: LATEST sha256={art.sha256[:12]}… at {art.s3uri}")
    again = repo.put_artifact("my-model", b"weights v1", metadata={"commit": "a1b2c3"})
    say(
        f"   same bytes and metadata again: nothing uploaded (update_at {again.update_at:%H:%M:%S})"
    )

    v1 = repo.publish_artifact_version("my-model")
    say(f"3. publish_artifact_version: version {v1.version} ({v1.s3uri})")
    repo.put_artifact("my-model", b"weights v2", metadata={"commit": "d4e5f6"})
    v2 = repo.publish_artifact_version("my-model")
    same = repo.publish_artifact_version("my-model")
    say(f"   put new bytes, publish: version {v2.version}; publish again unchanged: {same.version}")

    prod = repo.put_alias("my-model", "prod", version=1)
    say(f"4. put_alias: prod -> version {prod.version}")
    canary = repo.put_alias("my-model", "prod", 1, secondary_version=2, secondary_version_weight=20)
    picks = Counter(canary.random_artifact() for _ in range(1000))
    share = picks[canary.secondary_version_s3uri or ""] / 10
    say(f"   canary: prod -> 1, with 20% to 2 (observed {share:.1f}% of 1000 picks)")
    repo.put_alias("my-model", "prod", version=2)
    say("   blue/green: prod -> 2")
    repo.put_alias("my-model", "staging")
    say("   staging -> LATEST")

    alias = repo.get_alias("my-model", "prod")
    names = [a.alias for a in repo.list_aliases("my-model")]
    say(f"5. get_alias: prod -> {alias.version}; list_aliases: {names}")
    repo.delete_alias("my-model", "staging")
    say(f"   delete_alias staging; left: {[a.alias for a in repo.list_aliases('my-model')]}")

    say(f"6. list_artifact_names: {repo.list_artifact_names()}")
    versions = [a.version for a in repo.list_artifact_versions("my-model")]
    say(f"   list_artifact_versions: {versions}")
    content = repo.get_artifact_content("my-model", version=1)
    say(f"   get_artifact_content(version=1): {content!r}")
    latest = repo.get_artifact_version("my-model")
    say(f"   get_artifact_version(LATEST): {latest.console_url}")

    _, deleted = repo.purge_artifact_versions("my-model", keep_last_n=1, purge_older_than_secs=0)
    gone = [a.version for a in deleted]
    say(f"7. purge_artifact_versions(keep_last_n=1, older than 0 s): deleted {gone}")
    try:
        repo.delete_artifact_version("my-model", 2)
    except VersionInUseError as err:
        say(f"   delete version 2 refused: {err}")
    repo.delete_artifact_version("my-model", 2, force=True)
    v3 = repo.publish_artifact_version("my-model")
    say(f"   delete it with force=True, publish again: version {v3.version} (never reused)")
    history = repo.list_alias_history("my-model", "prod")
    say(f"   prod history, newest first: {[change.version for change in history]}")
    repo.purge_all()
    say(f"   purge_all: artifacts left {repo.list_artifact_names()}")
