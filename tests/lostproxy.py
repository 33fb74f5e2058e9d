"""A loopback HTTP proxy with keep-alive that loses the answers of chosen requests.

Unlike ``tests/faultproxy.py`` (one request per connection), a client connection here
serves request after request, as a pooled connection does. A request that matches a
rule (``lose``) is forwarded, the server acts and answers in full, and then the proxy
closes the client's connection without a byte of that answer: what a connection reset
after the server's work looks like to the client. ``close`` closes the connection
without forwarding: a pooled connection the server had closed. ``seen`` records every request in
the order it arrived, with the connection it came on and how many that connection had
served before, so a test can tell whether the client sent a request again and whether
the lost one came on a reused connection.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from dataclasses import dataclass
from types import TracebackType
from urllib.parse import unquote, urlsplit

_TIMEOUT = 30.0  # one request, forwarded and answered
_IDLE = 60.0  # a pooled connection waiting for its next request
_PER_CONNECTION = 10_000  # requests one client connection may send
_DROPPED_HEADERS = ("connection:", "keep-alive:", "expect:", "proxy-connection:")


@dataclass
class Rule:
    """Lose the answer of the first ``times`` requests with ``method`` whose path ends
    with ``path_end`` (and that carry header ``header``, when given); with ``forward``
    False the server never sees them."""

    method: str
    path_end: str
    header: str | None = None
    times: int = 1
    forward: bool = True
    hits: int = 0

    def matches(self, method: str, path: str, headers: dict[str, str]) -> bool:
        if self.hits >= self.times or method != self.method or not path.endswith(self.path_end):
            return False
        return self.header is None or self.header.lower() in headers


@dataclass(frozen=True)
class Seen:
    """One request the proxy received."""

    method: str
    path: str  # unquoted, with the bucket: /bucket/key
    connection: int  # which client connection, in the order they were opened
    earlier: int  # requests that connection had served before this one
    lost: bool  # its connection was closed without an answer


def _response_for_client(method: str, raw: bytes) -> bytes:
    """The server's answer (read to its end on a ``Connection: close`` exchange),
    rewritten for a connection that stays open: HTTP/1.1, a Content-Length, no chunks."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = [x for x in lines[1:] if not x.lower().startswith(_DROPPED_HEADERS)]
    chunked = any(
        x.lower().startswith("transfer-encoding:") and "chunked" in x.lower() for x in headers
    )
    headers = [x for x in headers if not x.lower().startswith("transfer-encoding:")]
    if chunked:
        body = _dechunk(body)
    _, status_code, reason = lines[0].split(" ", 2)
    status = int(status_code)
    if method != "HEAD" and status not in (204, 304):
        headers = [x for x in headers if not x.lower().startswith("content-length:")]
        headers.append(f"Content-Length: {len(body)}")
    else:
        body = b""
    # HTTP/1.1 whatever the server spoke (werkzeug answers a Connection: close in 1.0),
    # so the client keeps the connection.
    status_line = f"HTTP/1.1 {status} {reason}"
    return "\r\n".join([status_line, *headers, "", ""]).encode("latin-1") + body


def _dechunk(data: bytes) -> bytes:
    pieces: list[bytes] = []
    position = 0
    while True:
        line_end = data.index(b"\r\n", position)
        size = int(data[position:line_end].split(b";")[0], 16)
        if size == 0:
            return b"".join(pieces)
        start = line_end + 2
        pieces.append(data[start : start + size])
        position = start + size + 2


class LostAnswerProxy:
    """``with LostAnswerProxy(upstream_url) as proxy:`` then ``proxy.url`` and ``proxy.lose``."""

    def __init__(self, upstream_url: str) -> None:
        parts = urlsplit(upstream_url)
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.rules: list[Rule] = []
        self.seen: list[Seen] = []
        self.url = ""
        self._connections = itertools.count()
        self._handlers: set[asyncio.Task[None]] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    def __enter__(self) -> LostAnswerProxy:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", 0), self._loop
        )
        self._server = future.result(timeout=10)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        async def shutdown() -> None:
            assert self._server is not None
            self._server.close()
            for task in list(self._handlers):  # idle pooled connections wait for requests
                task.cancel()
            await asyncio.gather(*self._handlers, return_exceptions=True)
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def lose(
        self, method: str, path_end: str, *, header: str | None = None, times: int = 1
    ) -> Rule:
        """Lose the answers of the next ``times`` matching requests (see :class:`Rule`)."""
        rule = Rule(method, path_end, header, times)
        self.rules.append(rule)
        return rule

    def close(self, method: str, path_end: str, *, times: int = 1) -> Rule:
        """Close the connection of the next ``times`` matching requests without
        forwarding them: a pooled connection the server had closed."""
        rule = Rule(method, path_end, None, times, forward=False)
        self.rules.append(rule)
        return rule

    def requests(self, method: str, path_end: str) -> list[Seen]:
        """The requests seen so far with ``method`` whose path ends with ``path_end``."""
        return [s for s in self.seen if s.method == method and s.path.endswith(path_end)]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        connection = next(self._connections)
        try:
            for earlier in range(_PER_CONNECTION):
                try:
                    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _IDLE)
                except (asyncio.IncompleteReadError, asyncio.TimeoutError):
                    return  # the client closed its pooled connection, or left it idle
                if not await asyncio.wait_for(
                    self._serve(head, reader, writer, connection, earlier), _TIMEOUT
                ):
                    return
        except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError):
            pass
        finally:
            self._handlers.discard(task)
            writer.close()

    async def _serve(
        self,
        head: bytes,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        connection: int,
        earlier: int,
    ) -> bool:
        """Forward one request; False when its answer was lost (the connection closes)."""
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:] if x)
        }
        assert "chunked" not in headers.get("transfer-encoding", ""), "chunked requests"
        if headers.get("expect", "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        path = unquote(urlsplit(target).path)
        rule = next((r for r in self.rules if r.matches(method, path, headers)), None)
        if rule is not None:
            rule.hits += 1
        self.seen.append(Seen(method, path, connection, earlier, rule is not None))
        if rule is not None and not rule.forward:
            return False
        kept = [x for x in lines[1:] if x and not x.lower().startswith(_DROPPED_HEADERS)]
        forwarded = "\r\n".join([lines[0], *kept, "Connection: close", "", ""]).encode("latin-1")
        up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        try:
            up_writer.write(forwarded + body)
            await up_writer.drain()
            answer = await up_reader.read()  # the server closes after its whole answer
        finally:
            up_writer.close()
        if rule is not None:
            return False
        writer.write(_response_for_client(method, answer))
        await writer.drain()
        return True
