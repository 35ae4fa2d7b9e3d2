"""Event loops the asyncio tests run on: the default loop and uvloop (when installed)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, Callable, TypeVar

import pytest

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is in the dev extra
    uvloop = None
else:
    # libuv opens a process-wide signal pipe with its first loop; open it now,
    # before the leak check of any test counts fds.
    uvloop.new_event_loop().close()

_T = TypeVar("_T")
Runner = Callable[[Coroutine[Any, Any, _T]], _T]

ASYNCIO_LOOPS = [
    pytest.param("asyncio", id="asyncio"),
    pytest.param(
        "uvloop",
        id="uvloop",
        marks=pytest.mark.skipif(uvloop is None, reason="uvloop is not installed"),
    ),
]


def new_loop(name: str) -> asyncio.AbstractEventLoop:
    """A fresh loop of the kind ``name`` (``"asyncio"`` or ``"uvloop"``)."""
    if name == "uvloop":
        assert uvloop is not None
        loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
        return loop
    return asyncio.new_event_loop()


def runner(name: str, timeout: float = 30) -> Runner[Any]:
    """A function that runs a coroutine to completion on a fresh loop, then closes the loop."""

    def run(coro: Coroutine[Any, Any, _T]) -> _T:
        loop = new_loop(name)
        try:
            return loop.run_until_complete(asyncio.wait_for(coro, timeout))
        finally:
            loop.close()

    return run
