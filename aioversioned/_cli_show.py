"""``aioversioned show`` and ``aioversioned url``: what a version is, and a link to it."""

from __future__ import annotations

from typing import Annotated, Optional
from urllib.parse import urlsplit

import typer

from ._cli_support import Cli, JsonOption, NameArgument, aliases_by_version, parse_duration, when
from ._validate import MAX_PRESIGN_SECONDS

VersionArgument = Annotated[
    Optional[str],  # noqa: UP045  # typer evaluates annotations at runtime on 3.10
    typer.Argument(
        metavar="VERSION", help="Version number or LATEST (default: LATEST).", show_default=False
    ),
]
AliasOption = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(
        "--alias", metavar="ALIAS", help="The version this alias points at (its primary one)."
    ),
]


def on_aws(endpoint_url: str) -> bool:
    """Whether requests go to AWS's S3 (where the AWS console shows the object)."""
    host = urlsplit(endpoint_url).hostname or ""
    return host == "amazonaws.com" or host.endswith(".amazonaws.com")


def _check(version: str | None, alias: str | None) -> None:
    if version is not None and alias is not None:
        raise typer.BadParameter("give VERSION or --alias, not both")


def show(
    cli: Cli,
    name: NameArgument,
    version: VersionArgument = None,
    alias: AliasOption = None,
    json_output: JsonOption = False,
) -> None:
    """Describe one version of NAME: size, content type, metadata, sha256, aliases, S3 URI.

    The AWS console link is shown when the endpoint is AWS's. --json adds
    ``aliases`` (the aliases pointing at it) and ``console_url`` (or null).

    With -q, prints the sha256.
    """
    _check(version, alias)
    artifact = cli.repo.get_artifact_version(name, version, alias=alias)
    pointing = aliases_by_version(cli.repo.list_aliases(name)).get(artifact.version, [])
    console = artifact.console_url if on_aws(cli.repo.endpoint_url) else None
    if json_output:
        names = [label.split(" ")[0] for label in pointing]
        cli.json({**artifact.model_dump(mode="json"), "aliases": names, "console_url": console})
        return
    if cli.quiet:
        cli.value(artifact.sha256)
        return
    size = "unknown" if artifact.size is None else f"{artifact.size:,} bytes"
    metadata = ", ".join(f"{key}={value}" for key, value in sorted(artifact.metadata.items()))
    fields = [
        ("name", artifact.name),
        ("version", artifact.version),
        ("size", size),
        ("content type", artifact.content_type or "unknown"),
        ("updated", when(artifact)),
        ("sha256", artifact.sha256),
        ("metadata", metadata or "(none)"),
        ("aliases", ", ".join(pointing) or "(none)"),
        ("s3 uri", artifact.s3uri),
    ]
    if console is not None:
        fields.append(("console", console))
    for label, value in fields:
        cli.value(f"{label:<13}{value}")


def url(
    cli: Cli,
    name: NameArgument,
    version: VersionArgument = None,
    alias: AliasOption = None,
    expires: Annotated[
        str,
        typer.Option(
            "--expires",
            metavar="DURATION",
            help="How long the URL works: 30s, 15m, 12h, 7d (at most 7d).",
        ),
    ] = "1h",
    json_output: JsonOption = False,
) -> None:
    """Print a URL that downloads a version of NAME with a plain HTTP GET, no credentials.

    An --alias is resolved now: the URL keeps giving that version when the alias moves.
    A LATEST URL gives what LATEST holds when it is used. --json prints ``url`` and
    ``expires_in`` (seconds).
    """
    _check(version, alias)
    seconds = parse_duration(expires, "--expires")
    if not 1 <= seconds <= MAX_PRESIGN_SECONDS:
        raise typer.BadParameter(
            f"{expires!r} is not from 1s up to 7d (S3's limit for a signed URL)",
            param_hint="'--expires'",
        )
    link = cli.repo.presign_artifact(name, version, alias=alias, expires_in=seconds)
    if json_output:
        cli.json({"url": link, "expires_in": seconds})
    else:
        cli.value(link)
