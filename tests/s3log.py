"""Record the S3 requests a repository sends, through botocore's event hooks."""

from __future__ import annotations

from typing import Any

from aioversioned import AsyncRepository


class RequestLog:
    """Operation names in the order sent, Range headers of GETs, and response statuses."""

    def __init__(self, repo: AsyncRepository) -> None:
        self.sent: list[str] = []
        self.ranges: list[str] = []
        self.statuses: list[tuple[str, int]] = []
        events = repo._s3._client.meta.events
        events.register("before-send.s3", self._before_send)
        events.register("after-call.s3", self._after_call)

    def _before_send(self, request: Any, event_name: str, **_: Any) -> None:
        self.sent.append(event_name.rsplit(".", 1)[1])
        if (header := request.headers.get("Range")) is not None:
            self.ranges.append(header.decode() if isinstance(header, bytes) else header)

    def _after_call(self, http_response: Any, event_name: str, **_: Any) -> None:
        self.statuses.append((event_name.rsplit(".", 1)[1], http_response.status_code))

    def clear(self) -> None:
        self.sent.clear()
        self.ranges.clear()
        self.statuses.clear()
