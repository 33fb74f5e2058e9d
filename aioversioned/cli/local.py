"""``aioversioned quickstart`` and ``aioversioned serve``: an embedded moto server."""

from __future__ import annotations

import contextlib
import signal
import sys
import time
from collections.abc import Iterator
from functools import partial
from types import FrameType
from typing import Annotated

import typer

from .._local import LocalS3, fake_credentials, require_moto
from .support import fail


def quickstart() -> None:
    """Replay the `versioned` S3-only tour on an embedded moto server, one line per step."""
    try:
        require_moto()
    except RuntimeError as err:
        fail(str(err))
    from rich.console import Console  # here: the other commands start without rich

    from .. import _quickstart  # the library's client: not paid by the other commands

    # Its lines hold S3 values: printed as text, never as rich markup.
    _quickstart.run(partial(Console(highlight=False, soft_wrap=True).print, markup=False))


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
    with _stopped_by_signals(server):
        typer.echo(f"local S3 (moto) listening at {server.endpoint_url}; Ctrl-C stops it")
        typer.echo(f"use it with: --endpoint-url {server.endpoint_url}")
        typer.echo("or export these in another shell:")
        typer.echo(f"  export AWS_ENDPOINT_URL={server.endpoint_url}")
        for key, value in fake_credentials().items():
            typer.echo(f"  export {key}={value}")
        sys.stdout.flush()
        while True:
            time.sleep(3600)
    typer.echo("local S3 stopped", err=True)


@contextlib.contextmanager
def _stopped_by_signals(server: LocalS3) -> Iterator[None]:
    """Start ``server``; Ctrl-C or a plain ``kill`` ends the block and stops it.

    Ctrl-C is how serve is meant to stop (exit 0), not an interrupted command (exit
    130, see :func:`aioversioned.cli.main`).
    """
    # Ctrl-C reaches the whole foreground process group. The moto child inherits an
    # ignored SIGINT, so only this process reacts (and stops the child cleanly) instead
    # of the child also dying with a KeyboardInterrupt traceback.
    previous_interrupt = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        server.start()
    except RuntimeError as err:
        signal.signal(signal.SIGINT, previous_interrupt)
        fail(str(err))
    # Python's own handler raises KeyboardInterrupt, caught below.
    signal.signal(signal.SIGINT, signal.default_int_handler)

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    # Without this a plain `kill` would leave the moto child process running.
    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_interrupt)
