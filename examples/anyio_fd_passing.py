"""fd-passing with uds.anyio, on anyio's asyncio or trio backend.

Run it with ``python examples/anyio_fd_passing.py [asyncio|trio]``. A seqpacket
server hands each client a pipe it made (the client reads the server's note
from it), and a unix stream listener (the one trio lacks) takes a file
from its client with ``uds.anyio.recv_fds``.
"""

from __future__ import annotations

import os
import sys

import anyio
import anyio.abc

import uds.anyio

SEQPACKET = f"@uds-anyio-seqpacket-{os.getpid()}"
STREAM = f"@uds-anyio-stream-{os.getpid()}"


async def seqpacket_server(listener: uds.anyio.UnixSeqpacketListener, clients: int) -> None:
    for _ in range(clients):
        conn, _ = await listener.accept()
        async with conn:
            name = await conn.recv(64)
            read_end, write_end = os.pipe()
            try:
                os.write(write_end, b"a pipe for " + name)
                await conn.send_fds(b"here", [read_end])  # the client gets a duplicate
            finally:
                os.close(read_end)
                os.close(write_end)


async def seqpacket_client(name: str) -> str:
    async with await uds.anyio.UnixSeqpacketConn.connect_unix_addr(SEQPACKET) as conn:
        await conn.send(name.encode())
        data, _, fds = await conn.recv_fds(64, 1)
        with fds:
            return f"{name}: {data.decode()} {os.read(fds[0], 64).decode()!r}"


async def stream_round() -> str:
    async with await uds.anyio.create_unix_listener(STREAM) as listener:
        async with anyio.create_task_group() as group:
            received: list[str] = []

            async def serve_one() -> None:
                stream = await listener.accept()
                async with stream:
                    data, fds = await uds.anyio.recv_fds(stream, 64, 1)
                    with fds:
                        received.append(f"{data.decode()}: {os.read(fds[0], 64).decode()!r}")

            group.start_soon(serve_one)
            async with await uds.anyio.connect_unix_addr(STREAM) as stream:
                read_end, write_end = os.pipe()
                try:
                    os.write(write_end, b"written before sending")
                    await uds.anyio.send_fds(stream, b"stream", [read_end])
                finally:
                    os.close(read_end)
                    os.close(write_end)
        return received[0]


async def main() -> None:
    names = ["ada", "bob"]
    async with uds.anyio.UnixSeqpacketListener.bind_unix_addr(SEQPACKET) as listener:
        results: dict[str, str] = {}
        async with anyio.create_task_group() as group:
            group.start_soon(seqpacket_server, listener, len(names))
            for name in names:

                async def one(name: str = name) -> None:
                    results[name] = await seqpacket_client(name)

                group.start_soon(one)
        for name in names:
            print(results[name])
    print(await stream_round())


if __name__ == "__main__":
    anyio.run(main, backend=(sys.argv[1:] or ["asyncio"])[0])
