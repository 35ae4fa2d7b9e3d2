"""Fuzzing: hostile address bytes, and garbage from a raw socket into every receive path.

Pure control-message parser properties live in tests/test_cmsg_properties.py;
here the kernel is in the loop: whatever a peer sends, each receive function
returns what arrived or raises a clean error, every fd it hands out is
close-on-exec and owned by us, and nothing leaks.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import tempfile
from array import array
from typing import Callable, Union

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import uds
import uds.ancillary
from tests.helpers import FilenoOnly, open_fds
from tests.strategies import hand_made_ancillary

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SUN_PATH = 108
SCM_RIGHTS = 1
SCM_CREDENTIALS = 2

Receiver = Callable[[socket.socket, int, int], "tuple[bytes, uds.ReceivedFds]"]


# Addresses ------------------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=SUN_PATH + 20))
def test_from_raw_bytes_never_crashes_and_round_trips(raw: bytes) -> None:
    try:
        addr = uds.UnixSocketAddr.from_raw_bytes(raw)
    except ValueError:
        assert len(raw) > SUN_PATH
        return
    assert uds.UnixSocketAddr.from_raw_bytes(addr.as_raw_bytes()) == addr
    assert uds.UnixSocketAddr.from_std(addr.to_std()) == addr
    if addr.is_abstract:
        assert addr.as_raw_bytes() == raw
    elif addr.is_path:
        assert addr.as_raw_bytes() == raw.split(b"\0", 1)[0]
    else:
        assert raw == b""


@FUZZ
@given(st.one_of(st.text(max_size=SUN_PATH + 20), st.binary(max_size=SUN_PATH + 20)))
def test_from_std_and_new_raise_only_value_or_type_errors(value: Union[str, bytes]) -> None:
    for constructor in (uds.UnixSocketAddr.from_std, uds.UnixSocketAddr.new):
        try:
            addr = constructor(value)
        except (ValueError, TypeError):
            continue
        assert uds.UnixSocketAddr.new(addr) is addr
        assert eval(repr(addr), {"UnixSocketAddr": uds.UnixSocketAddr}) == addr
        assert hash(addr) == hash(uds.UnixSocketAddr.from_raw_bytes(addr.as_raw_bytes()))
        assert isinstance(str(addr), str)


@FUZZ
@given(st.one_of(st.integers(), st.floats(), st.lists(st.integers()), st.none()))
def test_new_rejects_non_addresses_with_type_error(value: object) -> None:
    with pytest.raises(TypeError):
        uds.UnixSocketAddr.new(value)  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=uds.UnixSocketAddr.max_abstract_len()))
def test_any_abstract_name_survives_the_kernel(name: bytes) -> None:
    addr = uds.UnixSocketAddr.from_abstract(b"uds-fuzz-" + os.urandom(4) + name[:94])
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(addr.to_std())
        assert uds.local_unix_addr(server) == addr
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as client:
            client.bind(b"\0" + b"uds-fuzz-client-" + os.urandom(8))
            uds.send_to_unix_addr(client, b"x", addr)
            assert uds.recv_from_unix_addr(server, 4)[1] == uds.local_unix_addr(client)


@settings(max_examples=40, deadline=None)
@given(
    st.text(
        st.characters(blacklist_characters="/\0", blacklist_categories=("Cs",)),
        min_size=1,
        max_size=40,
    )
)
def test_any_path_name_survives_the_kernel(name: str) -> None:
    assume(name not in (".", ".."))
    with tempfile.TemporaryDirectory(prefix="udsf") as directory:
        path = os.path.join(directory, name)
        with uds.bind_unix_addr(path, socket.SOCK_DGRAM) as server:
            addr = uds.local_unix_addr(server)
            assert addr == uds.UnixSocketAddr.from_path(path)
            with uds.connect_to_unix_addr(addr, socket.SOCK_DGRAM) as client:
                client.send(b"y")
                assert server.recv(2) == b"y"


# Every receive path, fed by a raw peer ---------------------------------------------------


def _via_recv_fds(sock: socket.socket, bufsize: int, maxfds: int) -> tuple[bytes, uds.ReceivedFds]:
    return uds.recv_fds(FilenoOnly(sock), bufsize, maxfds)


def _via_recv_fds_into(
    sock: socket.socket, bufsize: int, maxfds: int
) -> tuple[bytes, uds.ReceivedFds]:
    buffer = bytearray(bufsize)
    nbytes, fds = uds.recv_fds_into(sock, buffer, maxfds)
    return bytes(buffer[:nbytes]), fds


def _via_recv_ancillary(
    sock: socket.socket, bufsize: int, maxfds: int
) -> tuple[bytes, uds.ReceivedFds]:
    received = uds.ancillary.recv_ancillary(sock, bufsize, max_fds=maxfds, credentials=True)
    if received.pidfd is not None:
        os.close(received.pidfd)
    assert received.data is not None
    return received.data, received.fds


def _via_recv_fds_from(
    sock: socket.socket, bufsize: int, maxfds: int
) -> tuple[bytes, uds.ReceivedFds]:
    data, fds, sender = uds.recv_fds_from(sock, bufsize, maxfds)
    assert isinstance(sender, uds.UnixSocketAddr)
    return data, fds


def _via_recv_from_unix_addr(
    sock: socket.socket, bufsize: int, maxfds: int
) -> tuple[bytes, uds.ReceivedFds]:
    data, sender = uds.recv_from_unix_addr(sock, bufsize)
    assert isinstance(sender, uds.UnixSocketAddr)
    return data, uds.ReceivedFds()


RECEIVERS: dict[str, Receiver] = {
    "recv_fds": _via_recv_fds,
    "recv_fds_into": _via_recv_fds_into,
    "recv_ancillary": _via_recv_ancillary,
    "recv_fds_from": _via_recv_fds_from,
    "recv_from_unix_addr": _via_recv_from_unix_addr,
}
KINDS = {"dgram": socket.SOCK_DGRAM, "seqpacket": socket.SOCK_SEQPACKET}


def _check_owned(fds: uds.ReceivedFds) -> None:
    for fd in fds:
        assert fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC, f"fd {fd} is inheritable"


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("receiver", list(RECEIVERS))
@FUZZ
@given(
    data=st.binary(min_size=1, max_size=3000),
    nfds=st.integers(0, 12),
    maxfds=st.integers(0, 12),
    bufsize=st.integers(1, 3100),
    passcred=st.booleans(),
)
def test_receive_paths_report_exactly_what_arrived(
    kind: str, receiver: str, data: bytes, nfds: int, maxfds: int, bufsize: int, passcred: bool
) -> None:
    before = open_fds()
    r, w = os.pipe()
    a, b = socket.socketpair(socket.AF_UNIX, KINDS[kind])
    try:
        if passcred:
            # Unsolicited credentials ride along with every message.
            b.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        ancillary = [(socket.SOL_SOCKET, SCM_RIGHTS, array("i", [r] * nfds).tobytes())]
        a.sendmsg([data], ancillary if nfds else [])
        got, fds = RECEIVERS[receiver](b, bufsize, maxfds)
        with fds:
            _check_owned(fds)
            assert got == data[:bufsize]
            expected = 0 if receiver == "recv_from_unix_addr" else min(nfds, maxfds)
            assert len(fds) == expected
            if receiver != "recv_from_unix_addr":
                assert fds.truncated == (nfds > maxfds)
            for fd in fds:
                assert os.fstat(fd).st_ino == os.fstat(r).st_ino
    finally:
        for thing in (a, b):
            thing.close()
        os.close(r)
        os.close(w)
    assert open_fds() == before


# Hand-made control messages -----------------------------------------------------------


def _fds_in(ancillary: list[tuple[int, int, bytes]]) -> int:
    return sum(
        len(payload) // 4
        for level, kind, payload in ancillary
        if level == socket.SOL_SOCKET and kind == SCM_RIGHTS
    )


@pytest.mark.parametrize("receiver", list(RECEIVERS))
@FUZZ
@given(ancillary=hand_made_ancillary, maxfds=st.integers(0, 8))
def test_bogus_control_messages_are_refused_or_received_cleanly(
    receiver: str, ancillary: list[tuple[int, int, bytes]], maxfds: int
) -> None:
    before = open_fds()
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        b.setblocking(False)
        try:
            a.sendmsg([b"garbage"], ancillary)
        except OSError as error:
            assert error.errno in (errno.EBADF, errno.EINVAL, errno.EPERM, errno.ESRCH), error
            # The kernel refused the whole message: nothing was queued.
            with pytest.raises(BlockingIOError):
                RECEIVERS[receiver](b, 64, maxfds)
            return
        got, fds = RECEIVERS[receiver](b, 64, maxfds)
        with fds:
            assert got == b"garbage"
            _check_owned(fds)
            if receiver != "recv_from_unix_addr":  # the only path that takes no fds
                # Accepted means every fd was real: all arrive, up to maxfds.
                sent = _fds_in(ancillary)
                assert len(fds) == min(sent, maxfds)
                assert fds.truncated == (sent > maxfds)
    finally:
        a.close()
        b.close()
    assert open_fds() == before


@pytest.mark.parametrize("receiver", list(RECEIVERS))
@pytest.mark.parametrize(
    "payload",
    [
        array("i", [-1]).tobytes(),
        array("i", [999_999]).tobytes(),
        array("i", [0, -1]).tobytes(),
    ],
    ids=["negative", "not-open", "one-good-one-bad"],
)
def test_bad_scm_rights_send_nothing(receiver: str, payload: bytes) -> None:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_NONBLOCK)
    with a, b:
        with pytest.raises(OSError) as raised:
            a.sendmsg([b"x"], [(socket.SOL_SOCKET, SCM_RIGHTS, payload)])
        assert raised.value.errno in (errno.EBADF, errno.EINVAL)
        with pytest.raises(BlockingIOError):
            RECEIVERS[receiver](b, 16, 4)


@pytest.mark.parametrize("receiver", list(RECEIVERS))
def test_many_cmsgs_with_the_most_fds(receiver: str) -> None:
    """Several SCM_RIGHTS messages in one send, more fds than asked for: the rest is closed."""
    before = open_fds()
    r, w = os.pipe()
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        rights = (socket.SOL_SOCKET, SCM_RIGHTS, array("i", [r, w] * 60).tobytes())
        a.sendmsg([b"many"], [rights, rights])
        got, fds = RECEIVERS[receiver](b, 16, 253)
        with fds:
            _check_owned(fds)
            assert got == b"many"
            if receiver != "recv_from_unix_addr":
                assert len(fds) == 240 and not fds.truncated
    finally:
        a.close()
        b.close()
        os.close(r)
        os.close(w)
    assert open_fds() == before
