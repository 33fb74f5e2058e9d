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
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from tests.loopback import LoopbackProxy, read_request

_TIMEOUT = 30.0  # one request, forwarded and answered
_IDLE = 60.0  # a pooled connection waiting for its next request
_PER_CONNECTION = 10_000  # requests one client connection may send
_DROPPED_HEADERS = ("connection:", "keep-alive:", "expect:", "proxy-connection:")


def _on(path: str, path_end: str) -> bool:
    """``path`` ends with ``path_end``, or lies under it if it is a folder ('/' last)."""
    if path_end.endswith("/"):
        return path_end in path
    return path.endswith(path_end)


@dataclass
class Rule:
    """Lose the answer of the first ``times`` requests with ``method`` whose path ends
    with ``path_end``, or lies under it if it ends with '/' (and that carry header
    ``header``, when given); with ``forward`` False the server never sees them."""

    method: str
    path_end: str
    header: str | None = None
    times: int = 1
    forward: bool = True
    hits: int = 0

    def matches(self, method: str, path: str, headers: dict[str, str]) -> bool:
        if self.hits >= self.times or method != self.method or not _on(path, self.path_end):
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


class LostAnswerProxy(LoopbackProxy):
    """``with LostAnswerProxy(upstream_url) as proxy:`` then ``proxy.url`` and ``proxy.lose``."""

    def __init__(self, upstream_url: str) -> None:
        super().__init__(upstream_url)
        self.rules: list[Rule] = []
        self.seen: list[Seen] = []
        self._connections = itertools.count()

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
        """The requests seen so far with ``method`` whose path ends with ``path_end`` (or
        lies under it)."""
        return [s for s in self.seen if s.method == method and _on(s.path, path_end)]

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        connection = next(self._connections)
        for earlier in range(_PER_CONNECTION):
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _IDLE)
            except (asyncio.IncompleteReadError, asyncio.TimeoutError):
                return  # the client closed its pooled connection, or left it idle
            if not await asyncio.wait_for(
                self._serve(head, reader, writer, connection, earlier), _TIMEOUT
            ):
                return

    async def _serve(
        self,
        head: bytes,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        connection: int,
        earlier: int,
    ) -> bool:
        """Forward one request; False when its answer was lost (the connection closes)."""
        lines, headers, body = await read_request(head, reader, writer)
        method, target, _ = lines[0].split(" ", 2)
        assert "chunked" not in headers.get("transfer-encoding", ""), "chunked requests"
        path = unquote(urlsplit(target).path)
        rule = next((r for r in self.rules if r.matches(method, path, headers)), None)
        if rule is not None:
            rule.hits += 1
        self.seen.append(Seen(method, path, connection, earlier, rule is not None))
        if rule is not None and not rule.forward:
            return False
        answer = await self._exchange(lines, _DROPPED_HEADERS, body)
        if rule is not None:
            return False
        writer.write(_response_for_client(method, answer))
        await writer.drain()
        return True
