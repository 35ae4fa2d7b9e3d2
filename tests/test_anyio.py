"""uds.anyio on anyio's asyncio backend (default loop and uvloop) and its trio backend."""

from __future__ import annotations

import os
import socket
import stat
from collections.abc import Awaitable
from pathlib import Path
from typing import Any, Callable

import pytest

anyio = pytest.importorskip("anyio", reason="anyio is not installed (the anyio extra)")

from tests.helpers import assert_cloexec, assert_nonblocking, same_file  # noqa: E402
from uds.ancillary import set_passcred  # noqa: E402

uds_anyio = pytest.importorskip("uds.anyio")

try:
    import trio  # noqa: F401
except ImportError:  # pragma: no cover - trio is in the dev extra
    HAVE_TRIO = False
else:
    HAVE_TRIO = True
try:
    import uvloop
except ImportError:  # pragma: no cover
    uvloop = None
else:
    uvloop.new_event_loop().close()  # libuv's process-wide fds, before any leak check

BACKENDS = [
    pytest.param(("asyncio", {}), id="anyio-asyncio"),
    pytest.param(
        ("asyncio", {"use_uvloop": True}),
        id="anyio-uvloop",
        marks=pytest.mark.skipif(uvloop is None, reason="uvloop is not installed"),
    ),
    pytest.param(
        ("trio", {}),
        id="anyio-trio",
        marks=pytest.mark.skipif(not HAVE_TRIO, reason="trio is not installed"),
    ),
]
Run = Callable[[Callable[[], Awaitable[None]]], None]


@pytest.fixture(params=BACKENDS)
def run(request: pytest.FixtureRequest) -> Run:
    backend, options = request.param

    def runner(main: Callable[[], Awaitable[None]]) -> None:
        async def bounded() -> None:
            with anyio.fail_after(20):
                await main()

        anyio.run(bounded, backend=backend, backend_options=options)

    return runner


def test_seqpacket_roundtrip_with_fds(run: Run, abstract_name: str, pipe: tuple[int, int]) -> None:
    async def main() -> None:
        async with uds_anyio.UnixSeqpacketListener.bind_unix_addr(abstract_name) as listener:
            assert_nonblocking(listener)
            async with anyio.create_task_group() as group:
                accepted: list[Any] = []

                async def accept() -> None:
                    accepted.append(await listener.accept())

                group.start_soon(accept)
                client = await uds_anyio.UnixSeqpacketConn.connect_unix_addr(abstract_name)
            server, peer = accepted[0]
            assert isinstance(server, uds_anyio.UnixSeqpacketConn)
            assert peer.is_unnamed
            async with client, server:
                assert_cloexec(server)
                assert server.initial_peer_credentials().pid == os.getpid()
                assert await client.send(b"one") == 3
                assert await client.send(b"") == 0
                await client.send_fds(b"fds", pipe)
                assert await server.recv(16) == b"one"
                assert await server.recv(16) == b""
                data, truncated, fds = await server.recv_fds(2, 2)
                with fds:
                    assert (data, truncated) == (b"fd", True)
                    assert [same_file(a, b) for a, b in zip(fds, pipe)] == [True, True]
                assert await client.send_many([b"a", b"b", b"c"]) == 3
                assert [p.data for p in await server.recv_many(8, 8)] == [b"a", b"b", b"c"]
                set_passcred(server, True)
                await client.send_ancillary(b"creds", fds=[pipe[0]], credentials=True)
                with await server.recv_ancillary(16, max_fds=1, credentials=True) as received:
                    assert received.data == b"creds"
                    assert received.credentials is not None
                    assert received.credentials.pid == os.getpid()
                    assert same_file(received.fds[0], pipe[0])

    run(main)


def test_receive_waits_and_cancelling_loses_nothing(run: Run) -> None:
    async def main() -> None:
        a, b = uds_anyio.UnixSeqpacketConn.pair()
        async with a, b:
            for _ in range(3):
                with anyio.move_on_after(0.01) as scope:
                    await b.recv(16)
                assert scope.cancelled_caught
            async with anyio.create_task_group() as group:
                got: list[bytes] = []

                async def receive() -> None:
                    got.append(await b.recv(16))

                group.start_soon(receive)
                await anyio.sleep(0.01)
                assert not got
                await a.send(b"late")
            assert got == [b"late"]
            await a.send(b"kept")
            assert await b.recv(16) == b"kept"

    run(main)


def test_send_waits_for_room(run: Run) -> None:
    async def main() -> None:
        a, b = uds_anyio.UnixSeqpacketConn.pair()
        async with a, b:
            count = 0
            with anyio.move_on_after(0.05):
                while True:
                    await a.send(b"x" * 1024)
                    count += 1
            assert count > 0  # the queue filled up, then the send waited

            async def drain() -> None:
                for _ in range(count):
                    await b.recv(2048)

            async with anyio.create_task_group() as group:
                group.start_soon(drain)
                await a.send(b"y")
            assert await b.recv(16) == b"y"

    run(main)


def test_closing_wakes_a_waiting_receiver(run: Run) -> None:
    async def main() -> None:
        a, b = uds_anyio.UnixSeqpacketConn.pair()
        errors: list[BaseException] = []
        async with a:

            async def receive() -> None:
                try:
                    await b.recv(16)
                except (anyio.ClosedResourceError, OSError) as error:
                    errors.append(error)

            async with anyio.create_task_group() as group:
                group.start_soon(receive)
                await anyio.sleep(0.01)
                await b.aclose()
        assert len(errors) == 1

    run(main)


def test_stream_fd_passing_and_credentials(
    run: Run, abstract_name: str, pipe: tuple[int, int]
) -> None:
    async def main() -> None:
        listener = await uds_anyio.create_unix_listener(abstract_name)
        async with listener:
            async with anyio.create_task_group() as group:
                accepted: list[Any] = []

                async def accept() -> None:
                    accepted.append(await listener.accept())

                group.start_soon(accept)
                client = await uds_anyio.connect_unix_addr(abstract_name)
            server = accepted[0]
            async with client, server:
                assert await uds_anyio.send_fds(client, b"hello", pipe) == 5
                data, fds = await uds_anyio.recv_fds(server, 64, 2)
                with fds:
                    assert data == b"hello" and len(fds) == 2
                    assert_cloexec(fds[0])
                    assert same_file(fds[1], pipe[1])
                # anyio's receive_fds raises once SO_PASSCRED adds credentials;
                # recv_ancillary returns both.
                raw = server.extra(anyio.abc.SocketAttribute.raw_socket)
                set_passcred(raw, True)
                await uds_anyio.send_ancillary(client, b"x", fds=[pipe[0]])
                with await uds_anyio.recv_ancillary(
                    server, 8, max_fds=1, credentials=True
                ) as received:
                    assert received.data == b"x" and received.credentials is not None
                    assert received.credentials.uid == os.getuid()
                    assert same_file(received.fds[0], pipe[0])
                await client.send(b"plain stream bytes")
                assert await server.receive() == b"plain stream bytes"
                with pytest.raises(ValueError, match="at least one byte"):
                    await uds_anyio.send_fds(client, b"", pipe)

    run(main)


def test_socket_functions_on_plain_sockets(run: Run, pipe: tuple[int, int]) -> None:
    async def main() -> None:
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        with a, b:
            with pytest.raises(ValueError, match="blocking"):
                await uds_anyio.recv_fds(a, 8, 1)
            a.setblocking(False)
            b.settimeout(0.05)
            with pytest.raises(TimeoutError):
                await uds_anyio.recv_fds(b, 8, 1)
            assert await uds_anyio.send_fds(a, b"dgram", [pipe[0]]) == 5
            data, fds = await uds_anyio.recv_fds(b, 8, 1)
            with fds:
                assert data == b"dgram" and same_file(fds[0], pipe[0])

    run(main)


def test_listener_never_replaces_a_path(run: Run, tmp_path: Path) -> None:
    async def main() -> None:
        path = tmp_path / "anyio.sock"
        path.write_bytes(b"not a socket")
        with pytest.raises(FileExistsError):
            await uds_anyio.create_unix_listener(path)
        assert path.read_bytes() == b"not a socket"
        path.unlink()
        listener = await uds_anyio.create_unix_listener(path, mode=0o600)
        async with listener:
            assert isinstance(listener, uds_anyio.UnixStreamListener)
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
            assert listener.extra(anyio.abc.SocketAttribute.local_address) == str(path)
            async with anyio.create_task_group() as group:

                async def serve_one() -> None:
                    conn = await listener.accept()
                    async with conn:
                        await conn.send(await conn.receive())

                group.start_soon(serve_one)
                async with await anyio.connect_unix(path) as client:
                    await client.send(b"echo")
                    assert await client.receive() == b"echo"
        assert path.is_socket()  # left in place, as documented

    run(main)
