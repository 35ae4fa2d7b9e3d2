"""``uds info ADDR``: what is bound at an address, found by looking and by connecting.

Each socket type is probed with a non-blocking ``connect``. For a stream or
seqpacket listener the probe is a real connection that the server will accept
and see closed at once; a datagram probe sends nothing.
"""

from __future__ import annotations

import errno
import os
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
    ``not-a-socket`` and ``permission-denied``.
    """

    address: UnixSocketAddr
    state: str
    probes: dict[str, str] = field(default_factory=dict)
    file: Optional[dict[str, object]] = None

    @property
    def types(self) -> list[str]:
        """The socket types that someone accepts at the address."""
        return [name for name, result in self.probes.items() if result in (REACHABLE, BUSY)]

    def to_json(self) -> dict[str, object]:
        """The machine-readable form printed by ``--json``."""
        return {
            "address": str(self.address),
            "kind": self.address.name.kind,
            "state": self.state,
            "types": self.types,
            "probes": self.probes,
            "file": self.file,
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


def probe_address(addr: UnixSocketAddr) -> Info:
    """Look at ``addr`` and probe it with every socket type.

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
    return Info(addr, state, probes, described)


def render_text(info: Info) -> str:
    """The human-readable report: a summary line, then one line per probe."""
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
