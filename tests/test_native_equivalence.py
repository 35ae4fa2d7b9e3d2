"""The C core against its pure-Python twins: same results, same errors, on random input.

Every native entry point is driven with random sizes, fd lists (closed, negative,
huge, duplicated, bools, wrappers), flags and peers that send what they like,
and must answer exactly as the twin does (``uds._impl`` keeps the twins). Skipped
when the C core does not run (``UDS_PURE_PYTHON=1`` or no compiler).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import uds
from tests.helpers import FilenoOnly, same_file
from uds import _impl, _seqpacket_io

pytestmark = pytest.mark.skipif(not uds.native_available(), reason=str(_impl.why_pure))

FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def outcome(function: Callable[..., Any], *args: Any) -> tuple[str, Any]:
    """What ``function(*args)`` did: ("ok", result) or ("raised", (type, errno, message))."""
    try:
        return "ok", function(*args)
    except Exception as error:
        return "raised", (type(error), getattr(error, "errno", None), str(error))


def twin(name: str) -> Callable[..., Any]:
    return getattr(_impl._TWINS, name)  # type: ignore[no-any-return]


class Peers:
    """Live sockets of every kind the functions meet, plus a closed fd and a pipe."""

    def __init__(self) -> None:
        self.seq = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.dgram = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.stream = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.pipe = os.pipe()
        closed = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.closed_fd = closed.detach()
        os.close(self.closed_fd)
        for sock in (*self.seq, *self.dgram, *self.stream):
            sock.setblocking(False)

    def close(self) -> None:
        for sock in (*self.seq, *self.dgram, *self.stream, self.tcp):
            sock.close()
        for fd in self.pipe:
            os.close(fd)

    def drain(self, sock: socket.socket) -> list[tuple[bytes, int]]:
        """Everything queued on sock: (data, fd count) per message, fds closed."""
        seen = []
        while True:
            try:
                data, ancdata, _, _ = sock.recvmsg(1 << 16, socket.CMSG_SPACE(253 * 4))
            except BlockingIOError:
                return seen
            count = 0
            for level, kind, payload in ancdata:
                if (level, kind) != (socket.SOL_SOCKET, socket.SCM_RIGHTS):
                    continue
                fds = [int.from_bytes(payload[i : i + 4], "little", signed=True)
                       for i in range(0, len(payload) - len(payload) % 4, 4)]
                count += len(fds)
                for fd in fds:
                    os.close(fd)
            seen.append((data, count))


@pytest.fixture
def peers() -> Iterator[Peers]:
    made = Peers()
    try:
        yield made
    finally:
        made.close()


def fd_items(peers: Peers) -> st.SearchStrategy[object]:
    return st.sampled_from(
        [
            peers.pipe[0],
            peers.pipe[1],
            peers.closed_fd,
            -1,
            2**31,
            2**40,
            True,
            False,
            FilenoOnly(peers.seq[0]),
            "3",
            None,
            3.0,
        ]
    )


def senders(peers: Peers) -> st.SearchStrategy[tuple[str, object]]:
    return st.sampled_from(
        [
            ("seq", peers.seq[0]),
            ("seq-int", peers.seq[0].fileno()),
            ("seq-wrapper", FilenoOnly(peers.seq[0])),
            ("dgram", peers.dgram[0]),
            ("stream", peers.stream[0]),
            ("tcp", peers.tcp),
            ("pipe", peers.pipe[1]),
            ("closed", peers.closed_fd),
            ("negative", -5),
            ("str", "nope"),
        ]
    )


DATA = st.one_of(
    st.binary(max_size=64),
    st.builds(bytearray, st.binary(max_size=8)),
    st.builds(memoryview, st.binary(max_size=8)),
    st.sampled_from(["text", 5, None]),
)


@FUZZ
@given(data=st.data())
def test_send_fds(peers: Peers, data: st.DataObject) -> None:
    _, sock = data.draw(senders(peers))
    payload = data.draw(DATA)
    too_many = st.just([peers.pipe[0]] * 254)
    fds = data.draw(st.one_of(st.lists(fd_items(peers), max_size=6), too_many))
    as_tuple = data.draw(st.booleans())
    fd_arg = tuple(fds) if as_tuple else fds
    native = outcome(uds.send_fds, sock, payload, fd_arg)
    native_seen = [peers.drain(s) for s in (peers.seq[1], peers.dgram[1], peers.stream[1])]
    python = outcome(twin("send_fds"), sock, payload, fd_arg)
    python_seen = [peers.drain(s) for s in (peers.seq[1], peers.dgram[1], peers.stream[1])]
    assert native == python
    assert native_seen == python_seen


@FUZZ
@given(data=st.data())
def test_recv_fds_and_recv_fds_into(peers: Peers, data: st.DataObject) -> None:
    sender, receiver = data.draw(st.sampled_from([peers.seq, peers.dgram, peers.stream]))
    message = data.draw(st.binary(min_size=1, max_size=40))
    count = data.draw(st.integers(0, 12))
    passcred = data.draw(st.booleans())
    receiver.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, int(passcred))
    bufsize = data.draw(st.one_of(st.integers(-2, 64), st.sampled_from(["8", 2.0])))
    max_fds = data.draw(st.one_of(st.integers(-1, 16), st.sampled_from([253, 254, True, "2"])))
    into = data.draw(st.booleans())
    results = []
    for function in (getattr(uds, "recv_fds_into" if into else "recv_fds"),
                     twin("recv_fds_into" if into else "recv_fds")):
        sender.sendmsg([message], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                    bytes(memoryview(bytearray(
                                        b"".join(peers.pipe[i % 2].to_bytes(4, "little")
                                                 for i in range(count))))))] if count else [])
        if into:
            size = bufsize if isinstance(bufsize, int) and bufsize >= 0 else 0
            target = bytearray(size)
            result = outcome(function, receiver, target, max_fds)
        else:
            result = outcome(function, receiver, bufsize, max_fds)
        leftover = peers.drain(receiver)
        if result[0] == "ok":
            first, fds = result[1]
            files = [same_file(fd, peers.pipe[i % 2]) for i, fd in enumerate(fds)]
            shown = (first, len(fds), fds.truncated, files,
                     bytes(target[:first]) if into else None)
            fds.close()
            result = ("ok", shown)
        results.append((result, leftover))
    receiver.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 0)
    assert results[0] == results[1]


@FUZZ
@given(data=st.data())
def test_addresses(peers: Peers, data: st.DataObject, abstract_name: str) -> None:
    with uds.bind_unix_addr(abstract_name, socket.SOCK_DGRAM) as bound:
        _, sock = data.draw(
            st.sampled_from([("bound", bound), ("bound-int", bound.fileno()),
                             ("bound-wrapper", FilenoOnly(bound))])
            | senders(peers)
        )
        for name in ("local_unix_addr", "peer_unix_addr"):
            assert outcome(getattr(uds, name), sock) == outcome(twin(name), sock), name


@FUZZ
@given(data=st.data())
def test_seqpacket_methods(data: st.DataObject) -> None:
    a, b = uds.NonblockingUnixSeqpacketConn.pair()
    with a, b:
        method = data.draw(st.sampled_from(
            ["send", "recv", "recv_into", "peek", "send_fds", "recv_fds", "send_many",
             "recv_many"]))
        queued = data.draw(st.lists(st.binary(max_size=20), max_size=3))
        if method == "send":
            flags = st.sampled_from([0, socket.MSG_DONTWAIT, "0", -1])
            args: tuple[Any, ...] = (data.draw(DATA), *data.draw(st.lists(flags, max_size=1)))
        elif method in ("recv", "peek"):
            args = (data.draw(st.one_of(st.integers(-1, 30), st.just("4"))),)
            if method == "recv":
                args += tuple(data.draw(st.lists(st.sampled_from([0, socket.MSG_PEEK]),
                                                 max_size=1)))
        elif method == "recv_into":
            size = data.draw(st.integers(0, 30))
            args = (bytearray(size), *tuple(data.draw(st.lists(st.integers(-1, 40), max_size=1))))
        elif method == "send_fds":
            args = (data.draw(DATA),
                    data.draw(st.lists(st.sampled_from([0, 1, -1, True, 2**33]), max_size=4)))
        elif method == "recv_fds":
            args = (data.draw(st.integers(-1, 30)), data.draw(st.sampled_from([0, 1, 3, -1, 254])))
        elif method == "send_many":
            args = (data.draw(st.lists(DATA, max_size=4)),)
        else:
            args = (data.draw(st.integers(-1, 30)), data.draw(st.sampled_from([1, 2, 0, 1025])))
        results = []
        for implementation in (getattr(b, method),
                               getattr(_seqpacket_io.SeqpacketIO, method).__get__(b)):
            for packet in queued:
                a.send(packet)
            result = outcome(implementation, *args)
            if method == "recv_into" and result[0] == "ok":
                result = ("ok", (result[1], bytes(args[0])))
            if method == "recv_fds" and result[0] == "ok":
                result[1][2].close()
            after = []
            for sock in (a, b):
                while True:
                    try:
                        after.append(sock.recv(64))
                    except BlockingIOError:
                        break
            results.append((result, after))
        assert results[0] == results[1]


def test_the_c_functions_carry_the_twins_docs_and_signatures() -> None:
    import inspect

    for name in ("send_fds", "recv_fds", "recv_fds_into", "local_unix_addr", "peer_unix_addr",
                 "send_many", "recv_many"):
        fast = getattr(uds, name)
        assert type(fast).__name__ == "builtin_function_or_method", name
        assert inspect.signature(fast).parameters.keys() == (
            inspect.signature(twin(name)).parameters.keys()
        ), name
        assert inspect.getdoc(fast) == inspect.getdoc(twin(name)), name
    for name in ("send", "recv", "recv_into", "send_fds", "recv_fds", "peek", "send_many",
                 "recv_many"):
        assert inspect.getdoc(getattr(uds.UnixSeqpacketConn, name)) == inspect.getdoc(
            getattr(_seqpacket_io.SeqpacketIO, name)
        ), name


@FUZZ
@given(st.lists(st.sampled_from(["open", "closed", "taken"]), max_size=6))
def test_received_fds_close(kinds: list[str]) -> None:
    from tests.helpers import open_fds

    results = []
    for close in (uds.ReceivedFds.close, twin("received_fds_close")):
        fds = list.__new__(uds.ReceivedFds)
        opened = []
        for kind in kinds:
            if kind == "open":
                r, w = os.pipe()
                os.close(w)
                opened.append(r)
                list.append(fds, r)
            else:
                list.append(fds, 1_000_000 if kind == "closed" else -1)
        result = outcome(close, fds)
        still_open = set(opened) & open_fds()
        results.append((result, list(fds), sorted(still_open)))
    assert results[0] == results[1]
    assert results[0][1:] == ([], [])
