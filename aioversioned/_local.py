"""A throwaway moto S3 server on 127.0.0.1, for the quick start, ``serve``, tests and benchmarks.

The server runs single-threaded in a child process: moto checks a conditional write
and then performs it in two steps, which only a one-request-at-a-time server keeps
atomic, as real S3 is. Needs the ``aioversioned[local]`` extra: moto's S3 service and the
packages of its server app.
"""

from __future__ import annotations

import argparse
import os
import select
import signal
import socket
import subprocess
import sys
import time
import warnings
from types import TracebackType

_START_TIMEOUT = 60.0
_FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


class LocalS3:
    """Start a moto server subprocess on a free loopback port; stop it on exit.

    ``endpoint_url`` is set once started. ``port=0`` picks a free port.
    """

    def __init__(self, port: int = 0, *, verbose: bool = False) -> None:
        self.port = port
        self.verbose = verbose
        self.endpoint_url = ""
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> LocalS3:
        """Start the server and wait (at most a minute) until it listens."""
        require_moto()  # fail here, with a hint, not in the child
        process = subprocess.Popen(
            [sys.executable, "-m", "aioversioned._local", "--port", str(self.port)]
            + (["--verbose"] if self.verbose else []),
            stdout=subprocess.PIPE,
            env={**os.environ, **_FAKE_CREDENTIALS},
        )
        self._process = process
        self.port = read_port(process, "moto server")
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        return self

    def stop(self) -> None:
        """Terminate the server process (SIGTERM, then SIGKILL after 5 s)."""
        process, self._process = self._process, None
        if process is not None:
            terminate(process)

    def __enter__(self) -> LocalS3:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def require_moto() -> None:
    """Raise RuntimeError with the install command if the server's modules can not be imported.

    Imports what ``_serve`` imports: moto, and the packages of moto's server app (flask,
    flask-cors) that the ``local`` extra declares beside ``moto[s3]``.
    """
    try:
        with warnings.catch_warnings():
            # moto warns "install moto[server]" before it raises: the extra to name is ours.
            warnings.simplefilter("ignore")
            import moto.moto_server.werkzeug_app  # noqa: F401
            import werkzeug.serving  # noqa: F401
    except ImportError as err:
        missing = (err.name or "").partition(".")[0]
        needs = "moto" if missing in ("", "moto") else f"moto's server (no module {missing})"
        raise RuntimeError(
            f"a local S3 server needs {needs}: pip install 'aioversioned[local]'"
        ) from err


def read_port(process: subprocess.Popen[bytes], what: str) -> int:
    """Wait (at most a minute) for the port number a child prints on its first line.

    The child is terminated, and RuntimeError raised, if it prints anything else; a line
    ``error: REASON`` (a child that could not start, see ``_serve``) gives the reason.
    """
    assert process.stdout is not None
    deadline = time.monotonic() + _START_TIMEOUT
    line = b""
    while not line.endswith(b"\n") and time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.5)
        if ready:
            chunk = os.read(process.stdout.fileno(), 64)
            if not chunk:
                break
            line += chunk
    if not line.strip().isdigit():
        terminate(process)
        reason = line.decode(errors="replace").strip().removeprefix("error: ")
        if line.startswith(b"error: "):
            raise RuntimeError(f"{what} did not start: {reason}")
        raise RuntimeError(f"{what} did not start (printed {line!r})")
    return int(line)


def terminate(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 5 s; close the pipes."""
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)
    for pipe in (process.stdin, process.stdout):
        if pipe is not None:
            pipe.close()


def fake_credentials() -> dict[str, str]:
    """Credentials a local moto server accepts."""
    return dict(_FAKE_CREDENTIALS)


def _serve(port: int, verbose: bool) -> None:
    import logging

    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    class Handler(MotoRequestHandler):
        def send_response(self, code: int, message: str | None = None) -> None:
            # http.server adds a Server header to moto's own: aiohttp refuses the response
            # in development mode (python -X dev) for the duplicate.
            self.log_request(code)
            self.send_response_only(code, message)
            self.send_header("Date", self.date_time_string())

    if port:
        # werkzeug reports a taken port in two lines of its own and exits: say it in one.
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does
            try:
                probe.bind(("127.0.0.1", port))
            except OSError as err:
                print(
                    f"error: port {port} on 127.0.0.1 is in use ({err.strerror}); stop what"
                    " uses it or choose another --port (0: any free one)",
                    flush=True,
                )
                sys.exit(1)
    app = DomainDispatcherApplication(create_backend_app)
    server = make_server("127.0.0.1", port, app, threaded=False, request_handler=Handler)
    logging.getLogger("werkzeug").setLevel(logging.INFO if verbose else logging.WARNING)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(server.server_port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="single-threaded moto S3 server on 127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args()
    _serve(args.port, args.verbose)
