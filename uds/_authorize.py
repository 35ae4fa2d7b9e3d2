"""PeerPolicy: accept or refuse a connected peer by the credentials the kernel recorded."""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from typing import Iterable, Optional

from uds._credentials import ConnCredentials, initial_peer_credentials
from uds._fd import FileDescriptorLike

__all__ = ["PeerPolicy"]


def _ids(values: Iterable[int], what: str) -> frozenset[int]:
    ids = frozenset(values)
    for value in ids:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{what} must hold non-negative ints, got {value!r}")
    return ids


@dataclass(frozen=True)
class PeerPolicy:
    """Which peers a listener accepts, judged on ``SO_PEERCRED``-style credentials.

    A peer is allowed when *any* rule matches: its effective uid is in ``uids``,
    its effective gid or one of its supplementary groups is in ``gids``, its pid
    is in ``pids``, or it is root (euid 0) and ``allow_root`` is set. An empty
    policy allows nobody. The credentials are those the peer had when it
    connected (or created the pair), so a process that drops privileges later is
    still judged as it was. Pids can be reused once a process exits: a pid rule
    is only meaningful for a peer you know is still running (a child you have
    not reaped, say).

    Typical use in a listener::

        policy = PeerPolicy.same_user()
        conn, _ = uds.accept_unix_addr(listener)
        try:
            creds = policy.check(conn)
        except PermissionError:
            conn.close()
            continue
    """

    uids: frozenset[int] = frozenset()
    gids: frozenset[int] = frozenset()
    pids: frozenset[int] = frozenset()
    allow_root: bool = False

    def __init__(
        self,
        uids: Iterable[int] = (),
        gids: Iterable[int] = (),
        pids: Iterable[int] = (),
        allow_root: bool = False,
    ) -> None:
        """Build a policy; see the class notes for how the rules combine.

        Raises:
            ValueError: an id is negative or not an int.
        """
        object.__setattr__(self, "uids", _ids(uids, "uids"))
        object.__setattr__(self, "gids", _ids(gids, "gids"))
        object.__setattr__(self, "pids", _ids(pids, "pids"))
        object.__setattr__(self, "allow_root", bool(allow_root))

    @classmethod
    def same_user(cls, *, allow_root: bool = False) -> PeerPolicy:
        """A policy allowing peers with this process's effective uid."""
        return cls(uids=(os.geteuid(),), allow_root=allow_root)

    def allows(self, creds: ConnCredentials) -> bool:
        """Whether ``creds`` satisfy at least one rule of this policy."""
        if creds.euid in self.uids or (self.allow_root and creds.euid == 0):
            return True
        if creds.pid is not None and creds.pid in self.pids:
            return True
        if self.gids:
            groups = set(creds.groups)
            if creds.egid is not None:
                groups.add(creds.egid)
            return not self.gids.isdisjoint(groups)
        return False

    def check(self, sock: FileDescriptorLike) -> ConnCredentials:
        """Return the peer's credentials if this policy allows the peer of ``sock``.

        ``sock`` is a connected stream or seqpacket socket (or a socketpair end),
        borrowed as by the extension functions.

        Raises:
            PermissionError: the peer is not allowed (errno ``EACCES``); the
                message names its pid, uid, gid and groups.
            OSError: ``ENODATA``/``ENOTCONN`` when the socket has no peer;
                ``EAFNOSUPPORT`` when it is not a unix socket.
        """
        creds = initial_peer_credentials(sock)
        if not self.allows(creds):
            raise PermissionError(errno.EACCES, f"peer not allowed by {self!r}: {_who(creds)}")
        return creds

    def __repr__(self) -> str:
        parts = [
            f"{name}={sorted(values)}"
            for name, values in (("uids", self.uids), ("gids", self.gids), ("pids", self.pids))
            if values
        ]
        if self.allow_root:
            parts.append("allow_root=True")
        return f"PeerPolicy({', '.join(parts)})"


def _who(creds: ConnCredentials) -> str:
    pid: Optional[int] = creds.pid
    groups = ",".join(map(str, creds.groups)) or "none"
    return f"pid {pid}, uid {creds.euid}, gid {creds.egid}, groups {groups}"
