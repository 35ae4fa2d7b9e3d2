"""``uds info ADDR``: what is bound at an address, found by looking, else by connecting.

On Linux the kernel's socket table (``NETLINK_SOCK_DIAG``, see
:mod:`uds._cli_table`) answers without touching anything: an abstract name is
looked up exactly, and a path by its socket *file*: the sockets whose file is
the inode at that path (a relative path is resolved against the current
directory as any file is), whatever name they were bound under. A stale file
put at a live socket's old path is therefore not mistaken for it.

A connect probe, which a stream or seqpacket listener accepts as a real (at
once closed) connection, is made only when nothing else can answer, and the
command says so on stderr first: a socket file that no socket of this network
namespace is bound to (stale, or bound in another namespace), or no netlink
and a path ``/proc/net/unix`` does not show under that name, or no ``/proc``.
Where only ``/proc/net/unix`` is available it is read as before (names only:
NUL shown as ``@``, paths as bound). The report says which ``method``
answered.
"""

from __future__ import annotations

import errno
import os
import socket
import stat
from dataclasses import dataclass, field
from typing import Callable, Optional

from uds import _sun_path
from uds._addr import UnixSocketAddr
from uds._cli_table import SocketEntry, Table, read_table

__all__ = ["EXIT_STATUS", "Info", "PROBE_TYPES", "accepting_types", "probe_address", "render_text"]

PROBE_TYPES = (
    ("stream", socket.SOCK_STREAM),
    ("seqpacket", socket.SOCK_SEQPACKET),
    ("dgram", socket.SOCK_DGRAM),
)

REACHABLE = "reachable"
BUSY = "busy"  # a listener whose backlog is full: someone is there
REFUSED = "refused"
WRONG_TYPE = "wrong-type"
PERMISSION_DENIED = "permission-denied"
NOT_FOUND = "not-found"
# Results read from the kernel's socket table.
LISTENING = "listening"
BOUND = "bound"
CONNECTED = "connected"  # only connected sockets carry the name (accepted, or a bound client)
NONE = "none"

_RANK = {NONE: 0, CONNECTED: 1, BOUND: 2, LISTENING: 3}
_TYPE_NAMES = tuple(name for name, _ in PROBE_TYPES)
_ACCEPTING = {"stream": (LISTENING,), "seqpacket": (LISTENING,), "dgram": (BOUND,)}
_METHOD_TEXT = {
    "diag": "kernel socket table, netlink sock_diag (nothing connected)",
    "proc": "/proc/net/unix (nothing connected)",
    "connect": "connect probe (a listener sees a connection that closes at once)",
}

_FILE_TYPES = (
    (stat.S_ISSOCK, "socket"),
    (stat.S_ISREG, "regular file"),
    (stat.S_ISDIR, "directory"),
    (stat.S_ISLNK, "symbolic link"),
    (stat.S_ISFIFO, "fifo"),
    (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"),
)


@dataclass
class Info:
    """What ``uds info`` found.

    ``state`` is one of ``listening``, ``bound`` (a socket is bound but does not
    accept connections), ``stale`` (a socket file nobody is bound to), ``absent``,
    ``not-a-socket`` and ``permission-denied`` (also: someone listens at a
    path we may not connect to). ``method`` says what answered: ``"diag"``
    (netlink sock_diag), ``"proc"`` (``/proc/net/unix``), ``"connect"``
    (probes) or ``None`` (the file alone). ``resolved`` is a relative path
    made absolute against the current directory.
    """

    address: UnixSocketAddr
    state: str
    probes: dict[str, str] = field(default_factory=dict)
    file: Optional[dict[str, object]] = None
    method: Optional[str] = None

    @property
    def types(self) -> list[str]:
        """The socket types that someone accepts at the address."""
        return [
            name
            for name, result in self.probes.items()
            if result in (REACHABLE, BUSY) or result in _ACCEPTING[name]
        ]

    def to_json(self) -> dict[str, object]:
        """The machine-readable form printed by ``--json``."""
        return {
            "address": str(self.address),
            "kind": self.address.name.kind,
            "state": self.state,
            "types": self.types,
            "probes": self.probes,
            "file": self.file,
            "method": self.method,
            "resolved": self.resolved,
        }

    @property
    def resolved(self) -> Optional[str]:
        """The absolute path a relative path address names here, else ``None``."""
        path = self.address.as_pathname()
        if path is None or path.is_absolute():
            return None
        return os.path.abspath(path)


def _probe(addr: UnixSocketAddr, kind: int) -> str:
    sock = socket.socket(socket.AF_UNIX, kind)
    try:
        sock.setblocking(False)
        _sun_path.connect(sock, addr.to_std())
    except BlockingIOError:
        return BUSY
    except ConnectionRefusedError:
        return REFUSED
    except PermissionError:
        return PERMISSION_DENIED
    except FileNotFoundError:
        return NOT_FOUND
    except OSError as error:
        if error.errno == errno.EPROTOTYPE:
            return WRONG_TYPE
        return f"error: {os.strerror(error.errno or 0).lower()}"
    finally:
        sock.close()
    return REACHABLE


def _describe_file(path: str) -> dict[str, object]:
    st = os.lstat(path)
    kind = next((name for test, name in _FILE_TYPES if test(st.st_mode)), "other")
    return {
        "type": kind,
        "mode": f"{stat.S_IMODE(st.st_mode):04o}",
        "uid": st.st_uid,
        "gid": st.st_gid,
    }


def _result(entry: SocketEntry) -> str:
    if entry.state == "listening":
        return LISTENING
    if entry.state == "unconnected":
        return BOUND
    return CONNECTED


def _results(entries: list[SocketEntry]) -> dict[str, str]:
    """Per socket type, the most telling result among ``entries``."""
    found = dict.fromkeys(_TYPE_NAMES, NONE)
    for entry in entries:
        if entry.type not in found:
            continue
        result = _result(entry)
        if _RANK[result] > _RANK[found[entry.type]]:
            found[entry.type] = result
    return found


def _proc_names(addr: UnixSocketAddr) -> Optional[UnixSocketAddr]:
    """The name ``/proc/net/unix`` shows ``addr`` under; ``None`` if it cannot tell it apart.

    A relative path is resolved against the current directory: the table shows
    it as it was bound, which is comparable only when that was absolute too.
    """
    abstract = addr.as_abstract()
    if abstract is not None:
        # NUL is shown as "@" and a newline breaks the line: those names are ambiguous.
        return None if b"\0" in abstract or b"@" in abstract or b"\n" in abstract else addr
    path = addr.as_pathname()
    assert path is not None
    try:
        absolute = UnixSocketAddr.from_path(os.path.abspath(path))
    except ValueError:
        return None
    return None if b"\n" in absolute.as_raw_bytes() else absolute


def _look_up(
    addr: UnixSocketAddr, table: Table, file: Optional[tuple[int, int]]
) -> tuple[Optional[dict[str, str]], str]:
    """What the table says is at ``addr``, per type, or ``None`` and why it cannot say.

    ``file`` is the ``(st_dev, st_ino)`` of the socket file at a path address.
    """
    if table.source == "diag":
        path = addr.as_pathname()
        if file is not None and path is not None:
            try:
                entries = table.at_file(str(path))
            except OSError:
                return None, "the socket file went away while looking"
            if not entries:
                return None, "no socket of this network namespace is bound to that file"
            return _results(entries), ""
        return _results(table.named(addr)), ""
    name = _proc_names(addr)
    if name is None:
        return None, "/proc/net/unix cannot tell that name apart from others"
    found = _results(table.named(name))
    if file is not None and not {LISTENING, BOUND} & set(found.values()):
        # The socket may be bound under another name, or in another network namespace.
        return None, "/proc/net/unix shows no socket bound under that name"
    return found, ""


def _state_from_table(found: dict[str, str]) -> str:
    if any(result in _ACCEPTING[name] for name, result in found.items()):
        return "listening"
    if BOUND in found.values():
        return "bound"
    return "absent"


def _file_of(path: str) -> tuple[int, int]:
    info = os.lstat(path)
    return info.st_dev, info.st_ino


def accepting_types(addr: UnixSocketAddr) -> list[str]:
    """The socket types the kernel's table shows accepting at ``addr`` (no probing).

    Empty when nothing accepts there or the table cannot say.
    """
    table = read_table()
    if table is None:
        return []
    file = None
    path = addr.as_pathname()
    if path is not None:
        try:
            file = _file_of(str(path))
        except OSError:
            return []
    found, _ = _look_up(addr, table, file)
    if found is None:
        return []
    return [name for name, result in found.items() if result in _ACCEPTING[name]]


def probe_address(
    addr: UnixSocketAddr, before_probing: Callable[[str], None] = lambda reason: None
) -> Info:
    """Look ``addr`` up in the kernel's socket table; probe it only if that cannot answer.

    ``before_probing(reason)`` is called before the first probe connection.

    Raises:
        OSError: ``lstat`` failed for a reason other than absence or permission.
    """
    described: Optional[dict[str, object]] = None
    file: Optional[tuple[int, int]] = None
    path = addr.as_pathname()
    if path is not None:
        try:
            described = _describe_file(str(path))
            file = _file_of(str(path))
        except FileNotFoundError:
            return Info(addr, "absent")
        except PermissionError:
            return Info(addr, PERMISSION_DENIED)
        if described["type"] != "socket":
            return Info(addr, "not-a-socket", file=described)
    table = read_table()
    if table is None:
        found, reason = None, "no socket table here (no netlink, no /proc)"
    else:
        found, reason = _look_up(addr, table, file)
    if found is not None:
        assert table is not None
        state = _state_from_table(found)
        if path is not None and state == "absent":
            state = "stale"  # the file is there; only connections made earlier carry it
        if path is not None and state == "listening" and not os.access(path, os.W_OK):
            state = PERMISSION_DENIED  # someone listens, but we may not connect
        return Info(addr, state, found, described, table.source)
    before_probing(reason)
    probes = {name: _probe(addr, kind) for name, kind in PROBE_TYPES}
    results = set(probes.values())
    if results & {REACHABLE, BUSY}:
        state = "listening"
    elif PERMISSION_DENIED in results:
        state = PERMISSION_DENIED
    elif WRONG_TYPE in results:
        # Only for paths: abstract names are looked up together with the type,
        # so there another type reads as "refused".
        state = "bound"
    elif path is not None and REFUSED in results:
        state = "stale"
    else:
        state = "absent"
    return Info(addr, state, probes, described, "connect")


def render_text(info: Info) -> str:
    """The human-readable report: a summary line, then the method and one line per type."""
    summary = {
        "listening": f"listening ({', '.join(info.types)})",
        "bound": "a socket is bound but accepts no connection",
        "stale": "stale socket file: nobody is bound to it",
        "absent": "nothing accepts connections there",
        "not-a-socket": "not a socket",
        PERMISSION_DENIED: "permission denied",
    }[info.state]
    if info.state == PERMISSION_DENIED and info.types:
        summary += f" (listening: {', '.join(info.types)})"
    kind = "abstract address" if info.address.is_abstract else "path"
    lines = [f"{info.address}: {summary}", f"  kind: {kind}"]
    if info.resolved is not None:
        lines.append(f"  resolved: {info.resolved}")
    if info.file is not None:
        lines.append(
            f"  file: {info.file['type']}, mode {info.file['mode']}, "
            f"uid {info.file['uid']}, gid {info.file['gid']}"
        )
    if info.method is not None:
        lines.append(f"  method: {_METHOD_TEXT[info.method]}")
    lines.extend(f"  {name}: {result}" for name, result in info.probes.items())
    return "\n".join(lines)


#: Exit status of ``uds info`` for each state.
EXIT_STATUS = {
    "listening": 0,
    "bound": 1,
    "stale": 1,
    "absent": 1,
    "not-a-socket": 1,
    PERMISSION_DENIED: 3,
}
