"""send_many / recv_many: seqpacket connections (blocking, non-blocking) and datagram sockets.

These run on whichever implementation is active (CI runs the suite natively and
with ``UDS_PURE_PYTHON=1``), so both are held to the same behaviour.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator

import pytest

import uds
from tests.helpers import assert_cloexec, same_file


@pytest.fixture
def conns() -> Iterator[tuple[uds.UnixSeqpacketConn, uds.UnixSeqpacketConn]]:
    a, b = uds.UnixSeqpacketConn.pair()
    with a, b:
        yield a, b


@pytest.fixture
def nb_conns() -> Iterator[
    tuple[uds.NonblockingUnixSeqpacketConn, uds.NonblockingUnixSeqpacketConn]
]:
    a, b = uds.NonblockingUnixSeqpacketConn.pair()
    with a, b:
        yield a, b


def test_a_batch_keeps_order_boundaries_and_empty_packets(
    conns: tuple[uds.UnixSeqpacketConn, uds.UnixSeqpacketConn],
) -> None:
    a, b = conns
    packets = [b"one", b"", bytearray(b"three"), memoryview(b"four!")]
    assert a.send_many(packets) == 4
    received = b.recv_many(100, 32)
    assert [p.data for p in received] == [b"one", b"", b"three", b"four!"]
    assert [p.truncated for p in received] == [False] * 4
    assert all(p.fds is None and p.addr is None for p in received)


def test_recv_many_returns_at_most_max_packets_and_leaves_the_rest(
    conns: tuple[uds.UnixSeqpacketConn, uds.UnixSeqpacketConn],
) -> None:
    a, b = conns
    assert a.send_many([bytes([i]) * 10 for i in range(10)]) == 10
    first = b.recv_many(4, 3)
    assert [(p.data, p.truncated) for p in first] == [(bytes([i]) * 4, True) for i in range(3)]
    rest = b.recv_many(64, 100)
    assert [p.data for p in rest] == [bytes([i]) * 10 for i in range(3, 10)]


def test_blocking_recv_many_waits_for_the_first_packet_only(
    conns: tuple[uds.UnixSeqpacketConn, uds.UnixSeqpacketConn],
) -> None:
    a, b = conns
    timer = threading.Timer(0.2, a.send, (b"late",))
    timer.start()
    try:
        received = b.recv_many(16, 32)
    finally:
        timer.join()
    assert [p.data for p in received] == [b"late"]


def test_nonblocking_recv_many_returns_what_is_queued_or_raises(
    nb_conns: tuple[uds.NonblockingUnixSeqpacketConn, uds.NonblockingUnixSeqpacketConn],
) -> None:
    a, b = nb_conns
    with pytest.raises(BlockingIOError):
        b.recv_many(16, 8)
    a.send(b"x")
    a.send(b"y")
    assert [p.data for p in b.recv_many(16, 8)] == [b"x", b"y"]
    with pytest.raises(BlockingIOError):
        b.recv_many(16, 8)


def test_nonblocking_send_many_sends_what_fits_then_raises(
    nb_conns: tuple[uds.NonblockingUnixSeqpacketConn, uds.NonblockingUnixSeqpacketConn],
) -> None:
    a, b = nb_conns
    packet = b"p" * 4096
    total = 0
    while True:
        try:
            sent = a.send_many([packet] * 64)
        except BlockingIOError:
            break
        assert 1 <= sent <= 64
        total += sent
        assert total < 100_000, "the queue never filled"
    received = 0
    while True:
        try:
            batch = b.recv_many(8192, 1024)
        except BlockingIOError:
            break
        assert all(p.data == packet for p in batch)
        received += len(batch)
    assert received == total


def test_blocking_send_many_waits_for_room_and_sends_everything(
    conns: tuple[uds.UnixSeqpacketConn, uds.UnixSeqpacketConn],
) -> None:
    a, b = conns
    packets = [i.to_bytes(4, "big") * 1024 for i in range(2000)]
    got: list[bytes] = []

    def drain() -> None:
        while len(got) < len(packets):
            got.extend(p.data for p in b.recv_many(8192, 64))

    reader = threading.Thread(target=drain)
    reader.start()
    try:
        assert a.send_many(packets) == len(packets)
    finally:
        reader.join(10)
    assert got == packets


def test_blocking_send_many_times_out(
    conns: tuple[uds.UnixSeqpacketConn, uds.UnixSeqpacketConn],
) -> None:
    a, _ = conns
    a.set_write_timeout(0.1)
    with pytest.raises(TimeoutError):
        a.send_many([b"q" * 4096] * 10_000)


def test_recv_many_times_out(conns: tuple[uds.UnixSeqpacketConn, uds.UnixSeqpacketConn]) -> None:
    _, b = conns
    b.set_read_timeout(0.05)
    with pytest.raises(TimeoutError):
        b.recv_many(16, 4)


def test_fds_arrive_with_their_packet_and_surplus_is_closed(
    conns: tuple[uds.UnixSeqpacketConn, uds.UnixSeqpacketConn], pipe: tuple[int, int]
) -> None:
    a, b = conns
    r, w = pipe
    a.send_fds(b"none", [])
    a.send_fds(b"one", [r])
    a.send_fds(b"three", [r, w, r])
    received = b.recv_many(16, 8, 2)
    assert [p.data for p in received] == [b"none", b"one", b"three"]
    try:
        assert [len(p.fds or ()) for p in received] == [0, 1, 2]
        assert [bool(p.fds and p.fds.truncated) for p in received] == [False, False, True]
        fds = received[2].fds
        assert fds is not None and same_file(fds[0], r) and same_file(fds[1], w)
        for packet in received:
            for fd in packet.fds or ():
                assert_cloexec(fd)
    finally:
        for packet in received:
            if packet.fds is not None:
                packet.fds.close()


def test_without_max_fds_fds_are_discarded_by_the_kernel(
    conns: tuple[uds.UnixSeqpacketConn, uds.UnixSeqpacketConn], pipe: tuple[int, int]
) -> None:
    a, b = conns
    a.send_fds(b"carrier", [pipe[0]] * 5)
    (packet,) = b.recv_many(16, 4)
    assert packet.data == b"carrier" and packet.fds is None
    # (the fd-leak fixture proves the five duplicates were not installed here)


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ((16, 0), ValueError),
        ((16, 1025), ValueError),
        ((16, 4, 254), ValueError),
        ((16, 4, -1), ValueError),
        ((-1, 4), ValueError),
        ((16, "4"), TypeError),
    ],
)
def test_bad_recv_many_arguments_raise_before_receiving(
    conns: tuple[uds.UnixSeqpacketConn, uds.UnixSeqpacketConn],
    args: tuple[object, ...],
    error: type,
) -> None:
    a, b = conns
    a.send(b"kept")
    with pytest.raises(error):
        b.recv_many(*args)  # type: ignore[arg-type]
    assert b.recv(16) == b"kept"


def test_a_non_buffer_item_sends_nothing(
    nb_conns: tuple[uds.NonblockingUnixSeqpacketConn, uds.NonblockingUnixSeqpacketConn],
) -> None:
    a, b = nb_conns
    with pytest.raises(TypeError):
        a.send_many([b"first", "not bytes"])  # type: ignore[list-item]
    with pytest.raises(BlockingIOError):
        b.recv(16)


def test_send_many_to_a_closed_peer_raises_broken_pipe(
    conns: tuple[uds.UnixSeqpacketConn, uds.UnixSeqpacketConn],
) -> None:
    a, b = conns
    b.close()
    with pytest.raises(BrokenPipeError):
        a.send_many([b"x", b"y"])


def test_an_empty_batch_sends_nothing(
    conns: tuple[uds.UnixSeqpacketConn, uds.UnixSeqpacketConn],
) -> None:
    assert conns[0].send_many([]) == 0
    assert conns[0].send_many(iter([b"gen"])) == 1
    assert conns[1].recv(8) == b"gen"


# Datagram sockets, through the extension functions -------------------------------


def test_datagram_batches_carry_the_sender_address(abstract_name: str) -> None:
    with uds.bind_unix_addr(abstract_name, socket.SOCK_DGRAM) as server, uds.bind_unix_addr(
        abstract_name + "-client", socket.SOCK_DGRAM
    ) as client:
        client.connect(uds.UnixSocketAddr.new(abstract_name).to_std())
        assert uds.send_many(client, [b"a", b"bb", b"ccc"]) == 3
        received = uds.recv_many(server, 2, 10)
        assert [(p.data, p.truncated) for p in received] == [
            (b"a", False),
            (b"bb", False),
            (b"cc", True),
        ]
        assert {str(p.addr) for p in received} == {abstract_name + "-client"}


def test_datagram_batches_from_an_unbound_sender_and_with_fds(
    dgram_pair: tuple[socket.socket, socket.socket], pipe: tuple[int, int]
) -> None:
    a, b = dgram_pair
    uds.send_fds(a, b"with", [pipe[1]])
    uds.send_many(a, [b"plain"])
    received = uds.recv_many(b, 16, 4, 1)
    try:
        assert [p.data for p in received] == [b"with", b"plain"]
        assert all(p.addr is None for p in received)  # socketpair peers have no address
        fds = received[0].fds
        assert fds is not None and len(fds) == 1 and same_file(fds[0], pipe[1])
        assert received[1].fds == []
    finally:
        for packet in received:
            if packet.fds is not None:
                packet.fds.close()


def test_datagram_recv_many_on_a_nonblocking_or_borrowed_socket(
    dgram_pair: tuple[socket.socket, socket.socket],
) -> None:
    a, b = dgram_pair
    b.setblocking(False)
    with pytest.raises(BlockingIOError):
        uds.recv_many(b.fileno(), 16, 4)
    uds.send_many(a.fileno(), (b"1", b"2"))
    assert [p.data for p in uds.recv_many(b.fileno(), 16, 4)] == [b"1", b"2"]
    assert os.get_blocking(b.fileno()) is False


def test_datagram_recv_many_honours_the_socket_timeout(
    dgram_pair: tuple[socket.socket, socket.socket],
) -> None:
    _, b = dgram_pair
    b.settimeout(0.05)
    # The socket's own timeout error: socket.timeout, an alias of TimeoutError since 3.10.
    with pytest.raises(socket.timeout):
        uds.recv_many(b, 16, 4)


def test_send_many_on_an_unconnected_datagram_socket_says_so() -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        with pytest.raises(OSError) as raised:
            uds.send_many(sock, [b"nowhere"])
        assert raised.value.errno in (107, 89)  # ENOTCONN or EDESTADDRREQ
