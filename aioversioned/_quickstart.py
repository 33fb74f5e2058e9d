"""The quick start: the ``versioned`` 1.x S3-only tour, replayed on a local moto server.

Same names and steps as that tour: a repository with prefix ``artifacts`` and suffix
``.bin``, the artifact ``my_application``, the aliases ``development``, ``production``
and ``staging``, a blue/green switch, a canary, an emergency rollback, a purge, and a
read of what production serves. One plain sentence per step.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from ._local import LocalS3, fake_credentials
from ._models import Alias
from ._sync import Repository

BUCKET = "aioversioned-quickstart"
PREFIX = "artifacts"
SUFFIX = ".bin"
NAME = "my_application"
KEEP_LAST_N = 2

NEXT_STEPS = (
    "Try it next with a local S3 server that stays up:",
    "  aioversioned serve   (in another shell; export the variables it prints)",
    f"  aioversioned --bucket demo --prefix {PREFIX} --suffix {SUFFIX} bootstrap",
    f"  aioversioned --bucket demo --prefix {PREFIX} --suffix {SUFFIX} put {NAME} ./app.bin",
    "The docs: docs/tutorial.md walks through the API, docs/cli.md through every command.",
)


def run(say: Callable[[str], None]) -> None:
    """Start a local S3 server, run the tour through the sync Repository, stop the server."""
    os.environ.update(fake_credentials())
    with LocalS3() as server:
        say(f"Local S3 server (moto) listening at {server.endpoint_url}.")
        with Repository(
            BUCKET,
            s3_prefix=PREFIX,
            suffix=SUFFIX,
            endpoint_url=server.endpoint_url,
            aws_region="us-east-1",
        ) as repo:
            tour(repo, say)
    say("Quick start complete.")
    for line in NEXT_STEPS:
        say(line)


def target(alias: Alias) -> str:
    """Where an alias points, as the tour says it: ``2``, or ``2 (90%) + 3 (10%)``."""
    if alias.secondary_version is None:
        return alias.version
    weight = alias.secondary_version_weight or 0
    return f"{alias.version} ({100 - weight}%) + {alias.secondary_version} ({weight}%)"


def tour(repo: Repository, say: Callable[[str], None]) -> None:
    """The ``versioned`` S3-only tour, one sentence per step."""
    repo.bootstrap()
    say(f"1. Repository: bucket {BUCKET}, prefix {PREFIX!r}, suffix {SUFFIX!r} (bucket created).")

    latest = repo.put_artifact(NAME, b"my_application v1")
    say(f"2. Put {NAME}: LATEST holds b'my_application v1' at {latest.s3uri}.")
    v1 = repo.publish_artifact_version(NAME)
    say(f"3. Published LATEST as version {v1.version}.")
    repo.put_artifact(NAME, b"my_application v2")
    say("4. Updated LATEST to b'my_application v2'.")
    v2 = repo.publish_artifact_version(NAME)
    say(f"5. Published LATEST as version {v2.version}.")

    dev = repo.put_alias(NAME, "development")
    prod = repo.put_alias(NAME, "production", v1.version)
    staging = repo.put_alias(NAME, "staging", v2.version)
    say(
        f"6. Aliases: development -> {dev.version}, production -> {prod.version},"
        f" staging -> {staging.version}."
    )

    prod = repo.put_alias(NAME, "production", v2.version)
    say(f"7. Blue/green: production -> {target(prod)}, switched in one alias write.")

    repo.put_artifact(NAME, b"my_application v3")
    v3 = repo.publish_artifact_version(NAME)
    say(f"8. Canary: put b'my_application v3' and published it as version {v3.version}.")
    prod = repo.put_alias(NAME, "production", v2.version, v3.version, 10)
    say(f"   Canary: production -> {target(prod)}.")
    prod = repo.put_alias(NAME, "production", v2.version, v3.version, 50)
    say(f"   Canary: production -> {target(prod)}.")
    prod = repo.put_alias(NAME, "production", v3.version)
    say(f"   Canary done: production -> {target(prod)}.")

    prod = repo.rollback_alias(NAME, "production")
    say(
        f"9. Emergency rollback: production -> {target(prod)} in one rollback_alias call"
        " (back to its last target without a canary)."
    )

    _, deleted = repo.purge_artifact_versions(
        NAME, keep_last_n=KEEP_LAST_N, purge_older_than_secs=0
    )
    gone = ", ".join(a.version for a in deleted) or "none"
    plural = "s" if len(deleted) > 1 else ""
    say(
        f"10. Purge keeping the last {KEEP_LAST_N} (any age): deleted version{plural} {gone};"
        " a purge never deletes a version an alias uses."
    )
    numbers = [a.version for a in repo.list_artifact_versions(NAME) if a.version != "LATEST"]
    users: dict[str, list[str]] = {}
    for alias in repo.list_aliases(NAME):
        for version in (alias.version, alias.secondary_version):
            if version is not None:
                users.setdefault(version, []).append(alias.alias)
    for rank, number in enumerate(numbers):  # newest first
        why = [f"one of the last {KEEP_LAST_N}"] if rank < KEEP_LAST_N else []
        if number in users:
            why.append(f"used by {' and '.join(users[number])}")
        say(f"    Kept version {number}: {'; '.join(why)}.")
    if "LATEST" in users:
        say(f"    LATEST stays, as always; {' and '.join(users['LATEST'])} follows it.")

    content = repo.get_alias_content(NAME, "production")
    prod = repo.get_alias(NAME, "production")
    say(f"11. Read production (version {target(prod)}): {content!r}.")
