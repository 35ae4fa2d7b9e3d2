"""Authorise peers by the credentials the kernel reports, with ``uds.PeerPolicy``.

Run it with ``python examples/peer_policy.py``: a server admits peers running as
its own user and refuses everyone else. Two clients, each a separate process,
connect: one as the same user (admitted), and, when the example runs as root,
one started as ``nobody`` (refused). Neither client can lie about who it is:
the kernel recorded its credentials when it connected.
"""

from __future__ import annotations

import os
import socket
import sys
import traceback
from typing import Optional

import uds

NOBODY = 65534


def start_client(address: str, user: Optional[int]) -> int:
    """Fork a client process, running as ``user`` when given; return its pid."""
    sys.stdout.flush()  # or the child would print the parent's buffered lines again
    pid = os.fork()
    if pid:
        return pid
    status = 1
    try:
        if user is not None:
            os.setgroups([])
            os.setgid(user)
            os.setuid(user)
        who = "same user" if user is None else f"uid {user}"
        with uds.connect_to_unix_addr(address) as conn:
            verdict = conn.recv(1024)  # the server speaks first: nothing is sent before it
            if verdict == b"welcome":
                conn.sendall(b"hello")
                verdict += b", then " + conn.recv(1024)
            print(f"client ({who}): got {verdict.decode()!r}", flush=True)
        status = 0
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(status)


def serve_one(listener: socket.socket, policy: uds.PeerPolicy) -> None:
    conn, _ = uds.accept_unix_addr(listener)
    with conn:
        try:
            creds = policy.check(conn)
        except PermissionError as error:
            print(f"server: refused: {error.strerror}", flush=True)
            conn.sendall(b"refused")
            return
        print(f"server: admitted pid {creds.pid} (uid {creds.euid})", flush=True)
        conn.sendall(b"welcome")
        conn.sendall(conn.recv(1024).upper())


def main() -> None:
    address = f"@uds-peer-policy-{os.getpid()}"
    policy = uds.PeerPolicy.same_user()
    print(f"server: policy {policy!r}")
    users: list[Optional[int]] = [None]
    if os.geteuid() == 0:
        users.append(NOBODY)
    else:
        print("server: not root, so no client as another user (that one would be refused)")
    with uds.bind_unix_addr(address) as listener:
        for user in users:
            pid = start_client(address, user)
            serve_one(listener, policy)
            _, status = os.waitpid(pid, 0)
            if status != 0:
                raise SystemExit(f"client {pid} failed: wait status {status}")


if __name__ == "__main__":
    main()
