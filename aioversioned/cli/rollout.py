"""``aioversioned rollout``: a staged rollout with a shell command as its check."""

from __future__ import annotations

import shlex
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Optional

import anyio
import typer

from .options import AliasArgument, JsonOption, NameArgument
from .support import Cli, Connection
from .text import alias_target, parse_duration, parse_steps

if TYPE_CHECKING:
    from .._models import Alias

DEFAULT_STEPS = "10,50,100"
DEFAULT_BAKE = "5m"
_SHOWN_OUTPUT = 200  # characters of a failing check's last line in the reason


def command_check(command: str) -> Callable[[], Awaitable[bool]]:
    """A check that runs ``command`` through the shell: it passes when it exits 0."""

    async def check() -> bool:
        done = await anyio.run_process(command, check=False)
        if done.returncode == 0:
            return True
        said = (done.stderr or done.stdout or b"").decode(errors="replace").strip()
        last = said.splitlines()[-1][:_SHOWN_OUTPUT] if said else ""
        raise RuntimeError(f"--check-cmd exited {done.returncode}" + (f": {last}" if last else ""))

    return check


def resume_command(
    connection: Connection,
    name: str,
    alias: str,
    version: str,
    steps: str,
    bake: str,
    check: str | None,
) -> str:
    """The command line that continues this rollout."""
    words = ["aioversioned", "rollout", name, alias, version, "--steps", steps, "--bake", bake]
    if check is not None:
        words += ["--check-cmd", check]
    return shlex.join([*words, *connection.options(), "--resume"])


def undo_command(connection: Connection, name: str, alias: str) -> str:
    """The command line that puts the alias back where this rollout started: a rollback
    goes to the newest earlier target without a canary, and every step before the last
    has one."""
    return shlex.join(["aioversioned", "alias", "rollback", name, alias, *connection.options()])


def rollout(
    cli: Cli,
    name: NameArgument,
    alias: AliasArgument,
    version: Annotated[
        str, typer.Argument(metavar="VERSION", help="Version to roll out.", show_default=False)
    ],
    steps: Annotated[
        str,
        typer.Option(
            "--steps", metavar="LIST", help="Percent of picks for VERSION at each step; 100: alone."
        ),
    ] = DEFAULT_STEPS,
    bake: Annotated[
        str,
        typer.Option(
            "--bake", metavar="DURATION", help="Wait this long at each step: 30s, 5m, 1h, or 0."
        ),
    ] = DEFAULT_BAKE,
    check_cmd: Annotated[
        Optional[str],  # noqa: UP045  # typer evaluates annotations at runtime on 3.10
        typer.Option(
            "--check-cmd",
            metavar="CMD",
            help="Shell command run after each bake; the step passes when it exits 0.",
        ),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option("--resume", help="Continue a rollout the alias is in the middle of."),
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Move ALIAS of NAME to VERSION step by step; put it back if a check fails.

    Each step gives VERSION a percent of picks (--steps), waits --bake, runs --check-cmd.

    A failing check puts the alias back where it started (exit 1).

    Another writer moving the alias stops the rollout and keeps their change (exit 1).

    Ctrl-C leaves the alias where it is and prints the commands that resume and that
    undo (alias rollback: back to where the rollout started).

    Prints one line per step (on stderr with --json); with -q nothing but errors.
    """
    weights = parse_steps(steps)
    seconds = parse_duration(bake, "--bake")
    check = command_check(check_cmd) if check_cmd is not None else None
    last: list[Alias] = []

    def on_step(step_alias: Alias) -> None:
        last.append(step_alias)
        weight = step_alias.secondary_version_weight or 0
        if step_alias.secondary_version is None:
            weight = 100
        place = f"{weights.index(weight) + 1}/{len(weights)}" if weight in weights else "?"
        cli.say(
            f"step {place}: {name} {alias} -> {alias_target(step_alias)} "
            f"(revision {step_alias.revision}); baking {bake}",
            err=json_output,  # stdout holds the JSON alone
        )

    try:
        final = cli.repo.rollout(
            name,
            alias,
            version,
            steps=weights,
            bake=seconds,
            check=check,
            resume=resume,
            on_step=on_step,
        )
    except KeyboardInterrupt:
        where = f" at {alias_target(last[-1])}" if last else ""
        resume_line = resume_command(cli.connection, name, alias, version, steps, bake, check_cmd)
        # Undo only once a step was reached: before that the alias is where it was, and
        # a rollback would undo the deployment before this one.
        undo = f"; to undo: {undo_command(cli.connection, name, alias)}" if last else ""
        typer.echo(f"{name} {alias} left{where}; to continue: {resume_line}{undo}", err=True)
        raise
    if json_output:
        cli.json(final.model_dump(mode="json"))
    else:
        cli.say(f"rollout complete: {name} {alias} -> {alias_target(final)}")
