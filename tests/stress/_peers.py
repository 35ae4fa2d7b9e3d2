"""Forked peer processes for the stress tests."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Callable


@contextmanager
def forked(child: Callable[[], None]) -> Iterator[int]:
    """Run ``child()`` in a forked process; yield its pid; reap it on exit.

    The child exits 0 when ``child`` returns, 1 when it raises (the traceback
    goes to stderr). Leaving the block kills a child that is still running and
    waits for it; use :func:`wait_exit_code` to check how it ended.
    """
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            child()
            status = 0
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            os._exit(status)
    try:
        yield pid
    finally:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            done = pid  # already reaped by the test
        if done == 0:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)


def wait_exit_code(pid: int) -> int:
    """Wait for ``pid`` and return its exit code (negative: killed by that signal)."""
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)
