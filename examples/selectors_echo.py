"""A seqpacket echo server driven by the stdlib ``selectors`` module.

Run it with ``python examples/selectors_echo.py [clients]``: the server runs in a
thread on an abstract address (no file to clean up); each client sends three
packets and prints what comes back, with packet boundaries intact.
"""

from __future__ import annotations

import os
import selectors
import socket
import sys
import threading

import uds

ADDRESS = f"@uds-selectors-echo-{os.getpid()}"


def serve(listener: socket.socket, stop: socket.socket) -> None:
    """Echo every packet until ``stop`` becomes readable."""
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    selector.register(stop, selectors.EVENT_READ)
    conns: list[socket.socket] = []
    try:
        while True:
            for key, _ in selector.select():
                sock = key.fileobj
                if sock is stop:
                    return
                try:
                    if sock is listener:
                        conn, _ = uds.accept_unix_addr(listener)
                        conn.setblocking(False)
                        selector.register(conn, selectors.EVENT_READ)
                        conns.append(conn)
                    elif packet := sock.recv(65536):  # type: ignore[union-attr]
                        sock.send(packet, socket.MSG_NOSIGNAL)  # type: ignore[union-attr]
                    else:  # end of stream
                        selector.unregister(sock)
                        conns.remove(sock)  # type: ignore[arg-type]
                        sock.close()  # type: ignore[union-attr]
                except BlockingIOError:
                    pass  # readiness is a hint: someone else got there first
    finally:
        for conn in conns:
            conn.close()
        selector.close()


def main(clients: int) -> None:
    listener = uds.bind_unix_addr(ADDRESS, socket.SOCK_SEQPACKET)
    listener.setblocking(False)
    stop_reader, stop_writer = socket.socketpair()
    server = threading.Thread(target=serve, args=(listener, stop_reader))
    server.start()
    try:
        for i in range(clients):
            with uds.connect_to_unix_addr(ADDRESS, socket.SOCK_SEQPACKET) as client:
                replies = []
                for packet in (f"hello {i}".encode(), b"two", b"bye"):
                    client.send(packet)
                    replies.append(client.recv(65536))
                print(f"client {i}: {replies}")
    finally:
        stop_writer.send(b"x")
        server.join()
        for sock in (listener, stop_reader, stop_writer):
            sock.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
