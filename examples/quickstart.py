"""The quick-start: pass stdin, stdout and stderr to a server over an abstract seqpacket socket.

Run it with ``python examples/quickstart.py``: it needs no set-up and leaves no file.
The server accepts one client, asks the kernel who the client is, and takes the
three fds only from root; anyone else gets ``b"go away!\\n"`` (and the fds they
sent are closed unread).
"""

from __future__ import annotations

import errno
import os
import sys
import threading

import uds

ADDRESS = uds.UnixSocketAddr.from_abstract(b"not a file!")


def serve_one(listener: uds.UnixSeqpacketListener) -> None:
    conn, _ = listener.accept_unix_addr()
    with conn:
        creds = conn.initial_peer_credentials()
        if creds.euid != 0:
            print(f"server: refusing uid {creds.euid} (pid {creds.pid})")
            conn.recv(64)  # reading without room for fds makes the kernel close them
            conn.send(b"go away!\n")
            return
        data, truncated, fds = conn.recv_fds(64, 3)
        with fds:  # received fds are close-on-exec and closed when the block ends
            targets = [os.readlink(f"/proc/self/fd/{fd}") for fd in fds]
            print(f"server: {data.decode()!r} from pid {creds.pid} with fds {targets}")
        conn.send(b"welcome, root\n")


def main() -> int:
    try:
        listener = uds.UnixSeqpacketListener.bind_unix_addr(ADDRESS)
    except OSError as error:  # the error names the address: error.filename
        hint = " (is another quickstart running?)" if error.errno == errno.EADDRINUSE else ""
        print(
            f"quickstart: cannot listen on {error.filename}: {error.strerror}{hint}",
            file=sys.stderr,
        )
        return 1
    with listener:
        server = threading.Thread(target=serve_one, args=(listener,))
        server.start()
        with uds.UnixSeqpacketConn.connect_unix_addr(ADDRESS) as client:
            client.send_fds(b"Here I come", [0, 1, 2])
            print("client got:", client.recv(64).decode().strip())
        server.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
