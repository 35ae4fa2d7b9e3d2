"""An asyncio server that writes into files its clients send it, over seqpacket.

Run it with ``python examples/asyncio_fd_server.py [uvloop]``: each client opens
a pipe, sends the write end to the server with a greeting, and reads what the
server wrote into it. Passing a file descriptor hands over the open file
itself: the server never learns or needs a path.
"""

from __future__ import annotations

import asyncio
import os
import sys

from uds.asyncio import UnixSeqpacketConn, UnixSeqpacketListener

ADDRESS = f"@uds-asyncio-fd-{os.getpid()}"


async def handle(conn: UnixSeqpacketConn) -> None:
    async with conn:
        name, truncated, fds = await conn.recv_fds(256, 1)
        with fds:  # received fds are close-on-exec and ours to close
            if truncated or len(fds) != 1:
                await conn.send(b"expected one fd and a short name")
                return
            os.write(fds[0], b"hello " + name + b", written by the server\n")
        await conn.send(b"done")


async def client(name: str) -> str:
    read_end, write_end = os.pipe()
    try:
        async with await UnixSeqpacketConn.connect_unix_addr(ADDRESS) as conn:
            await conn.send_fds(name.encode(), [write_end])
            os.close(write_end)
            write_end = -1
            reply = await conn.recv(64)
        return f"{name}: {os.read(read_end, 256).decode().strip()} ({reply.decode()})"
    finally:
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)


async def main() -> None:
    async with UnixSeqpacketListener.bind_unix_addr(ADDRESS) as listener:
        handlers: list[asyncio.Task[None]] = []

        async def accept_forever() -> None:
            while True:
                conn, _ = await listener.accept()
                handlers.append(asyncio.ensure_future(handle(conn)))

        acceptor = asyncio.ensure_future(accept_forever())
        for line in await asyncio.gather(*(client(name) for name in ("ada", "bob", "cy"))):
            print(line)
        acceptor.cancel()
        await asyncio.gather(*handlers)


if __name__ == "__main__":
    if sys.argv[1:] == ["uvloop"]:
        import uvloop

        loop = uvloop.new_event_loop()
        try:
            loop.run_until_complete(main())
        finally:
            loop.close()
    else:
        asyncio.run(main())
