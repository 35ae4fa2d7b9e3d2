"""A small reactor on ``uds_mio_compat``: Poll, tokens, net types and a Waker.

Run it with ``python examples/mio_reactor.py``: a reactor thread serves an
upper-casing line service on an abstract address; the main thread talks to it
with blocking sockets, then stops the reactor through its Waker.
"""

from __future__ import annotations

import os
import socket
import threading

from uds_mio_compat import Events, Interest, Poll, Token, Waker
from uds_mio_compat.net import UnixListener, UnixStream

ADDRESS = f"@uds-mio-reactor-{os.getpid()}"
LISTENER = Token(0)
WAKER = Token(1)


def reactor(poll: Poll, listener: UnixListener) -> None:
    """Serve until the waker fires."""
    conns: dict[int, UnixStream] = {}
    next_token = 2
    events = Events.with_capacity(256)
    try:
        while True:
            poll.poll(events)
            for event in events:
                if event.token == WAKER:
                    return
                if event.token == LISTENER:
                    while True:  # drain: accept everything that is waiting
                        try:
                            conn, _ = listener.accept()
                        except BlockingIOError:
                            break
                        conns[next_token] = conn
                        poll.registry.register(conn, Token(next_token), Interest.READABLE)
                        next_token += 1
                    continue
                conn = conns[event.token]
                try:
                    data = conn.read(4096)
                except BlockingIOError:
                    continue  # a spurious event
                if data:
                    conn.write(data.upper())
                if not data or event.is_read_closed():
                    poll.registry.deregister(conn)
                    conns.pop(event.token).close()
    finally:
        for conn in conns.values():
            conn.close()


def main() -> None:
    with Poll() as poll, UnixListener.bind(ADDRESS) as listener:
        poll.registry.register(listener, LISTENER, Interest.READABLE)
        with Waker(poll.registry, WAKER) as waker:
            thread = threading.Thread(target=reactor, args=(poll, listener))
            thread.start()
            try:
                for word in ("reactor", "tokens", "readiness"):
                    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
                        client.connect(b"\0" + ADDRESS[1:].encode())
                        client.sendall(word.encode())
                        print(f"{word} -> {client.recv(4096).decode()}")
            finally:
                waker.wake()
                thread.join()
    print("reactor stopped by its waker")


if __name__ == "__main__":
    main()
