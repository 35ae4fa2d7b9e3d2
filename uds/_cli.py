"""``python -m uds``: relay stdin/stdout over a unix socket, and inspect addresses.

Exit status: 0 success; 1 failure (refused, not found, address in use, stale
socket, a lost peer); 2 usage error or bad address; 3 permission denied;
130 interrupted; 141 stdout closed by its reader; 143 and 129 ended by
``SIGTERM`` and ``SIGHUP`` (after cleaning up).

Addresses on the command line are parsed by :meth:`UnixSocketAddr.new`:
``@name`` is abstract, ``./@name`` the file ``@name``, as ``UnixSocketAddr``
prints them.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import re
import signal
import socket
import sys
import threading
from typing import Callable, Iterator, Optional, Sequence

from uds import _platform
from uds._addr import UnixSocketAddr
from uds._cli_info import EXIT_STATUS, accepting_types, probe_address, render_text
from uds._cli_ls import render_rows, select, to_json
from uds._cli_relay import Relay, RelayError, Reporter, StdoutClosed, peer_summary
from uds._cli_table import read_table
from uds._errors import UnsupportedPlatformError
from uds._ext import (
    accept_unix_addr,
    bind_unix_addr,
    connect_from_to_unix_addr,
    connect_to_unix_addr,
)

__all__ = ["main", "EXIT_FAILURE", "EXIT_USAGE", "EXIT_PERMISSION"]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_PERMISSION = 3
EXIT_INTERRUPTED = 130
EXIT_STDOUT_CLOSED = 141
# Exit status 128 + the signal number, as a shell reports a process it killed.
_TERMINATING_SIGNALS = (signal.SIGTERM, signal.SIGHUP)

_SO_PASSCRED: Optional[int] = getattr(_platform.current, "SO_PASSCRED", None)
_PERMISSION_ERRNOS = (errno.EACCES, errno.EPERM)
# Tried in order for --send-fd: the most capable open the file allows.
_OPEN_MODES = (os.O_RDWR, os.O_RDONLY, os.O_WRONLY)
_RETRY_OPEN_ERRNOS = (errno.EACCES, errno.EISDIR, errno.EROFS, errno.ETXTBSY, errno.EPERM)

_ADDRESSES = """\
addresses: a path, or @name for an abstract address (Linux), written as uds
prints it (\\xNN is the byte NN); ./@name is the file @name."""
_ESCAPE = re.compile(rb"\\x([0-9a-fA-F]{2})")
_EXIT_STATUS = """\
exit status: 0 success, 1 failure (refused, not found, in use, stale),
2 usage or bad address, 3 permission denied, 130 interrupted (Ctrl-C),
141 stdout closed by its reader, 143 SIGTERM and 129 SIGHUP (after
cleaning up: listen PATH removes its socket file)."""
_EPILOG = f"""\
{_ADDRESSES}
{_EXIT_STATUS}
datagrams: an empty datagram marks end of input, in both directions."""
_LS_EPILOG = f"""\
{_ADDRESSES}
With addresses, lists the sockets bound there (and connections accepted
there) and the sockets connected to them; a path is matched by its socket
file, whatever name it was bound under. The table comes from netlink
sock_diag, else /proc/net/unix; owners from /proc/*/fd (all of them only
as root). Only this network namespace is shown.
{_EXIT_STATUS}"""
_INFO_EPILOG = f"""\
{_ADDRESSES}
The answer comes from the kernel's socket table; only when that cannot
answer (a socket file no socket here is bound to, or no table) are the
socket types probed with a connection, which a listener sees open and
close at once. That is said on stderr before probing.
{_EXIT_STATUS}"""
_TYPE_FLAGS: dict[int, str] = {
    socket.SOCK_STREAM: "--stream",
    socket.SOCK_SEQPACKET: "--seqpacket",
    socket.SOCK_DGRAM: "--dgram",
}
_TYPE_FLAG_BY_NAME = {"stream": "--stream", "seqpacket": "--seqpacket", "dgram": "--dgram"}
# Connect errors that another socket type at the address would explain.
_WRONG_TYPE_ERRNOS = (errno.ECONNREFUSED, errno.EPROTOTYPE)


class CliError(Exception):
    """An expected failure: one line for stderr and an exit status."""

    def __init__(self, message: str, status: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def _reason(error: OSError) -> str:
    if isinstance(error, UnsupportedPlatformError) or error.errno is None:
        return str(error.strerror or error)
    text = os.strerror(error.errno)
    if error.strerror and error.strerror != text:
        # The library's own explanation (say, why a path cannot be bound), in
        # the command line's terms.
        text = error.strerror.replace("pass replace_stale=True", "pass --replace-stale")
        return " ".join(text.split())
    return text[:1].lower() + text[1:]


def _failure(action: str, error: OSError) -> CliError:
    status = EXIT_PERMISSION if error.errno in _PERMISSION_ERRNOS else EXIT_FAILURE
    return CliError(f"{action}: {_reason(error)}", status)


def _unescape(name: str) -> bytes:
    r"""An abstract name as ``UnixSocketAddr`` prints it: ``\xNN`` is the byte NN."""
    return _ESCAPE.sub(lambda match: bytes([int(match[1], 16)]), os.fsencode(name))


def _address(text: str) -> UnixSocketAddr:
    if not text:
        raise CliError("bad address '': give a path or @name", EXIT_USAGE)
    try:
        if text[0] == "@":
            # What the command prints (ls, info, errors) can be pasted back.
            return UnixSocketAddr.from_abstract(_unescape(text[1:]))
        return UnixSocketAddr.new(text)
    except (ValueError, OSError) as error:
        raise CliError(f"bad address: {error}", EXIT_USAGE) from None


def _open_for_sending(path: str) -> int:
    last: Optional[OSError] = None
    for mode in _OPEN_MODES:
        try:
            return os.open(path, mode | os.O_CLOEXEC | os.O_NOCTTY)
        except OSError as error:
            if error.errno not in _RETRY_OPEN_ERRNOS:
                raise _failure(f"cannot open {path}", error) from None
            last = error
    assert last is not None
    raise _failure(f"cannot open {path}", last)


def _open_all(paths: Sequence[str], stack: contextlib.ExitStack) -> list[int]:
    fds = []
    for path in paths:
        fd = _open_for_sending(path)
        stack.callback(os.close, fd)
        fds.append(fd)
    return fds


def _pass_credentials(sock: socket.socket) -> None:
    if _SO_PASSCRED is None:
        raise UnsupportedPlatformError("per-message credentials on datagram sockets")
    sock.setsockopt(socket.SOL_SOCKET, _SO_PASSCRED, 1)


def _remove_on_exit(addr: UnixSocketAddr, stack: contextlib.ExitStack) -> None:
    path = addr.as_pathname()
    if path is None:
        return
    created = os.stat(path)

    def remove() -> None:
        # Only the file we created: someone may have replaced it meanwhile.
        with contextlib.suppress(OSError):
            now = os.stat(path)
            if (now.st_dev, now.st_ino) == (created.st_dev, created.st_ino):
                os.unlink(path)

    stack.callback(remove)


def _relay(relay: Relay) -> None:
    try:
        relay.run()
    except RelayError as error:
        if error.error is None:
            raise CliError(error.action) from None
        raise _failure(error.action, error.error) from None


def _report_peer(sock: socket.socket, reporter: Reporter, label: str) -> None:
    try:
        reporter.credentials(peer_summary(sock))
    except OSError as error:
        raise _failure(f"cannot read the credentials of {label}", error) from None


def cmd_connect(args: argparse.Namespace) -> int:
    """Connect to ADDR and relay stdin/stdout."""
    addr = _address(args.address)
    reporter = Reporter(args.json)
    with contextlib.ExitStack() as stack:
        fds = _open_all(args.send_fd, stack)
        try:
            if args.type == socket.SOCK_DGRAM and UnixSocketAddr.has_abstract_addresses():
                # Bound to a fresh abstract name so that the peer can answer.
                sock = connect_from_to_unix_addr("", addr, args.type)
            else:
                sock = connect_to_unix_addr(addr, args.type)
        except OSError as error:
            failure = _failure(f"cannot connect to {addr}", error)
            if error.errno in _WRONG_TYPE_ERRNOS:
                failure.message += _other_types_hint(addr, args.type)
            raise failure from None
        stack.enter_context(sock)
        label = str(addr)
        per_message = args.creds and args.type == socket.SOCK_DGRAM
        if per_message:
            _pass_credentials(sock)
        elif args.creds:
            _report_peer(sock, reporter, label)
        _relay(
            Relay(
                sock,
                args.type,
                reporter,
                label,
                send_fds=fds,
                per_message_credentials=per_message,
            )
        )
    return EXIT_OK


def _other_types_hint(addr: UnixSocketAddr, kind: int) -> str:
    """``"; a seqpacket socket listens there: try --seqpacket"`` when the table shows one."""
    others = [
        name for name in accepting_types(addr) if _TYPE_FLAG_BY_NAME[name] != _TYPE_FLAGS[kind]
    ]
    if not others:
        return ""
    verb = "is bound" if others[0] == "dgram" else "listens"
    return f"; a {others[0]} socket {verb} there: try {_TYPE_FLAG_BY_NAME[others[0]]}"


def _octal_mode(text: str) -> int:
    try:
        mode = int(text, 8)
    except ValueError:
        mode = -1
    if not 0 <= mode <= 0o7777:
        raise argparse.ArgumentTypeError(f"invalid octal mode: {text!r} (0 to 7777)")
    return mode


@contextlib.contextmanager
def _terminating_signals_deferred() -> Iterator[None]:
    """Hold SIGTERM/SIGHUP back (this thread; the CLI has no other yet) until the block ends.

    A signal that arrives meanwhile is delivered when the block ends, and its
    handler then unwinds with the cleanup registered inside the block.
    """
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _TERMINATING_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def cmd_listen(args: argparse.Namespace) -> int:
    """Listen on ADDR, serve one peer (or each in turn with --keep-open)."""
    addr = _address(args.address)
    if args.keep_open and args.send_fd:
        raise CliError("--send-fd cannot be combined with --keep-open", EXIT_USAGE)
    if (args.mode is not None or args.replace_stale or args.replace) and not addr.is_path:
        raise CliError(
            f"--mode, --replace-stale and --replace apply to paths, not {addr}", EXIT_USAGE
        )
    if args.replace and args.replace_stale:
        raise CliError("--replace already replaces stale sockets: drop --replace-stale", EXIT_USAGE)
    reporter = Reporter(args.json)
    label = str(addr)
    with contextlib.ExitStack() as stack:
        fds = _open_all(args.send_fd, stack)
        # A SIGTERM between bind() and the cleanup below would leave the file.
        with _terminating_signals_deferred():
            try:
                listener = bind_unix_addr(
                    addr,
                    args.type,
                    mode=args.mode,
                    replace_stale=args.replace_stale,
                    replace=args.replace,
                )
            except OSError as error:
                raise _failure(f"cannot listen on {addr}", error) from None
            stack.enter_context(listener)
            _remove_on_exit(addr, stack)
        if args.type == socket.SOCK_DGRAM:
            if args.creds:
                _pass_credentials(listener)
            relay = Relay(
                listener,
                args.type,
                reporter,
                label,
                send_fds=fds,
                reply_to_sender=True,
                per_message_credentials=args.creds,
                sink=args.keep_open,
            )
            _relay(relay)
            return EXIT_OK
        while True:
            try:
                conn, _ = accept_unix_addr(listener)
            except OSError as error:
                raise _failure(f"cannot accept on {addr}", error) from None
            with conn:
                if not args.keep_open:
                    listener.close()  # later clients are refused, not left waiting
                if args.creds:
                    _report_peer(conn, reporter, f"the peer on {label}")
                _relay(
                    Relay(
                        conn,
                        args.type,
                        reporter,
                        f"the peer on {label}",
                        send_fds=fds,
                        sink=args.keep_open,
                    )
                )
            if not args.keep_open:
                return EXIT_OK


def cmd_info(args: argparse.Namespace) -> int:
    """Report what is bound at ADDR."""
    addr = _address(args.address)

    def say_before_probing(reason: str) -> None:
        sys.stderr.write(
            f"uds: {reason}; probing {addr} with a connection of each type "
            "(a listener there sees it open and close)\n"
        )
        sys.stderr.flush()

    try:
        info = probe_address(addr, say_before_probing)
    except OSError as error:
        raise _failure(f"cannot inspect {addr}", error) from None
    if args.json:
        print(json.dumps(info.to_json(), sort_keys=True))
    else:
        print(render_text(info))
    return EXIT_STATUS[info.state]


def cmd_ls(args: argparse.Namespace) -> int:
    """List the unix sockets (at ADDRs, if given)."""
    addresses = [_address(text) for text in args.addresses]
    table = read_table()
    if table is None:
        raise CliError("no socket table here: neither netlink sock_diag nor /proc/net/unix")
    entries = select(table, addresses, args.listening)
    lines = to_json(table, entries) if args.json else render_rows(table, entries)
    if lines:
        print("\n".join(lines))
    return EXIT_OK if entries or not addresses else EXIT_FAILURE


def _add_relay_options(parser: argparse.ArgumentParser) -> None:
    kinds = parser.add_mutually_exclusive_group()
    for flag, kind, text in (
        ("--stream", socket.SOCK_STREAM, "a stream socket (the default)"),
        ("--seqpacket", socket.SOCK_SEQPACKET, "a seqpacket socket: one packet per read"),
        ("--dgram", socket.SOCK_DGRAM, "a datagram socket: one datagram per read"),
    ):
        kinds.add_argument(flag, dest="type", action="store_const", const=kind, help=text)
    parser.set_defaults(type=socket.SOCK_STREAM)
    parser.add_argument(
        "--send-fd",
        metavar="PATH",
        action="append",
        default=[],
        help="open PATH and pass its fd with the first message (repeatable)",
    )
    parser.add_argument(
        "--creds", action="store_true", help="print the peer's credentials to stderr"
    )
    parser.add_argument("--json", action="store_true", help="print events to stderr as JSON")
    parser.add_argument("address", metavar="ADDR", help="a path, or @name for abstract")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``uds`` command."""
    from uds import __version__

    parser = argparse.ArgumentParser(
        prog="uds",
        description="Talk over unix domain sockets: relay stdin/stdout, pass fds, "
        "show credentials, inspect addresses.",
        epilog=f"{_EPILOG}\nsee also: uds(1) (man uds), and the docs built from docs/ (README)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"uds {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    raw = argparse.RawDescriptionHelpFormatter
    listen = commands.add_parser(
        "listen",
        help="listen on ADDR and relay stdin/stdout with a peer",
        epilog=_EPILOG,
        formatter_class=raw,
    )
    _add_relay_options(listen)
    listen.add_argument(
        "-k",
        "--keep-open",
        action="store_true",
        help="serve peers one after another, only receiving (stdin is not read)",
    )
    listen.add_argument(
        "--mode",
        metavar="OCTAL",
        type=_octal_mode,
        help="permissions of the socket file (a path), set before anyone can connect",
    )
    listen.add_argument(
        "--replace-stale",
        action="store_true",
        help="replace a socket file at the path if nobody listens on it",
    )
    listen.add_argument(
        "--replace",
        action="store_true",
        help="take the path over from a socket file, live or not, atomically (a restart "
        "that refuses no client: the old server keeps its queue)",
    )
    listen.set_defaults(func=cmd_listen)
    connect = commands.add_parser(
        "connect",
        help="connect to ADDR and relay stdin/stdout",
        epilog=_EPILOG,
        formatter_class=raw,
    )
    _add_relay_options(connect)
    connect.set_defaults(func=cmd_connect)
    info = commands.add_parser(
        "info", help="show what is bound at ADDR", epilog=_INFO_EPILOG, formatter_class=raw
    )
    info.add_argument("--json", action="store_true", help="print one JSON object")
    info.add_argument("address", metavar="ADDR", help="a path, or @name for abstract")
    info.set_defaults(func=cmd_info)
    ls = commands.add_parser(
        "ls",
        help="list unix sockets: type, state, queues, address, peer, processes",
        epilog=_LS_EPILOG,
        formatter_class=raw,
    )
    ls.add_argument("--json", action="store_true", help="print one JSON object per socket")
    ls.add_argument(
        "-l",
        "--listening",
        action="store_true",
        help="only sockets that accept: listeners and bound datagram sockets",
    )
    ls.add_argument(
        "addresses",
        metavar="ADDR",
        nargs="*",
        help="only the sockets at these paths or @names, and those connected to them",
    )
    ls.set_defaults(func=cmd_ls)
    return parser


class _Terminated(BaseException):
    """SIGTERM or SIGHUP arrived: unwind like Ctrl-C so that cleanup runs."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_terminated(signum: int, frame: object) -> None:
    raise _Terminated(signum)


@contextlib.contextmanager
def _terminate_cleanly() -> Iterator[None]:
    """Turn SIGTERM/SIGHUP into an exception while the command runs.

    Their default action would kill the process on the spot, leaving the socket
    file of ``listen PATH`` behind (and the next ``listen`` refused). Only the
    main thread can set handlers; elsewhere (tests calling :func:`main`) the
    dispositions are left alone.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.getsignal(signum) for signum in _TERMINATING_SIGNALS}
    for signum, handler in previous.items():
        if handler == signal.SIG_DFL:  # an ignored signal stays ignored
            signal.signal(signum, _raise_terminated)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the ``uds`` command with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    args = build_parser().parse_args(argv)
    command: Callable[[argparse.Namespace], int] = args.func
    try:
        with _terminate_cleanly():
            return command(args)
    except CliError as error:
        sys.stderr.write(f"uds: {error.message}\n")
        return error.status
    except StdoutClosed:
        return EXIT_STDOUT_CLOSED
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except _Terminated as terminated:
        return 128 + terminated.signum
