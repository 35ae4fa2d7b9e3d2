"""Peer credentials: SO_PEERCRED, SO_PEERGROUPS, SO_PEERPIDFD, SO_PEERSEC."""

from __future__ import annotations

import errno
import os
import pathlib
import socket
import subprocess
import sys

import pytest

import uds
from tests.helpers import FilenoOnly, assert_cloexec


def test_socketpair_credentials_are_ours(stream_pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = stream_pair
    creds = uds.initial_peer_credentials(a)
    assert creds == uds.ConnCredentials(os.getpid(), os.geteuid(), os.getegid(), creds.groups)
    assert sorted(creds.groups) == sorted(os.getgroups())
    assert uds.initial_peer_credentials(FilenoOnly(b)).pid == os.getpid()


def test_datagram_pair_credentials(dgram_pair: tuple[socket.socket, socket.socket]) -> None:
    creds = uds.initial_pair_credentials(dgram_pair[0])
    assert creds.pid == os.getpid() and creds.euid == os.geteuid()


def test_connected_datagram_has_no_credentials(abstract_name: str) -> None:
    with (
        uds.bind_unix_addr(abstract_name, socket.SOCK_DGRAM),
        uds.connect_to_unix_addr(abstract_name, socket.SOCK_DGRAM) as client,
        pytest.raises(OSError) as info,
    ):
        uds.initial_peer_credentials(client)
    assert info.value.errno == errno.ENODATA


def test_credentials_of_another_process_with_groups(abstract_name: str) -> None:
    """A child with a different uid, gid and supplementary groups connects to us."""
    if os.geteuid() != 0:
        pytest.skip("changing uid/groups in the child needs root")
    code = (
        "import os, socket, sys\n"
        "os.setgroups([4, 24, 27]); os.setgid(65534); os.setuid(65534)\n"
        "s = socket.socket(socket.AF_UNIX)\n"
        f"s.connect(b'\\0' + {abstract_name[1:]!r}.encode())\n"
        "s.recv(1)\n"
    )
    with uds.bind_unix_addr(abstract_name) as listener:
        child = subprocess.Popen([sys.executable, "-c", code])
        try:
            conn, _ = uds.accept_unix_addr(listener)
            with conn:
                creds = uds.initial_peer_credentials(conn)
                assert creds.pid == child.pid
                assert (creds.euid, creds.egid) == (65534, 65534)
                assert sorted(creds.groups) == [4, 24, 27]
                conn.send(b"x")
        finally:
            assert child.wait(timeout=30) == 0


def test_credentials_are_taken_at_connect_time(abstract_name: str) -> None:
    """The credentials stay those of the connecting process even after it exits."""
    with uds.bind_unix_addr(abstract_name) as listener:
        pid = os.fork()
        if pid == 0:
            try:
                with socket.socket(socket.AF_UNIX) as s:
                    s.connect(b"\0" + abstract_name[1:].encode())
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        conn, _ = uds.accept_unix_addr(listener)
        with conn:
            assert uds.initial_peer_credentials(conn).pid == pid


def test_unconnected_socket_raises() -> None:
    with socket.socket(socket.AF_UNIX) as s, pytest.raises(OSError) as info:
        uds.initial_peer_credentials(s)
    assert info.value.errno == errno.ENODATA


def test_peer_pidfd_refers_to_the_peer(stream_pair: tuple[socket.socket, socket.socket]) -> None:
    try:
        pidfd = uds.peer_pidfd(stream_pair[0])
    except uds.UnsupportedPlatformError as error:
        pytest.skip(f"kernel without SO_PEERPIDFD: {error}")
    try:
        assert_cloexec(pidfd)
        with open(f"/proc/self/fdinfo/{pidfd}") as info:
            fields = dict(line.split(":", 1) for line in info if ":" in line)
        assert int(fields["Pid"]) == os.getpid()
    finally:
        os.close(pidfd)


def test_selinux_context_is_unsupported_without_a_security_module(
    stream_pair: tuple[socket.socket, socket.socket],
) -> None:
    try:
        lsm = pathlib.Path("/sys/kernel/security/lsm").read_text()
    except OSError:
        lsm = ""
    try:
        label = uds.initial_peer_selinux_context(stream_pair[0])
    except uds.UnsupportedPlatformError as error:
        assert error.errno == errno.EOPNOTSUPP
        assert "security" in str(error)
        assert "selinux" not in lsm and "apparmor" not in lsm and "smack" not in lsm
    else:
        assert isinstance(label, bytes) and b"\0" not in label


def test_a_listening_socket_has_no_peer(abstract_name: str) -> None:
    with uds.bind_unix_addr(abstract_name) as listener, pytest.raises(OSError) as info:
        uds.initial_peer_credentials(listener)
    assert info.value.errno == errno.EINVAL
    with uds.bind_unix_addr(abstract_name + "-p") as listener, pytest.raises(OSError):
        uds.PeerPolicy.same_user().check(listener)


def test_a_tcp_socket_is_refused_as_not_unix() -> None:
    # Linux answers SO_PEERCRED on TCP with "no peer"; the library says what is wrong.
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        accepted, _ = server.accept()
        with client, accepted:
            for sock in (client, client.fileno(), FilenoOnly(accepted)):
                with pytest.raises(OSError, match="not AF_UNIX") as info:
                    uds.initial_peer_credentials(sock)
                assert info.value.errno == errno.EAFNOSUPPORT
            with pytest.raises(OSError) as pair_info:
                uds.initial_pair_credentials(client)
            assert pair_info.value.errno == errno.EAFNOSUPPORT
