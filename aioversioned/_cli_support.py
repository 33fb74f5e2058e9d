"""Plumbing of the command line: shared options, output, error mapping, argument parsing.

Kept apart from :mod:`aioversioned.cli` so that module reads as the list of commands.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import re
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Optional, TypeVar

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from . import _validate
from ._models import Alias, AliasChange, Artifact
from ._sync import Repository
from .errors import AioVersionedError, BucketNotFoundError, InvalidInputError

CONNECTION_PANEL = "Connection"
OUTPUT_PANEL = "Output"

CommandFunction = TypeVar("CommandFunction", bound=Callable[..., None])

# The options every repository command takes. Region, endpoint and profile have no
# envvar here on purpose: passing None lets botocore read AWS_REGION /
# AWS_DEFAULT_REGION, AWS_ENDPOINT_URL and AWS_PROFILE exactly as it always does.
_COMMON_PARAMETERS = [
    inspect.Parameter(
        "bucket",
        inspect.Parameter.KEYWORD_ONLY,
        annotation=Annotated[
            str,
            typer.Option(
                "--bucket",
                envvar="AIOVERSIONED_BUCKET",
                help="S3 bucket of the repository.",
                rich_help_panel=CONNECTION_PANEL,
                show_default=False,
            ),
        ],
    ),
    inspect.Parameter(
        "prefix",
        inspect.Parameter.KEYWORD_ONLY,
        default="versioned-artifacts",
        annotation=Annotated[
            str,
            typer.Option(
                "--prefix",
                envvar="AIOVERSIONED_PREFIX",
                help="Key prefix of the repository inside the bucket.",
                rich_help_panel=CONNECTION_PANEL,
            ),
        ],
    ),
    inspect.Parameter(
        "suffix",
        inspect.Parameter.KEYWORD_ONLY,
        default="",
        annotation=Annotated[
            str,
            typer.Option(
                "--suffix",
                envvar="AIOVERSIONED_SUFFIX",
                help="File extension of version objects, e.g. '.zip' (must match the writer's).",
                rich_help_panel=CONNECTION_PANEL,
                show_default=False,
            ),
        ],
    ),
    inspect.Parameter(
        "region",
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[
            Optional[str],  # noqa: UP045  # typer reads the annotation at runtime on 3.10
            typer.Option(
                "--region",
                help="AWS region (default: AWS_REGION, AWS_DEFAULT_REGION or the AWS config).",
                rich_help_panel=CONNECTION_PANEL,
                show_default=False,
            ),
        ],
    ),
    inspect.Parameter(
        "endpoint_url",
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[
            Optional[str],  # noqa: UP045
            typer.Option(
                "--endpoint-url",
                help="S3 endpoint, e.g. http://127.0.0.1:5000 (default: AWS_ENDPOINT_URL or AWS).",
                rich_help_panel=CONNECTION_PANEL,
                show_default=False,
            ),
        ],
    ),
    inspect.Parameter(
        "profile",
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[
            Optional[str],  # noqa: UP045
            typer.Option(
                "--profile",
                help="AWS profile (default: AWS_PROFILE, else the default profile).",
                rich_help_panel=CONNECTION_PANEL,
                show_default=False,
            ),
        ],
    ),
    inspect.Parameter(
        "quiet",
        inspect.Parameter.KEYWORD_ONLY,
        default=False,
        annotation=Annotated[
            bool,
            typer.Option(
                "--quiet",
                "-q",
                help="Print bare values only: no messages, headers or tables.",
                rich_help_panel=OUTPUT_PANEL,
            ),
        ],
    ),
    inspect.Parameter(
        "debug",
        inspect.Parameter.KEYWORD_ONLY,
        default=False,
        annotation=Annotated[
            bool,
            typer.Option(
                "--debug",
                help="Show the traceback of an error.",
                rich_help_panel=OUTPUT_PANEL,
            ),
        ],
    ),
]
_COMMON_NAMES = tuple(parameter.name for parameter in _COMMON_PARAMETERS)

# The library's ``on_progress(done_bytes, total_bytes)`` callback.
OnProgress = Callable[[int, int | None], object]

JsonOption = Annotated[
    bool,
    typer.Option(
        "--json",
        help="Print JSON (the documented stable schema) instead of text.",
        rich_help_panel=OUTPUT_PANEL,
    ),
]

NameArgument = Annotated[
    str, typer.Argument(metavar="NAME", help="Artifact name.", show_default=False)
]
AliasArgument = Annotated[
    str, typer.Argument(metavar="ALIAS", help="Alias name.", show_default=False)
]


@dataclass(frozen=True)
class Connection:
    """Where the repository lives; the arguments of :class:`aioversioned.Repository`."""

    bucket: str
    prefix: str
    suffix: str
    region: str | None
    endpoint_url: str | None
    profile: str | None

    def open(self) -> Repository:
        """Connect (no request is sent until the first call)."""
        return Repository(
            self.bucket,
            self.prefix,
            self.suffix,
            aws_region=self.region,
            endpoint_url=self.endpoint_url,
            profile=self.profile,
        )


@dataclass
class Cli:
    """What a command gets: its repository, and the ways to print."""

    connection: Connection
    quiet: bool = False
    debug: bool = False
    _repo: Repository | None = field(default=None, repr=False)

    @property
    def repo(self) -> Repository:
        """The repository, connected on first use so usage errors never need a connection."""
        if self._repo is None:
            self._repo = self.connection.open()
        return self._repo

    def close(self) -> None:
        """Close the repository if it was opened."""
        repo, self._repo = self._repo, None
        if repo is not None:
            repo.close()

    # -- output ------------------------------------------------------------------------

    def say(self, message: str, *, err: bool = False) -> None:
        """A human message; ``--quiet`` suppresses it."""
        if not self.quiet:
            typer.echo(message, err=err)

    def value(self, value: object) -> None:
        """A bare value, printed even with ``--quiet``."""
        typer.echo(str(value))

    def json(self, data: Any) -> None:
        """Print ``data`` as JSON; the schema is part of the CLI's interface."""
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False))

    @contextlib.contextmanager
    def progress(self, description: str) -> Iterator[OnProgress | None]:
        """A transfer bar on stderr when it is a terminal and not ``--quiet``.

        Yields the ``on_progress`` callback for the library, or None when no bar is shown.
        """
        console = Console(stderr=True)
        if self.quiet or not console.is_terminal:
            yield None
            return
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task(description, total=None)

            # Called from the repository's event loop thread; rich's Progress locks.
            def update(done: int, total: int | None) -> None:
                bar.update(task, completed=done, total=total)

            yield update

    def table(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        """A rich table on a terminal; tab-separated lines with a header line otherwise."""
        console = Console(highlight=False, soft_wrap=True)
        if console.is_terminal:
            table = Table(*columns, title=title, title_justify="left")
            for row in rows:
                table.add_row(*row)
            console.print(table)
            return
        for line in [columns, *rows]:
            typer.echo("\t".join(line))

    # -- running -----------------------------------------------------------------------

    def run(self, command: Callable[..., None], arguments: dict[str, Any]) -> None:
        """Run a command, mapping library errors to exit codes 1 and 2."""
        try:
            command(self, **arguments)
        except InvalidInputError as err:
            # The library refused an argument before sending anything: a usage error.
            self._show_traceback()
            raise typer.BadParameter(str(err)) from None
        except BucketNotFoundError:
            self._show_traceback()
            bucket = self.connection.bucket
            self.fail(
                f"bucket {bucket!r} does not exist; create it with "
                f"'aioversioned bootstrap --bucket {bucket}'"
            )
        except AioVersionedError as err:
            self._show_traceback()
            self.fail(str(err))
        except OSError as err:  # a local file could not be written
            self._show_traceback()
            self.fail(str(err))
        finally:
            self.close()

    def fail(self, message: str, code: int = 1) -> None:
        """Print one line to stderr and exit with ``code``."""
        typer.secho(f"Error: {message}", err=True, fg=typer.colors.RED)
        raise typer.Exit(code)

    def _show_traceback(self) -> None:
        if self.debug:
            traceback.print_exc(file=sys.stderr)


def repo_command(
    app: typer.Typer, name: str | None = None, **options: Any
) -> Callable[[CommandFunction], CommandFunction]:
    """Register ``function(cli, ...)`` as a command that also takes the common options.

    The decorated function's first parameter receives a :class:`Cli`; the connection,
    ``--quiet`` and ``--debug`` options are appended to its own in ``--help``.
    """

    def decorate(function: CommandFunction) -> CommandFunction:
        signature = inspect.signature(function, eval_str=True)
        own = list(signature.parameters.values())[1:]  # drop `cli`

        @functools.wraps(function)
        def command(**arguments: Any) -> None:
            common = {key: arguments.pop(key) for key in _COMMON_NAMES}
            quiet, debug = common.pop("quiet"), common.pop("debug")
            Cli(Connection(**common), quiet=quiet, debug=debug).run(function, arguments)

        # typer builds the options from the signature and the annotations.
        parameters = own + _COMMON_PARAMETERS
        command.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=parameters, return_annotation=None
        )
        command.__annotations__ = {p.name: p.annotation for p in parameters}
        del command.__wrapped__
        app.command(name, **options)(command)
        return function

    return decorate


# -- formatting ---------------------------------------------------------------------------


def when(item: Artifact | Alias | AliasChange) -> str:
    """An update time as shown in tables: UTC, to the second."""
    return f"{item.update_at:%Y-%m-%d %H:%M:%S}Z"


def alias_target(alias: Alias) -> str:
    """``1`` or ``1 (80%), 2 (20%)``."""
    return change_target(alias.version, alias.secondary_version, alias.secondary_version_weight)


def change_target(version: str | None, secondary: str | None, weight: int | None) -> str:
    """What an alias points at; ``(absent)`` when it did not exist."""
    if version is None:
        return "(absent)"
    if secondary is None:
        return version
    weight = weight or 0
    return f"{version} ({100 - weight}%), {secondary} ({weight}%)"


# -- argument parsing -------------------------------------------------------------------

_DURATION_RE = re.compile(r"(\d+)([smhdw])")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> int:
    """``30s``, ``15m``, ``12h``, ``90d``, ``2w`` (or ``0``) to seconds, at most 100 years."""
    if text == "0":
        return 0
    match = _DURATION_RE.fullmatch(text.strip())
    if match is None:
        raise typer.BadParameter(
            f"{text!r} is not a duration: a whole number followed by s, m, h, d or w (e.g. 90d)"
        )
    # Compare digit counts first: int() refuses strings of over 4,300 digits.
    limit = _validate.MAX_AGE_SECONDS
    number = int(match[1]) if len(match[1].lstrip("0")) <= len(str(limit)) else limit + 1
    seconds = number * _DURATION_UNITS[match[2]]
    if seconds > limit:
        raise typer.BadParameter(f"{text!r:.40} is longer than 100 years ({limit:,} seconds)")
    return seconds


def parse_metadata(pairs: Sequence[str]) -> dict[str, str]:
    """``["k=v", ...]`` to a dict; the library checks the keys and values themselves."""
    metadata: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="'--meta'")
        if key in metadata:
            raise typer.BadParameter(f"key {key!r} given twice", param_hint="'--meta'")
        metadata[key] = value
    return metadata
