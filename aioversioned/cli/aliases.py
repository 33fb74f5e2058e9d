"""``aioversioned alias ...``: set, get, ls, history, rollback and rm, on the shared plumbing."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from ..errors import AliasNotFoundError, ArtifactNotFoundError
from .options import AliasArgument, Group, JsonOption, NameArgument, repo_command
from .support import Cli, found
from .text import alias_target, change_target, when

if TYPE_CHECKING:
    from .._models import Alias

app = typer.Typer(
    cls=Group,
    help="Named pointers to versions: blue/green and canary deployments.",
    no_args_is_help=True,
)


@repo_command(app, "set")
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


@repo_command(app, "get")
def alias_get(
    cli: Cli, name: NameArgument, alias: AliasArgument, json_output: JsonOption = False
) -> None:
    """Print what ALIAS of NAME points at: its version, or both versions and their weights.

    With -q, prints the primary version only.
    """
    document = cli.repo.get_alias(name, alias)
    if json_output:
        cli.json(document.model_dump(mode="json"))
    elif cli.quiet:
        cli.value(document.version)
    else:
        cli.say(f"{name} {alias} -> {alias_target(document)} (revision {document.revision})")


@repo_command(app, "ls")
def alias_list(cli: Cli, name: NameArgument, json_output: JsonOption = False) -> None:
    """List the aliases of NAME; a version that no longer exists is marked (missing).

    --json adds ``missing_versions`` to each alias: its versions that do not exist.
    """
    aliases = cli.repo.list_aliases(name)
    if not aliases:
        cli.repo.list_artifact_versions(name)  # ArtifactNotFoundError (exit 1), as ls says
    missing = _missing_versions(cli, name, aliases)
    if json_output:
        cli.json(
            [
                {**alias.model_dump(mode="json"), "missing_versions": missing[alias.alias]}
                for alias in aliases
            ]
        )
    elif cli.quiet:
        for alias in aliases:
            cli.value(alias.alias)
    else:
        rows = [
            (a.alias, _marked_target(a, missing[a.alias]), when(a), a.revision or "")
            for a in aliases
        ]
        cli.table(f"aliases of {name}", ("alias", "versions", "updated", "revision"), rows)


def _missing_versions(cli: Cli, name: str, aliases: list[Alias]) -> dict[str, list[str]]:
    """Alias -> its versions that do not exist (one listing of the versions)."""
    if not aliases:
        return {}
    try:
        existing = {artifact.version for artifact in cli.repo.list_artifact_versions(name)}
    except ArtifactNotFoundError:
        existing = set()
    return {
        a.alias: [v for v in (a.version, a.secondary_version) if v and v not in existing]
        for a in aliases
    }


def _marked_target(alias: Alias, missing: list[str]) -> str:
    """``alias_target`` with ``(missing)`` after each version that does not exist."""

    def mark(version: str | None) -> str | None:
        return f"{version} (missing)" if version in missing else version

    return change_target(
        mark(alias.version), mark(alias.secondary_version), alias.secondary_version_weight
    )


@repo_command(app, "history")
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
    """List the recorded changes of ALIAS of NAME, newest first.

    A rollback's change is noted ``rollback to N``: N is the change whose target it
    restored.
    """
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
            "" if change.restores is None else f"rollback to {change.restores}",
            change.revision or "",
        )
        for change in changes
    ]
    if cli.quiet:
        for row in rows:
            cli.value(row[0])
        return
    columns = ("change", "updated", "from", "to", "note", "revision")
    cli.table(f"history of {name} {alias}", columns, rows)


@repo_command(app, "rollback")
def alias_rollback(
    cli: Cli,
    name: NameArgument,
    alias: AliasArgument,
    one_step: Annotated[
        bool,
        typer.Option(
            "--one-step",
            help="Go back one change, to any target (a canary split too), not to the last "
            "stable one.",
        ),
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Move ALIAS of NAME back to its last stable target; again: further back.

    A stable target has no canary: after a rollout to 3 from 2 (2+3 at 10% and 50%,
    then 3) one rollback goes back to 2 alone. Changes to 1, 2, 3 roll back
    3 -> 2 -> 1 (from the alias history; alias history shows what each rollback
    restored). Fails, changing nothing, when another writer moves the alias meanwhile
    or nothing is left to go back to.

    With -q, prints the new revision.
    """
    document = cli.repo.rollback_alias(name, alias, one_step=one_step)
    if json_output:
        cli.json(document.model_dump(mode="json"))
    elif cli.quiet:
        cli.value(document.revision or "")
    else:
        cli.say(
            f"{name} {alias} rolled back to {alias_target(document)} (revision {document.revision})"
        )


@repo_command(app, "rm")
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
    deleted = found(partial(cli.repo.get_alias, name, alias), AliasNotFoundError, missing_ok)
    if deleted:
        cli.repo.delete_alias(name, alias)
        message = f"deleted alias {alias} of {name}"
    else:
        message = f"alias {alias} of {name} does not exist; nothing to delete"
    if json_output:
        cli.json({"name": name, "alias": alias, "deleted": deleted})
    else:
        cli.say(message)
