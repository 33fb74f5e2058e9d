"""Servers for the command line: moto, one SeaweedFS server, or a SeaweedFS cluster."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import tempfile
from collections.abc import Callable, Iterator
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
def _stopped_on_sigterm() -> Iterator[list[Callable[[], None]]]:
    """Yield a list for stop functions; SIGTERM calls them (newest first) and exits 143.

    Cancelling a soak gracefully can wait on a request the fault schedule holds, so a
    SIGTERM does not try: it stops the servers (the helper process ends when its stdin
    closes with this process) and exits at once.
    """
    stops: list[Callable[[], None]] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        for stop in reversed(stops):
            stop()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield stops
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def serve(kind: str) -> Iterator[list[str]]:
    """Start ``kind`` on 127.0.0.1 and yield its endpoint URLs; stop it on exit or SIGTERM."""
    from tests.conftest import Weed, WeedGateway

    if kind == "moto":
        with LocalS3() as moto:
            yield [moto.endpoint_url]
        return
    with (
        _stopped_on_sigterm() as stops,
        tempfile.TemporaryDirectory(prefix="explore-weed-") as directory,
    ):
        weed = Weed(Path(directory))
        stops.append(weed.stop)
        try:
            weed.start()
            if kind == "seaweedfs":
                yield [weed.endpoint_url]
                return
            gateway = WeedGateway(weed)
            stops.append(gateway.stop)
            gateway.start()
            try:
                yield [weed.endpoint_url, gateway.endpoint_url]
            finally:
                gateway.stop()
        finally:
            weed.stop()
