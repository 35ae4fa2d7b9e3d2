"""Stress profiles: ``quick`` (default, a few seconds) and ``full`` (opt-in).

Select the full profile with ``UDS_STRESS=full`` (works however pytest is
started) or ``--stress-full`` (pytest must be given ``tests/stress`` or a
file in it, so that this conftest is loaded before the command line is read).
"""

from __future__ import annotations

import os
import resource
from collections.abc import Iterator
from dataclasses import dataclass

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
