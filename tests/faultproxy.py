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
from collections import Counter

from tests.loopback import LoopbackProxy, read_request

FAULTS = ("500", "503", "drop_before", "drop_after")
CONDITIONAL_HEADERS = ("If-Match", "If-None-Match", "x-amz-copy-source-if-match")
_TIMEOUT = 30.0


def _error(status: str, code: str) -> bytes:
    body = f"<Error><Code>{code}</Code><Message>injected fault</Message></Error>"
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: application/xml\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n{body}"
    ).encode()


class FaultProxy(LoopbackProxy):
    """``with FaultProxy(upstream_url, rate=0.1, seed=1) as proxy:`` then use ``proxy.url``."""

    def __init__(
        self, upstream_url: str, rate: float, seed: int = 0, *, strip: tuple[str, ...] = ()
    ) -> None:
        super().__init__(upstream_url)
        self._rate = rate
        self._random = random.Random(seed)
        self.injected: Counter[str] = Counter()
        self._strip = tuple(f"{name.lower()}:" for name in strip)
        self.stripped: Counter[str] = Counter()  # header name -> requests it was taken from
        self.requests = 0

    def _pick(self) -> str | None:
        self.requests += 1
        if self._random.random() >= self._rate:
            return None
        fault = self._random.choice(FAULTS)
        self.injected[fault] += 1
        return fault

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await asyncio.wait_for(self._serve_one(reader, writer), _TIMEOUT)

    async def _serve_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        lines, _, body = await read_request(await reader.readuntil(b"\r\n\r\n"), reader, writer)
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
        for line in lines[1:]:
            if line.lower().startswith(self._strip):
                self.stripped[line.partition(":")[0].lower()] += 1
        response = await self._exchange(lines, ("connection:", "expect:", *self._strip), body)
        if fault == "drop_after":
            return
        writer.write(response)
        await writer.drain()
