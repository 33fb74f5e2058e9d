"""Servers for the command line: moto, one SeaweedFS server, or a SeaweedFS cluster."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from types import FrameType

from aioversioned._local import LocalS3, fake_credentials


def fake_aws_environment() -> None:
    """Never let a developer's AWS settings reach the run (children inherit this)."""
    for name in [k for k in os.environ if k.startswith("AWS_")]:
        del os.environ[name]
    os.environ.update(
        {
            **fake_credentials(),
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
    )


@contextlib.contextmanager
def _stopping() -> Iterator[list[Callable[[], None]]]:
    """Yield a list for stop functions, called newest first on exit and on SIGTERM.

    A SIGTERM then exits with 143 at once: cancelling a soak gracefully can wait on a
    request the fault schedule holds (the helper process ends when its stdin closes
    with this process).
    """
    stops: list[Callable[[], None]] = []

    def stop_all() -> None:
        for stop in reversed(stops):
            stop()

    def handler(signum: int, frame: FrameType | None) -> None:
        stop_all()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield stops
    finally:
        signal.signal(signal.SIGTERM, previous)
        stop_all()


@contextlib.contextmanager
def serve(kind: str) -> Iterator[list[str]]:
    """Start ``kind`` on 127.0.0.1 and yield its endpoint URLs; stop it on exit or SIGTERM."""
    from tests.conftest import Weed, WeedGateway

    if kind == "moto":
        with _stopping() as stops:
            moto = LocalS3()
            stops.append(moto.stop)
            yield [moto.start().endpoint_url]
        return
    with _stopping() as stops:
        directory = tempfile.mkdtemp(prefix="explore-weed-")
        # Removed after the servers that write into it stopped (stops run newest first).
        stops.append(partial(shutil.rmtree, directory, ignore_errors=True))
        weed = Weed(Path(directory))
        stops.append(weed.stop)
        weed.start()
        if kind == "seaweedfs":
            yield [weed.endpoint_url]
            return
        gateway = WeedGateway(weed)
        stops.append(gateway.stop)
        gateway.start()
        yield [weed.endpoint_url, gateway.endpoint_url]
