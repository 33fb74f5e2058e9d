"""The blocking facade: same API, same errors, threads, running loops, fork guard."""

from __future__ import annotations

import asyncio
import inspect
import os
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import pytest

from aioversioned import (
    AliasNotFoundError,
    ArtifactNotFoundError,
    AsyncRepository,
    BlockingCallWarning,
    InvalidInputError,
    Repository,
)


def _public_coroutines() -> list[str]:
    return sorted(
        name
        for name, member in inspect.getmembers(AsyncRepository)
        if inspect.iscoroutinefunction(member) and not name.startswith("_") and name != "aclose"
    )


def test_every_public_coroutine_has_a_sync_twin_with_the_same_signature() -> None:
    names = _public_coroutines()
    assert "publish_artifact_version" in names
    for name in names:
        twin = getattr(Repository, name)
        assert not inspect.iscoroutinefunction(twin), name
        assert inspect.signature(twin) == inspect.signature(getattr(AsyncRepository, name)), name
        assert twin.__doc__, name
    assert inspect.signature(Repository.__init__) == inspect.signature(AsyncRepository.__init__)


def test_sync_round_trip(sync_repo: Repository) -> None:
    sync_repo.put_artifact("m", b"one", metadata={"k": "v"})
    assert sync_repo.publish_artifact_version("m").version == "1"
    sync_repo.put_artifact("m", b"two")
    assert sync_repo.publish_artifact_version("m").version == "2"
    alias = sync_repo.put_alias("m", "prod", 1, secondary_version=2, secondary_version_weight=50)
    assert sync_repo.get_alias("m", "prod") == alias
    assert [a.alias for a in sync_repo.list_aliases("m")] == ["prod"]
    assert [a.version for a in sync_repo.list_artifact_versions("m")] == ["LATEST", "2", "1"]
    assert sync_repo.get_artifact_content("m", 1) == b"one"
    assert sync_repo.get_artifact_version("m", 2).version == "2"
    assert sync_repo.list_artifact_names() == ["m"]
    sync_repo.delete_alias("m", "prod")
    sync_repo.delete_artifact_version("m", 2)
    _, deleted = sync_repo.purge_artifact_versions("m", keep_last_n=0, purge_older_than_secs=0)
    assert [a.version for a in deleted] == ["1"]
    sync_repo.purge_artifact("m")
    sync_repo.put_artifact("n", b"x")
    sync_repo.purge_all()
    assert sync_repo.list_artifact_names() == []


def test_sync_raises_the_same_exceptions(sync_repo: Repository) -> None:
    with pytest.raises(ArtifactNotFoundError):
        sync_repo.get_artifact_version("missing")
    with pytest.raises(AliasNotFoundError):
        sync_repo.get_alias("missing", "prod")
    with pytest.raises(InvalidInputError, match=r"^content: "):
        sync_repo.put_artifact("m", "text")  # type: ignore[arg-type]


def test_threads_share_one_repository(sync_repo: Repository) -> None:
    def work(i: int) -> bytes:
        sync_repo.put_artifact(f"a{i}", f"content {i}".encode())
        return sync_repo.get_artifact_content(f"a{i}")

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(work, range(16)))
    assert results == [f"content {i}".encode() for i in range(16)]
    assert len(sync_repo.list_artifact_names()) == 16


def test_works_inside_a_running_event_loop(sync_repo: Repository) -> None:
    """A Jupyter cell: the calling thread already runs a loop."""

    async def cell() -> bytes:
        sync_repo.put_artifact("m", b"from a cell")
        return sync_repo.get_artifact_content("m")

    with pytest.warns(BlockingCallWarning, match="use AsyncRepository"):
        assert asyncio.run(cell()) == b"from a cell"


def test_closed_repository_and_portal_thread(endpoint_url: str, bucket: str) -> None:
    before = threading.active_count()
    repo = Repository(bucket, endpoint_url=endpoint_url)
    repo.bootstrap()
    assert "Repository(s3://" in repr(repo)
    repo.close()
    repo.close()  # idempotent
    assert threading.active_count() == before
    with pytest.raises(RuntimeError, match="closed"):
        repo.list_artifact_names()


def test_bad_constructor_argument_starts_nothing() -> None:
    before = threading.active_count()
    with pytest.raises(InvalidInputError):
        Repository("Bad Bucket")
    assert threading.active_count() == before


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_use_after_fork_is_refused(sync_repo: Repository) -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report what using the parent's repository raised
        try:
            sync_repo.list_artifact_names()
            os.write(write, b"no error")
        except RuntimeError as err:
            os.write(write, str(err).encode())
        finally:
            os._exit(0)
    os.close(write)
    message = os.read(read, 1000).decode()
    os.waitpid(pid, 0)
    os.close(read)
    assert "fork" in message
    assert sync_repo.list_artifact_names() == []


# -- called from a thread that runs an event loop -----------------------------------------


def _blocking_warnings(caught: list[warnings.WarningMessage]) -> list[warnings.WarningMessage]:
    return [w for w in caught if issubclass(w.category, BlockingCallWarning)]


async def test_a_call_from_an_event_loop_works_and_warns_once(
    endpoint_url: str, bucket: str
) -> None:
    """A FastAPI handler would freeze its server: say so, once, naming AsyncRepository."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # the repository's own once, not Python's
        with Repository(bucket, endpoint_url=endpoint_url) as repo:
            repo.bootstrap()
            repo.put_artifact("m", b"one")
            assert repo.publish_artifact_version("m").version == "1"
            assert [a.version for a in repo.list_artifact_versions("m")] == ["LATEST", "1"]
            assert [v for v in repo.iter_artifact_content("m", 1)] == [b"one"]
    blocking = _blocking_warnings(caught)
    assert len(blocking) == 1, [str(w.message) for w in blocking]
    message = str(blocking[0].message)
    assert message.startswith("Repository() blocks the event loop running in this thread")
    assert "use AsyncRepository" in message
    assert blocking[0].filename == __file__  # points at the caller's line


async def test_a_repository_made_outside_a_loop_warns_at_its_first_call_in_one(
    endpoint_url: str, bucket: str
) -> None:
    repo = await asyncio.to_thread(Repository, bucket, endpoint_url=endpoint_url)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            repo.bootstrap()
            assert repo.list_artifact_names() == []
        blocking = _blocking_warnings(caught)
        assert [str(w.message).split(" blocks")[0] for w in blocking] == ["Repository.bootstrap()"]
        assert blocking[0].filename == __file__
    finally:
        repo.close()


def test_no_warning_without_an_event_loop(endpoint_url: str, bucket: str) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with Repository(bucket, endpoint_url=endpoint_url) as repo:
            repo.bootstrap()
            assert repo.list_artifact_names() == []
    assert _blocking_warnings(caught) == []
