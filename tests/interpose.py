"""Request-level fault injection inside a repository's own client, for forced interleavings.

Rules match requests by operation name (``PutObject``) and key (a substring or a
predicate; for ``ListObjectsV2`` the prefix) and act on them in botocore's
``before-send`` event, that is after signing and inside botocore's retry loop, so
retries happen exactly as they would on a real network:

- ``hold``: the request waits until the test calls ``release()`` (``arrived`` is set
  when it got there), then goes on: one exact interleaving, no sleeps.
- ``delay``: the request waits ``seconds``, then goes on.
- ``fail``: an HTTP error answers instead of the server (500, 503 SlowDown, or 403
  AccessDenied, which botocore does not retry); the server never sees the request.
- ``drop_before``: the connection drops before the request reaches the server.
- ``drop_after``: the server receives and applies the request, then the response is
  lost: the client sees a dropped connection and botocore retries.
- ``late``: the client sees a dropped connection at once, and the request reaches the
  server only when the test calls ``deliver(rule)``: a slow request that lands after
  the client gave up on it.

Each rule acts on its first ``times`` matching requests (every one with ``times=None``).
``log`` records ``(operation, key, action)`` of every request in order.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import anyio
from aiobotocore.awsrequest import AioAWSResponse
from botocore.exceptions import ConnectionClosedError

from aioversioned import AsyncRepository

KeyMatch = str | Callable[[str], bool] | None


class _Body:
    """The ``raw`` of a made-up response: aiobotocore awaits ``read()``."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    async def read(self) -> bytes:
        return self._data


def _error_response(url: str, status: int, code: str) -> AioAWSResponse:
    body = f"<Error><Code>{code}</Code><Message>injected</Message></Error>".encode()
    headers = {"Content-Type": "application/xml", "Content-Length": str(len(body))}
    return AioAWSResponse(url, status, headers, _Body(body))


def request_key(operation: str, url: str) -> str:
    """The key a rule matches: the object's key, or for ``ListObjectsV2`` the prefix."""
    parts = urlsplit(url)
    if operation == "ListObjectsV2":
        return parse_qs(parts.query).get("prefix", [""])[0]
    return unquote(parts.path).lstrip("/").partition("/")[2]  # path-style: /bucket/key


def _as_sent(request: Any) -> Any:
    """A copy of ``request`` whose body is the bytes it carries now.

    botocore rewinds and sends the same body file again on a retry, so by the time a
    late request is delivered that file may have been read to its end.
    """
    kept = copy.copy(request)
    body = request.body
    if hasattr(body, "read") and hasattr(body, "seek"):
        start = body.tell()
        kept.body = body.read()
        body.seek(start)
    return kept


@dataclass
class Rule:
    """One fault: what it matches, what it does, and how often."""

    operation: str
    key: KeyMatch
    action: str
    times: int | None = 1
    seconds: float = 0.0
    status: int = 500
    arrived: anyio.Event = field(default_factory=anyio.Event)
    _released: anyio.Event = field(default_factory=anyio.Event)
    hits: int = 0
    pending: list[Any] = field(default_factory=list)  # late requests not delivered yet

    def matches(self, operation: str, key: str) -> bool:
        if operation != self.operation or (self.times is not None and self.hits >= self.times):
            return False
        if self.key is None:
            return True
        return self.key in key if isinstance(self.key, str) else self.key(key)

    def release(self) -> None:
        """Let held requests (this one and later ones) go on."""
        self._released.set()


class Interposer:
    """``faults = Interposer(repo)``; then ``rule = faults.hold("PutObject", "aliases/")``."""

    def __init__(self, repo: AsyncRepository) -> None:
        client = repo._s3._client
        self._http = client._endpoint.http_session
        self.rules: list[Rule] = []
        self.log: list[tuple[str, str, str]] = []
        client.meta.events.register_first("before-send.s3", self._before_send)

    def _add(self, rule: Rule) -> Rule:
        self.rules.append(rule)
        return rule

    def hold(self, operation: str, key: KeyMatch = None, times: int | None = 1) -> Rule:
        return self._add(Rule(operation, key, "hold", times))

    def delay(
        self, operation: str, key: KeyMatch = None, seconds: float = 0.1, times: int | None = 1
    ) -> Rule:
        return self._add(Rule(operation, key, "delay", times, seconds=seconds))

    def fail(
        self, operation: str, key: KeyMatch = None, status: int = 500, times: int | None = 1
    ) -> Rule:
        return self._add(Rule(operation, key, "fail", times, status=status))

    def drop_before(self, operation: str, key: KeyMatch = None, times: int | None = 1) -> Rule:
        return self._add(Rule(operation, key, "drop_before", times))

    def drop_after(self, operation: str, key: KeyMatch = None, times: int | None = 1) -> Rule:
        return self._add(Rule(operation, key, "drop_after", times))

    def late(self, operation: str, key: KeyMatch = None, times: int | None = 1) -> Rule:
        return self._add(Rule(operation, key, "late", times))

    async def deliver(self, rule: Rule) -> None:
        """Send the requests ``rule`` kept back (``late``) to the server now."""
        while rule.pending:
            response = await self._http.send(rule.pending.pop(0))
            await response.content

    def sent(self, operation: str) -> list[str]:
        """Keys of the requests of ``operation`` sent so far (retries included)."""
        return [key for op, key, _ in self.log if op == operation]

    async def _before_send(self, request: Any, event_name: str, **_: Any) -> Any:
        operation = event_name.rsplit(".", 1)[1]
        key = request_key(operation, request.url)
        rule = next((r for r in self.rules if r.matches(operation, key)), None)
        self.log.append((operation, key, rule.action if rule else "pass"))
        if rule is None:
            return None
        rule.hits += 1
        rule.arrived.set()
        if rule.action == "hold":
            await rule._released.wait()
        elif rule.action == "delay":
            await anyio.sleep(rule.seconds)
        elif rule.action == "fail":
            code = {403: "AccessDenied", 503: "SlowDown"}.get(rule.status, "InternalError")
            return _error_response(request.url, rule.status, code)
        elif rule.action == "drop_before":
            raise ConnectionClosedError(endpoint_url=request.url)
        elif rule.action == "late":
            rule.pending.append(_as_sent(request))
            raise ConnectionClosedError(endpoint_url=request.url)
        elif rule.action == "drop_after":
            response = await self._http.send(request)
            await response.content  # the server has acted once its answer was read
            raise ConnectionClosedError(endpoint_url=request.url)
        return None
