"""A socket-activated service that tells its manager when it is ready.

Run it under systemd (a ``.socket`` and a ``.service`` unit, see the tutorial)
or by hand with systemd-socket-activate::

    systemd-socket-activate -l @greeter --fdname=greeter python examples/systemd_service.py

The manager binds the socket and starts the service on the first connection
(or at once). The service takes the socket from ``LISTEN_FDS``, reports
``READY=1`` and a status line over ``NOTIFY_SOCKET``, greets each client, and
stops when a client sends ``stop``. Started without a manager, it binds the
address given as its argument itself (``@uds-greeter`` by default) and its
notifications go nowhere (:func:`uds.systemd.notify` returns ``False``).
"""

from __future__ import annotations

import os
import socket
import sys

import uds
from uds.systemd import listen_fds, notify


def take_listener(fallback: str) -> tuple[socket.socket, str]:
    """The activated stream socket, or one bound here when nobody passed one."""
    passed = listen_fds()  # also unsets LISTEN_FDS, so children do not see it
    for sock, _ in passed[1:]:
        if not isinstance(sock, int):
            sock.close()
    if passed:
        sock, name = passed[0]
        if not isinstance(sock, socket.socket) or sock.type != socket.SOCK_STREAM:
            raise SystemExit(f"expected a stream socket, got {sock!r}")
        return sock, name
    return uds.bind_unix_addr(fallback), "self-bound"


def main() -> int:
    listener, name = take_listener(sys.argv[1] if len(sys.argv) > 1 else "@uds-greeter")
    with listener:
        address = uds.local_unix_addr(listener)
        notify({"READY": 1, "STATUS": f"greeting on {address} ({name})"})
        served = 0
        while True:
            conn, _ = uds.accept_unix_addr(listener)
            with conn:
                request = conn.recv(1024)
                served += 1
                conn.sendall(f"hello from pid {os.getpid()} via {name}".encode())
            notify({"STATUS": f"served {served}"})
            if request.strip() == b"stop":
                notify("STOPPING=1")
                return 0


if __name__ == "__main__":
    sys.exit(main())
