"""The machine's unix sockets, for ``uds ls`` and ``uds info``: what the kernel says, not probes.

The table comes from ``NETLINK_SOCK_DIAG`` (``UNIX_DIAG``, Linux): per socket its
inode, type, state, bound name, the inode of the socket *file* it was bound to
(so a path is matched by the file, not by the string it was bound under), its
peer's inode, queue sizes and owner uid. Where netlink is unavailable it falls
back to ``/proc/net/unix``, which has the type, state and name only (abstract
names with NUL shown as ``@``, no peers, no files). The owning processes come
from ``/proc/*/fd`` (only those we may look at: all of them as root).

Both sources see the current network namespace only.

The parsers are pure functions over bytes (:func:`parse_diag`,
:func:`parse_proc_net_unix`); only :func:`read_table` and :func:`owners` read
the system.
"""

from __future__ import annotations

import errno
import os
import re
import socket
import struct
from dataclasses import dataclass, field
from typing import Iterable, Optional

from uds._addr import UnixSocketAddr

__all__ = [
    "SocketEntry",
    "Owner",
    "Table",
    "read_table",
    "read_diag",
    "read_proc",
    "parse_diag",
    "parse_proc_net_unix",
    "owners",
    "diag_request",
]

_NETLINK_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_NLM_F_REQUEST = 0x1
_NLM_F_DUMP = 0x300
_NLMSG_ERROR = 2
_NLMSG_DONE = 3
_ALL_STATES = 0xFFFFFFFF
_UDIAG_SHOW_NAME = 0x01
_UDIAG_SHOW_VFS = 0x02
_UDIAG_SHOW_PEER = 0x04
_UDIAG_SHOW_ICONS = 0x08
_UDIAG_SHOW_RQLEN = 0x10
_UDIAG_SHOW_UID = 0x40
_SHOW = (
    _UDIAG_SHOW_NAME
    | _UDIAG_SHOW_VFS
    | _UDIAG_SHOW_PEER
    | _UDIAG_SHOW_ICONS
    | _UDIAG_SHOW_RQLEN
    | _UDIAG_SHOW_UID
)
_UNIX_DIAG_NAME = 0
_UNIX_DIAG_VFS = 1
_UNIX_DIAG_PEER = 2
_UNIX_DIAG_ICONS = 3
_UNIX_DIAG_RQLEN = 4
_UNIX_DIAG_UID = 7

_NLMSGHDR = struct.Struct("=IHHII")  # len, type, flags, seq, pid
_UNIX_DIAG_REQ = struct.Struct("=BBHIIIII")  # family, protocol, pad, states, ino, show, cookie
_UNIX_DIAG_MSG = struct.Struct("=BBBBIII")  # family, type, state, pad, ino, cookie
_NLATTR = struct.Struct("=HH")  # len, type
_U32 = struct.Struct("=I")
_U32_PAIR = struct.Struct("=II")
_NLMSGERR = struct.Struct("=i")

_TYPES: dict[int, str] = {
    socket.SOCK_STREAM: "stream",
    socket.SOCK_DGRAM: "dgram",
    socket.SOCK_SEQPACKET: "seqpacket",
}
# Linux keeps unix socket states in TCP's numbering (include/net/tcp_states.h).
_DIAG_STATES = {1: "connected", 2: "connecting", 7: "unconnected", 10: "listening"}
# /proc/net/unix's St column is the socket_state enum (SS_*).
_PROC_STATES = {1: "unconnected", 2: "connecting", 3: "connected", 4: "disconnecting"}
_ACCEPTCON = 0x10000  # __SO_ACCEPTCON in the Flags column
_PROC_LINE = re.compile(
    rb"[0-9A-Fa-f]+: [0-9A-Fa-f]{8} [0-9A-Fa-f]{8} ([0-9A-Fa-f]{8}) ([0-9A-Fa-f]{4}) "
    rb"([0-9A-Fa-f]{2}) +([0-9]+)(?: (.*))?"
)
_SOCKET_LINK = re.compile(rb"socket:\[([0-9]+)\]")


def _align(n: int) -> int:
    return (n + 3) & ~3


def _user_dev(kernel_dev: int) -> int:
    """A kernel-internal ``dev_t`` (``major << 20 | minor``) as ``st_dev`` encodes it."""
    return os.makedev(kernel_dev >> 20, kernel_dev & 0xFFFFF)


@dataclass(frozen=True)
class SocketEntry:
    """One unix socket as the kernel's table shows it.

    ``address`` is the bound name (an accepted connection carries its
    listener's), ``None`` when unnamed. ``file`` is ``(st_dev, st_ino)`` of the
    socket file it was bound to; ``peer`` the peer's inode; ``pending`` the
    inodes of connections waiting to be accepted (listeners). Fields the
    source does not give are ``None`` (``/proc/net/unix`` gives no peers,
    files, queues or uid).
    """

    inode: int
    type: str
    state: str
    address: Optional[UnixSocketAddr] = None
    file: Optional[tuple[int, int]] = None
    peer: Optional[int] = None
    recv_queue: Optional[int] = None
    send_queue: Optional[int] = None
    uid: Optional[int] = None
    pending: tuple[int, ...] = ()

    @property
    def accepting(self) -> bool:
        """Whether a connect (or, for datagrams, a send) to its address would reach it."""
        if self.type == "dgram":
            return self.state == "unconnected" and self.address is not None
        return self.state == "listening"


@dataclass(frozen=True)
class Owner:
    """A process holding a socket: its pid, command name and the fds it holds it by."""

    pid: int
    command: str
    fds: tuple[int, ...]


@dataclass
class Table:
    """The sockets found and where from: ``"diag"`` (netlink) or ``"proc"`` (/proc/net/unix)."""

    source: str
    entries: list[SocketEntry] = field(default_factory=list)

    def by_inode(self) -> dict[int, SocketEntry]:
        """The entries keyed by inode."""
        return {entry.inode: entry for entry in self.entries}

    def at_file(self, path: str) -> list[SocketEntry]:
        """The sockets bound (or accepted) at the socket file at ``path``; diag only.

        Matched by ``(st_dev, st_ino)``. On overlayfs ``stat`` gives a file the
        device of the layer below while the table gives the overlay's: then a
        socket with the same inode number is taken if its own name leads to the
        same file (an absolute name) or has the same last component (a relative
        one, which cannot be resolved from here).

        Raises:
            OSError: ``lstat(path)`` failed.
        """
        info = os.lstat(path)
        file = (info.st_dev, info.st_ino)
        exact = [entry for entry in self.entries if entry.file == file]
        if exact:
            return exact
        return [
            entry
            for entry in self.entries
            if entry.file is not None
            and entry.file[1] == info.st_ino
            and _names_file(entry.address, file, os.path.basename(path))
        ]

    def named(self, addr: UnixSocketAddr) -> list[SocketEntry]:
        """The sockets that carry ``addr`` as their name (exactly as it was bound)."""
        return [entry for entry in self.entries if entry.address == addr]


def _names_file(address: Optional[UnixSocketAddr], file: tuple[int, int], basename: str) -> bool:
    path = None if address is None else address.as_pathname()
    if path is None:
        return False
    if not path.is_absolute():
        return path.name == basename
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return (info.st_dev, info.st_ino) == file


# Netlink ------------------------------------------------------------------------------


def diag_request(seq: int = 1) -> bytes:
    """The ``SOCK_DIAG_BY_FAMILY`` dump request for every unix socket, with every detail."""
    body = _UNIX_DIAG_REQ.pack(socket.AF_UNIX, 0, 0, _ALL_STATES, 0, _SHOW, 0xFFFFFFFF, 0xFFFFFFFF)
    flags = _NLM_F_REQUEST | _NLM_F_DUMP
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(body), _SOCK_DIAG_BY_FAMILY, flags, seq, 0) + body


def _attributes(data: bytes, offset: int, end: int) -> Iterable[tuple[int, bytes]]:
    while offset + _NLATTR.size <= end:
        length, kind = _NLATTR.unpack_from(data, offset)
        if length < _NLATTR.size:
            break
        yield kind & 0x3FFF, data[offset + _NLATTR.size : offset + length]
        offset += _align(length)


def _entry(data: bytes, offset: int, end: int) -> Optional[SocketEntry]:
    family, kind, state, _, inode, _, _ = _UNIX_DIAG_MSG.unpack_from(data, offset)
    if family != socket.AF_UNIX:
        return None
    fields: dict[str, object] = {}
    for attr, value in _attributes(data, offset + _UNIX_DIAG_MSG.size, end):
        if attr == _UNIX_DIAG_NAME and value:
            fields["address"] = UnixSocketAddr.from_raw_bytes(value)
        elif attr == _UNIX_DIAG_VFS and len(value) >= 8:
            ino, dev = _U32_PAIR.unpack_from(value)
            fields["file"] = (_user_dev(dev), ino)
        elif attr == _UNIX_DIAG_PEER and len(value) >= 4:
            fields["peer"] = _U32.unpack_from(value)[0]
        elif attr == _UNIX_DIAG_ICONS:
            fields["pending"] = tuple(
                _U32.unpack_from(value, i)[0] for i in range(0, len(value) - 3, 4)
            )
        elif attr == _UNIX_DIAG_RQLEN and len(value) >= 8:
            fields["recv_queue"], fields["send_queue"] = _U32_PAIR.unpack_from(value)
        elif attr == _UNIX_DIAG_UID and len(value) >= 4:
            fields["uid"] = _U32.unpack_from(value)[0]
    return SocketEntry(
        inode,
        _TYPES.get(kind, f"type {kind}"),
        _DIAG_STATES.get(state, f"state {state}"),
        **fields,  # type: ignore[arg-type]
    )


def parse_diag(data: bytes) -> tuple[list[SocketEntry], bool]:
    """Parse one ``recv`` of netlink replies: the entries, and whether the dump is done.

    Raises:
        OSError: the kernel answered with an error message (its errno).
    """
    entries: list[SocketEntry] = []
    offset = 0
    while offset + _NLMSGHDR.size <= len(data):
        length, kind, _, _, _ = _NLMSGHDR.unpack_from(data, offset)
        if length < _NLMSGHDR.size or offset + length > len(data):
            break
        body = offset + _NLMSGHDR.size
        if kind == _NLMSG_DONE:
            return entries, True
        if kind == _NLMSG_ERROR:
            code = -_NLMSGERR.unpack_from(data, body)[0]
            if code:
                raise OSError(code, os.strerror(code))
            return entries, True
        if kind == _SOCK_DIAG_BY_FAMILY and length - _NLMSGHDR.size >= _UNIX_DIAG_MSG.size:
            entry = _entry(data, body, offset + length)
            if entry is not None:
                entries.append(entry)
        offset += _align(length)
    return entries, False


def read_diag() -> list[SocketEntry]:
    """Dump every unix socket of this network namespace over ``NETLINK_SOCK_DIAG``.

    Raises:
        OSError: no netlink here (not Linux, ``unix_diag`` not loaded, seccomp...).
    """
    family = getattr(socket, "AF_NETLINK", None)
    if family is None:
        raise OSError(errno.EAFNOSUPPORT, "no netlink on this platform")
    with socket.socket(family, socket.SOCK_RAW | socket.SOCK_CLOEXEC, _NETLINK_SOCK_DIAG) as sock:
        sock.sendall(diag_request())
        entries: list[SocketEntry] = []
        while True:
            data = sock.recv(1 << 16)
            if not data:
                return entries
            more, done = parse_diag(data)
            entries.extend(more)
            if done:
                return entries


# /proc/net/unix -------------------------------------------------------------------------


def _proc_address(name: bytes) -> Optional[UnixSocketAddr]:
    if not name:
        return None
    if name[:1] == b"@":
        # NUL bytes inside the name are shown as "@": the name may be another one.
        return UnixSocketAddr.from_raw_bytes(b"\0" + name[1:])
    return UnixSocketAddr.from_raw_bytes(name)


def parse_proc_net_unix(text: bytes) -> list[SocketEntry]:
    """Parse ``/proc/net/unix``; lines it cannot read (a name with a newline) are skipped."""
    entries = []
    for line in text.split(b"\n"):
        match = _PROC_LINE.fullmatch(line)
        if match is None:
            continue
        flags, kind, state = (int(match[i], 16) for i in (1, 2, 3))
        try:
            address = _proc_address(match[5] or b"")
        except (ValueError, OSError):
            continue
        entries.append(
            SocketEntry(
                int(match[4]),
                _TYPES.get(kind, f"type {kind}"),
                "listening" if flags & _ACCEPTCON else _PROC_STATES.get(state, f"state {state}"),
                address,
            )
        )
    return entries


def read_proc() -> list[SocketEntry]:
    """Read ``/proc/net/unix``.

    Raises:
        OSError: no ``/proc`` (not Linux, or not mounted).
    """
    with open("/proc/net/unix", "rb") as table:
        return parse_proc_net_unix(table.read())


def read_table() -> Optional[Table]:
    """This network namespace's unix sockets: netlink, else ``/proc/net/unix``, else ``None``."""
    try:
        return Table("diag", read_diag())
    except OSError:
        pass
    try:
        return Table("proc", read_proc())
    except OSError:
        return None


# Owners --------------------------------------------------------------------------------


def _command(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/comm", "rb") as comm:
            return comm.read().rstrip(b"\n").decode("utf-8", "backslashreplace")
    except OSError:
        return "?"


def owners(inodes: Optional[set[int]] = None) -> dict[int, list[Owner]]:
    """Which processes hold each socket inode (of ``inodes``, or all), from ``/proc/*/fd``.

    Processes we may not look into (another user's, unless root) are left out,
    as are ones that exit while we look.
    """
    found: dict[int, list[Owner]] = {}
    try:
        pids = [name for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return found
    for pid in pids:
        held: dict[int, list[int]] = {}
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(os.fsencode(f"/proc/{pid}/fd/{fd}"))
            except OSError:
                continue
            match = _SOCKET_LINK.fullmatch(target)
            if match is None:
                continue
            inode = int(match[1])
            if inodes is None or inode in inodes:
                held.setdefault(inode, []).append(int(fd))
        if held:
            command = _command(pid)
            for inode, numbers in held.items():
                found.setdefault(inode, []).append(Owner(int(pid), command, tuple(sorted(numbers))))
    return found
