"""``aioversioned follow`` (a sidecar: an alias's verified files in a folder) and ``alias watch``.

Both stand on the library's machinery: ``follow_alias`` downloads, verifies and swaps
(and polls through ``AliasWatch``), ``watch_alias`` polls. Here only what a process
around them needs: the folder (:mod:`aioversioned._sidecar`), the command run after a
switch, one line per change, and stopping on SIGTERM.

Threads: the follower calls ``on_change`` in a worker thread of the repository, at the
moment of each swap, while the verified files are held; it places the files and
switches ``current`` there, then hands an event to the main thread, which prints and
runs ``--exec``. The command runs from the main thread because the repository's
threads block SIGINT, which a child would inherit, and so that a SIGTERM stops it at
once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import shlex
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from .options import AliasArgument, JsonOption, NameArgument
from .support import Cli
from .text import alias_target

if TYPE_CHECKING:  # imported by the commands: --help and the others start without them
    from .._models import Alias
    from .._sidecar import ServedFolder
    from .._sync_follow import AliasFollower

POLL = 0.1  # the main thread wakes up this often, so that signals are handled at once
STOP_GRACE = 5.0  # seconds a stopped --exec command gets between SIGTERM and SIGKILL

IntervalOption = Annotated[
    float,
    typer.Option("--interval", metavar="S", help="Seconds between polls of the alias."),
]


class Terminated(BaseException):
    """SIGTERM arrived: stop, and exit 0.

    An interrupt like KeyboardInterrupt, not an Exception: the blocking repository then
    cancels the call it waits for, whichever step of it the signal lands in.
    """


@contextlib.contextmanager
def sigterm_stops() -> Iterator[None]:
    """Within the block, SIGTERM raises Terminated in the main thread (once)."""

    def stop(signum: int, frame: FrameType | None) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the cleanup is bounded: once is enough
        raise Terminated

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    except Terminated:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def warnings_on_stderr() -> Iterator[None]:
    """The library's warnings (a failed poll or download, retried) as lines on stderr."""
    logger = logging.getLogger("aioversioned")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("aioversioned: %(message)s"))
    handler.setLevel(logging.WARNING)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


def change_data(alias: Alias) -> dict[str, Any]:
    """The alias fields of a JSON line."""
    return alias.model_dump(mode="json")


@dataclass(frozen=True)
class Switch:
    """What one change of the alias did to DIR."""

    alias: Alias
    serving: str  # the version ``current`` points to
    previous: str | None  # the one it pointed to before (None at start)
    switched: bool
    files: dict[str, Path]  # version -> its file in DIR


def exec_env(switch: Switch, folder: ServedFolder) -> dict[str, str]:
    """The environment of --exec: ours over the process's (documented in docs/cli.md)."""
    alias = switch.alias
    secondary = alias.secondary_version
    return {
        **os.environ,
        "AIOVERSIONED_NAME": alias.name,
        "AIOVERSIONED_ALIAS": alias.alias,
        "AIOVERSIONED_REVISION": alias.revision or "",
        "AIOVERSIONED_VERSION": switch.serving,
        "AIOVERSIONED_PATH": str(switch.files[switch.serving]),
        "AIOVERSIONED_CURRENT": str(folder.current),
        "AIOVERSIONED_PREVIOUS_VERSION": switch.previous or "",
        "AIOVERSIONED_PRIMARY_VERSION": alias.version,
        "AIOVERSIONED_PRIMARY_PATH": str(switch.files[alias.version]),
        "AIOVERSIONED_SECONDARY_VERSION": secondary or "",
        "AIOVERSIONED_SECONDARY_PATH": str(switch.files[secondary]) if secondary else "",
        "AIOVERSIONED_SECONDARY_WEIGHT": str(alias.secondary_version_weight or 0)
        if secondary
        else "",
    }


def _stderr_fd() -> int | None:
    """Our stderr's descriptor, for a child's output (None: it has none, inherit stdout)."""
    try:
        return sys.stderr.fileno()
    except (OSError, ValueError):  # a stream without a descriptor (a test runner's)
        return None


class Command:
    """--exec: run without a shell in the main thread; a failure is reported, not fatal."""

    def __init__(self, words: list[str]) -> None:
        self.words = words
        self._running: subprocess.Popen[bytes] | None = None

    def run(self, env: dict[str, str]) -> None:
        """Run it to its end (its output goes to stderr: stdout carries the change lines)."""
        try:
            self._running = subprocess.Popen(self.words, env=env, stdout=_stderr_fd())
        except OSError as err:
            typer.echo(f"aioversioned: --exec could not start {self.words[0]!r}: {err}", err=True)
            return
        try:
            while True:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    code = self._running.wait(POLL)  # wakes up for signals
                    break
        finally:
            self.stop()
        if code != 0:
            typer.echo(f"aioversioned: --exec {shlex.join(self.words)} exited {code}", err=True)

    def stop(self) -> None:
        """End a command still running: SIGTERM, then SIGKILL after STOP_GRACE seconds."""
        child, self._running = self._running, None
        if child is None or child.poll() is not None:
            return
        child.terminate()
        try:
            child.wait(STOP_GRACE)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def follow(
    cli: Cli,
    name: NameArgument,
    alias: AliasArgument,
    directory: Annotated[
        Path,
        typer.Option(
            "--dir",
            metavar="DIR",
            help="Folder to keep the files and current<suffix> in (created if missing).",
            file_okay=False,
        ),
    ],
    exec_command: Annotated[
        Optional[str],  # noqa: UP045  # typer evaluates annotations at runtime on 3.10
        typer.Option(
            "--exec",
            metavar="CMD",
            help="Command run (without a shell) after each switch of current; "
            "AIOVERSIONED_* variables say what changed.",
        ),
    ] = None,
    interval: IntervalOption = 5.0,
    key: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--key",
            metavar="KEY",
            help="Sticky key of the canary draw for current (default: the host name).",
        ),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Keep DIR holding the verified files of the versions ALIAS of NAME names.

    DIR/<version><suffix> is each version's file, DIR/current<suffix> a symlink to the
    one this host serves (with a canary: drawn by the alias's weight for --key), switched
    atomically. Prints one line per change (a JSON line with --json). S3 failures are
    printed on stderr and retried; the last good files stay served. SIGTERM stops it
    (exit 0), Ctrl-C too (exit 130).
    """
    from .._follow import named_versions
    from .._sidecar import ServedFolder

    words = shlex.split(exec_command) if exec_command is not None else []
    if exec_command is not None and not words:
        raise typer.BadParameter("an empty command", param_hint="'--exec'")
    command = Command(words) if words else None
    directory.mkdir(parents=True, exist_ok=True)
    folder = ServedFolder(directory.resolve(), cli.connection.suffix)
    pick_key = key if key is not None else socket.gethostname()
    events: queue.Queue[Switch | BaseException] = queue.Queue()
    follower: AliasFollower | None = None

    def on_change(old: Alias | None, new: Alias) -> None:
        """At the swap (a worker thread): files, then current, then the old ones go."""
        assert follower is not None  # set before the follower is entered
        try:
            files = {v: folder.place(new, v, follower.path(v)) for v in named_versions(new)}
            before = folder.serving
            serving = new.pick_version(pick_key)
            switched = folder.switch(new, serving)
            keep = set(named_versions(new)) | set(named_versions(old) if old else ())
            folder.prune(new, keep)
        except Exception as err:  # the main thread reports it
            if old is None:
                raise  # nothing is served yet: the command fails
            events.put(err)
            return
        events.put(Switch(new, serving, before, switched, files))

    def report(switch: Switch) -> None:
        if json_output:
            data = {
                **change_data(switch.alias),
                "current": str(folder.current),
                "current_version": switch.serving,
                "previous_version": switch.previous,
                "switched": switch.switched,
                "files": {version: str(path) for version, path in switch.files.items()},
            }
            if not cli.quiet:
                typer.echo(json.dumps(data))
            return
        target = switch.files[switch.serving].name
        moved = f"-> {target}" if switch.switched else f"stays {target}"
        cli.say(
            f"{name} {alias} -> {alias_target(switch.alias)} "
            f"(revision {switch.alias.revision}): {folder.current.name} {moved}"
        )

    follower = cli.repo.follow_alias(name, alias, interval=interval, on_change=on_change)
    with warnings_on_stderr(), sigterm_stops(), follower:
        try:
            while True:
                try:
                    event = events.get(timeout=POLL)
                except queue.Empty:
                    continue
                if isinstance(event, BaseException):
                    typer.echo(f"aioversioned: {folder.folder} not updated: {event}", err=True)
                    continue
                report(event)
                if command is not None and event.switched:
                    command.run(exec_env(event, folder))
        finally:
            if command is not None:
                command.stop()


def watch(
    cli: Cli,
    name: NameArgument,
    alias: AliasArgument,
    interval: IntervalOption = 5.0,
    json_output: JsonOption = False,
) -> None:
    """Print ALIAS of NAME now, then each time it changes (one JSON line with --json).

    Polls every --interval seconds (a conditional GET, no body when nothing changed);
    failed polls are printed on stderr and retried. SIGTERM stops it (exit 0), Ctrl-C
    too (exit 130).
    """
    with warnings_on_stderr(), sigterm_stops():
        for change in cli.repo.watch_alias(name, alias, interval=interval):
            if json_output:
                typer.echo(json.dumps(change_data(change)))
            else:
                cli.say(f"{name} {alias} -> {alias_target(change)} (revision {change.revision})")
