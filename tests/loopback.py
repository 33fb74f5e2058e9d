"""What the loopback proxies of the tests share: a server on 127.0.0.1 in a thread of
its own, requests read from a client, and one exchange with the upstream server."""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType
from typing import TypeVar
from urllib.parse import urlsplit

P = TypeVar("P", bound="LoopbackProxy")


class LoopbackProxy:
    """``with Proxy(upstream_url) as proxy:`` then ``proxy.url``; a subclass serves each
    client connection in :meth:`_serve_connection`."""

    def __init__(self, upstream_url: str) -> None:
        parts = urlsplit(upstream_url)
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.url = ""
        self._handlers: set[asyncio.Task[None]] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    def __enter__(self: P) -> P:
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

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            await self._serve_connection(reader, writer)
        except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError):
            pass
        finally:
            self._handlers.discard(task)
            writer.close()

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        raise NotImplementedError

    async def _exchange(self, lines: list[str], dropped: tuple[str, ...], body: bytes) -> bytes:
        """Send the request (``lines``: its request line and headers, less those starting
        with ``dropped``) upstream with ``Connection: close``; the whole answer."""
        kept = [x for x in lines[1:] if x and not x.lower().startswith(dropped)]
        forwarded = "\r\n".join([lines[0], *kept, "Connection: close", "", ""]).encode("latin-1")
        up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        try:
            up_writer.write(forwarded + body)
            await up_writer.drain()
            return await up_reader.read()  # the server closes after its whole answer
        finally:
            up_writer.close()


async def read_request(
    head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> tuple[list[str], dict[str, str], bytes]:
    """The lines of a request's ``head``, its headers (lower-case names) and its body
    (after a ``100 Continue`` when the client waits for one)."""
    lines = head.decode("latin-1").split("\r\n")
    headers = {
        k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:] if x)
    }
    if headers.get("expect", "").lower() == "100-continue":
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return lines, headers, body
