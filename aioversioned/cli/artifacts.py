"""The artifact commands: bootstrap, put, publish, ls, get, rm, purge, show and url."""

from __future__ import annotations

import shutil
import tempfile
from functools import partial
from pathlib import Path
from typing import Annotated, BinaryIO, Optional
from urllib.parse import urlsplit

import typer

from .._keys import normalize_prefix, parse_version
from .._validate import MAX_PRESIGN_SECONDS
from ..errors import ArtifactNotFoundError
from .options import JsonOption, NameArgument
from .support import Cli, found
from .text import aliases_by_version, parse_content, parse_duration, parse_metadata, size_text, when

VersionArgument = Annotated[
    Optional[str],  # noqa: UP045  # typer evaluates annotations at runtime on 3.10
    typer.Argument(
        metavar="VERSION", help="Version number or LATEST (default: LATEST).", show_default=False
    ),
]
# ``get`` to stdout: verified bytes wait in memory up to this size, then in a temporary
# file, before the first one is written.
SPOOL_IN_MEMORY = 16 << 20
COPY_SIZE = 1 << 20
AliasOption = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(
        "--alias", metavar="ALIAS", help="The version this alias points at (its primary one)."
    ),
]


def bootstrap(cli: Cli, json_output: JsonOption = False) -> None:
    """Create the bucket if it does not exist (idempotent)."""
    cli.repo.bootstrap()
    if json_output:
        cli.json({"bucket": cli.connection.bucket})
    else:
        cli.say(f"bucket s3://{cli.connection.bucket} is ready")


def put(
    cli: Cli,
    name: NameArgument,
    file: Annotated[
        str,
        typer.Argument(metavar="FILE", help="File to upload, or - for stdin.", show_default=False),
    ],
    content_type: Annotated[
        Optional[str],  # noqa: UP045  # typer evaluates annotations at runtime on 3.10
        typer.Option(
            "--content-type",
            metavar="TYPE",
            help="Content-Type (default: application/octet-stream).",
        ),
    ] = None,
    meta: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option("--meta", metavar="KEY=VALUE", help="User metadata; repeat for more."),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Upload FILE as the LATEST version of NAME (a no-op when nothing changed).

    Large files go up in parts, with a progress bar on a terminal.

    With -q, prints the sha256 of the content.
    """
    metadata = parse_metadata(meta or [])
    content = parse_content(file)
    with cli.progress(f"put {name}") as on_progress:
        artifact = cli.repo.put_artifact(
            name, content, content_type, metadata, on_progress=on_progress
        )
    if json_output:
        cli.json(artifact.model_dump(mode="json"))
    elif cli.quiet:
        cli.value(artifact.sha256)
    else:
        state = "unchanged, " if artifact.unchanged else ""
        cli.say(f"{name} LATEST: {state}sha256 {artifact.sha256} ({artifact.s3uri})")


def publish(cli: Cli, name: NameArgument, json_output: JsonOption = False) -> None:
    """Freeze LATEST of NAME as the next version number.

    If LATEST equals the newest version, nothing is copied and that version is printed
    as unchanged.

    With -q, prints the version number only.
    """
    artifact = cli.repo.publish_artifact_version(name)
    if json_output:
        cli.json(artifact.model_dump(mode="json"))
    elif cli.quiet:
        cli.value(artifact.version)
    else:
        state = "unchanged, " if artifact.unchanged else ""
        cli.say(
            f"{name} version {artifact.version}: {state}sha256 {artifact.sha256} ({artifact.s3uri})"
        )


def list_(
    cli: Cli,
    name: Annotated[
        Optional[str],  # noqa: UP045
        typer.Argument(
            metavar="NAME", help="List the versions of this artifact.", show_default=False
        ),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """List artifact names, or with NAME the versions of that artifact.

    Versions: version, size, update time (UTC), sha256 prefix, aliases pointing at it.
    """
    if name is None:
        names = cli.repo.list_artifact_names()
        if json_output:
            cli.json(names)
        else:
            for each in names:
                cli.value(each)
        return
    versions = cli.repo.list_artifact_versions(name)
    if json_output:
        cli.json([artifact.model_dump(mode="json") for artifact in versions])
        return
    if cli.quiet:
        for artifact in versions:
            cli.value(artifact.version)
        return
    aliases = aliases_by_version(cli.repo.list_aliases(name))
    rows = [
        (
            a.version,
            size_text(a.size),
            when(a),
            a.sha256[:12],
            ", ".join(aliases.get(a.version, [])),
        )
        for a in versions
    ]
    columns = ("version", "size", "updated", "sha256", "aliases")
    cli.table(f"{name} (s3://{cli.connection.bucket})", columns, rows)


def get(
    cli: Cli,
    name: NameArgument,
    version: VersionArgument = None,
    old_version: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--version",
            metavar="VERSION",
            hidden=True,  # the spelling before VERSION became an argument, as in show and url
            help="Deprecated: give VERSION as an argument.",
        ),
    ] = None,
    alias: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--alias", metavar="ALIAS", help="Resolve this alias, drawing the canary by its weight."
        ),
    ] = None,
    key: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--key",
            metavar="KEY",
            help="With --alias: a sticky pick for this key (a host name, a user id).",
        ),
    ] = None,
    output: Annotated[
        str, typer.Option("--output", "-o", metavar="FILE", help="File to write, or - for stdout.")
    ] = "-",
    stream: Annotated[
        bool,
        typer.Option(
            "--stream",
            help="To stdout: write bytes as they arrive, before they are checked (a "
            "mismatch found at the end still exits 1, after writing them all).",
        ),
    ] = False,
    json_output: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print the description of the version written (needs -o FILE).",
            rich_help_panel="Output",
        ),
    ] = False,
) -> None:
    """Download a version of NAME (LATEST by default) to stdout or a file.

    The content is checked against its recorded sha256 before anything is written: a
    file is replaced only then, and stdout gets no byte of a mismatch (exit 1). To
    stdout the bytes wait in memory up to 16 MiB, above that in a temporary file
    (TMPDIR); --stream writes them as they arrive instead.
    """
    if old_version is not None:
        if version is not None:
            raise typer.BadParameter("give VERSION once, as an argument (--version: its old form)")
        version = old_version
    _check(version, alias)
    if json_output and output == "-":
        raise typer.BadParameter("--json prints to stdout; write the content with -o FILE")
    if key is not None and alias is None:
        raise typer.BadParameter("--key needs --alias", param_hint="'--key'")
    if alias is not None:
        version = cli.repo.get_alias(name, alias).pick_version(key)
    try:
        if output == "-":
            write_verified(cli, name, version, typer.get_binary_stream("stdout"), stream)
            return
        path = Path(output)
        with cli.progress(f"get {name}") as on_progress:
            artifact = cli.repo.download_artifact(name, path, version, on_progress=on_progress)
    except ArtifactNotFoundError as err:
        if alias is None:
            raise
        raise ArtifactNotFoundError(name, err.version, alias) from None
    if json_output:
        cli.json(artifact.model_dump(mode="json"))
    else:
        size = path.stat().st_size
        cli.say(f"wrote {size} bytes of {name} version {artifact.version} to {output}")


def write_verified(
    cli: Cli, name: str, version: str | None, stdout: BinaryIO, stream: bool
) -> None:
    """Write the content of a version to ``stdout``, once it is verified unless ``stream``.

    The library checks the sha256 when the last chunk was read, so a reader of a pipe
    (``| tar x``) must not see a byte before then: the chunks wait in a spool (memory up
    to SPOOL_IN_MEMORY, then an unnamed temporary file). With ``stream`` they are
    written as they arrive, and a mismatch is reported after the last one.
    """
    # If the reader goes away (``| head``), the write raises BrokenPipeError and the
    # iterator, referenced by nothing else, is closed at once: the download stops.
    chunks = cli.repo.iter_artifact_content(name, version)
    if stream:
        for chunk in chunks:
            stdout.write(chunk)
        stdout.flush()
        return
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as spool:
        for chunk in chunks:  # IntegrityError after the last one: nothing written
            spool.write(chunk)
        spool.seek(0)
        shutil.copyfileobj(spool, stdout, COPY_SIZE)
    stdout.flush()


def rm(
    cli: Cli,
    name: NameArgument,
    version: Annotated[
        Optional[str],  # noqa: UP045
        typer.Argument(
            metavar="VERSION", help="Version number (none with --all).", show_default=False
        ),
    ] = None,
    everything: Annotated[
        bool,
        typer.Option(
            "--all", help="Delete the whole artifact: LATEST, versions, aliases, history."
        ),
    ] = False,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="With --all: do not ask for confirmation.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Delete it even if aliases point at it.")
    ] = False,
    missing_ok: Annotated[
        bool, typer.Option("--missing-ok", help="Succeed when the version does not exist.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Delete one published version of NAME, or with --all the whole artifact.

    LATEST can not be deleted alone; a version an alias points at needs --force, which
    names the aliases it leaves pointing at nothing. --all asks first, unless --yes.
    """
    if everything:
        if version is not None or force:
            raise typer.BadParameter("--all deletes every version; give no VERSION or --force")
        _remove_artifact(cli, name, yes, missing_ok, json_output)
        return
    if version is None:
        raise typer.BadParameter("give a VERSION, or --all to delete the whole artifact")
    number = parse_version(version)  # InvalidInputError: exit 2
    # LATEST is refused by the library before the existence check could call it missing.
    if number is None:
        cli.repo.delete_artifact_version(name, version)
    dangling: tuple[str, ...] = ()
    lookup = partial(cli.repo.get_artifact_version, name, version)
    deleted = found(lookup, ArtifactNotFoundError, missing_ok)
    if deleted:
        dangling = cli.repo.delete_artifact_version(name, version, force=force)
        message = f"deleted {name} version {version}"
    else:
        message = f"{name} version {version} does not exist; nothing to delete"
    if json_output:
        cli.json(
            {
                "name": name,
                "version": str(number),
                "deleted": deleted,
                "dangling_aliases": list(dangling),
            }
        )
    else:
        cli.say(message)
    if dangling:
        typer.secho(
            f"Warning: alias {', '.join(dangling)} of {name} now point(s) at the deleted"
            f" version {version}",
            err=True,
            fg=typer.colors.YELLOW,
        )


def _remove_artifact(cli: Cli, name: str, yes: bool, missing_ok: bool, json_output: bool) -> None:
    """rm --all: what purge_artifact deletes, after saying what that is."""
    try:
        versions = [artifact.version for artifact in cli.repo.list_artifact_versions(name)]
    except ArtifactNotFoundError:
        versions = []
    aliases = [alias.alias for alias in cli.repo.list_aliases(name)]
    if not versions and not aliases:
        if not missing_ok:
            raise ArtifactNotFoundError(name)
        if json_output:
            cli.json({"name": name, "deleted": False, "versions": [], "aliases": []})
        else:
            cli.say(f"artifact {name} does not exist; nothing to delete")
        return
    # The repository accepted the prefix: it has the one form normalize_prefix gives.
    where = f"s3://{cli.connection.bucket}/{normalize_prefix(cli.connection.prefix)}/{name}/"
    numbered = [v for v in versions if v != "LATEST"]
    summary = f"{len(numbered)} version(s)"
    if "LATEST" in versions:
        summary = f"LATEST and {summary}"
    if aliases:
        summary += f", alias(es) {', '.join(aliases)}"
    if not yes:
        typer.confirm(
            f"Delete everything of {name} ({summary}, its history) under {where}?",
            abort=True,
            err=True,
        )
    cli.repo.purge_artifact(name)
    if json_output:
        cli.json({"name": name, "deleted": True, "versions": versions, "aliases": aliases})
    else:
        cli.say(f"deleted {name}: {summary}")


def purge(
    cli: Cli,
    name: NameArgument,
    keep: Annotated[
        int,
        typer.Option("--keep", metavar="N", min=0, help="Always keep this many newest versions."),
    ] = 10,
    older_than: Annotated[
        str,
        typer.Option(
            "--older-than",
            metavar="DURATION",
            help="Delete only versions older than this: 30s, 15m, 12h, 90d, 2w.",
        ),
    ] = "90d",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what would be deleted; delete nothing.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Delete the versions of NAME beyond the newest --keep that are older than --older-than.

    LATEST and versions that aliases point at are never deleted.

    With -q, prints the deleted version numbers.
    """
    seconds = parse_duration(older_than, "--older-than")
    purge_time, deleted = cli.repo.purge_artifact_versions(name, keep, seconds, dry_run=dry_run)
    if json_output:
        cli.json(
            {
                "purge_time": purge_time.isoformat(),
                "dry_run": dry_run,
                "deleted": [artifact.model_dump(mode="json") for artifact in deleted],
            }
        )
    elif cli.quiet:
        for artifact in deleted:
            cli.value(artifact.version)
    elif deleted:
        numbers = ", ".join(artifact.version for artifact in deleted)
        verb = "would delete" if dry_run else "deleted"
        cli.say(f"{verb} {len(deleted)} version(s) of {name}: {numbers}")
    else:
        cli.say(f"nothing to purge for {name}")


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
    if artifact.metadata is None:  # never after the HEAD above; the type allows it
        metadata = "unknown"
    else:
        pairs = sorted(artifact.metadata.items())
        metadata = ", ".join(f"{key}={value}" for key, value in pairs) or "(none)"
    fields = [
        ("name", artifact.name),
        ("version", artifact.version),
        ("size", size),
        ("content type", artifact.content_type or "unknown"),
        ("updated", when(artifact)),
        ("sha256", artifact.sha256),
        ("metadata", metadata),
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
