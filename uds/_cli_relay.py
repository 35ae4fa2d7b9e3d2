"""The relay behind ``uds listen``/``uds connect``: stdin to a socket, the socket to stdout.

Input is read and sent by a thread and output is received and written by the
caller's thread, so neither direction can block the other. The relay ends
when both directions have seen end of file, or when the peer has gone entirely.
Datagrams have no end of file: by convention an empty datagram without fds
marks it, in both directions. On seqpacket sockets an empty packet reads like
the end of the connection; it is taken as the end only once the peer has shut
down and nothing is left queued, so only trailing empty packets can be lost.
"""

from __future__ import annotations

import array
import contextlib
import errno
import fcntl
import json
import os
import select
import socket
import sys
import termios
import threading
from typing import Callable, Optional, Sequence

from uds import _platform
from uds._addr import UnixSocketAddr, _escape
from uds._ancillary import recv_ancillary, send_ancillary
from uds._credentials import initial_peer_credentials, initial_peer_selinux_context
from uds._fds import ReceivedFds

__all__ = ["Relay", "Reporter", "RelayError", "StdoutClosed", "peer_summary"]

_SEND_FLAGS = _platform.SEND_FLAGS
_MAX_FDS: int = _platform.current.SCM_MAX_FD
_STREAM_CHUNK = 65536
# Packets are received whole: room for the largest default socket buffer.
_PACKET_SIZE = 1 << 18
_HANGUP = select.POLLHUP | getattr(select, "POLLRDHUP", 0)


class RelayError(Exception):
    """A failed socket operation in the relay, with what was being done."""

    def __init__(self, action: str, error: Optional[OSError] = None) -> None:
        super().__init__(action, error)
        self.action = action
        self.error = error


class StdoutClosed(Exception):
    """Standard output was closed by the reader (``EPIPE``)."""


def _text(value: object) -> str:
    """``value`` for a text line: bytes a peer controls escaped as ``UnixSocketAddr`` does."""
    if isinstance(value, bytes):
        # Control characters could forge lines or drive the terminal.
        return _escape(value)
    if isinstance(value, list):
        return " ".join(map(str, value))
    return str(value)


def _json_value(value: object) -> object:
    # UTF-8 where it decodes, a backslash escape per byte where it does not:
    # the same bytes always give the same valid JSON string.
    return value.decode("utf-8", "backslashreplace") if isinstance(value, bytes) else value


class Reporter:
    """Writes events (peer credentials, received fds, warnings) to stderr, as text or JSON.

    Values a peer controls (file names, security labels) are ``bytes``: escaped
    on a text line, decoded into a JSON string.
    """

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json

    def _emit(self, event: str, text: str, **fields: object) -> None:
        if self.as_json:
            values = {key: _json_value(value) for key, value in fields.items()}
            line = json.dumps({"event": event, **values}, sort_keys=True)
        else:
            line = f"uds: {text}"
        sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def credentials(self, fields: dict[str, object]) -> None:
        """Report the peer's credentials."""
        text = ", ".join(
            f"{key} {_text(value)}"
            for key, value in fields.items()
            if value is not None and value != []
        )
        self._emit("peer-credentials", f"peer {text}", **fields)

    def fds(self, fds: ReceivedFds) -> None:
        """Report what each received fd refers to, then close them all."""
        with fds:
            for fd in fds:
                target = _fd_target(fd)
                self._emit("fd", f"received fd: {_text(target)}", target=target)
            if fds.truncated:
                self._emit("fds-truncated", "warning: the kernel discarded fds that did not fit")

    def warn(self, message: str) -> None:
        """Report a problem that does not stop the relay."""
        self._emit("warning", f"warning: {message}", message=message)


def _fd_target(fd: int) -> bytes:
    try:
        return os.readlink(b"/proc/self/fd/%d" % fd)
    except OSError:
        return b"fd %d (target unknown)" % fd


def peer_summary(sock: socket.socket) -> dict[str, object]:
    """The connected peer's pid, uid, gid, groups and security label (``bytes``, ``None`` if none).

    Raises:
        OSError: the credentials cannot be read.
    """
    creds = initial_peer_credentials(sock)
    try:
        # The kernel may count a C string's terminating NUL in the label.
        label: Optional[bytes] = initial_peer_selinux_context(sock).rstrip(b"\0") or None
    except OSError:
        label = None  # no security module labels sockets here
    return {
        "pid": creds.pid,
        "uid": creds.euid,
        "gid": creds.egid,
        "groups": list(creds.groups),
        "label": label,
    }


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view) :]
    except BrokenPipeError:
        raise StdoutClosed() from None


class Relay:
    """Relays one socket (connected, or a bound datagram socket) to stdin and stdout.

    ``label`` names the peer in error messages. ``send_fds`` go with the first
    message. A bound datagram socket (``reply_to_sender``) answers whoever sent
    the last datagram. With ``sink`` nothing is read from stdin: the relay only
    receives, and a datagram sink never ends.
    """

    def __init__(
        self,
        sock: socket.socket,
        kind: int,
        reporter: Reporter,
        label: str,
        *,
        send_fds: Sequence[int] = (),
        reply_to_sender: bool = False,
        per_message_credentials: bool = False,
        sink: bool = False,
        stdin: int = 0,
        stdout: int = 1,
    ) -> None:
        self.sock = sock
        self.kind = kind
        self.reporter = reporter
        self.label = label
        self.send_fds = tuple(send_fds)
        self.reply_to_sender = reply_to_sender
        self.per_message_credentials = per_message_credentials
        self.sink = sink
        self.stdin = stdin
        self.stdout = stdout
        self._peer: Optional[UnixSocketAddr] = None
        self._peer_known = threading.Event()
        self._send_error: Optional[BaseException] = None
        self._stop_read = -1  # readable once the sender must stop
        self._last_credentials: Optional[object] = None

    # Sending ---------------------------------------------------------------------

    def _send(self, data: bytes, fds: Sequence[int]) -> None:
        if self.kind == socket.SOCK_STREAM:
            sent = send_ancillary(self.sock, data, fds=fds) if fds else 0
            self.sock.sendall(memoryview(data)[sent:], _SEND_FLAGS)
        elif self.reply_to_sender:
            peer = self._peer
            if peer is not None:
                send_ancillary(self.sock, data, fds=fds, addr=peer)
        else:
            send_ancillary(self.sock, data, fds=fds)

    def _send_eof(self) -> None:
        if self.kind == socket.SOCK_DGRAM:
            self._send(b"", ())
            return
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError as error:
            if error.errno != errno.ENOTCONN:
                raise

    def _checked(self, operation: Callable[..., None], *args: object) -> None:
        try:
            operation(*args)
        except OSError as error:
            raise RelayError(f"cannot send to {self.label}", error) from None

    def _stdin_or_stop(self) -> bool:
        """Wait until stdin has input or end of file (``True``) or the relay stops (``False``)."""
        poller = select.poll()
        poller.register(self.stdin, select.POLLIN)
        poller.register(self._stop_read, select.POLLIN)
        ready = dict(poller.poll())
        return self._stop_read not in ready

    def _pump_stdin(self, done: int) -> None:
        try:
            if self.reply_to_sender:
                self._peer_known.wait()
                if self._peer is None:
                    self.reporter.warn("the sender is not bound to an address: cannot reply")
            pending = self.send_fds
            while True:
                if not self._stdin_or_stop():
                    return
                try:
                    chunk = os.read(self.stdin, _STREAM_CHUNK)
                except OSError as error:
                    raise RelayError("cannot read standard input", error) from None
                if not chunk:
                    break
                self._checked(self._send, chunk, pending)
                pending = ()
            if pending:
                if self.kind == socket.SOCK_STREAM:
                    raise RelayError("--send-fd needs at least one byte of input on a stream")
                self._checked(self._send, b"", pending)
            self._checked(self._send_eof)
        except BaseException as error:
            self._send_error = error
            # Wake the receiving thread (its recv returns end of file) and tell
            # the peer: the relay is over.
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)
        finally:
            os.write(done, b".")

    # Receiving -------------------------------------------------------------------

    def _at_end(self) -> bool:
        # After an empty packet: the end only if the peer shut down and no byte
        # is left queued (FIONREAD sums every queued packet on seqpacket sockets).
        poller = select.poll()
        poller.register(self.sock, _HANGUP)
        if not any(events & _HANGUP for _, events in poller.poll(0)):
            return False
        queued = array.array("i", [0])
        fcntl.ioctl(self.sock.fileno(), termios.FIONREAD, queued)
        return queued[0] == 0

    def _note_sender(self, addr: Optional[UnixSocketAddr]) -> None:
        if not self.reply_to_sender or self._peer_known.is_set():
            return
        self._peer = None if addr is None or addr.is_unnamed else addr
        self._peer_known.set()

    def _receive_until_eof(self) -> None:
        bufsize = _STREAM_CHUNK if self.kind == socket.SOCK_STREAM else _PACKET_SIZE
        while True:
            try:
                received = recv_ancillary(
                    self.sock,
                    bufsize,
                    max_fds=_MAX_FDS,
                    credentials=self.per_message_credentials,
                )
            except OSError as error:
                raise RelayError(f"cannot receive from {self.label}", error) from None
            with received:
                had_fds = bool(received.fds)
                if received.credentials is not None and (
                    received.credentials != self._last_credentials
                ):
                    self._last_credentials = received.credentials
                    creds = received.credentials
                    self.reporter.credentials(
                        {"pid": creds.pid, "uid": creds.uid, "gid": creds.gid}
                    )
                self.reporter.fds(received.fds)
                if self.kind == socket.SOCK_DGRAM:
                    self._note_sender(received.addr)
                if received.message_truncated:
                    self.reporter.warn(f"a packet longer than {bufsize} bytes was truncated")
                data = received.data or b""
            if data:
                _write_all(self.stdout, data)
            elif self.kind == socket.SOCK_STREAM:
                return
            elif self.kind == socket.SOCK_SEQPACKET:
                # An empty packet and the end of the connection read alike.
                if self._at_end():
                    return
            elif not had_fds and not self.sink:
                return

    # Both directions ---------------------------------------------------------------

    def run(self) -> None:
        """Relay until both sides are done; close nothing.

        Raises:
            RelayError: a socket operation failed.
            StdoutClosed: stdout's reader went away.
        """
        if self.sink:
            if self.kind != socket.SOCK_DGRAM:
                self._checked(self._send_eof)
            self._receive_until_eof()
            return
        with contextlib.ExitStack() as pipes:
            done_read, done_write = os.pipe2(os.O_CLOEXEC)
            pipes.callback(os.close, done_read)
            pipes.callback(os.close, done_write)
            self._stop_read, stop_write = os.pipe2(os.O_CLOEXEC)
            pipes.callback(os.close, self._stop_read)
            pipes.callback(os.close, stop_write)
            sender = threading.Thread(target=self._pump_stdin, args=(done_write,), daemon=True)
            sender.start()
            finished = False
            try:
                self._receive_until_eof()
                # A failed sender sets its error before it shuts the socket down,
                # so a hang-up seen here cannot hide the error.
                finished = self._wait_for_sender(done_read) or self._send_error is not None
            finally:
                self._stop(sender, stop_write, failed=not finished)
            if finished:
                self._raise_send_error()
            # Otherwise the peer went away while stdin was still open: the
            # sender was stopped, and what it would have sent has nowhere to go.

    def _stop(self, sender: threading.Thread, stop_write: int, *, failed: bool) -> None:
        """Stop the sender thread and wait for it, so that its pipes can be closed."""
        self._peer_known.set()  # never leave the sender waiting for a peer
        os.write(stop_write, b".")
        if failed:
            # Wakes a sender blocked on a full socket buffer.
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)
        sender.join()

    def _wait_for_sender(self, done: int) -> bool:
        poller = select.poll()
        poller.register(done, select.POLLIN)
        if self.kind != socket.SOCK_DGRAM:
            poller.register(self.sock, 0)  # POLLHUP is always reported
        return any(fd == done for fd, _ in poller.poll())

    def _raise_send_error(self) -> None:
        if self._send_error is not None:
            raise self._send_error
