"""uds.asyncio.create_connection/create_server: an fd-aware transport, on asyncio and uvloop."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, Optional

import pytest

from tests.helpers import assert_cloexec, open_fds, same_file
from tests.loops import ASYNCIO_LOOPS, Runner, runner
from uds import ReceivedFds
from uds.asyncio import FdProtocol, UnixFdTransport, create_connection, create_server

KINDS = [
    pytest.param(socket.SOCK_STREAM, id="stream"),
    pytest.param(socket.SOCK_SEQPACKET, id="seqpacket"),
]


@pytest.fixture(params=ASYNCIO_LOOPS)
def run(request: pytest.FixtureRequest) -> Iterator[Runner[Any]]:
    yield runner(request.param, timeout=10)


class Recorder(FdProtocol):
    """Records every event; keeps received fds (closed by close_fds())."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self.transport: Optional[UnixFdTransport] = None
        self.made = asyncio.get_running_loop().create_future()
        self.lost: asyncio.Future[Optional[BaseException]] = (
            asyncio.get_running_loop().create_future()
        )
        self.eof = asyncio.Event()
        self.changed = asyncio.Event()
        self.fds: list[int] = []
        self.keep_open_on_eof = False
        self.paused_writing = 0
        self.resumed_writing = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, UnixFdTransport)
        self.transport = transport
        self.made.set_result(None)

    def fds_received(self, fds: ReceivedFds) -> None:
        self.events.append(("fds", len(fds)))
        self.fds.extend(fds.detach())
        self.changed.set()

    def data_received(self, data: bytes) -> None:
        self.events.append(("data", data))
        self.changed.set()

    def eof_received(self) -> bool:
        self.events.append(("eof", None))
        self.eof.set()
        return self.keep_open_on_eof

    def pause_writing(self) -> None:
        self.paused_writing += 1

    def resume_writing(self) -> None:
        self.resumed_writing += 1

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        self.lost.set_result(exc)

    def data(self) -> bytes:
        return b"".join(value for kind, value in self.events if kind == "data")

    async def wait_for_bytes(self, count: int) -> None:
        while len(self.data()) < count:
            self.changed.clear()
            await self.changed.wait()

    def close_fds(self) -> None:
        fds, self.fds = self.fds, []
        for fd in fds:
            os.close(fd)


@contextlib.asynccontextmanager
async def _connected(
    address: str, kind: int
) -> AsyncIterator[tuple[Any, Recorder, UnixFdTransport, Recorder]]:
    """A server, its protocol for one client, and the client; all aborted on the way out."""
    servers: list[Recorder] = []

    def factory() -> Recorder:
        protocol = Recorder()
        servers.append(protocol)
        return protocol

    server = await create_server(factory, address, type=kind)
    try:
        transport, client = await create_connection(Recorder, address, type=kind)
        try:
            while not servers:
                await asyncio.sleep(0.001)
            await servers[0].made
            yield server, servers[0], transport, client
        finally:
            transport.abort()
            for protocol in (client, *servers):
                protocol.close_fds()
    finally:
        server.abort_clients()
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("kind", KINDS)
def test_fds_arrive_just_before_their_bytes(
    run: Runner[None], kind: int, abstract_name: str, pipe: tuple[int, int]
) -> None:
    async def main() -> None:
        async with _connected(abstract_name, kind) as (server, peer, transport, client):
            assert transport.get_extra_info("peername") == b"\0" + abstract_name[1:].encode()
            assert isinstance(transport.get_extra_info("socket"), socket.socket)
            transport.write(b"A" * 10)
            transport.write(b"B" * 5, fds=pipe)
            transport.write(b"C" * 5)
            await peer.wait_for_bytes(20)
            assert peer.data() == b"A" * 10 + b"B" * 5 + b"C" * 5
            position = 0
            fds_at = None
            for index, (event, value) in enumerate(peer.events):
                if event == "fds":
                    assert value == 2
                    fds_at = position
                    chunk = peer.events[index + 1]
                    assert chunk[0] == "data"
                    # The chunk holds the first byte sent with the fds and ends
                    # with their write (never with bytes written after it).
                    assert position <= 10 < position + len(chunk[1]) <= 15
                else:
                    position += len(value)
            assert fds_at is not None
            if kind == socket.SOCK_SEQPACKET:
                assert peer.events == [
                    ("data", b"A" * 10),
                    ("fds", 2),
                    ("data", b"B" * 5),
                    ("data", b"C" * 5),
                ]
            for fd, original in zip(peer.fds, pipe):
                assert_cloexec(fd)
                assert same_file(fd, original)
            peer.close_fds()
            # And the other way, on the server's transport.
            assert peer.transport is not None
            peer.transport.write(b"back", fds=[pipe[1]])
            await client.wait_for_bytes(4)
            assert client.events == [("fds", 1), ("data", b"back")]
            client.close_fds()
            transport.close()
            assert await client.lost is None
            assert await peer.lost is None  # the peer saw the end of the connection
            assert ("eof", None) in peer.events

    run(main())


def test_seqpacket_empty_packets_and_fds_on_them(
    run: Runner[None], abstract_name: str, pipe: tuple[int, int]
) -> None:
    async def main() -> None:
        async with _connected(abstract_name, socket.SOCK_SEQPACKET) as (
            server,
            peer,
            transport,
            client,
        ):
            transport.write(b"")
            transport.write(b"", fds=[pipe[0]])
            transport.writelines([b"x", b"yz"])
            while len(peer.events) < 5:
                peer.changed.clear()
                await peer.changed.wait()
            assert peer.events == [
                ("data", b""),
                ("fds", 1),
                ("data", b""),
                ("data", b"x"),
                ("data", b"yz"),
            ]
            peer.close_fds()
            transport.close()
            await peer.lost
            assert peer.events[-1] == ("eof", None)

    run(main())


class NoFds(asyncio.Protocol):
    def __init__(self) -> None:
        self.received = bytearray()

    def data_received(self, data: bytes) -> None:
        self.received += data


@pytest.mark.parametrize("kind", KINDS)
def test_a_protocol_without_fds_received_gets_none(
    run: Runner[None], kind: int, abstract_name: str, pipe: tuple[int, int]
) -> None:
    async def main() -> None:
        protocols: list[NoFds] = []
        server = await create_server(
            lambda: protocols.append(NoFds()) or protocols[-1], abstract_name, type=kind
        )
        async with server:
            transport, _ = await create_connection(Recorder, abstract_name, type=kind)
            before = open_fds()
            transport.write(b"hello", fds=pipe * 3)
            while not protocols or protocols[0].received != b"hello":
                await asyncio.sleep(0.001)
            assert open_fds() == before  # the six received fds were closed
            transport.close()

    run(main())


@pytest.mark.parametrize("kind", KINDS)
def test_queued_writes_keep_their_fds_and_flow_control(
    run: Runner[None], kind: int, abstract_name: str
) -> None:
    async def main() -> None:
        async with _connected(abstract_name, kind) as (server, peer, transport, client):
            assert peer.transport is not None
            peer.transport.pause_reading()
            assert not peer.transport.is_reading()
            transport.set_write_buffer_limits(high=4096)
            assert transport.get_write_buffer_limits() == (1024, 4096)
            chunk = b"z" * 8192
            while transport.get_write_buffer_size() == 0:
                transport.write(chunk)
            assert client.paused_writing == 1
            r, w = os.pipe()
            transport.write(b"F", fds=[r])
            os.close(r)  # the queued duplicate travels
            queued = transport.get_write_buffer_size()
            await asyncio.sleep(0.01)
            assert ("data", chunk) not in peer.events  # reading is paused
            peer.transport.resume_reading()
            while not peer.fds:
                peer.changed.clear()
                await peer.changed.wait()
            assert transport.get_write_buffer_size() == 0 and queued > 0
            assert client.resumed_writing == 1
            os.write(w, b"through the passed pipe")
            os.close(w)
            assert os.read(peer.fds[0], 64) == b"through the passed pipe"
            peer.close_fds()
            transport.close()
            await client.lost

    run(main())


def test_abort_closes_queued_fds(run: Runner[None], abstract_name: str) -> None:
    async def main() -> None:
        async with _connected(abstract_name, socket.SOCK_STREAM) as (
            server,
            peer,
            transport,
            client,
        ):
            assert peer.transport is not None
            peer.transport.pause_reading()
            while transport.get_write_buffer_size() == 0:
                transport.write(b"q" * 65536)
            before = open_fds()
            r, w = os.pipe()
            transport.write(b"F", fds=[r, w, r])
            os.close(r)
            os.close(w)
            assert len(open_fds() - before) == 3  # the queued duplicates
            transport.abort()
            assert open_fds() - before == set()
            assert await client.lost is None
            peer.transport.resume_reading()
            await peer.lost  # the peer sees the end
            assert not peer.fds  # nothing queued was sent

    run(main())


def test_write_errors(run: Runner[None], abstract_name: str, pipe: tuple[int, int]) -> None:
    async def main() -> None:
        async with _connected(abstract_name, socket.SOCK_STREAM) as (
            server,
            peer,
            transport,
            client,
        ):
            with pytest.raises(ValueError, match="at least one byte"):
                transport.write(b"", fds=pipe)
            r, w = os.pipe()
            os.close(r)
            os.close(w)
            with pytest.raises(OSError) as caught:
                transport.write(b"x", fds=[r])
            assert caught.value.errno == 9  # EBADF, and nothing was sent
            with pytest.raises(ValueError):
                transport.write(b"x", fds=[pipe[0]] * 254)
            transport.write(b"still fine")
            await peer.wait_for_bytes(10)
            assert peer.data() == b"still fine"
            transport.write_eof()
            with pytest.raises(RuntimeError):
                transport.write(b"late")
            await peer.eof.wait()
            transport.close()
            await client.lost

    run(main())


def test_eof_received_may_keep_the_connection(run: Runner[None], abstract_name: str) -> None:
    async def main() -> None:
        async with _connected(abstract_name, socket.SOCK_STREAM) as (
            server,
            peer,
            transport,
            client,
        ):
            peer.keep_open_on_eof = True
            transport.write_eof()
            await peer.eof.wait()
            assert peer.transport is not None and not peer.transport.is_closing()
            peer.transport.write(b"answer after eof")
            await client.wait_for_bytes(16)
            peer.transport.close()
            await client.lost

    run(main())


def test_path_server_removes_its_socket_file(run: Runner[None], tmp_path: Path) -> None:
    async def main() -> None:
        path = tmp_path / "fd.sock"
        server = await create_server(Recorder, str(path), type=socket.SOCK_SEQPACKET)
        assert path.is_socket() and server.is_serving()
        with pytest.raises(FileExistsError):
            await create_server(Recorder, str(path))
        transport, client = await create_connection(Recorder, path, type=socket.SOCK_SEQPACKET)
        server.close()
        assert not path.exists() and not server.is_serving() and server.sockets == ()
        waiting = asyncio.ensure_future(server.wait_closed())
        await asyncio.sleep(0.01)
        assert not waiting.done()  # a connection is still open
        transport.close()
        await waiting
        kept = await create_server(Recorder, str(path), cleanup_socket=False)
        kept.close()
        await kept.wait_closed()
        assert path.is_socket()

    run(main())


def test_close_clients_and_serve_forever(run: Runner[None], abstract_name: str) -> None:
    async def main() -> None:
        async with _connected(abstract_name, socket.SOCK_STREAM) as (server, _, _, client):
            serving = asyncio.ensure_future(server.serve_forever())
            await asyncio.sleep(0)
            with pytest.raises(RuntimeError):
                await server.serve_forever()
            server.close_clients()
            assert await client.lost is None
            serving.cancel()
            with pytest.raises(asyncio.CancelledError):
                await serving
            assert server.sockets == () and not server.is_serving()
            await server.wait_closed()  # no connection left

    run(main())


def test_create_connection_takes_a_socket_and_checks_arguments(run: Runner[None]) -> None:
    async def main() -> None:
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with b:
            transport, protocol = await create_connection(Recorder, sock=a)
            b.send(b"packet")
            await protocol.wait_for_bytes(6)
            transport.close()
            await protocol.lost
            assert a.fileno() == -1  # the transport owned it
        with pytest.raises(ValueError):
            await create_connection(Recorder)
        with pytest.raises(ValueError):
            await create_connection(Recorder, "@x", type=socket.SOCK_DGRAM)
        with pytest.raises(ConnectionRefusedError):
            await create_connection(Recorder, "@uds-test-nobody-listens-here-protocol")

    run(main())


def test_seqpacket_packets_queued_before_the_hangup_all_arrive(run: Runner[None]) -> None:
    # An empty packet reads as 0 bytes, like the end: the transport tells them
    # apart by the hang-up and the bytes still queued (FIONREAD).
    async def main() -> None:
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with b:
            b.send(b"first")
            b.send(b"")
            b.send(b"last")
        transport, protocol = await create_connection(Recorder, sock=a)
        await protocol.lost
        assert protocol.events == [
            ("data", b"first"),
            ("data", b""),
            ("data", b"last"),
            ("eof", None),
        ]
        assert transport.is_closing()

    run(main())


def test_reading_stays_off_after_the_end(run: Runner[None]) -> None:
    async def main() -> None:
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        with b:
            transport, protocol = await create_connection(Recorder, sock=a)
            protocol.keep_open_on_eof = True
            b.shutdown(socket.SHUT_WR)
            await protocol.eof.wait()
            assert not transport.is_reading()
            transport.pause_reading()
            transport.resume_reading()  # no reader again: the end would repeat
            await asyncio.sleep(0.01)
            assert protocol.events == [("eof", None)]
            transport.write(b"still writable")
            assert b.recv(64) == b"still writable"
            transport.close()
            await protocol.lost

    run(main())
