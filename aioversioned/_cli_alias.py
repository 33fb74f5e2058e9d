"""``aioversioned alias ...``: set, ls, history and rm, on the shared plumbing."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from ._cli_support import (
    AliasArgument,
    Cli,
    Group,
    JsonOption,
    NameArgument,
    alias_target,
    change_target,
    repo_command,
    when,
)
from .errors import AliasNotFoundError

alias_app = typer.Typer(
    cls=Group,
    help="Named pointers to versions: blue/green and canary deployments.",
    no_args_is_help=True,
)


@repo_command(alias_app, "set")
def alias_set(
    cli: Cli,
    name: NameArgument,
    alias: AliasArgument,
    version: Annotated[
        Optional[str],  # noqa: UP045
        typer.Argument(
            metavar="VERSION", help="Version number (default: LATEST).", show_default=False
        ),
    ] = None,
    canary: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--canary",
            metavar="VERSION",
            help="Second version receiving --weight percent of picks.",
        ),
    ] = None,
    weight: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(
            "--weight", metavar="PERCENT", help="Percent (0-99) of picks that go to --canary."
        ),
    ] = None,
    expect_revision: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--expect-revision",
            metavar="REVISION",
            help="Write only if the alias is still at this revision ('absent': does not exist).",
        ),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Point ALIAS of NAME at VERSION, optionally splitting traffic with a canary.

    With -q, prints the new revision, for a later --expect-revision.
    """
    document = cli.repo.put_alias(name, alias, version, canary, weight, expect_revision)
    if json_output:
        cli.json(document.model_dump(mode="json"))
    elif cli.quiet:
        cli.value(document.revision or "")
    else:
        cli.say(f"{name} {alias} -> {alias_target(document)} (revision {document.revision})")


@repo_command(alias_app, "ls")
def alias_list(cli: Cli, name: NameArgument, json_output: JsonOption = False) -> None:
    """List the aliases of NAME."""
    aliases = cli.repo.list_aliases(name)
    if not aliases:
        cli.repo.list_artifact_versions(name)  # ArtifactNotFoundError (exit 1), as ls says
    if json_output:
        cli.json([alias.model_dump(mode="json") for alias in aliases])
    elif cli.quiet:
        for alias in aliases:
            cli.value(alias.alias)
    else:
        rows = [(a.alias, alias_target(a), when(a), a.revision or "") for a in aliases]
        cli.table(f"aliases of {name}", ("alias", "versions", "updated", "revision"), rows)


@repo_command(alias_app, "history")
def alias_history(
    cli: Cli,
    name: NameArgument,
    alias: AliasArgument,
    limit: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option("--limit", "-n", metavar="N", min=1, help="Show at most this many changes."),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """List the recorded changes of ALIAS of NAME, newest first."""
    changes = cli.repo.list_alias_history(name, alias, limit)
    if not changes:
        cli.repo.get_alias(name, alias)  # AliasNotFoundError (exit 1), as alias rm says
    if json_output:
        cli.json([change.model_dump(mode="json") for change in changes])
        return
    rows = [
        (
            str(change.sequence),
            when(change),
            change_target(
                change.previous_version,
                change.previous_secondary_version,
                change.previous_secondary_version_weight,
            ),
            change_target(
                change.version, change.secondary_version, change.secondary_version_weight
            ),
            change.revision or "",
        )
        for change in changes
    ]
    if cli.quiet:
        for row in rows:
            cli.value(row[0])
        return
    cli.table(f"history of {name} {alias}", ("change", "updated", "from", "to", "revision"), rows)


@repo_command(alias_app, "rm")
def alias_remove(
    cli: Cli,
    name: NameArgument,
    alias: AliasArgument,
    missing_ok: Annotated[
        bool, typer.Option("--missing-ok", help="Succeed when the alias does not exist.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Delete ALIAS of NAME."""
    try:
        cli.repo.get_alias(name, alias)
    except AliasNotFoundError:
        if not missing_ok:
            raise
        deleted = False
        message = f"alias {alias} of {name} does not exist; nothing to delete"
    else:
        cli.repo.delete_alias(name, alias)
        deleted = True
        message = f"deleted alias {alias} of {name}"
    if json_output:
        cli.json({"name": name, "alias": alias, "deleted": deleted})
    else:
        cli.say(message)


# -- local server -------------------------------------------------------------------------
