"""``uds ls [ADDR...]``: the machine's unix sockets, as ``ss -x -p`` shows them, for people.

One line (or, with ``--json``, one JSON object) per socket: inode, type,
state, receive and send queue, bound name (abstract names escaped as
:class:`uds.UnixSocketAddr` prints them), peer (its name when it has one, else
``socket:[inode]``) and the processes holding it. With addresses, only the
sockets at those addresses (bound there, or accepted from a listener there)
and the sockets connected to them are listed. A path is matched by its socket
file (the inode), whatever name it was bound under, when the table has files
(netlink); otherwise by name, as given and made absolute.
"""

from __future__ import annotations

import json
import os
import stat
from typing import Optional, Sequence

from uds._addr import UnixSocketAddr
from uds._cli_table import Owner, SocketEntry, Table, owners

__all__ = ["select", "render_rows", "to_json"]

_HEADERS = ("INODE", "TYPE", "STATE", "RECV-Q", "SEND-Q", "ADDRESS", "PEER", "PROCESS")
_RIGHT_ALIGNED = {0, 3, 4}


def _names(addr: UnixSocketAddr) -> set[UnixSocketAddr]:
    names = {addr}
    path = addr.as_pathname()
    if path is not None and not path.is_absolute():
        try:
            names.add(UnixSocketAddr.from_path(os.path.abspath(path)))
        except ValueError:
            pass  # too long once absolute: it cannot have been bound that way
    return names


def _is_socket_file(path: str) -> bool:
    try:
        return stat.S_ISSOCK(os.lstat(path).st_mode)
    except OSError:
        return False


def select(table: Table, addresses: Sequence[UnixSocketAddr], listening: bool) -> list[SocketEntry]:
    """The entries at ``addresses`` (all if empty) and those connected to them, in table order.

    With ``listening`` only sockets that accept (listeners, bound datagram sockets).
    """
    entries = table.entries
    if addresses:
        names: set[UnixSocketAddr] = set()
        at: set[int] = set()
        for addr in addresses:
            path = addr.as_pathname()
            if table.source == "diag" and path is not None and _is_socket_file(str(path)):
                try:
                    at.update(entry.inode for entry in table.at_file(str(path)))
                    continue
                except OSError:
                    pass  # gone meanwhile: look for sockets still carrying the name
            names |= _names(addr)
        at.update(entry.inode for entry in entries if entry.address in names)
        entries = [entry for entry in entries if entry.inode in at or entry.peer in at]
    if listening:
        entries = [entry for entry in entries if entry.accepting]
    return entries


def _peer_text(entry: SocketEntry, by_inode: dict[int, SocketEntry]) -> str:
    if not entry.peer:
        return "-"
    peer = by_inode.get(entry.peer)
    if peer is not None and peer.address is not None:
        return str(peer.address)
    return f"socket:[{entry.peer}]"


def _owners_text(held: Sequence[Owner]) -> str:
    if not held:
        return "-"
    return ",".join(
        f"{owner.command}[{owner.pid}]:{'/'.join(map(str, owner.fds))}" for owner in held
    )


def _number(value: Optional[int]) -> str:
    return "-" if value is None else str(value)


def render_rows(table: Table, entries: Sequence[SocketEntry]) -> list[str]:
    """The text table: a header and one aligned line per entry."""
    by_inode = table.by_inode()
    held = owners({entry.inode for entry in entries})
    rows = [_HEADERS] + [
        (
            str(entry.inode),
            entry.type,
            entry.state,
            _number(entry.recv_queue),
            _number(entry.send_queue),
            "-" if entry.address is None else str(entry.address),
            _peer_text(entry, by_inode),
            _owners_text(held.get(entry.inode, ())),
        )
        for entry in entries
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_HEADERS))]
    lines = []
    for row in rows:
        cells = [
            cell.rjust(width) if i in _RIGHT_ALIGNED else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths))
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


def to_json(table: Table, entries: Sequence[SocketEntry]) -> list[str]:
    """One JSON object per entry (a line each), owners included."""
    by_inode = table.by_inode()
    held = owners({entry.inode for entry in entries})
    lines = []
    for entry in entries:
        peer = None
        if entry.peer:
            peer_entry = by_inode.get(entry.peer)
            peer_address = None if peer_entry is None else peer_entry.address
            peer = {
                "inode": entry.peer,
                "address": None if peer_address is None else str(peer_address),
            }
        value = {
            "inode": entry.inode,
            "type": entry.type,
            "state": entry.state,
            "address": None if entry.address is None else str(entry.address),
            "kind": None if entry.address is None else entry.address.name.kind,
            "file": None if entry.file is None else {"dev": entry.file[0], "ino": entry.file[1]},
            "peer": peer,
            "recv_queue": entry.recv_queue,
            "send_queue": entry.send_queue,
            "uid": entry.uid,
            "pending": list(entry.pending),
            "processes": [
                {"pid": owner.pid, "command": owner.command, "fds": list(owner.fds)}
                for owner in held.get(entry.inode, ())
            ],
            "source": table.source,
        }
        lines.append(json.dumps(value, sort_keys=True))
    return lines
