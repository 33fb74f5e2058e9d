"""Plumbing of the command line: the connection, output, running a command, error mapping.

What every command module uses, so that a command only parses, calls and prints.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import urlsplit

import typer

from ..errors import (
    AioVersionedError,
    ArtifactNotFoundError,
    BucketNotFoundError,
    InvalidInputError,
    StorageError,
    VersionInUseError,
)

# A command line talks to one endpoint and a person waits: a connection attempt that
# has not succeeded in 2 s will not, and a request is tried 3 times (the library's
# defaults, 10 s and 5 attempts, suit services). A refused connection fails in < 3 s.
CONNECT_TIMEOUT = 2.0
MAX_ATTEMPTS = 3
DEFAULT_PREFIX = "versioned-artifacts"

# rich and the library's client are imported where used: ``--version``, ``--help`` and
# completion start without them (aiobotocore, botocore and pydantic take most of a second).
if TYPE_CHECKING:
    from .._sync import Repository

# Table columns shown whole on a narrow terminal: revisions and times (``updated``).
_WHOLE_COLUMNS = ("revision", "updated")

# The library's ``on_progress(done_bytes, total_bytes)`` callback.
OnProgress = Callable[[int, int | None], object]


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
        from .._sync import Repository

        return Repository(
            self.bucket,
            self.prefix,
            self.suffix,
            aws_region=self.region,
            endpoint_url=self.endpoint_url,
            profile=self.profile,
            connect_timeout=CONNECT_TIMEOUT,
            max_attempts=MAX_ATTEMPTS,
        )

    def options(self) -> list[str]:
        """The command line options that name this connection (defaults left out)."""
        words = ["--bucket", self.bucket]
        if self.prefix != DEFAULT_PREFIX:
            words += ["--prefix", self.prefix]
        if self.suffix:
            words += ["--suffix", self.suffix]
        for option, value in (
            ("--region", self.region),
            ("--endpoint-url", self.endpoint_url),
            ("--profile", self.profile),
        ):
            if value is not None:
                words += [option, value]
        return words


@dataclass
class Cli:
    """What a command gets: its repository, and the ways to print."""

    connection: Connection
    context: typer.Context
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
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        console = Console(stderr=True)
        if self.quiet or not console.is_terminal:
            yield None
            return
        columns = (
            TextColumn("{task.description}", markup=False),
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
        """A rich table on a terminal; tab-separated lines with a header line otherwise.

        Every cell is plain text, never rich markup: values come from the bucket, and an
        alias named ``[/]`` is a markup error.
        """
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        console = Console(highlight=False, soft_wrap=True)
        if console.is_terminal:
            table = Table(title=Text(title), title_justify="left")
            for index, column in enumerate(columns):
                # A revision is copied into --expect-revision, a time read at a glance:
                # never cut or wrapped; the other columns wrap in the width left.
                whole = column in _WHOLE_COLUMNS
                width = max((len(row[index]) for row in rows), default=0) if whole else None
                # fold: a word wider than its column breaks over lines, never cut to "…".
                table.add_column(column, no_wrap=whole, min_width=width, overflow="fold")
            for row in rows:
                table.add_row(*(Text(cell) for cell in row))
            console.print(table)
            return
        for line in [columns, *rows]:
            typer.echo("\t".join(line))

    # -- running -----------------------------------------------------------------------

    def run(self, command: Callable[..., None], arguments: dict[str, Any]) -> None:
        """Run a command, mapping library errors to exit codes 1 and 2."""
        try:
            command(self, **arguments)
        except BrokenPipeError:
            # The reader went away (``| head``): stop quietly, as cat does. Later writes
            # (the interpreter's last flush) go nowhere instead of failing again.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except InvalidInputError as err:
            # The library refused an argument before sending anything: a usage error.
            self._show_traceback()
            usage_error(self.context, err)
        except BucketNotFoundError:
            self._show_traceback()
            bucket = self.connection.bucket
            fail(
                f"bucket {bucket!r} does not exist; create it with "
                f"'aioversioned bootstrap --bucket {bucket}'"
            )
        except ArtifactNotFoundError as err:
            self._show_traceback()
            fail(self._not_found(err))
        except VersionInUseError as err:
            self._show_traceback()
            names = ", ".join(err.aliases)
            fail(
                f"artifact {err.name!r} version {err.version} is in use by aliases: {names};"
                " --force deletes it anyway (the aliases then point at nothing)"
            )
        except StorageError as err:
            self._show_traceback()
            fail(unreachable(err) or str(err))
        except AioVersionedError as err:
            self._show_traceback()
            fail(str(err))
        except OSError as err:  # a local file could not be written
            self._show_traceback()
            fail(str(err))
        finally:
            self.close()

    def _not_found(self, err: ArtifactNotFoundError) -> str:
        """The message for an artifact or version not found.

        An artifact without any version is not found, whatever version was asked for
        (as ``ls NAME`` says); one with versions under another suffix only, too, with
        the ``--suffix`` that finds it.
        """
        try:
            suffixes = self.repo.list_artifact_suffixes(err.name)
        except AioVersionedError:
            return str(err)
        if self.connection.suffix in suffixes:
            return str(err)
        found = " or ".join(f"--suffix {shlex.quote(suffix)}" for suffix in suffixes)
        return f"artifact {err.name!r} not found" + (
            f"; it has versions with {found}" if found else ""
        )

    def _show_traceback(self) -> None:
        if self.debug:
            traceback.print_exc(file=sys.stderr)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one line to stderr and exit with ``code``."""
    typer.secho(f"Error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(code)


def found(lookup: Callable[[], object], missing: type[LookupError], missing_ok: bool) -> bool:
    """Whether ``lookup()`` finds what a command is to delete.

    The library's deletes do nothing when there is nothing; the command line says so:
    ``missing`` propagates (exit 1), unless ``missing_ok``.
    """
    try:
        lookup()
    except missing:
        if not missing_ok:
            raise
        return False
    return True


# -- errors -------------------------------------------------------------------------------

# The command parameter that carries a library argument, where their names differ.
_PARAMETER_OF = {
    "s3_bucket": "bucket",
    "s3_prefix": "prefix",
    "secondary_version": "canary",
    "secondary_version_weight": "weight",
    "expected_revision": "expect_revision",
    "metadata": "meta",
    "content": "file",
    "path": "output",
}
# Library messages that name Python arguments or functions, in the command line's words.
_MESSAGES = {
    ("secondary_version", "is required with secondary_version_weight"): (
        "--weight requires --canary"
    ),
    ("secondary_version_weight", "is required with secondary_version"): (
        "--canary requires --weight"
    ),
    ("secondary_version", "must differ from version"): "--canary must differ from VERSION",
    ("version", "LATEST can not be deleted; use purge_artifact()"): (
        "LATEST can not be deleted alone; 'rm NAME --all' deletes the whole artifact"
    ),
}
_IDENTIFIER_RE = re.compile(r"\b[a-z0-9]+(?:_[a-z0-9]+)+\b")


def usage_error(ctx: typer.Context, err: InvalidInputError) -> NoReturn:
    """Raise a library refusal in the command line's words: its option names."""
    message = _MESSAGES.get((err.argument, err.message))
    if message is not None:
        ctx.fail(message)
    names = {}
    for param in ctx.command.params:
        if param.name is not None:
            option = param.param_type_name == "option"
            names[param.name] = (
                max(param.opts, key=len) if option else param.metavar or param.name.upper()
            )

    def cli_name(argument: str) -> str | None:
        return names.get(_PARAMETER_OF.get(argument, argument))

    text = _IDENTIFIER_RE.sub(lambda found: cli_name(found[0]) or found[0], err.message)
    hint = cli_name(err.argument)
    raise typer.BadParameter(text, ctx, param_hint=f"'{hint}'" if hint else None)


_UNREACHABLE_CODES = ("EndpointConnectionError", "ConnectTimeoutError")


def unreachable(err: StorageError) -> str | None:
    """One line for a request that never reached the endpoint: where, and why."""
    if err.code not in _UNREACHABLE_CODES:
        return None
    details = getattr(err.__cause__, "kwargs", {})  # botocore keeps the URL and the cause
    url = urlsplit(str(details.get("endpoint_url", "")))
    if err.code == "ConnectTimeoutError":
        reason = f"no connection within {CONNECT_TIMEOUT:g} s"
    else:
        cause = details.get("error")
        cause = getattr(cause, "os_error", cause)  # aiohttp's connector error wraps it
        if isinstance(cause, OSError) and cause.errno is not None and cause.errno > 0:
            reason = os.strerror(cause.errno)
        elif isinstance(cause, OSError) and cause.strerror:
            reason = cause.strerror  # a name resolution error
        else:
            reason = str(cause or err.detail)
    return (
        f"can not reach the S3 endpoint {url.scheme}://{url.netloc}: "
        f"{reason[:1].lower()}{reason[1:]} ({MAX_ATTEMPTS} attempts)"
    )
