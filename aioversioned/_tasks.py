"""Structured concurrency helpers over anyio task groups."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Generic, TypeVar, cast

import anyio
from anyio.abc import TaskGroup

if sys.version_info < (3, 11):  # pragma: no cover - the backport anyio depends on
    from exceptiongroup import BaseExceptionGroup

T = TypeVar("T")


def _first_leaf(group: BaseExceptionGroup[BaseException]) -> BaseException:
    leaf: BaseException = group
    while isinstance(leaf, BaseExceptionGroup):
        leaf = leaf.exceptions[0]
    return leaf


async def gather(calls: Iterable[Callable[[], Awaitable[T]]], limit: int | None = None) -> list[T]:
    """Run the calls concurrently (at most ``limit`` at a time) and return their results
    in order.

    If any call fails the others are cancelled and its exception is raised as it is,
    not wrapped in an exception group, so callers see the library's own errors. With
    ``limit``, tasks are that many workers taking the calls in turn: a hundred thousand
    calls hold a hundred thousand results, not as many tasks.
    """
    calls = list(calls)
    results: list[T | None] = [None] * len(calls)
    pending = iter(enumerate(calls))

    async def worker() -> None:
        for index, call in pending:
            results[index] = await call()

    try:
        async with anyio.create_task_group() as tg:
            for _ in range(len(calls) if limit is None else min(limit, len(calls))):
                tg.start_soon(worker)
    except BaseExceptionGroup as group:
        # The leaf keeps its own __cause__ (the botocore error it was raised from).
        raise _first_leaf(group)  # noqa: B904
    return cast(list[T], results)


A = TypeVar("A")
B = TypeVar("B")


async def both(
    first: Callable[[], Awaitable[A]], second: Callable[[], Awaitable[B]]
) -> tuple[A, B]:
    """Run two calls of different result types concurrently, as :func:`gather` does."""
    a, b = await gather([first, second])
    return cast(A, a), cast(B, b)


@contextlib.asynccontextmanager
async def task_group() -> AsyncIterator[TaskGroup]:
    """An anyio task group that raises its first error as it is, as :func:`gather` does."""
    try:
        async with anyio.create_task_group() as tg:
            yield tg
    except BaseExceptionGroup as group:
        raise _first_leaf(group)  # noqa: B904


class Started(Generic[T]):
    """A call started in a task group now, its result awaited later: if it fails, the
    group cancels the rest and raises its error, as :func:`task_group` does."""

    def __init__(self, tg: TaskGroup, call: Callable[[], Awaitable[T]]) -> None:
        self._done = anyio.Event()
        self._value: T | None = None
        tg.start_soon(self._run, call)

    async def _run(self, call: Callable[[], Awaitable[T]]) -> None:
        self._value = await call()
        self._done.set()

    async def result(self) -> T:
        """The call's result, once it returned."""
        await self._done.wait()
        return cast(T, self._value)
