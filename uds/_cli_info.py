"""``uds info ADDR``: what is bound at an address, found by looking, else by connecting.

On Linux the kernel's table of unix sockets, ``/proc/net/unix``, says which
socket types are bound or listening at a name without touching them. Only
where it cannot answer is each socket type probed with a non-blocking
``connect``, which a stream or seqpacket listener accepts as a real (at once
closed) connection: a path that no bound socket in the table carries under
the same string (bound under another name, in another network namespace, or
stale), a relative path (relative to whose directory?), an abstract name the
table shows ambiguously (it prints NUL as ``@``), a name with a newline, a
socket file we may not connect to, or no ``/proc``. The report says which
``method`` answered.
"""

from __future__ import annotations

import errno
import os
import re
import socket
import stat
from dataclasses import dataclass, field
from typing import Optional

from uds._addr import UnixSocketAddr

__all__ = ["EXIT_STATUS", "Info", "PROBE_TYPES", "probe_address", "render_text"]

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
# Results read from /proc/net/unix.
LISTENING = "listening"
BOUND = "bound"
CONNECTED = "connected"  # only connected sockets carry the name (accepted, or a bound client)
NONE = "none"

_PROC_NET_UNIX = "/proc/net/unix"
_ACCEPTCON = 0x10000  # __SO_ACCEPTCON
_SS_UNCONNECTED = 1
_PROC_TYPES = {1: "stream", 2: "dgram", 5: "seqpacket"}
# Num: RefCount Protocol Flags Type St Inode Path
_PROC_LINE = re.compile(
    rb"[0-9A-Fa-f]+: [0-9A-F]{8} [0-9A-F]{8} ([0-9A-F]{8}) ([0-9A-F]{4}) ([0-9A-F]{2}) +[0-9]+ (.*)"
)
_RANK = {NONE: 0, CONNECTED: 1, BOUND: 2, LISTENING: 3}
_ACCEPTING = {"stream": (LISTENING,), "seqpacket": (LISTENING,), "dgram": (BOUND,)}
_METHOD_TEXT = {
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
    ``not-a-socket`` and ``permission-denied``. ``method`` says what answered:
    ``"proc"`` (``/proc/net/unix``), ``"connect"`` (probes) or ``None`` (the
    file alone).
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
        }


def _probe(addr: UnixSocketAddr, kind: int) -> str:
    sock = socket.socket(socket.AF_UNIX, kind)
    try:
        sock.setblocking(False)
        sock.connect(addr.to_std())
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


def _proc_name(addr: UnixSocketAddr) -> Optional[bytes]:
    """How ``/proc/net/unix`` shows ``addr``; ``None`` if the table cannot tell it apart.

    A relative path is shown as it was bound, relative to the binder's directory,
    which may not be ours.
    """
    if addr.is_relative_path:
        return None
    abstract = addr.as_abstract()
    name = (
        b"@" + abstract.replace(b"\0", b"@") if abstract is not None else os.fsencode(addr.to_std())
    )
    return None if b"\n" in name else name


def _proc_lookup(addr: UnixSocketAddr) -> Optional[dict[str, str]]:
    """What ``/proc/net/unix`` says is at ``addr``, per socket type; ``None`` if it cannot say.

    It says nothing for a path that no bound or listening socket carries under
    the same string: that socket may be bound under another name, or in another
    network namespace. (A socket whose file was removed keeps its name in the
    table; a new file at that path is not told apart.)
    """
    name = _proc_name(addr)
    if name is None:
        return None
    try:
        with open(_PROC_NET_UNIX, "rb") as table:
            lines = table.read().split(b"\n")
    except OSError:
        return None  # not Linux, or no /proc
    found = dict.fromkeys(_PROC_TYPES.values(), NONE)
    for line in lines:
        match = _PROC_LINE.fullmatch(line)
        if match is None or match[4] != name:
            continue
        flags, kind, state = (int(match[i], 16) for i in (1, 2, 3))
        type_name = _PROC_TYPES.get(kind)
        if type_name is None:
            continue
        if flags & _ACCEPTCON:
            result = LISTENING
        elif state == _SS_UNCONNECTED:
            result = BOUND
        else:
            result = CONNECTED
        if _RANK[result] > _RANK[found[type_name]]:
            found[type_name] = result
    if addr.is_path and not {LISTENING, BOUND} & set(found.values()):
        return None
    if addr.is_abstract and b"@" in name[1:]:
        return None  # "@a@b" may be the line of the name "a\0b"
    return found


def _state_from_proc(found: dict[str, str]) -> str:
    if any(result in _ACCEPTING[name] for name, result in found.items()):
        return "listening"
    if BOUND in found.values():
        return "bound"
    return "absent"


def probe_address(addr: UnixSocketAddr) -> Info:
    """Look at ``addr`` in ``/proc/net/unix``, else probe it with every socket type.

    Raises:
        OSError: ``lstat`` failed for a reason other than absence or permission.
    """
    described: Optional[dict[str, object]] = None
    path = addr.as_pathname()
    if path is not None:
        try:
            described = _describe_file(str(path))
        except FileNotFoundError:
            return Info(addr, "absent")
        except PermissionError:
            return Info(addr, PERMISSION_DENIED)
        if described["type"] != "socket":
            return Info(addr, "not-a-socket", file=described)
    # A connect that permissions refuse reaches no listener: let the probes say so.
    found = _proc_lookup(addr) if path is None or os.access(path, os.W_OK) else None
    if found is not None:
        return Info(addr, _state_from_proc(found), found, described, "proc")
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
    kind = "abstract address" if info.address.is_abstract else "path"
    lines = [f"{info.address}: {summary}", f"  kind: {kind}"]
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
