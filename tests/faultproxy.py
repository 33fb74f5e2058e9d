"""A loopback HTTP proxy that makes a fraction of S3 requests fail.

One request per client connection (it forwards with ``Connection: close``). Faults:
HTTP 500, 503 SlowDown, a connection dropped before the request reaches the server,
and one dropped after the server applied it (the client never learns the outcome).
With ``strip``, it also removes those request headers before forwarding, which makes
a server that ignores them (``strip=CONDITIONAL_HEADERS``: one without conditional
writes). Only in front of moto, which checks no signatures: SeaweedFS refuses a request
whose signed headers were taken away (SignatureDoesNotMatch).
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections import Counter
from types import TracebackType
from urllib.parse import urlsplit

FAULTS = ("500", "503", "drop_before", "drop_after")
CONDITIONAL_HEADERS = ("If-Match", "If-None-Match", "x-amz-copy-source-if-match")
_TIMEOUT = 30.0


def _error(status: str, code: str) -> bytes:
    body = f"<Error><Code>{code}</Code><Message>injected fault</Message></Error>"
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: application/xml\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n{body}"
    ).encode()


class FaultProxy:
    """``with FaultProxy(upstream_url, rate=0.1, seed=1) as proxy:`` then use ``proxy.url``."""

    def __init__(
        self, upstream_url: str, rate: float, seed: int = 0, *, strip: tuple[str, ...] = ()
    ) -> None:
        parts = urlsplit(upstream_url)
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._rate = rate
        self._random = random.Random(seed)
        self.injected: Counter[str] = Counter()
        self._strip = tuple(f"{name.lower()}:" for name in strip)
        self.stripped: Counter[str] = Counter()  # header name -> requests it was taken from
        self.requests = 0
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    def __enter__(self) -> FaultProxy:
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
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def _pick(self) -> str | None:
        self.requests += 1
        if self._random.random() >= self._rate:
            return None
        fault = self._random.choice(FAULTS)
        self.injected[fault] += 1
        return fault

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await asyncio.wait_for(self._serve_one(reader, writer), _TIMEOUT)
        except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _serve_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:] if x)
        }
        if headers.get("expect", "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        fault = self._pick()
        if fault == "drop_before":
            return
        if fault in ("500", "503"):
            status, code = (
                ("500 Internal Server Error", "InternalError")
                if fault == "500"
                else (
                    "503 Slow Down",
                    "SlowDown",
                )
            )
            writer.write(_error(status, code))
            await writer.drain()
            return
        kept = [x for x in lines[1:] if x and not x.lower().startswith(("connection:", "expect:"))]
        for line in kept:
            if line.lower().startswith(self._strip):
                self.stripped[line.partition(":")[0].lower()] += 1
        kept = [x for x in kept if not x.lower().startswith(self._strip)]
        forwarded = "\r\n".join([lines[0], *kept, "Connection: close", "", ""]).encode("latin-1")
        up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        try:
            up_writer.write(forwarded + body)
            await up_writer.drain()
            response = await up_reader.read()  # the server closes after one response
        finally:
            up_writer.close()
        if fault == "drop_after":
            return
        writer.write(response)
        await writer.drain()
