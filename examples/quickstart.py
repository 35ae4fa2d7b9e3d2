"""The quick-start: pass stdin, stdout and stderr to a server over an abstract seqpacket socket.

Run it with ``python examples/quickstart.py``: it needs no set-up and leaves no file.
The server accepts one client, reads the client's credentials from the kernel and
takes the three fds only from root; anyone else gets ``b"go away!\\n"``.
"""

from __future__ import annotations

import os
import socket
import sys
import threading

import uds

ADDRESS = uds.UnixSocketAddr.from_abstract(b"not a file!")


def serve_one(listener: socket.socket) -> None:
    conn, _ = uds.accept_unix_addr(listener)
    with conn:
        creds = uds.initial_peer_credentials(conn)
        data, fds = uds.recv_fds(conn, 64, 3)
        with fds:
            if creds.euid == 0:
                targets = [os.readlink(f"/proc/self/fd/{fd}") for fd in fds]
                print(f"server: {data!r} from pid {creds.pid} with fds {targets}")
                conn.send(b"welcome, root\n")
            else:
                print(f"server: refusing uid {creds.euid}")
                conn.send(b"go away!\n")


def main() -> int:
    listener = uds.bind_unix_addr(ADDRESS, socket.SOCK_SEQPACKET)
    with listener:
        server = threading.Thread(target=serve_one, args=(listener,))
        server.start()
        with uds.connect_to_unix_addr(ADDRESS, socket.SOCK_SEQPACKET) as client:
            uds.send_fds(client, b"Here I come", [0, 1, 2])
            print("client got:", client.recv(64).decode().strip())
        server.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
