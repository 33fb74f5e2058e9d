"""Repository: a blocking facade over AsyncRepository through one anyio portal."""

from __future__ import annotations

import asyncio
import os
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from datetime import datetime
from functools import partial
from types import TracebackType
from typing import ParamSpec, TypeVar

from ._content import DEFAULT_CHUNK_SIZE
from ._doctor import ServerCheck
from ._follow import OnChange
from ._keys import VersionLike
from ._models import Alias, AliasChange, Artifact
from ._portal import LoopThread
from ._repository import AsyncRepository
from ._rollout import Check, OnStep
from ._sources import Content
from ._sync_follow import AliasFollower, next_or_none
from ._transfer import DEFAULT_CHUNKSIZE, DEFAULT_THRESHOLD, GiB, OnProgress
from .errors import BlockingCallWarning, RepositoryStateError

P = ParamSpec("P")
T = TypeVar("T")


async def _next_chunk(chunks: AsyncIterator[bytes]) -> bytes | None:
    """The next chunk, or None at the end (chunks are never empty)."""
    try:
        return await anext(chunks)
    except StopAsyncIteration:
        return None


class Repository:
    """The blocking twin of :class:`AsyncRepository`: same arguments, same methods.

    Use as ``with Repository(...) as repo:`` or call ``close()``. Safe to share between
    threads. It works from a thread that runs an event loop (a Jupyter cell), but blocks
    that loop while S3 answers: the first such call warns (``BlockingCallWarning``,
    once per repository); use ``AsyncRepository`` there. Do not use it in a child
    process after ``fork``; create a new one there.

    An interrupt (Ctrl-C) while a call waits cancels that call in the repository's
    event loop, waits for its cleanup (an unfinished upload is aborted) and then raises
    ``KeyboardInterrupt``: nothing keeps running behind the caller's back.
    """

    def __init__(
        self,
        s3_bucket: str,
        s3_prefix: str = "versioned-artifacts",
        suffix: str = "",
        *,
        aws_region: str | None = None,
        endpoint_url: str | None = None,
        profile: str | None = None,
        max_concurrency: int = 32,
        expected_bucket_owner: str | None = None,
        sse: str | None = None,
        sse_kms_key_id: str | None = None,
        multipart_threshold: int = DEFAULT_THRESHOLD,
        multipart_chunksize: int = DEFAULT_CHUNKSIZE,
        cache_dir: str | os.PathLike[str] | None = None,
        cache_max_bytes: int = GiB,
        connect_timeout: float = 10.0,
        max_attempts: int = 5,
        require_conditional_writes: bool = True,
    ) -> None:
        self._arepo = AsyncRepository(
            s3_bucket,
            s3_prefix,
            suffix,
            aws_region=aws_region,
            endpoint_url=endpoint_url,
            profile=profile,
            max_concurrency=max_concurrency,
            expected_bucket_owner=expected_bucket_owner,
            sse=sse,
            sse_kms_key_id=sse_kms_key_id,
            multipart_threshold=multipart_threshold,
            multipart_chunksize=multipart_chunksize,
            cache_dir=cache_dir,
            cache_max_bytes=cache_max_bytes,
            connect_timeout=connect_timeout,
            max_attempts=max_attempts,
            require_conditional_writes=require_conditional_writes,
        )
        self._pid = os.getpid()
        self._warned = False  # BlockingCallWarning is issued once
        self._loop: LoopThread | None = None
        self._check_caller("Repository()", stacklevel=3)
        loop = LoopThread()
        try:
            loop.run(self._arepo.__aenter__)
        except BaseException:
            loop.close(self._arepo.aclose)
            raise
        self._loop = loop

    def __repr__(self) -> str:
        return repr(self._arepo).replace("Async", "", 1)

    @property
    def endpoint_url(self) -> str:
        """The S3 endpoint requests go to, as botocore resolved it."""
        return self._arepo.endpoint_url

    def __enter__(self) -> Repository:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the S3 client and stop the event loop thread (idempotent).

        Calls still running in other threads are cancelled and raise RuntimeError.
        """
        loop, self._loop = self._loop, None
        if loop is None or os.getpid() != self._pid:
            return
        loop.close(self._arepo.aclose)

    def _check_caller(self, what: str, stacklevel: int) -> None:
        """Warn, once, when the calling thread runs an event loop that this call blocks."""
        if self._warned:
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # no loop in this thread: blocking is what the caller wants
            return
        self._warned = True
        warnings.warn(
            f"{what} blocks the event loop running in this thread until S3 answers (a web"
            " server serves nothing else meanwhile); use AsyncRepository and await it",
            BlockingCallWarning,
            stacklevel=stacklevel,
        )

    def _call(self, fn: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
        if os.getpid() != self._pid:
            raise RepositoryStateError(
                "this Repository was created before fork(); create a new one"
            )
        if self._loop is None:
            raise RepositoryStateError("this Repository is closed")
        self._check_caller(f"Repository.{getattr(fn, '__name__', 'call')}()", stacklevel=4)
        return self._loop.run(partial(fn, *args, **kwargs))

    def bootstrap(self) -> None:
        """Blocking twin of `AsyncRepository.bootstrap`."""
        return self._call(self._arepo.bootstrap)

    def check_server(self) -> ServerCheck:
        """Blocking twin of `AsyncRepository.check_server`."""
        return self._call(self._arepo.check_server)

    def put_artifact(
        self,
        name: str,
        content: Content,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        *,
        on_progress: OnProgress | None = None,
    ) -> Artifact:
        """Blocking twin of `AsyncRepository.put_artifact`.

        ``on_progress`` is called in the repository's event loop thread: keep it quick
        and do not call the repository from it.
        """
        return self._call(
            self._arepo.put_artifact,
            name,
            content,
            content_type,
            metadata,
            on_progress=on_progress,
        )

    def get_artifact_version(
        self, name: str, version: VersionLike = None, *, alias: str | None = None
    ) -> Artifact:
        """Blocking twin of `AsyncRepository.get_artifact_version`."""
        return self._call(self._arepo.get_artifact_version, name, version, alias=alias)

    def presign_artifact(
        self,
        name: str,
        version: VersionLike = None,
        *,
        alias: str | None = None,
        expires_in: int = 3600,
    ) -> str:
        """Blocking twin of `AsyncRepository.presign_artifact`."""
        return self._call(
            self._arepo.presign_artifact, name, version, alias=alias, expires_in=expires_in
        )

    def get_artifact_content(self, name: str, version: VersionLike = None) -> bytes:
        """Blocking twin of `AsyncRepository.get_artifact_content`."""
        return self._call(self._arepo.get_artifact_content, name, version)

    def download_artifact(
        self,
        name: str,
        path: str | os.PathLike[str],
        version: VersionLike = None,
        *,
        on_progress: OnProgress | None = None,
    ) -> Artifact:
        """Blocking twin of `AsyncRepository.download_artifact`.

        ``on_progress`` is called in the repository's event loop thread: keep it quick
        and do not call the repository from it.
        """
        return self._call(
            self._arepo.download_artifact, name, path, version, on_progress=on_progress
        )

    def iter_artifact_content(
        self, name: str, version: VersionLike = None, chunk_size: int = DEFAULT_CHUNK_SIZE
    ) -> Iterator[bytes]:
        """Blocking :meth:`AsyncRepository.iter_artifact_content`, one chunk per call.

        Leaving the loop early closes the stream when the generator is closed or
        collected (at once in CPython once nothing refers to it). An interrupt while a
        chunk is awaited cancels the read and ends the iteration.
        """
        chunks = self._arepo.iter_artifact_content(name, version, chunk_size)
        try:
            while (chunk := self._call(_next_chunk, chunks)) is not None:
                yield chunk
        finally:
            loop = self._loop
            if loop is not None and os.getpid() == self._pid:
                loop.run(chunks.aclose)

    def get_alias_content(
        self, name: str, alias: str, key: str | None = None, *, max_age: float | None = None
    ) -> bytes:
        """Blocking twin of `AsyncRepository.get_alias_content`."""
        return self._call(self._arepo.get_alias_content, name, alias, key, max_age=max_age)

    def list_artifact_names(self) -> list[str]:
        """Blocking twin of `AsyncRepository.list_artifact_names`."""
        return self._call(self._arepo.list_artifact_names)

    def list_artifact_suffixes(self, name: str) -> list[str]:
        """Blocking twin of `AsyncRepository.list_artifact_suffixes`."""
        return self._call(self._arepo.list_artifact_suffixes, name)

    def list_artifact_versions(self, name: str, details: bool = False) -> list[Artifact]:
        """Blocking twin of `AsyncRepository.list_artifact_versions`."""
        return self._call(self._arepo.list_artifact_versions, name, details)

    def publish_artifact_version(self, name: str) -> Artifact:
        """Blocking twin of `AsyncRepository.publish_artifact_version`."""
        return self._call(self._arepo.publish_artifact_version, name)

    def delete_artifact_version(
        self, name: str, version: VersionLike, force: bool = False
    ) -> tuple[str, ...]:
        """Blocking twin of `AsyncRepository.delete_artifact_version`."""
        return self._call(self._arepo.delete_artifact_version, name, version, force)

    def purge_artifact_versions(
        self,
        name: str,
        keep_last_n: int = 10,
        purge_older_than_secs: float = 90 * 24 * 60 * 60,
        dry_run: bool = False,
    ) -> tuple[datetime, list[Artifact]]:
        """Blocking twin of `AsyncRepository.purge_artifact_versions`."""
        return self._call(
            self._arepo.purge_artifact_versions, name, keep_last_n, purge_older_than_secs, dry_run
        )

    def purge_artifact(self, name: str) -> None:
        """Blocking twin of `AsyncRepository.purge_artifact`."""
        return self._call(self._arepo.purge_artifact, name)

    def purge_all(self) -> None:
        """Blocking twin of `AsyncRepository.purge_all`."""
        return self._call(self._arepo.purge_all)

    def put_alias(
        self,
        name: str,
        alias: str,
        version: VersionLike = None,
        secondary_version: VersionLike = None,
        secondary_version_weight: int | None = None,
        expected_revision: str | None = None,
    ) -> Alias:
        """Blocking twin of `AsyncRepository.put_alias`."""
        return self._call(
            self._arepo.put_alias,
            name,
            alias,
            version,
            secondary_version,
            secondary_version_weight,
            expected_revision,
        )

    def get_alias(
        self, name: str, alias: str, at: datetime | None = None, *, max_age: float | None = None
    ) -> Alias:
        """Blocking twin of `AsyncRepository.get_alias`."""
        return self._call(self._arepo.get_alias, name, alias, at, max_age=max_age)

    def list_alias_history(
        self, name: str, alias: str, limit: int | None = None
    ) -> list[AliasChange]:
        """Blocking twin of `AsyncRepository.list_alias_history`."""
        return self._call(self._arepo.list_alias_history, name, alias, limit)

    def list_aliases(self, name: str) -> list[Alias]:
        """Blocking twin of `AsyncRepository.list_aliases`."""
        return self._call(self._arepo.list_aliases, name)

    def delete_alias(self, name: str, alias: str) -> None:
        """Blocking twin of `AsyncRepository.delete_alias`."""
        return self._call(self._arepo.delete_alias, name, alias)

    def rollback_alias(self, name: str, alias: str, *, one_step: bool = False) -> Alias:
        """Blocking twin of `AsyncRepository.rollback_alias`."""
        return self._call(self._arepo.rollback_alias, name, alias, one_step=one_step)

    def watch_alias(self, name: str, alias: str, *, interval: float = 5.0) -> Iterator[Alias]:
        """Blocking :meth:`AsyncRepository.watch_alias`: each call waits for the next change.

        Leaving the loop early closes the watch when the generator is closed or
        collected. An interrupt while a change is awaited cancels the poll and ends
        the iteration.
        """
        changes = self._arepo.watch_alias(name, alias, interval=interval)
        try:
            while (found := self._call(next_or_none, changes)) is not None:
                yield found
        finally:
            loop = self._loop
            if loop is not None and os.getpid() == self._pid:
                loop.run(changes.aclose)

    def follow_alias(
        self,
        name: str,
        alias: str,
        *,
        interval: float = 5.0,
        on_change: OnChange | None = None,
        retain: float = 60.0,
    ) -> AliasFollower:
        """Blocking twin of `AsyncRepository.follow_alias`: ``with repo.follow_alias(...)
        as follower:``.

        The follower works in the repository's event loop thread, ``on_change`` in one of
        its worker threads; ``pick()`` and ``path()`` are plain reads, safe from any
        thread. Closing the repository stops its followers.
        """
        follower = self._arepo.follow_alias(
            name, alias, interval=interval, on_change=on_change, retain=retain
        )
        return AliasFollower(self._call, follower)

    def rollout(
        self,
        name: str,
        alias: str,
        to_version: VersionLike,
        *,
        steps: Sequence[int] = (10, 50, 100),
        bake: float = 300.0,
        check: Check | None = None,
        resume: bool = False,
        on_step: OnStep | None = None,
    ) -> Alias:
        """Blocking twin of `AsyncRepository.rollout`.

        A sync ``check`` runs in a worker thread; ``on_step`` is called in the
        repository's event loop thread: keep it quick and do not call the repository
        from it. An interrupt during a bake leaves the alias where it is (resume later).
        """
        return self._call(
            self._arepo.rollout,
            name,
            alias,
            to_version,
            steps=steps,
            bake=bake,
            check=check,
            resume=resume,
            on_step=on_step,
        )
