"""A pre-fork server: one process accepts, worker processes serve the connections.

Run it with ``python examples/prefork_server.py [workers] [requests]``. The
parent forks the workers first, each with a seqpacket channel back to it, then
accepts connections and hands each one to a worker by passing its fd. Only the
parent ever listens; a worker can be busy, restarted or sandboxed without the
listening socket changing hands. A connection's peer sees nothing of the
hand-over: the same connection is served by another process.
"""

from __future__ import annotations

import os
import socket
import sys

import uds


def worker(number: int, channel: uds.UnixSeqpacketConn) -> None:
    """Serve every connection the parent passes, until the channel closes."""
    while True:
        _, _, fds = channel.recv_fds(16, 1)
        if not fds:
            return  # an empty packet without fds: the parent closed its end
        with socket.socket(fileno=fds.take(0)) as conn:
            request = conn.recv(1024).decode()
            reply = f"worker {number} (pid {os.getpid()}, parent {os.getppid()}) got {request!r}"
            conn.sendall(reply.encode())


def start_workers(count: int, listener: socket.socket) -> list[tuple[int, uds.UnixSeqpacketConn]]:
    """Fork ``count`` workers; return (pid, channel) for each."""
    workers: list[tuple[int, uds.UnixSeqpacketConn]] = []
    for number in range(count):
        ours, theirs = uds.UnixSeqpacketConn.pair()
        pid = os.fork()
        if pid == 0:  # the worker: keep only its own channel
            status = 0
            try:
                listener.close()
                ours.close()
                for _, other in workers:
                    other.close()
                worker(number, theirs)
            except BaseException:
                status = 1
                raise
            finally:
                os._exit(status)
        theirs.close()
        workers.append((pid, ours))
    return workers


def main(count: int, requests: int) -> None:
    address = f"@uds-prefork-{os.getpid()}"
    with uds.bind_unix_addr(address) as listener:
        workers = start_workers(count, listener)
        try:
            for i in range(requests):
                # A client; in a real server it is another program.
                with uds.connect_to_unix_addr(address) as client:
                    conn, _ = uds.accept_unix_addr(listener)
                    with conn:
                        _, channel = workers[i % count]
                        channel.send_fds(b"conn", [conn])
                    # Our copy is closed; the worker's keeps the connection open.
                    client.sendall(f"request {i}".encode())
                    print(client.recv(1024).decode())
        finally:
            for pid, channel in workers:
                channel.close()
                _, status = os.waitpid(pid, 0)
                print(f"worker pid {pid} exited with {os.waitstatus_to_exitcode(status)}")


if __name__ == "__main__":
    main(
        int(sys.argv[1]) if len(sys.argv) > 1 else 3,
        int(sys.argv[2]) if len(sys.argv) > 2 else 6,
    )
