"""Servers for the command line: moto, one SeaweedFS server, or a SeaweedFS cluster."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

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
def serve(kind: str) -> Iterator[list[str]]:
    """Start ``kind`` on 127.0.0.1 and yield its endpoint URLs; stop it on exit."""
    from tests.conftest import Weed, WeedGateway

    if kind == "moto":
        with LocalS3() as moto:
            yield [moto.endpoint_url]
        return
    with tempfile.TemporaryDirectory(prefix="explore-weed-") as directory:
        weed = Weed(Path(directory))
        try:
            weed.start()
            if kind == "seaweedfs":
                yield [weed.endpoint_url]
                return
            gateway = WeedGateway(weed).start()
            try:
                yield [weed.endpoint_url, gateway.endpoint_url]
            finally:
                gateway.stop()
        finally:
            weed.stop()
