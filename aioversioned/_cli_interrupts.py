"""Ctrl-C in the command line: one line on stderr and exit status 130, at any moment.

- While the package and its dependencies import (the command's first half second),
  nothing needs cleaning up: the process leaves at once. :func:`guard_start_up` is
  called by the package's first line and acts only in the ``aioversioned`` process.
- While a command runs, the first Ctrl-C raises KeyboardInterrupt in the main thread:
  the blocking Repository cancels the call it waits for (an upload is aborted), the
  command closes its repository, then :func:`run` prints the line and exits 130.
- A second Ctrl-C during that cleanup leaves at once; it is never needed.

Before the interpreter has installed its own SIGINT handler (its first milliseconds)
the signal kills the process, which a shell reports as 130 too. In the few
milliseconds between that and the package's first line (``site`` and the ``.pth``
files) Python's own handler runs: that window can not be covered from the package.
This module imports nothing but ``os``, ``signal`` and ``sys`` (3 ms), so the guard is
in place before anything slow is imported.
"""

from __future__ import annotations

import os
import signal
import sys

TYPE_CHECKING = False  # not typing's: importing typing would take longer than the rest
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import FrameType

MESSAGE = "aioversioned: interrupted"
EXIT_STATUS = 130  # 128 + SIGINT: what a shell reports for a program Ctrl-C stopped


def leave_now(signum: int, frame: FrameType | None) -> None:
    """SIGINT handler: print the line and exit at once, skipping any cleanup."""
    os.write(2, f"{MESSAGE}\n".encode())
    os._exit(EXIT_STATUS)


def _is_cli_process() -> bool:
    """Whether this process is the command line: the console script or ``-m aioversioned``."""
    argv = getattr(sys, "argv", None) or [""]
    program = os.path.basename(argv[0])
    if program in ("aioversioned", "aioversioned.exe"):
        return True
    if program != "-m":  # while ``python -m X`` imports X's package, argv[0] is "-m"
        return False
    args = list(getattr(sys, "orig_argv", []))
    if "-maioversioned" in args:
        return True
    module = args.index("-m") + 1 if "-m" in args else len(args)
    return args[module : module + 1] == ["aioversioned"]


def guard_start_up() -> None:
    """In the command line process only: Ctrl-C leaves at once until :func:`run` starts.

    Installed only over Python's own handler, so a program that imports the library
    keeps its SIGINT handling.
    """
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler and _is_cli_process():
        try:  # noqa: SIM105  # not contextlib: it doubles this module's import time
            signal.signal(signal.SIGINT, leave_now)
        except ValueError:  # imported from another thread than the main one
            pass


def run(app: Callable[[], object]) -> None:
    """Run the command line; after a Ctrl-C, print one line and exit 130.

    The first Ctrl-C raises KeyboardInterrupt, so the running call is cancelled and the
    repository closed; whatever that raises or prints (typer turns KeyboardInterrupt
    into exit 130 silently) gives way to the one line. A second Ctrl-C leaves at once.
    """
    interrupted = False

    def interrupt(signum: int, frame: FrameType | None) -> None:
        nonlocal interrupted
        interrupted = True
        signal.signal(signal.SIGINT, leave_now)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupt)
    try:
        app()
    except BaseException:
        if not interrupted:
            raise
    finally:
        # From here on (error output, interpreter shutdown) a Ctrl-C leaves at once.
        signal.signal(signal.SIGINT, leave_now)
    if interrupted:
        try:  # noqa: SIM105  # as above
            sys.stdout.flush()
        except OSError:  # a closed pipe
            pass
        print(MESSAGE, file=sys.stderr, flush=True)
        raise SystemExit(EXIT_STATUS)
