"""Count the S3 requests a client sends, by operation, with botocore event hooks."""

from __future__ import annotations

from collections import Counter
from typing import Any

# Short names for the table; anything else is shown as botocore names it.
_SHORT = {
    "ListObjectsV2": "LIST",
    "HeadObject": "HEAD",
    "GetObject": "GET",
    "PutObject": "PUT",
    "CopyObject": "COPY",
    "DeleteObject": "DELETE",
    "DeleteObjects": "DELETE_BATCH",
    "HeadBucket": "HEAD_BUCKET",
}


class RequestCounter:
    """Counts every HTTP attempt (retries included) of the clients it is attached to.

    ``before-send`` fires once per attempt, just before the bytes go out, for boto3
    and aiobotocore clients alike.
    """

    def __init__(self) -> None:
        self.by_operation: Counter[str] = Counter()

    def attach(self, client: Any) -> None:
        """Register on a boto3 or aiobotocore S3 client."""
        client.meta.events.register("before-send.s3", self._on_send)

    def _on_send(self, event_name: str = "", **kwargs: Any) -> None:
        # Returning None matters: a non-None value would replace the HTTP response.
        operation = event_name.rsplit(".", 1)[-1]
        self.by_operation[_SHORT.get(operation, operation)] += 1

    @property
    def total(self) -> int:
        """Requests counted since the last reset."""
        return sum(self.by_operation.values())

    def reset(self) -> None:
        """Forget what was counted."""
        self.by_operation.clear()

    def snapshot(self) -> dict[str, int]:
        """Counts by operation, sorted by name, for the report."""
        return dict(sorted(self.by_operation.items()))


def describe(counts: dict[str, int]) -> str:
    """``{"HEAD": 4, "LIST": 1}`` as ``"1 LIST + 4 HEAD"``, listings first."""
    order = ["LIST", "HEAD", "GET", "PUT", "COPY", "DELETE", "DELETE_BATCH"]
    names = sorted(counts, key=lambda name: (order.index(name) if name in order else 99, name))
    return " + ".join(f"{counts[name]} {name}" for name in names)
