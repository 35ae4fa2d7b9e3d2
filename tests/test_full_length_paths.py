"""Paths that fill all of sun_path (108 bytes on Linux), which CPython's bind/connect refuse.

With the C core they are bound, connected, reported by getsockname/getpeername
and parsed back; one byte more is refused before any system call. Without it,
the limit stays 107 and the error says why.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

import uds
from uds import _addr

FULL = _addr._FULL_PATH_LEN


def _path_of_length(directory: Path, length: int) -> str:
    prefix = os.fsencode(directory) + b"/"
    assert len(prefix) < length - 1
    return os.fsdecode(prefix + b"s" * (length - len(prefix)))


@pytest.fixture
def full_path(tmp_path: Path) -> str:
    return _path_of_length(tmp_path, FULL)


@pytest.mark.skipif(not uds.native_available(), reason="needs the C core")
@pytest.mark.parametrize("kind", [socket.SOCK_STREAM, socket.SOCK_SEQPACKET, socket.SOCK_DGRAM])
def test_a_full_length_path_binds_connects_and_reads_back(full_path: str, kind: int) -> None:
    assert uds.UnixSocketAddr.max_path_len() == FULL == 108
    addr = uds.UnixSocketAddr.new(full_path)
    assert len(addr.as_raw_bytes()) == FULL
    with uds.bind_unix_addr(addr, kind, unlink_on_close=True) as server:
        assert uds.local_unix_addr(server) == addr
        assert os.path.exists(full_path)
        with uds.connect_to_unix_addr(addr, kind) as client:
            assert uds.peer_unix_addr(client) == addr
            if kind != socket.SOCK_DGRAM:
                conn, _ = uds.accept_unix_addr(server)
                with conn:
                    assert uds.local_unix_addr(conn) == addr
                    client.send(b"through 108 bytes")
                    assert conn.recv(64) == b"through 108 bytes"
            else:
                client.send(b"datagram")
                data, sender = uds.recv_from_unix_addr(server, 64)
                assert data == b"datagram" and sender.is_unnamed
    assert not os.path.exists(full_path)


@pytest.mark.skipif(not uds.native_available(), reason="needs the C core")
def test_seqpacket_types_and_a_plain_libc_peer_use_full_length_paths(full_path: str) -> None:
    with uds.UnixSeqpacketListener.bind(full_path) as listener:
        with uds.UnixSeqpacketConn.connect(full_path) as client:
            server, _ = listener.accept_unix_addr()
            with server:
                assert client.peer_unix_addr().as_pathname() == Path(full_path)
                client.send(b"x")
                assert server.recv(4) == b"x"
        # A connect(2) from C, with the sockaddr_un filled to the last byte:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        raw = os.fsencode(full_path)
        sockaddr = socket.AF_UNIX.to_bytes(2, "little") + raw
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as peer:
            result = libc.connect(peer.fileno(), sockaddr, len(sockaddr))
            assert result == 0, os.strerror(ctypes.get_errno())
    os.unlink(full_path)


def test_one_byte_more_is_refused_before_any_system_call(tmp_path: Path) -> None:
    too_long = _path_of_length(tmp_path, FULL + 1)
    with pytest.raises(ValueError, match=f"{FULL + 1} bytes, longer than the limit"):
        uds.UnixSocketAddr.new(too_long)
    with pytest.raises(ValueError):
        uds.bind_unix_addr(too_long)
    assert not os.path.exists(too_long)


@pytest.mark.skipif(uds.native_available(), reason="the C core accepts the full length")
def test_without_the_c_core_the_error_says_why(full_path: str) -> None:
    with pytest.raises(ValueError, match="needs uds's C core"):
        uds.UnixSocketAddr.new(full_path)
    assert uds.UnixSocketAddr.max_path_len() == FULL - 1


def test_kernel_returned_full_length_paths_parse(full_path: str) -> None:
    raw = os.fsencode(full_path)
    addr = uds.UnixSocketAddr.from_raw_bytes(raw)
    assert addr.is_path and addr.as_raw_bytes() == raw
    assert uds.UnixSocketAddr.from_std(full_path) == addr
