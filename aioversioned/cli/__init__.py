"""The ``aioversioned`` command line (thin: parses, calls the repository, prints).

One module per group of commands: :mod:`.artifacts`, :mod:`.aliases`, :mod:`.rollout`,
:mod:`.follow` (``follow`` and ``alias watch``), :mod:`.doctor`, :mod:`.local`. What they
share: how a command is declared (its common options, registration, help) in
:mod:`.options`; the connection, output and error mapping in :mod:`.support`; the text
forms of values in :mod:`.text`. Ctrl-C handling is
:mod:`aioversioned._cli_interrupts`, outside this package: the package's first line
imports it, before anything slow (typer, rich) is.

Every repository command takes the connection options (``--bucket`` ... ``--profile``),
``-q/--quiet`` and ``--debug``. Exit codes: 0 success, 1 an operational error (one
line on stderr), 2 a usage error, 130 interrupted (one line on stderr).
"""

from __future__ import annotations

from typing import Annotated

import typer

from .. import __version__, _cli_interrupts
from . import aliases, artifacts, doctor, follow, local, rollout
from .options import Command, Group, repo_command, with_common_options

app = typer.Typer(
    help="Versioned binary artifacts on S3: put, publish, alias, purge.",
    cls=Group,
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals may hold credentials
)
app.add_typer(aliases.app, name="alias")
repo_command(aliases.app, "watch")(follow.watch)

# In the order --help lists them.
repo_command(app)(artifacts.bootstrap)
repo_command(app)(artifacts.put)
repo_command(app)(artifacts.publish)
repo_command(app, "ls")(artifacts.list_)
repo_command(app)(artifacts.get)
repo_command(app)(artifacts.rm)
repo_command(app)(artifacts.purge)
repo_command(app)(rollout.rollout)
repo_command(app)(follow.follow)
repo_command(app)(artifacts.show)
repo_command(app)(artifacts.url)
repo_command(app)(doctor.doctor)
app.command(cls=Command)(local.quickstart)
app.command(cls=Command)(local.serve)


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


def main() -> None:
    """Entry point of the console script: Ctrl-C exits 130 with one line on stderr."""
    _cli_interrupts.run(app)


__all__ = ["app", "main"]
