"""Pass an open file descriptor to another process over a unix socket.

Run it with ``python examples/fd_to_child.py``: the parent starts a child
process, checks on the connection who the child is, and sends it the write end
of a pipe. The child writes through that fd and exits; the parent reads what it
wrote. The child never opens anything itself: it received the open file.
"""

from __future__ import annotations

import os
import subprocess
import sys

import uds


def child(address: str) -> None:
    """Connect, receive one fd, write through it."""
    with uds.UnixSeqpacketConn.connect_unix_addr(address) as conn:
        data, truncated, fds = conn.recv_fds(64, 1)
        with fds:  # received fds belong to us: closed when the block ends
            cloexec = not os.get_inheritable(fds[0])
            os.write(fds[0], f"{data.decode()} (close-on-exec: {cloexec})".encode())


def parent() -> None:
    address = f"@uds-fd-to-child-{os.getpid()}"  # abstract: no file to clean up
    read_end, write_end = os.pipe()
    with (
        uds.UnixSeqpacketListener.bind_unix_addr(address) as listener,
        subprocess.Popen([sys.executable, __file__, "child", address]) as process,
    ):
        conn, _ = listener.accept_unix_addr()
        with conn:
            # The kernel says who connected: no need to trust what the peer claims.
            creds = conn.initial_peer_credentials()
            print(f"parent: peer pid is the child's: {creds.pid == process.pid}")
            conn.send_fds(b"written by the child", [write_end])
        os.close(write_end)  # the child has its own copy now
        print(f"parent: child exited with {process.wait()}")
    with os.fdopen(read_end, "rb") as pipe:
        print(f"parent: read {pipe.read().decode()!r}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["child"]:
        child(sys.argv[2])
    else:
        parent()
