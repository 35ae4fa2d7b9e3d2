"""The one place where the running OS is chosen.

Everything platform-dependent is read from :data:`current`, a module of
:mod:`uds._sys` selected once at import time; the rest of the library never
looks at ``sys.platform``.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType

_MODULE_FOR_PLATFORM = {
    "linux": "linux",
    "freebsd": "freebsd",
    "darwin": "darwin",
    "openbsd": "openbsd",
    "netbsd": "netbsd",
}


def _select(platform: str) -> ModuleType:
    for prefix, name in _MODULE_FOR_PLATFORM.items():
        if platform.startswith(prefix):
            return importlib.import_module(f"uds._sys.{name}")
    raise ImportError(f"uds supports Linux, FreeBSD, macOS, OpenBSD and NetBSD, not {platform!r}")


current: ModuleType = _select(sys.platform)

#: Flags added to every send: no SIGPIPE on a closed peer where the OS has a flag for it.
SEND_FLAGS: int = current.MSG_NOSIGNAL


def seqpacket_send_flags(platform: ModuleType) -> int:
    """The flags every seqpacket send needs on ``platform`` (a module of :mod:`uds._sys`).

    ``MSG_NOSIGNAL``, plus ``MSG_EOR`` where the OS merges seqpacket sends into
    one record unless each carries it (``SEQPACKET_NEEDS_EOR``: FreeBSD 15).
    """
    flags: int = platform.MSG_NOSIGNAL
    if platform.SEQPACKET_NEEDS_EOR:
        flags |= platform.MSG_EOR
    return flags


#: Flags added to every send on a seqpacket socket: SEND_FLAGS, and MSG_EOR
#: where each send must mark the end of its record (FreeBSD).
SEQPACKET_SEND_FLAGS: int = seqpacket_send_flags(current)
#: Flags added to every receive that can carry fds: they arrive close-on-exec.
RECV_FLAGS: int = current.MSG_CMSG_CLOEXEC
SCM_MAX_FD: int = current.SCM_MAX_FD
