"""SO_PASSRIGHTS (Linux 6.16+): a unix socket that refuses fds.

With the option off on the receiver, the *sender's* sendmsg fails with EPERM and
nothing of that message arrives; messages without fds pass as before.
"""

from __future__ import annotations

import errno
import os
import socket

import pytest

import uds
import uds.ancillary
from tests.helpers import FilenoOnly
from uds import _platform, _sockopts
from uds._sys import darwin, freebsd, netbsd, openbsd


def _kernel_has_passrights() -> bool:
    option = _platform.current.PASSRIGHTS_OPTION
    if option is None:
        return False
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with a, b:
        try:
            a.getsockopt(*option)
        except OSError:
            return False
    return True


needs_passrights = pytest.mark.skipif(
    not _kernel_has_passrights(), reason="SO_PASSRIGHTS needs Linux 6.16 or later"
)

KINDS = [socket.SOCK_STREAM, socket.SOCK_DGRAM, socket.SOCK_SEQPACKET]


@needs_passrights
@pytest.mark.parametrize("kind", KINDS, ids=["stream", "dgram", "seqpacket"])
def test_a_socket_with_passrights_off_refuses_fds(kind: int, pipe: tuple[int, int]) -> None:
    sender, receiver = socket.socketpair(socket.AF_UNIX, kind)
    with sender, receiver:
        assert uds.ancillary.get_passrights(receiver) is True  # the kernel's default
        uds.ancillary.set_passrights(FilenoOnly(receiver), False)
        assert uds.ancillary.get_passrights(receiver.fileno()) is False
        receiver.setblocking(False)

        # The sender is told: EPERM, and the whole message is dropped, data included.
        with pytest.raises(PermissionError) as refused:
            uds.send_fds(sender, b"with an fd", [pipe[0]])
        assert refused.value.errno == errno.EPERM
        with pytest.raises(PermissionError):
            uds.ancillary.send_ancillary(sender, b"again", fds=[pipe[1]])
        with pytest.raises(BlockingIOError):
            receiver.recv(100)

        # Plain data still passes, and the refusal is on the receiving side only.
        assert sender.send(b"plain") == 5
        assert receiver.recv(100) == b"plain"
        assert uds.send_fds(receiver, b"back", [pipe[0]]) == 4
        data, fds = uds.recv_fds(sender, 100, 1)
        with fds:
            assert data == b"back" and len(fds) == 1

        # Turned back on, fds arrive again.
        uds.ancillary.set_passrights(receiver, True)
        assert uds.send_fds(sender, b"now", [pipe[0]]) == 3
        data, fds = uds.recv_fds(receiver, 100, 1)
        with fds:
            assert data == b"now" and len(fds) == 1


@needs_passrights
def test_seqpacket_conn_send_fds_sees_eperm(pipe: tuple[int, int]) -> None:
    a, b = uds.UnixSeqpacketConn.pair()
    with a, b:
        uds.ancillary.set_passrights(b, False)
        with pytest.raises(PermissionError):
            a.send_fds(b"x", [pipe[0]])
        assert a.send(b"y") == 1
        assert b.recv(10) == b"y"


@needs_passrights
def test_accepted_connections_inherit_the_listeners_setting(
    abstract_name: str, pipe: tuple[int, int]
) -> None:
    with uds.bind_unix_addr(abstract_name) as listener:
        uds.ancillary.set_passrights(listener, False)
        with uds.connect_to_unix_addr(abstract_name) as client:
            accepted, _ = listener.accept()
            with accepted:
                assert uds.ancillary.get_passrights(accepted) is False
                with pytest.raises(PermissionError):
                    uds.send_fds(client, b"x", [pipe[0]])


@needs_passrights
def test_a_socket_that_is_not_unix_is_refused() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
        for call in (
            lambda: uds.ancillary.set_passrights(tcp, False),
            lambda: uds.ancillary.get_passrights(tcp.fileno()),
        ):
            with pytest.raises(OSError) as info:
                call()
            assert info.value.errno == errno.EAFNOSUPPORT


def test_on_must_be_a_bool(stream_pair: tuple[socket.socket, socket.socket]) -> None:
    with pytest.raises(TypeError, match="bool"):
        uds.ancillary.set_passrights(stream_pair[0], 0)  # type: ignore[arg-type]


def test_no_such_option_elsewhere() -> None:
    for module in (freebsd, darwin, openbsd, netbsd):
        assert module.PASSRIGHTS_OPTION is None, module.NAME


@pytest.mark.parametrize("module", [freebsd, darwin, openbsd, netbsd], ids=lambda m: m.NAME)
def test_unsupported_where_the_os_lacks_it(
    monkeypatch: pytest.MonkeyPatch,
    stream_pair: tuple[socket.socket, socket.socket],
    module: object,
) -> None:
    # The platform module decides before any system call is made.
    monkeypatch.setattr(_sockopts, "_sys", module)
    with pytest.raises(uds.UnsupportedPlatformError, match="SO_PASSRIGHTS") as info:
        uds.ancillary.set_passrights(stream_pair[0], False)
    assert info.value.errno == errno.EOPNOTSUPP
    with pytest.raises(uds.UnsupportedPlatformError):
        uds.ancillary.get_passrights(stream_pair[0])


def test_linux_option_number() -> None:
    from uds._sys import linux

    assert linux.PASSRIGHTS_OPTION == (linux.SOL_SOCKET, 83)  # asm-generic/socket.h


@needs_passrights
def test_passrights_off_does_not_leak_the_refused_fds(pipe: tuple[int, int]) -> None:
    before = len(os.listdir("/proc/self/fd"))
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    with a, b:
        uds.ancillary.set_passrights(b, False)
        for _ in range(50):
            with pytest.raises(PermissionError):
                uds.send_fds(a, b"x", [pipe[0], pipe[1]])
    assert len(os.listdir("/proc/self/fd")) == before
