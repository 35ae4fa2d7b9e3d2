"""Code written as a user would, type-checked by CI with ``mypy --strict``.

Not a test module (pytest does not collect it): it proves that the public API's
annotations let ordinary code pass a strict type check, which the library's
own ``mypy`` run cannot show (it never calls the API from outside).
"""

from __future__ import annotations

import array
import asyncio
import mmap
import os
import selectors
import socket

import uds
import uds.ancillary
import uds.asyncio
import uds.systemd
from uds.nonblocking import UnixSeqpacketConn as NonblockingConn
from uds.nonblocking import UnixSeqpacketListener as NonblockingListener
from uds_mio_compat import Events, Interest, Poll, Token
from uds_mio_compat.net import UnixStream


def blocking() -> None:
    with (
        uds.UnixSeqpacketListener.bind_unix_addr("@typing-usage") as listener,
        uds.UnixSeqpacketConn.connect_unix_addr("@typing-usage") as client,
    ):
        conn, addr = listener.accept_unix_addr()
        with conn:
            client.send_fds(b"x", [0])
            data, truncated, fds = conn.recv_fds(10, 1)
            with fds:
                first: int = fds[0]
            creds: uds.ConnCredentials = conn.initial_peer_credentials()
            print(data, truncated, first, addr.is_unnamed, creds.pid)
    a, b = uds.UnixSeqpacketConn.pair()
    clone: uds.UnixSeqpacketConn = a.try_clone()
    for sock in (a, b, clone):
        sock.close()


def nonblocking() -> None:
    listener = NonblockingListener.bind("/tmp/typing-usage.sock", mode=0o600)
    conn: NonblockingConn = NonblockingConn.connect("/tmp/typing-usage.sock")
    selector = selectors.DefaultSelector()
    selector.register(conn, selectors.EVENT_READ)
    accepted, _ = listener.accept_unix_addr()
    for closeable in (selector, conn, accepted, listener):
        closeable.close()


def extension_functions(sock: socket.socket) -> None:
    data, fds = uds.recv_fds(sock, 64, 4)
    uds.send_fds(sock.fileno(), data, [*fds, sys_stdin()])
    fds.close()
    received = uds.ancillary.recv_ancillary(sock, 64, max_fds=2, credentials=True)
    with received:
        print(received.credentials, received.message_truncated)
    addr: uds.UnixSocketAddr = uds.local_unix_addr(sock)
    print(addr.as_pathname(), addr.as_abstract())


def buffers(sock: socket.socket, shared: mmap.mmap, numbers: array.array[int]) -> None:
    """Any object with the buffer protocol goes where bytes go, not only bytes."""
    uds.send_fds(sock, b"bytes", [0])
    uds.send_fds(sock, shared, [0])
    uds.send_fds(sock, numbers, [0])
    uds.send_to_unix_addr(sock, shared, "@typing-usage")
    uds.send_vectored_to_unix_addr(sock, [b"a", shared, numbers], "@typing-usage")
    uds.ancillary.send_ancillary(sock, numbers, fds=[0])
    uds.ancillary.send_ancillary(sock, [shared, numbers, bytearray(b"x")])
    count, fds = uds.recv_fds_into(sock, shared, 1)
    fds.close()
    with uds.ancillary.recv_ancillary(sock, [shared, numbers]) as received:
        print(count, received.data)
    a, b = uds.UnixSeqpacketConn.pair()
    with a, b:
        a.send(shared)
        a.send_fds(numbers, [0])
        a.send_vectored([memoryview(b"x"), shared, numbers])
        b.recv_into(numbers)
        b.recv_into(shared)
    c, d = UnixStream.pair()
    with c, d:
        c.write(numbers)
        d.recv_into(shared)


async def async_buffers(shared: mmap.mmap, numbers: array.array[int]) -> None:
    a, b = uds.asyncio.UnixSeqpacketConn.pair()
    async with a, b:
        await a.send(shared)
        await a.send_fds(numbers, [0])
        await b.recv_into(numbers)
    left, right = socket.socketpair()
    with left, right:
        left.setblocking(False)
        await uds.asyncio.send_fds(left, shared, [0])


def sys_stdin() -> int:
    return os.dup(0)


async def with_asyncio() -> None:
    a, b = uds.asyncio.UnixSeqpacketConn.pair()
    async with a, b:
        await a.send(b"ping")
        reply: bytes = await b.recv(10)
        print(reply)


def reactor() -> None:
    with Poll() as poll:
        a, b = UnixStream.pair()
        poll.registry.register(a, Token(1), Interest.READABLE | Interest.WRITABLE)
        events = Events.with_capacity(8)
        poll.poll(events, 0.0)
        for event in events:
            print(event.token, event.is_readable(), event.is_read_closed())
        a.close()
        b.close()


def supervisor() -> None:
    sent: bool = uds.systemd.notify("READY=1")
    print(sent)


if __name__ == "__main__":
    blocking()
    asyncio.run(with_asyncio())


def submodules_as_attributes() -> None:
    """``import uds`` alone reaches the submodules, and mypy knows their types."""
    pair: tuple[uds.nonblocking.UnixSeqpacketConn, uds.nonblocking.UnixSeqpacketConn]
    pair = uds.nonblocking.UnixSeqpacketConn.pair()
    for conn in pair:
        conn.close()
    received: uds.ancillary.Received | None = None
    del received
