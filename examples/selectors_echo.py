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
from uds.nonblocking import UnixSeqpacketConn, UnixSeqpacketListener

ADDRESS = f"@uds-selectors-echo-{os.getpid()}"


def serve(listener: UnixSeqpacketListener, stop: socket.socket) -> None:
    """Echo every packet until ``stop`` becomes readable."""
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    selector.register(stop, selectors.EVENT_READ)
    conns: set[UnixSeqpacketConn] = set()
    try:
        while True:
            for key, _ in selector.select():
                source = key.fileobj
                if source is stop:
                    return
                try:
                    if source is listener:
                        conn, _ = listener.accept_unix_addr()
                        selector.register(conn, selectors.EVENT_READ)
                        conns.add(conn)
                        continue
                    assert isinstance(source, UnixSeqpacketConn)
                    packet = source.recv(65536)
                    if packet:
                        source.send(packet)  # never SIGPIPE: MSG_NOSIGNAL
                    else:  # end of stream
                        selector.unregister(source)
                        conns.discard(source)
                        source.close()
                except BlockingIOError:
                    pass  # readiness is a hint: someone else got there first
    finally:
        for conn in conns:
            conn.close()
        selector.close()


def main(clients: int) -> None:
    listener = UnixSeqpacketListener.bind_unix_addr(ADDRESS)
    stop_reader, stop_writer = socket.socketpair()
    server = threading.Thread(target=serve, args=(listener, stop_reader))
    server.start()
    try:
        for i in range(clients):
            with uds.UnixSeqpacketConn.connect_unix_addr(ADDRESS) as client:
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
