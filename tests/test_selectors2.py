"""selectors2 behind Poll, loaded by load_selectors2 without lasting side effects."""

from __future__ import annotations

import collections
import subprocess
import sys
import textwrap

import pytest

from uds_mio_compat import load_selectors2

try:
    _S2 = load_selectors2()
except ModuleNotFoundError:
    _S2 = None

pytestmark = pytest.mark.skipif(_S2 is None, reason="selectors2 is not installed")


def test_loader_leaves_collections_alone_in_process() -> None:
    module = load_selectors2()
    assert module is sys.modules["selectors2"] and load_selectors2() is module
    # before 3.10 collections serves Mapping through a warning __getattr__, not vars()
    assert "Mapping" not in vars(collections)
    if sys.version_info >= (3, 10):
        assert not hasattr(collections, "Mapping")
    import selectors2  # type: ignore[import-untyped]

    assert selectors2 is module


def test_fresh_process_plain_import_fails_loader_works_under_poll() -> None:
    script = textwrap.dedent(
        """
        import collections, socket, sys
        import warnings
        warnings.simplefilter("error")
        try:
            import selectors2
            plain = "ok"
        except (ImportError, DeprecationWarning):
            plain = "fails"
        from uds_mio_compat import Events, Interest, Poll, Token, load_selectors2
        s2 = load_selectors2()
        print("plain import", plain)
        print("Mapping after", "Mapping" in vars(collections))
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with Poll(s2.DefaultSelector) as poll:
            print("backend", type(poll.selector).__module__)
            poll.registry.register(a, Token(3), Interest.READABLE)
            b.send(b"hello")
            events = Events.with_capacity(4)
            poll.poll(events, 5)
            print("events", [(e.token, e.is_readable()) for e in events], a.recv(9))
            b.close()
            poll.poll(events, 5)
            print("closed", [(e.token, e.is_read_closed()) for e in events])
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=30
    ).stdout.splitlines()
    assert out == [
        "plain import fails",  # an ImportError on 3.10+, a DeprecationWarning before
        "Mapping after False",
        "backend selectors2",
        "events [(3, True)] b'hello'",
        "closed [(3, True)]",
    ]


def test_missing_selectors2_is_a_clear_error() -> None:
    script = textwrap.dedent(
        """
        import sys
        sys.modules["selectors2"] = None  # what an uninstalled module looks like to import
        from uds_mio_compat import load_selectors2
        try:
            load_selectors2()
        except ImportError as error:
            print(type(error).__name__)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=30
    ).stdout.strip()
    assert out == "ModuleNotFoundError"
