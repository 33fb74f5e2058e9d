"""Calling a user's callback that may be sync or async."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from functools import partial
from typing import Any

import anyio.to_thread


def is_async(function: object) -> bool:
    """Whether calling ``function`` returns a coroutine (a partial of one counts)."""
    return inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(
        getattr(function, "__call__", None)  # noqa: B004  # an object with async __call__
    )


async def call(function: Callable[..., Any], *args: object) -> object:
    """Await an async callable on the loop; run a sync one in a worker thread.

    A sync callable may block (load a model, run a health probe) without stalling the
    event loop. If it returns an awaitable anyway, that is awaited on the loop.
    Cancellation waits for a sync callable to return.
    """
    if is_async(function):
        return await function(*args)
    result = await anyio.to_thread.run_sync(partial(function, *args))
    if inspect.isawaitable(result):
        return await result
    return result
