"""Stress profiles: ``quick`` (default, a few seconds) and ``full`` (opt-in).

Select the full profile with ``UDS_STRESS=full`` (works however pytest is
started) or ``--stress-full`` (pytest must be given ``tests/stress`` or a
file in it, so that this conftest is loaded before the command line is read).
"""

from __future__ import annotations

import os
import resource
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

import pytest

FULL_TIMEOUT = 900


@dataclass(frozen=True)
class Profile:
    """How hard the stress tests push."""

    name: str
    connections: int
    messages: int
    fds: int


QUICK = Profile("quick", connections=1000, messages=20_000, fds=5_000)
FULL = Profile("full", connections=5000, messages=1_000_000, fds=100_000)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--stress-full",
        action="store_true",
        default=False,
        help="run the stress tests with the full profile (also: UDS_STRESS=full)",
    )


def _is_full(config: pytest.Config) -> bool:
    return bool(config.getoption("--stress-full", default=False)) or (
        os.environ.get("UDS_STRESS", "").lower() == "full"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not _is_full(config):
        return
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.path).startswith(here):
            item.add_marker(pytest.mark.slow)
            item.add_marker(pytest.mark.timeout(FULL_TIMEOUT))


@pytest.fixture(scope="session")
def profile(pytestconfig: pytest.Config) -> Profile:
    """The selected stress profile."""
    return FULL if _is_full(pytestconfig) else QUICK


@pytest.fixture
def fd_limit_raised(profile: Profile) -> Iterator[int]:
    """Raise RLIMIT_NOFILE's soft limit to the hard one for the test; yield the limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # An unlimited hard limit still cannot be used as the soft one (nr_open caps it).
    raised = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
    try:
        yield raised
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


# Forked peers ------------------------------------------------------------------


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
