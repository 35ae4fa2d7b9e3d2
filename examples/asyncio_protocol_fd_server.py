"""An fd-passing server on asyncio's protocol API: uds.asyncio.create_server.

Run it with ``python examples/asyncio_protocol_fd_server.py [stream|seqpacket] [uvloop]``.
Each client sends a line naming itself together with the write end of a pipe;
the server's protocol gets the fd in ``fds_received`` just before the bytes it
came with, writes a greeting into it and answers ``ok``. asyncio's own
transports would lose such fds (the kernel closes fds whose bytes are read
without room for them); this transport never does.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from typing import Optional

from uds import ReceivedFds
from uds.asyncio import FdProtocol, UnixFdTransport, create_connection, create_server

ADDRESS = f"@uds-protocol-fd-{os.getpid()}"


class Greeter(FdProtocol):
    """Server side: greet into every fd received, then answer on the connection."""

    def __init__(self) -> None:
        self.transport: Optional[UnixFdTransport] = None
        self.pending: list[int] = []  # fds waiting for the bytes they came with
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, UnixFdTransport)
        self.transport = transport

    def fds_received(self, fds: ReceivedFds) -> None:
        self.pending.extend(fds.detach())  # ours now: closed below

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.buffer += data
        while b"\n" in self.buffer:
            line, self.buffer = self.buffer.split(b"\n", 1)
            if not self.pending:
                self.transport.write(b"no fd came with " + line + b"\n")
                continue
            fd = self.pending.pop(0)
            try:
                os.write(fd, b"hello " + line + b", written by the server")
            finally:
                os.close(fd)
            self.transport.write(b"ok\n")

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        for fd in self.pending:  # fds that never got their line
            os.close(fd)
        self.pending.clear()


class Client(asyncio.Protocol):
    def __init__(self) -> None:
        self.reply = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        if not self.reply.done():
            self.reply.set_result(data.strip().decode())


async def client(name: str, kind: int) -> str:
    transport, protocol = await create_connection(Client, ADDRESS, type=kind)
    read_end, write_end = os.pipe()
    try:
        transport.write(name.encode() + b"\n", fds=[write_end])
        os.close(write_end)  # the transport sent (or queued a duplicate of) it
        write_end = -1
        reply = await protocol.reply
        return f"{name}: {os.read(read_end, 256).decode()} ({reply})"
    finally:
        transport.close()
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)


async def main(kind: int) -> None:
    async with await create_server(Greeter, ADDRESS, type=kind):
        for line in await asyncio.gather(*(client(name, kind) for name in ("ada", "bob", "cy"))):
            print(line)


if __name__ == "__main__":
    args = sys.argv[1:]
    kind = socket.SOCK_SEQPACKET if "seqpacket" in args else socket.SOCK_STREAM
    if "uvloop" in args:
        import uvloop

        loop = uvloop.new_event_loop()
        try:
            loop.run_until_complete(main(kind))
        finally:
            loop.close()
    else:
        asyncio.run(main(kind))
