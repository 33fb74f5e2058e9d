"""Ctrl-C: the blocking Repository cancels the call on its loop, the CLI exits 130.

An interrupt is a KeyboardInterrupt raised in the thread that waits on the portal. The
call it interrupts must be cancelled on the event loop (an upload aborts its multipart
upload) before the interrupt reaches the caller, and nothing may be left running.
Time bounds here only detect hangs.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from anyio._backends._asyncio import WorkerThread

from aioversioned import Repository
from tests.interpose import Interposer, Rule

MiB = 1024 * 1024
MESSAGE = "aioversioned: interrupted\n"
HANG = 10.0  # seconds: only a hang detector


def _new_portal_thread(before: set[threading.Thread]) -> threading.Thread:
    """The event loop thread of the repository created since ``before`` was taken."""
    (thread,) = [
        t for t in threading.enumerate() if t.name == "aioversioned-portal" and t not in before
    ]
    return thread


def _uploads_in_progress(endpoint_url: str, bucket: str) -> list[dict[str, Any]]:
    s3 = boto3.client("s3", endpoint_url=endpoint_url, region_name="us-east-1")
    uploads: list[dict[str, Any]] = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    return uploads


@pytest.fixture
def interruptible() -> int:
    """The main thread's id; the test runs there with Python's own SIGINT handler."""
    assert threading.current_thread() is threading.main_thread()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    ident = threading.main_thread().ident
    assert ident is not None
    return ident


@pytest.fixture
def blackhole() -> Iterator[tuple[str, threading.Event]]:
    """An endpoint that accepts connections and never answers; the event is set on the first."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.05)
    accepted, stop = threading.Event(), threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            held.append(connection)
            accepted.set()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}", accepted
    finally:
        stop.set()
        thread.join(timeout=HANG)
        server.close()
        for connection in held:
            connection.close()


def _interrupt_when(event: threading.Event, main_thread: int) -> threading.Thread:
    def interrupt() -> None:
        if event.wait(HANG):
            signal.pthread_kill(main_thread, signal.SIGINT)

    thread = threading.Thread(target=interrupt, daemon=True)
    thread.start()
    return thread


# -- the blocking Repository ------------------------------------------------------------


def test_interrupted_put_is_aborted_and_close_is_prompt(
    endpoint_url: str, bucket: str, tmp_path: Path, interruptible: int
) -> None:
    threads_before = set(threading.enumerate())
    repo = Repository(
        bucket,
        endpoint_url=endpoint_url,
        aws_region="us-east-1",
        multipart_threshold=5 * MiB,
        multipart_chunksize=5 * MiB,
    )
    try:
        repo.bootstrap()
        before = repo.put_artifact("model", b"old")
        big = tmp_path / "big.bin"
        with big.open("wb") as file:
            for i in range(12):  # 60 MiB: 12 parts of 5 MiB
                file.write(bytes([i]) * (5 * MiB))
        reported: list[int] = []

        def on_progress(done: int, total: int | None) -> None:
            # Runs on the loop thread once a part is on the server: interrupt the
            # caller, which is waiting on the portal, exactly once.
            if not reported:
                reported.append(done)
                signal.pthread_kill(interruptible, signal.SIGINT)

        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            repo.put_artifact("model", big, on_progress=on_progress)
        interrupted_after = time.monotonic() - started
        assert reported and reported[0] < 60 * MiB
        # The upload was aborted before the interrupt reached the caller.
        assert _uploads_in_progress(endpoint_url, bucket) == []
        # The repository still works: the interrupted call left nothing behind.
        assert repo.get_artifact_version("model").sha256 == before.sha256
    finally:
        thread = _new_portal_thread(threads_before)
        started = time.monotonic()
        repo.close()
        close_took = time.monotonic() - started
    assert close_took < HANG, close_took
    assert not thread.is_alive()
    assert set(threading.enumerate()) <= threads_before  # file-reading workers too
    assert interrupted_after < HANG
    with Repository(bucket, endpoint_url=endpoint_url, aws_region="us-east-1") as check:
        assert check.get_artifact_content("model") == b"old"
        assert [a.version for a in check.list_artifact_versions("model")] == ["LATEST"]
    assert _uploads_in_progress(endpoint_url, bucket) == []


def test_close_returns_once_the_worker_threads_ended(
    endpoint_url: str, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker thread that reads a file for the loop ends after the loop does, when the
    scheduler runs it; close() waits for it. Its exit is slowed here (as a busy machine
    would) so that a close that does not wait leaves it running."""
    run = WorkerThread.run

    def slow_exit(self: WorkerThread) -> None:
        run(self)
        time.sleep(0.5)

    monkeypatch.setattr(WorkerThread, "run", slow_exit)
    threads_before = set(threading.enumerate())
    model = tmp_path / "model.bin"
    model.write_bytes(b"weights")
    with Repository(bucket, endpoint_url=endpoint_url, aws_region="us-east-1") as repo:
        repo.bootstrap()
        assert repo.put_artifact("model", model).size == len(b"weights")  # read in a worker
        workers = [t for t in threading.enumerate() if isinstance(t, WorkerThread)]
        assert workers
    assert not [t for t in workers if t.is_alive()]
    assert set(threading.enumerate()) <= threads_before


def test_interrupted_request_is_cancelled(
    blackhole: tuple[str, threading.Event], bucket: str, interruptible: int
) -> None:
    """A request the server never answers: the interrupt does not wait for a timeout."""
    endpoint, accepted = blackhole
    threads_before = set(threading.enumerate())
    repo = Repository(bucket, endpoint_url=endpoint, aws_region="us-east-1")
    thread = _new_portal_thread(threads_before)
    _interrupt_when(accepted, interruptible)
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        repo.list_artifact_names()
    interrupted_after = time.monotonic() - started
    started = time.monotonic()
    repo.close()
    close_took = time.monotonic() - started
    assert interrupted_after < HANG and close_took < HANG, (interrupted_after, close_took)
    assert not thread.is_alive()
    with pytest.raises(RuntimeError, match="closed"):
        repo.list_artifact_names()


def test_close_cancels_the_calls_of_other_threads(
    blackhole: tuple[str, threading.Event], bucket: str
) -> None:
    """close() does not wait for a call another thread is blocked in: it cancels it."""
    endpoint, accepted = blackhole
    threads_before = set(threading.enumerate())
    repo = Repository(bucket, endpoint_url=endpoint, aws_region="us-east-1")
    thread = _new_portal_thread(threads_before)
    raised: list[BaseException] = []

    def list_names() -> None:
        try:
            repo.list_artifact_names()
        except BaseException as err:
            raised.append(err)

    caller = threading.Thread(target=list_names)
    caller.start()
    assert accepted.wait(HANG), "the request never reached the server"
    started = time.monotonic()
    repo.close()
    close_took = time.monotonic() - started
    caller.join(HANG)
    assert close_took < HANG, close_took
    assert not caller.is_alive() and not thread.is_alive()
    assert [type(err) for err in raised] == [RuntimeError]
    assert "closed during the call" in str(raised[0])


def test_interrupted_iteration_closes_the_stream(
    blackhole: tuple[str, threading.Event], bucket: str, interruptible: int
) -> None:
    endpoint, accepted = blackhole
    threads_before = set(threading.enumerate())
    with Repository(bucket, endpoint_url=endpoint, aws_region="us-east-1") as repo:
        thread = _new_portal_thread(threads_before)
        chunks = repo.iter_artifact_content("model")
        _interrupt_when(accepted, interruptible)
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            next(chunks)
        assert time.monotonic() - started < HANG
        with pytest.raises(StopIteration):  # the generator was closed by the interrupt
            next(chunks)
    assert not thread.is_alive()


# -- the console script -----------------------------------------------------------------


def _script() -> str:
    found = shutil.which("aioversioned", path=os.path.dirname(sys.executable))
    assert found, "the console script is not installed next to the interpreter"
    return found


def _env() -> dict[str, str]:
    # The autouse fixture put fake credentials in os.environ; ResourceWarnings, ignored
    # by default, are printed so that one would show up on stderr.
    return {**os.environ, "PYTHONWARNINGS": "always::ResourceWarning"}


def _spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [_script(), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )


def _interrupt(process: subprocess.Popen[str]) -> tuple[int, str, str, float]:
    """SIGINT once; returns the exit code, stdout, stderr and how long it took to exit."""
    started = time.monotonic()
    process.send_signal(signal.SIGINT)
    try:
        stdout, stderr = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise
    return process.returncode, stdout, stderr, time.monotonic() - started


def test_cli_interrupted_during_a_put(endpoint_url: str, bucket: str, tmp_path: Path) -> None:
    with Repository(bucket, endpoint_url=endpoint_url, aws_region="us-east-1") as repo:
        repo.bootstrap()
        before = repo.put_artifact("model", b"old")
    big = tmp_path / "big.bin"
    with big.open("wb") as file:
        file.truncate(400 * MiB)  # sparse: 50 parts of 8 MiB to send
    process = _spawn("put", "model", str(big), "--bucket", bucket, "--endpoint-url", endpoint_url)
    try:
        deadline = time.monotonic() + 60
        while not _uploads_in_progress(endpoint_url, bucket):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the upload did not start"
            time.sleep(0.02)
        code, stdout, stderr, took = _interrupt(process)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert (code, stdout, stderr) == (130, "", MESSAGE), took
    assert took < HANG, took
    assert _uploads_in_progress(endpoint_url, bucket) == []
    with Repository(bucket, endpoint_url=endpoint_url, aws_region="us-east-1") as repo:
        assert repo.get_artifact_version("model").sha256 == before.sha256


def test_cli_interrupted_while_waiting_for_the_server(
    blackhole: tuple[str, threading.Event],
) -> None:
    endpoint, accepted = blackhole
    process = _spawn("ls", "--bucket", "unanswered", "--endpoint-url", endpoint)
    try:
        assert accepted.wait(60), "the CLI never connected"
        code, stdout, stderr, took = _interrupt(process)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert (code, stdout, stderr) == (130, "", MESSAGE), took
    assert took < HANG, took


def _has_loaded(pid: int, library: str) -> bool:
    try:
        return library in Path(f"/proc/{pid}/maps").read_text()
    except OSError:  # exited
        return False


def _threads(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:  # exited
        return 0


# Points of the start-up the test can observe from outside, in order.
MILESTONES = {
    "importing": lambda pid: _has_loaded(pid, "pydantic_core"),  # imported by the package
    "connecting": lambda pid: _threads(pid) > 1,  # the repository's event loop thread
}


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc")
@pytest.mark.parametrize("milestone", list(MILESTONES))
def test_cli_interrupted_at_start_up(
    blackhole: tuple[str, threading.Event], milestone: str
) -> None:
    """SIGINT while the package imports its dependencies, and while it connects.

    Not tested: a SIGINT in the first ~10 ms, before the package's first line runs.
    Until the interpreter installs its own handler the signal kills the process
    silently (status -SIGINT, which a shell shows as 130); after that, while ``site``
    and the ``.pth`` files run, CPython's own handler prints a traceback or the
    interrupt is even lost in its import machinery. The outcome depends on the
    millisecond the signal lands in, which no test can pin down from outside.
    """
    endpoint, _ = blackhole
    reached = MILESTONES[milestone]
    process = _spawn("ls", "--bucket", "unanswered", "--endpoint-url", endpoint)
    try:
        deadline = time.monotonic() + 60
        while not reached(process.pid):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, f"the CLI never reached {milestone}"
            time.sleep(0.001)
        code, stdout, stderr, took = _interrupt(process)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert (code, stdout, stderr) == (130, "", MESSAGE), took
    assert took < HANG, took


# -- Ctrl-C during put_alias's shielded steps (issue 21, finding C2) ----------------------


def _until(predicate: Any, what: str) -> None:
    """Wait (bounded by HANG) in this thread until ``predicate()`` holds."""
    deadline = time.monotonic() + HANG
    while not predicate():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.01)


@pytest.mark.parametrize("during", ["check", "write"])
def test_interrupted_put_alias_never_leaves_the_alias_on_a_deleted_version(
    endpoint_url: str, bucket: str, interruptible: int, during: str
) -> None:
    """put_alias moves prod from 1 to 2 while another process deletes 2: its write lands
    after the delete read the aliases, and its check that follows (is 2 tombstoned?)
    finds the tombstone. Ctrl-C comes while that check is slow, or while the write
    itself is. The steps from the write on are shielded: the interrupt waits for them,
    prod is put back on 1, then KeyboardInterrupt reaches the caller; close() is
    prompt (measured over 9 runs: 0.003 to 0.17 s). The interrupt reached the caller
    0.36 to 0.50 s after the signal during the check, 0.72 to 1.26 s during the write
    (the delete runs meanwhile); 0.3 s of each is the request held on purpose."""
    threads_before = set(threading.enumerate())
    repo = Repository(bucket, endpoint_url=endpoint_url, aws_region="us-east-1")
    other = Repository(bucket, endpoint_url=endpoint_url, aws_region="us-east-1")
    try:
        repo.bootstrap()
        for content in (b"one", b"two"):
            repo.put_artifact("m", content)
            repo.publish_artifact_version("m")
        repo.put_alias("m", "prod", 1)
        loop = repo._loop
        assert loop is not None
        faults = Interposer(repo._arepo)
        # Rules are made on the loop: their events belong to it.
        writing = loop._portal.call(faults.hold, "PutObject", "aliases/prod.json")
        retired = repo._arepo.layout.retired_prefix("m", 2)
        failures: list[BaseException] = []
        signalled: list[float] = []

        def delete_two() -> None:
            other.delete_artifact_version("m", 2)  # prod is still on 1: 2 goes

        def interrupt(held: Rule, meanwhile: Callable[[], None]) -> None:
            """Ctrl-C while ``held`` waits; ``meanwhile()``, then it goes on."""
            signalled.append(time.monotonic())
            signal.pthread_kill(interruptible, signal.SIGINT)
            # The call is cancelled on the loop; the shield keeps its steps going.
            _until(lambda: any(call._cancelled for call in list(loop._calls)), "the cancel")
            time.sleep(0.3)  # the request stays slow a while after the interrupt
            meanwhile()
            loop._portal.call(held.release)

        def race() -> None:
            try:
                _until(lambda: writing.hits == 1, "put_alias's write")
                if during == "write":  # the delete reads the aliases before it lands
                    interrupt(writing, delete_two)
                    return
                delete_two()
                checking = loop._portal.call(faults.hold, "ListObjectsV2", retired)
                loop._portal.call(writing.release)
                _until(lambda: checking.hits == 1, "put_alias's check of the tombstone")
                interrupt(checking, lambda: None)
            except BaseException as err:
                failures.append(err)

        helper = threading.Thread(target=race, daemon=True)
        helper.start()
        with pytest.raises(KeyboardInterrupt):
            repo.put_alias("m", "prod", 2)
        interrupted_after = time.monotonic() - signalled[0]
        helper.join(HANG)
        assert not failures, failures
        started = time.monotonic()
        repo.close()
        close_took = time.monotonic() - started
        assert 0.3 <= interrupted_after < HANG, interrupted_after  # it waited for its steps
        assert close_took < 5.0, close_took
        # prod is back on 1, which is not deleted; 2 is deleted; history has it all.
        assert other.get_alias("m", "prod").version == "1"
        assert [a.version for a in other.list_artifact_versions("m")] == ["LATEST", "1"]
        assert [c.version for c in reversed(other.list_alias_history("m", "prod"))] == [
            "1",
            "2",
            "1",
        ]
    finally:
        repo.close()
        other.close()
    assert set(threading.enumerate()) <= threads_before
