"""The ``aioversioned`` command line (thin: parses, calls the repository, prints)."""

from __future__ import annotations

import typer
from rich.console import Console

from . import _quickstart

app = typer.Typer(
    help="Versioned binary artifacts on S3: put, publish, alias, purge.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console(highlight=False, soft_wrap=True)


@app.callback()
def _root() -> None:
    """Versioned binary artifacts on S3: put, publish, alias, purge."""


@app.command()
def quickstart() -> None:
    """Run the whole quick start against an embedded moto server, printing each step."""
    _quickstart.run(console.print)
    console.print("[green]quick start complete[/green]")


def main() -> None:
    """Entry point of the console script."""
    app()
