"""Bind and connect failures name the address (issue 12 item 6) on every binding and
connecting call, with errno and exception class unchanged; ``"@name"`` means the same
thing in ``bind``/``connect`` of every seqpacket flavour (issue 12 item 2)."""

from __future__ import annotations

import asyncio
import errno
import os
import pathlib
import socket
import subprocess
import sys
from typing import Any, Callable

import pytest

import uds
import uds.asyncio
import uds.nonblocking
from uds import UnixSocketAddr

EXAMPLE = pathlib.Path(__file__).resolve().parent.parent / "examples" / "quickstart.py"


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def _async_connect(method: str) -> Callable[[str], Any]:
    def connect(address: str) -> Any:
        conn = run(getattr(uds.asyncio.UnixSeqpacketConn, method)(address))
        conn.close()
        return conn

    return connect


# Each: binds a listener at an address string (and returns something closeable).
BINDERS: dict[str, Callable[[str], Any]] = {
    "bind_unix_addr": lambda a: uds.bind_unix_addr(a, socket.SOCK_SEQPACKET),
    "bind_unix_addr-dgram": lambda a: uds.bind_unix_addr(a, socket.SOCK_DGRAM),
    "listener.bind_unix_addr": uds.UnixSeqpacketListener.bind_unix_addr,
    "nonblocking.bind_unix_addr": uds.nonblocking.UnixSeqpacketListener.bind_unix_addr,
    "asyncio.bind_unix_addr": uds.asyncio.UnixSeqpacketListener.bind_unix_addr,
}
# Each: connects a seqpacket client to an address string.
CONNECTORS: dict[str, Callable[[str], Any]] = {
    "connect_to_unix_addr": lambda a: uds.connect_to_unix_addr(a, socket.SOCK_SEQPACKET),
    "connect_from_to_unix_addr": lambda a: uds.connect_from_to_unix_addr(
        "", a, socket.SOCK_SEQPACKET
    ),
    "conn.connect_unix_addr": uds.UnixSeqpacketConn.connect_unix_addr,
    "conn.connect_from_to_unix_addr": lambda a: uds.UnixSeqpacketConn.connect_from_to_unix_addr(
        "", a
    ),
    "nonblocking.connect_unix_addr": uds.nonblocking.UnixSeqpacketConn.connect_unix_addr,
    "asyncio.connect_unix_addr": _async_connect("connect_unix_addr"),
}


@pytest.mark.parametrize("bind", BINDERS.values(), ids=BINDERS.keys())
def test_binding_a_taken_abstract_name_names_it(
    bind: Callable[[str], Any], abstract_name: str
) -> None:
    with bind(abstract_name), pytest.raises(OSError) as caught:
        bind(abstract_name)
    assert type(caught.value) is OSError  # no subclass invented for EADDRINUSE
    assert caught.value.errno == errno.EADDRINUSE
    assert caught.value.filename == abstract_name
    assert (
        str(caught.value)
        == f"[Errno {errno.EADDRINUSE}] {os.strerror(errno.EADDRINUSE)}: '{abstract_name}'"
    )


@pytest.mark.parametrize("bind", BINDERS.values(), ids=BINDERS.keys())
def test_binding_in_a_missing_directory_names_the_path(
    bind: Callable[[str], Any], tmp_path: pathlib.Path
) -> None:
    path = str(tmp_path / "missing" / "sock")
    with pytest.raises(FileNotFoundError) as caught:
        bind(path)
    assert caught.value.filename == path and caught.value.errno == errno.ENOENT


@pytest.mark.parametrize("connect", CONNECTORS.values(), ids=CONNECTORS.keys())
def test_connecting_to_nobody_names_the_address(
    connect: Callable[[str], Any], abstract_name: str, tmp_path: pathlib.Path
) -> None:
    with pytest.raises(ConnectionRefusedError) as refused:
        connect(abstract_name)
    assert refused.value.errno == errno.ECONNREFUSED
    assert refused.value.filename == abstract_name
    assert abstract_name in str(refused.value)
    missing = str(tmp_path / "missing")
    with pytest.raises(FileNotFoundError) as absent:
        connect(missing)
    assert absent.value.filename == missing
    stale = str(tmp_path / "stale")
    uds.bind_unix_addr(stale, socket.SOCK_SEQPACKET).close()  # the file stays
    with pytest.raises(ConnectionRefusedError) as refused:
        connect(stale)
    assert refused.value.filename == stale


@pytest.mark.parametrize("connect", CONNECTORS.values(), ids=CONNECTORS.keys())
def test_connecting_to_another_socket_type_names_the_path(
    connect: Callable[[str], Any], tmp_path: pathlib.Path
) -> None:
    path = str(tmp_path / "stream")
    with uds.bind_unix_addr(path, socket.SOCK_STREAM), pytest.raises(OSError) as caught:
        connect(path)
    assert caught.value.errno == errno.EPROTOTYPE and caught.value.filename == path


@pytest.mark.parametrize(
    "connect",
    [
        lambda path: uds.UnixSeqpacketConn.connect(path),
        lambda path: uds.nonblocking.UnixSeqpacketConn.connect(path),
        _async_connect("connect"),
    ],
    ids=["blocking", "nonblocking", "asyncio"],
)
def test_connect_by_path_names_the_path(
    connect: Callable[[str], Any], tmp_path: pathlib.Path
) -> None:
    missing = str(tmp_path / "missing")
    with pytest.raises(FileNotFoundError) as caught:
        connect(missing)
    assert caught.value.filename == missing


def test_a_taken_source_address_is_named_not_the_target(abstract_name: str) -> None:
    source = abstract_name + "-client"
    with (
        uds.bind_unix_addr(abstract_name, socket.SOCK_SEQPACKET),
        uds.bind_unix_addr(source, socket.SOCK_SEQPACKET),
    ):
        for connect in (
            lambda: uds.connect_from_to_unix_addr(source, abstract_name, socket.SOCK_SEQPACKET),
            lambda: uds.UnixSeqpacketConn.connect_from_to_unix_addr(source, abstract_name),
            lambda: run(
                uds.asyncio.UnixSeqpacketConn.connect_from_to_unix_addr(source, abstract_name)
            ),
        ):
            with pytest.raises(OSError) as caught:
                connect()
            assert caught.value.errno == errno.EADDRINUSE and caught.value.filename == source


def test_a_path_binder_explanation_is_kept(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "sock"
    with uds.UnixSeqpacketListener.bind(path), pytest.raises(FileExistsError) as caught:
        uds.UnixSeqpacketListener.bind(path)
    assert caught.value.errno == errno.EADDRINUSE and caught.value.filename == str(path)
    assert "is a socket file, in use or stale" in str(caught.value)


# "@name" in bind/connect: a path in every flavour --------------------------------------


def test_bind_and_connect_take_a_path_in_every_flavour(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    file_addr = UnixSocketAddr.from_path("@svc")

    async def asyncio_round() -> None:
        async with uds.asyncio.UnixSeqpacketListener.bind("@svc") as listener:
            assert listener.local_unix_addr() == file_addr
            assert (tmp_path / "@svc").exists()
            async with await uds.asyncio.UnixSeqpacketConn.connect("@svc") as client:
                assert client.peer_unix_addr() == file_addr
                server, _ = await listener.accept()
                server.close()
        os.unlink(tmp_path / "@svc")

    run(asyncio_round())
    for listener_type, conn_type in (
        (uds.UnixSeqpacketListener, uds.UnixSeqpacketConn),
        (uds.nonblocking.UnixSeqpacketListener, uds.nonblocking.UnixSeqpacketConn),
    ):
        with listener_type.bind("@svc", unlink_on_close=True) as listener:
            assert listener.local_unix_addr() == file_addr
            with conn_type.connect("@svc") as client:
                assert client.peer_unix_addr() == file_addr
        assert not (tmp_path / "@svc").exists()


def test_the_unix_addr_forms_take_at_as_abstract_in_every_flavour(abstract_name: str) -> None:
    abstract = UnixSocketAddr.from_abstract(abstract_name[1:])

    async def asyncio_round() -> None:
        async with uds.asyncio.UnixSeqpacketListener.bind_unix_addr(abstract_name) as listener:
            assert listener.local_unix_addr() == abstract
            async with await uds.asyncio.UnixSeqpacketConn.connect_unix_addr(abstract_name) as c:
                assert c.peer_unix_addr() == abstract
                server, _ = await listener.accept()
                server.close()

    run(asyncio_round())
    for listener_type, conn_type in (
        (uds.UnixSeqpacketListener, uds.UnixSeqpacketConn),
        (uds.nonblocking.UnixSeqpacketListener, uds.nonblocking.UnixSeqpacketConn),
    ):
        with listener_type.bind_unix_addr(abstract_name) as listener:
            assert listener.local_unix_addr() == abstract
            with conn_type.connect_unix_addr(abstract_name) as client:
                assert client.peer_unix_addr() == abstract


# The quick-start example ----------------------------------------------------------------


def test_quickstart_running_twice_says_what_is_wrong_in_one_line() -> None:
    quickstart_address = UnixSocketAddr.from_abstract(b"not a file!")
    with uds.UnixSeqpacketListener.bind_unix_addr(quickstart_address):  # "the first one"
        result = subprocess.run(
            [sys.executable, "-W", "error", str(EXAMPLE)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        "quickstart: cannot listen on @not a file!: Address already in use "
        "(is another quickstart running?)\n"
    )
