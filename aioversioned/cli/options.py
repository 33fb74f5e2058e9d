"""How a command is declared: its shared options, its registration, its help.

Every repository command takes the connection and output options, before or after
its name; help shows metavars (``--bucket BUCKET``), not Python types.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Optional, TypeVar
from urllib.parse import urlsplit

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from .complete import alias_names, artifact_names
from .support import DEFAULT_PREFIX, Cli, Connection

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
        default=None,
        annotation=Annotated[
            Optional[str],  # noqa: UP045  # required, checked once the root's options are known
            typer.Option(
                "--bucket",
                envvar="AIOVERSIONED_BUCKET",
                metavar="BUCKET",
                help="S3 bucket of the repository (required).",
                rich_help_panel=CONNECTION_PANEL,
                show_default=False,
            ),
        ],
    ),
    inspect.Parameter(
        "prefix",
        inspect.Parameter.KEYWORD_ONLY,
        default=DEFAULT_PREFIX,
        annotation=Annotated[
            str,
            typer.Option(
                "--prefix",
                metavar="PREFIX",
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
                metavar="SUFFIX",
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
                metavar="REGION",
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
                metavar="URL",
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
                metavar="PROFILE",
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
JsonOption = Annotated[
    bool,
    typer.Option(
        "--json",
        help="Print JSON (the documented stable schema) instead of text.",
        rich_help_panel=OUTPUT_PANEL,
    ),
]

NameArgument = Annotated[
    str,
    typer.Argument(
        metavar="NAME", help="Artifact name.", show_default=False, autocompletion=artifact_names
    ),
]
AliasArgument = Annotated[
    str,
    typer.Argument(
        metavar="ALIAS", help="Alias name.", show_default=False, autocompletion=alias_names
    ),
]

# typer 0.26 and later vendor click: its classes are reached through typer only.


class _Argument(TyperArgument):
    def display_type_rich(self, ctx: Any) -> str | None:
        return None  # the metavar (NAME, FILE) says what it is

    def _usage_display_name(self) -> str:
        # ``NAME`` in the usage line, not typer's ``{NAME}``: the usual way to write it.
        return self.display_name_raw if self.required else f"[{self.display_name_raw}]"


class _Option(TyperOption):
    def display_type_rich(self, ctx: Any) -> str | None:
        return self.metavar  # a flag has none: no ``<bool>``


def _plain_help(params: Sequence[object]) -> None:
    """Drop typer's ``<str>``/``<bool>`` type column from the help of these parameters."""
    for param in params:
        # typer builds the parameter objects itself; only their help display changes.
        if type(param) is TyperArgument:
            param.__class__ = _Argument
        elif type(param) is TyperOption:
            param.__class__ = _Option


class Command(TyperCommand):
    """A command whose help shows metavars (``--bucket BUCKET``), not Python types."""

    def get_params(self, ctx: Any) -> Any:
        params = super().get_params(ctx)
        _plain_help(params)
        return params


class Group(TyperGroup):
    """A group whose help shows metavars, not Python types."""

    def get_params(self, ctx: Any) -> Any:
        params = super().get_params(ctx)
        _plain_help(params)
        return params


def with_common_options(function: CommandFunction) -> CommandFunction:
    """The root callback, taking the common options too (``aioversioned --bucket B ls``).

    It ignores them: each repository command reads them from the root context.
    """

    @functools.wraps(function)
    def callback(**arguments: Any) -> None:
        function(**{key: value for key, value in arguments.items() if key not in _COMMON_NAMES})

    _set_parameters(callback, inspect.signature(function, eval_str=True), _COMMON_PARAMETERS)
    return callback  # type: ignore[return-value]  # typer reads the new signature


def _set_parameters(
    function: Callable[..., None], signature: inspect.Signature, extra: list[inspect.Parameter]
) -> None:
    """Give ``function`` the parameters of ``signature`` plus ``extra``, for typer to read."""
    parameters = list(signature.parameters.values()) + extra
    function.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=parameters, return_annotation=None
    )
    function.__annotations__ = {p.name: p.annotation for p in parameters}
    del function.__wrapped__  # type: ignore[attr-defined]


def _given(ctx: Any, name: str) -> bool:  # a typer or click Context, as typer's version has it
    source = ctx.get_parameter_source(name)
    return source is not None and source.name == "COMMANDLINE"


def _common_options(ctx: typer.Context, values: dict[str, Any]) -> dict[str, Any]:
    """The common options of the running command, checked.

    One given after the command name wins over one given before it; either wins over
    the environment.
    """
    root = ctx.find_root()
    for name in _COMMON_NAMES:
        if not _given(ctx, name) and _given(root, name):
            values[name] = root.params[name]
    if values["bucket"] is None:
        ctx.fail("Missing option '--bucket' (or the variable AIOVERSIONED_BUCKET).")
    if values["endpoint_url"] is not None:
        check_endpoint(values["endpoint_url"], "'--endpoint-url'")
    elif "AWS_ENDPOINT_URL" in os.environ:  # read by botocore, which would raise
        check_endpoint(os.environ["AWS_ENDPOINT_URL"], "AWS_ENDPOINT_URL")
    suffix = values["suffix"]
    if suffix and not suffix.startswith(".") and not values["quiet"]:
        typer.echo(
            f"Warning: --suffix {suffix!r} has no leading dot, so keys end in "
            f"'000000_LATEST{suffix}'; '.{suffix}' is the usual form",
            err=True,
        )
    return values


def check_endpoint(url: str, hint: str) -> None:
    """Refuse an endpoint botocore would refuse with a traceback: no scheme, no host."""
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.netloc:
        return
    example = f"http://{url}" if url and "://" not in url else "http://127.0.0.1:9000"
    raise typer.BadParameter(
        f"{url!r} is not an http(s) URL with a host, e.g. {example}", param_hint=hint
    )


def repo_command(
    app: typer.Typer, name: str | None = None, **options: Any
) -> Callable[[CommandFunction], CommandFunction]:
    """Register ``function(cli, ...)`` as a command that also takes the common options.

    The decorated function's first parameter receives a :class:`Cli`; the connection,
    ``--quiet`` and ``--debug`` options are appended to its own in ``--help``.
    """

    def decorate(function: CommandFunction) -> CommandFunction:
        signature = inspect.signature(function, eval_str=True)
        own = signature.replace(parameters=list(signature.parameters.values())[1:])  # no cli

        @functools.wraps(function)
        def command(ctx: typer.Context, **arguments: Any) -> None:
            common = _common_options(ctx, {key: arguments.pop(key) for key in _COMMON_NAMES})
            quiet, debug = common.pop("quiet"), common.pop("debug")
            Cli(Connection(**common), ctx, quiet=quiet, debug=debug).run(function, arguments)

        context = inspect.Parameter(
            "ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context
        )
        _set_parameters(
            command, own.replace(parameters=[context, *own.parameters.values()]), _COMMON_PARAMETERS
        )
        app.command(name, cls=Command, **options)(command)
        return function

    return decorate
