"""A loopback HTTP proxy that delays every request by a fixed time.

It models the first-byte latency of a remote S3: each HTTP request is held for
``delay`` seconds once its head has arrived, then forwarded to the upstream server
on 127.0.0.1. Requests are framed (Content-Length or chunked bodies), so a kept-alive
connection carrying several requests is delayed once per request, never once per
TCP segment. Responses are streamed back untouched; when the upstream closes the
connection (moto answers HTTP/1.0-style and closes after each response), the client
side is closed too.

The proxy runs in its own process (:class:`DelayProxy`) so that its work does not
compete for the benchmark's GIL. That process exits when its stdin closes, which
happens when the harness ends for any reason, or after ``--max-seconds``.

This file uses the standard library only and is started by path, so it works
whatever the child's ``sys.path`` is.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
from types import TracebackType

MAX_HEAD = 64 * 1024  # request line and headers; S3 requests are far smaller
CHUNK = 256 * 1024
IO_TIMEOUT = 120.0  # any single read or write
IDLE_TIMEOUT = 60.0  # between two requests on a kept-alive connection
MAX_REQUESTS_PER_CONNECTION = 100_000
MAX_READS_PER_CONNECTION = 10_000_000
MAX_BODY_CHUNKS = 1_000_000
MAX_TRAILERS = 100
# moto's single-threaded server listens with a backlog of 128; more simultaneous
# connects overflow it and the kernel drops SYNs, which costs a 1 s retransmit. The
# server handles one request at a time anyway, so capping the proxy's upstream
# connections below the backlog costs no throughput. A slot is held for the life of
# a client connection: with a server that keeps connections alive (SeaweedFS), idle
# pooled connections would hold every slot and new ones wait for a client's
# keep-alive timeout (200 concurrent HEADs took 39 s), so such servers get more.
UPSTREAM_SLOTS = 64
KEEP_ALIVE_UPSTREAM_SLOTS = 4096
_START_TIMEOUT = 30.0


class ProtocolError(Exception):
    """The client sent something that is not a well-framed HTTP/1.x request."""


def body_framing(head: bytes) -> tuple[bool, int]:
    """``(chunked, content_length)`` of a request head; no framing header means no body."""
    chunked = False
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, sep, value = line.partition(b":")
        if not sep:
            continue
        name = name.strip().lower()
        if name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif name == b"content-length":
            try:
                length = int(value.strip())
            except ValueError:
                raise ProtocolError(f"bad Content-Length {value!r}") from None
            if length < 0:
                raise ProtocolError(f"bad Content-Length {value!r}")
    return chunked, 0 if chunked else length


async def _read(reader: asyncio.StreamReader, size: int) -> bytes:
    return await asyncio.wait_for(reader.read(size), IO_TIMEOUT)


async def _write(writer: asyncio.StreamWriter, data: bytes) -> None:
    writer.write(data)
    await asyncio.wait_for(writer.drain(), IO_TIMEOUT)


class Pace:
    """Holds a request body to ``rate`` bytes a second (None: no limit), as one
    connection to a remote S3 is: its bandwidth, not only its latency, bounds an upload."""

    def __init__(self, rate: float | None) -> None:
        self.rate = rate
        self.start = asyncio.get_running_loop().time()
        self.sent = 0

    async def sent_bytes(self, size: int) -> None:
        if self.rate is None:
            return
        self.sent += size
        due = self.start + self.sent / self.rate
        if (wait := due - asyncio.get_running_loop().time()) > 0:
            await asyncio.sleep(wait)


class Throttle:
    """Holds a response stream to ``rate`` bytes a second, as one connection to a remote
    S3 is; time the connection was idle earns no credit."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.due = 0.0

    async def passing(self, size: int) -> None:
        now = asyncio.get_running_loop().time()
        self.due = max(self.due, now) + size / self.rate
        if (wait := self.due - now) > 0:
            await asyncio.sleep(wait)


async def _copy_exact(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, size: int, pace: Pace | None = None
) -> None:
    remaining = size
    while remaining > 0:  # every pass consumes at least one byte or raises
        chunk = await _read(reader, min(CHUNK, remaining))
        if not chunk:
            raise ProtocolError("connection closed inside a request body")
        if pace is not None:
            await pace.sent_bytes(len(chunk))
        await _write(writer, chunk)
        remaining -= len(chunk)


async def _copy_chunked(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, pace: Pace | None = None
) -> None:
    for _ in range(MAX_BODY_CHUNKS):
        line = await asyncio.wait_for(reader.readuntil(b"\r\n"), IO_TIMEOUT)
        await _write(writer, line)
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise ProtocolError(f"bad chunk size line {line!r}") from None
        if size == 0:
            for _ in range(MAX_TRAILERS):
                trailer = await asyncio.wait_for(reader.readuntil(b"\r\n"), IO_TIMEOUT)
                await _write(writer, trailer)
                if trailer == b"\r\n":
                    return
            raise ProtocolError("too many trailers")
        await _copy_exact(reader, writer, size + 2, pace)  # the data and its CRLF
    raise ProtocolError("too many chunks")


class Proxy:
    """The asyncio side: delays each request, then forwards it to the upstream port."""

    def __init__(
        self,
        upstream_port: int,
        delay: float,
        slots: int = UPSTREAM_SLOTS,
        upload_rate: float | None = None,
        download_rate: float | None = None,
    ) -> None:
        self.upstream_port = upstream_port
        self.delay = delay
        self.upload_rate = upload_rate
        self.download_rate = download_rate
        self.requests = 0
        self._slots = asyncio.Semaphore(slots)
        self._connections: set[asyncio.Task[object]] = set()

    async def serve(self, port: int = 0) -> asyncio.Server:
        """Listen on 127.0.0.1 (``port=0`` picks a free port)."""
        return await asyncio.start_server(
            self._handle, "127.0.0.1", port, backlog=4096, limit=MAX_HEAD
        )

    async def aclose(self) -> None:
        """Cancel the connections still open, so shutdown is quiet and bounded."""
        tasks = list(self._connections)
        for task in tasks:
            task.cancel()
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), IO_TIMEOUT)

    async def _read_head(self, reader: asyncio.StreamReader) -> bytes | None:
        try:
            return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), IDLE_TIMEOUT)
        except asyncio.IncompleteReadError as err:
            if err.partial.strip():
                raise ProtocolError("connection closed inside a request head") from None
            return None  # the client closed between requests: the normal end
        except asyncio.LimitOverrunError:
            raise ProtocolError("request head too large") from None

    async def _pump(self, upstream: asyncio.StreamReader, client: asyncio.StreamWriter) -> None:
        throttle = Throttle(self.download_rate) if self.download_rate else None
        try:
            for _ in range(MAX_READS_PER_CONNECTION):
                data = await _read(upstream, CHUNK)
                if not data:
                    break
                if throttle is not None:
                    await throttle.passing(len(data))
                await _write(client, data)
        finally:
            # A close-delimited response ends only when the client sees the close.
            client.close()

    async def _handle(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        upstream_writer: asyncio.StreamWriter | None = None
        pump: asyncio.Task[None] | None = None
        holds_slot = False
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
            task.add_done_callback(self._connections.discard)
        try:
            for _ in range(MAX_REQUESTS_PER_CONNECTION):
                head = await self._read_head(client_reader)
                if head is None:
                    break
                chunked, length = body_framing(head)
                if self.delay > 0:
                    await asyncio.sleep(self.delay)
                if pump is not None and pump.done():
                    break  # upstream closed this connection, so the client must reconnect
                if upstream_writer is None:
                    await asyncio.wait_for(self._slots.acquire(), IO_TIMEOUT)
                    holds_slot = True
                    upstream_reader, upstream_writer = await asyncio.wait_for(
                        asyncio.open_connection("127.0.0.1", self.upstream_port), IO_TIMEOUT
                    )
                    pump = asyncio.create_task(self._pump(upstream_reader, client_writer))
                self.requests += 1
                await _write(upstream_writer, head)
                pace = Pace(self.upload_rate) if self.upload_rate else None
                if chunked:
                    await _copy_chunked(client_reader, upstream_writer, pace)
                else:
                    await _copy_exact(client_reader, upstream_writer, length, pace)
            if upstream_writer is not None and pump is not None:
                # Pass the client's close on as a half-close: werkzeug lingers up to
                # 10 ms after each response, single-threaded, unless it sees EOF. The
                # answer to the last request may still be on its way back.
                if not pump.done() and upstream_writer.can_write_eof():
                    upstream_writer.write_eof()
                await asyncio.wait({pump}, timeout=IO_TIMEOUT)
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ProtocolError):
            pass
        except asyncio.CancelledError:
            # Only aclose() cancels a connection, at shutdown. Python 3.11's stream
            # callback calls task.exception() on a cancelled task and logs a spurious
            # traceback, so the handler ends normally instead.
            pass
        finally:
            if pump is not None and not pump.done():
                pump.cancel()
                with contextlib.suppress(BaseException):
                    await pump
            if upstream_writer is not None:
                upstream_writer.close()
            client_writer.close()
            if holds_slot:
                self._slots.release()


async def _run(
    upstream_port: int,
    delay: float,
    port: int,
    max_seconds: float,
    slots: int,
    upload_rate: float | None = None,
    download_rate: float | None = None,
) -> None:
    proxy = Proxy(upstream_port, delay, slots, upload_rate, download_rate)
    server = await proxy.serve(port)
    print(server.sockets[0].getsockname()[1], flush=True)
    loop = asyncio.get_running_loop()
    stdin_closed = loop.create_future()

    class _StdinWatch(asyncio.Protocol):
        def connection_lost(self, exc: Exception | None) -> None:
            if not stdin_closed.done():
                stdin_closed.set_result(None)

    await loop.connect_read_pipe(_StdinWatch, sys.stdin)
    async with server:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stdin_closed, max_seconds)
        server.close()
        await proxy.aclose()
    print(f"proxy forwarded {proxy.requests} requests", file=sys.stderr, flush=True)


class DelayProxy:
    """Run the proxy in a child process; ``url`` is set once it listens.

    The child exits when this object stops it, when the parent process ends (its
    stdin closes), or after ``max_seconds``.
    """

    def __init__(
        self,
        upstream_port: int,
        delay_ms: float,
        max_seconds: float = 3600.0,
        slots: int = UPSTREAM_SLOTS,
        upload_mbps: float | None = None,
        download_mbps: float | None = None,
    ) -> None:
        self.upstream_port = upstream_port
        self.download_mbps = download_mbps
        self.delay_ms = delay_ms
        self.max_seconds = max_seconds
        self.slots = slots
        self.upload_mbps = upload_mbps
        self.port = 0
        self.url = ""
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> DelayProxy:
        """Start the child and wait (bounded) for the port it prints."""
        process = subprocess.Popen(
            [
                sys.executable,
                os.path.abspath(__file__),
                "--upstream-port",
                str(self.upstream_port),
                "--delay-ms",
                str(self.delay_ms),
                "--max-seconds",
                str(self.max_seconds),
                "--slots",
                str(self.slots),
                *(["--upload-mbps", str(self.upload_mbps)] if self.upload_mbps else []),
                *(["--download-mbps", str(self.download_mbps)] if self.download_mbps else []),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self._process = process
        from aioversioned._local import read_port  # the parent only: the child stays stdlib

        self.port = read_port(process, "delay proxy")
        self.url = f"http://127.0.0.1:{self.port}"
        return self

    def stop(self) -> None:
        """Close the child's stdin so it exits; terminate it if it lingers."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            from aioversioned._local import terminate

            terminate(process)
        if process.stdout is not None:
            process.stdout.close()

    def __enter__(self) -> DelayProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    """Entry point of the child process."""
    parser = argparse.ArgumentParser(description="delaying HTTP proxy on 127.0.0.1")
    parser.add_argument("--upstream-port", type=int, required=True)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--max-seconds", type=float, default=3600.0)
    parser.add_argument("--slots", type=int, default=UPSTREAM_SLOTS, help="upstream connections")
    parser.add_argument(
        "--upload-mbps", type=float, default=None, help="request body bytes per connection, MB/s"
    )
    parser.add_argument(
        "--download-mbps", type=float, default=None, help="response bytes per connection, MB/s"
    )
    args = parser.parse_args(argv)
    rate = args.upload_mbps * 1e6 if args.upload_mbps else None
    down = args.download_mbps * 1e6 if args.download_mbps else None
    delay = args.delay_ms / 1000.0
    asyncio.run(
        _run(args.upstream_port, delay, args.port, args.max_seconds, args.slots, rate, down)
    )


if __name__ == "__main__":
    main()
