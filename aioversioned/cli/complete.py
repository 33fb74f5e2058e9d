"""Shell completion of artifact names and aliases, read from the repository.

A completion runs while a person waits at the prompt, so it is bounded: one attempt per
request, a connection attempt of at most half a second, and the requests in at most
``COMPLETION_SECONDS`` (making the client, CPU only, is not counted). Any failure (no
bucket given, an endpoint down, no credentials, the time up) completes nothing and
prints nothing: a shell's completion is no place for an error message. The connection
comes from the options already typed (before or after the command name) and the
environment, as the command itself would read them.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import typer

from .support import DEFAULT_PREFIX

COMPLETION_SECONDS = 3.0
_CONNECTION = ("bucket", "prefix", "suffix", "region", "endpoint_url", "profile")


def _connection(ctx: typer.Context) -> dict[str, Any]:
    """The connection options typed so far: the command's own win over the root's."""
    values: dict[str, Any] = {}
    for context in (ctx.find_root(), ctx):
        for name in _CONNECTION:
            if context.params.get(name) is not None:
                values[name] = context.params[name]
    return values


async def _read(ctx: typer.Context, read: str) -> list[str]:
    import anyio

    from .._repository import AsyncRepository

    given = _connection(ctx)
    async with AsyncRepository(  # makes the client (CPU only): not in the time limit
        given["bucket"],
        given.get("prefix", DEFAULT_PREFIX),
        given.get("suffix", ""),
        aws_region=given.get("region"),
        endpoint_url=given.get("endpoint_url"),
        profile=given.get("profile"),
        connect_timeout=0.5,
        max_attempts=1,
    ) as repo:
        with anyio.move_on_after(COMPLETION_SECONDS):
            if read == "names":
                return await repo.list_artifact_names()
            name = ctx.params.get("name")
            if isinstance(name, str):
                return [alias.alias for alias in await repo.list_aliases(name)]
    return []


def _complete(ctx: typer.Context, incomplete: str, read: str) -> list[str]:
    if _connection(ctx).get("bucket") is None:
        return []
    import anyio

    logging.disable(logging.CRITICAL)  # botocore's warnings would land in the shell
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            found = anyio.run(_read, ctx, read)
    except Exception:  # anything at all: complete nothing, say nothing
        return []
    return [word for word in found if word.startswith(incomplete)]


def artifact_names(ctx: typer.Context, incomplete: str) -> list[str]:
    """Complete NAME: the repository's artifact names that start with what was typed."""
    return _complete(ctx, incomplete, "names")


def alias_names(ctx: typer.Context, incomplete: str) -> list[str]:
    """Complete ALIAS: the aliases of the NAME typed before it."""
    return _complete(ctx, incomplete, "aliases")
