"""The ``aioversioned`` command line (thin: parses, calls the repository, prints).

Every repository command takes the connection options (``--bucket`` ... ``--profile``),
``-q/--quiet`` and ``--debug``; see :mod:`aioversioned._cli_support`. Exit codes:
0 success, 1 an operational error (one line on stderr), 2 a usage error, 130
interrupted (one line on stderr; see :mod:`aioversioned._cli_interrupts`).
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Annotated, BinaryIO, Optional

import typer
from rich.console import Console

from . import __version__, _cli_interrupts, _quickstart
from ._cli_alias import alias_app
from ._cli_rollout import rollout
from ._cli_show import show, url
from ._cli_support import (
    Cli,
    Command,
    Group,
    JsonOption,
    NameArgument,
    aliases_by_version,
    parse_duration,
    parse_metadata,
    repo_command,
    size_text,
    when,
    with_common_options,
)
from ._keys import normalize_prefix, parse_version
from ._local import LocalS3, fake_credentials, require_moto
from .errors import ArtifactNotFoundError

app = typer.Typer(
    help="Versioned binary artifacts on S3: put, publish, alias, purge.",
    cls=Group,
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals may hold credentials
)
app.add_typer(alias_app, name="alias")
console = Console(highlight=False, soft_wrap=True)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"aioversioned {__version__}")
        raise typer.Exit()


@app.callback()
@with_common_options
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """Versioned binary artifacts on S3: put, publish, alias, purge.

    The connection and output options can also come before the command name.
    """


# -- artifacts ----------------------------------------------------------------------------


@repo_command(app)
def bootstrap(cli: Cli, json_output: JsonOption = False) -> None:
    """Create the bucket if it does not exist (idempotent)."""
    cli.repo.bootstrap()
    if json_output:
        cli.json({"bucket": cli.connection.bucket})
    else:
        cli.say(f"bucket s3://{cli.connection.bucket} is ready")


@repo_command(app)
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
    # A path lets the library hash, size and multipart-upload the file without
    # holding it in memory; stdin is uploaded as a stream.
    content: Path | BinaryIO
    if file == "-":
        content = typer.get_binary_stream("stdin")
    elif Path(file).is_file():
        content = Path(file)
    else:
        raise typer.BadParameter(f"{file!r} is not a file", param_hint="'FILE'")
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


@repo_command(app)
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


@repo_command(app, "ls")
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


@repo_command(app)
def get(
    cli: Cli,
    name: NameArgument,
    version: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--version", metavar="VERSION", help="Version number or LATEST (default: LATEST)."
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

    The content is checked against its recorded sha256; a file is replaced only then.
    """
    if version is not None and alias is not None:
        raise typer.BadParameter("give --version or --alias, not both")
    if json_output and output == "-":
        raise typer.BadParameter("--json prints to stdout; write the content with -o FILE")
    if key is not None and alias is None:
        raise typer.BadParameter("--key needs --alias", param_hint="'--key'")
    if alias is not None:
        version = cli.repo.get_alias(name, alias).pick_version(key)
    try:
        if output == "-":
            # Streamed as it arrives; the library checks the sha256 at the end, so a
            # damaged object still ends in exit code 1 (after its bytes were written).
            stdout = typer.get_binary_stream("stdout")
            # If the reader goes away (``| head``), the write raises BrokenPipeError and
            # the iterator, referenced by nothing else, is closed at once: the download
            # stops.
            for chunk in cli.repo.iter_artifact_content(name, version):
                stdout.write(chunk)
            stdout.flush()
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


@repo_command(app)
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
    try:
        cli.repo.get_artifact_version(name, version)
    except ArtifactNotFoundError:
        if not missing_ok:
            raise
        deleted = False
        message = f"{name} version {version} does not exist; nothing to delete"
    else:
        dangling = cli.repo.delete_artifact_version(name, version, force=force)
        deleted = True
        message = f"deleted {name} version {version}"
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


@repo_command(app)
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


repo_command(app, "rollout")(rollout)
repo_command(app)(show)
repo_command(app)(url)


# -- local server -------------------------------------------------------------------------


@app.command(cls=Command)
def quickstart() -> None:
    """Replay the `versioned` S3-only tour on an embedded moto server, one line per step."""
    try:
        require_moto()
    except RuntimeError as err:
        typer.secho(f"Error: {err}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from None
    _quickstart.run(console.print)


@app.command(cls=Command)
def serve(
    port: Annotated[
        int,
        typer.Option(
            "--port", metavar="PORT", min=0, max=65535, help="Port on 127.0.0.1 (0: any free)."
        ),
    ] = 5000,
) -> None:
    """Run a local S3 server (moto) on 127.0.0.1 in the foreground until Ctrl-C."""
    server = LocalS3(port=port, verbose=True)
    # Ctrl-C reaches the whole foreground process group. The moto child inherits an
    # ignored SIGINT, so only this process reacts (and stops the child cleanly) instead
    # of the child also dying with a KeyboardInterrupt traceback.
    previous_interrupt = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        server.start()
    except RuntimeError as err:
        signal.signal(signal.SIGINT, previous_interrupt)
        typer.secho(f"Error: {err}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from None
    # Ctrl-C is how serve is meant to stop (exit 0), not an interrupted command (exit
    # 130, see main): Python's own handler raises KeyboardInterrupt, caught below.
    signal.signal(signal.SIGINT, signal.default_int_handler)

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    # Without this a plain `kill` would leave the moto child process running.
    previous = signal.signal(signal.SIGTERM, stop)
    try:
        typer.echo(f"local S3 (moto) listening at {server.endpoint_url}; Ctrl-C stops it")
        typer.echo(f"use it with: --endpoint-url {server.endpoint_url}")
        typer.echo("or export these in another shell:")
        typer.echo(f"  export AWS_ENDPOINT_URL={server.endpoint_url}")
        for key, value in fake_credentials().items():
            typer.echo(f"  export {key}={value}")
        sys.stdout.flush()
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_interrupt)
    typer.echo("local S3 stopped", err=True)


def main() -> None:
    """Entry point of the console script: Ctrl-C exits 130 with one line on stderr."""
    _cli_interrupts.run(app)
