"""bind(2) and connect(2) for unix addresses, paths of the full ``sun_path`` length included.

CPython's ``socket.bind``/``connect`` refuse a path that fills ``sun_path``
("AF_UNIX path too long"), although Linux, FreeBSD and NetBSD accept it (the
Rust crate and libc programs bind such paths). Those go through the C core,
which builds the ``sockaddr_un`` itself; every other address takes CPython's
call. Without the C core such a path never gets here: ``UnixSocketAddr``
refuses it first, saying why.
"""

from __future__ import annotations

import _socket
import os
from typing import Union

from uds import _addr
from uds._impl import native

__all__ = ["bind", "connect"]

_LONGEST_FOR_CPYTHON = _addr._SUN_PATH_LEN - 1


def _full_length(address: Union[str, bytes]) -> bytes | None:
    """The raw path when it is too long for CPython, else ``None``."""
    if native is None or not isinstance(address, str):
        return None  # abstract names (bytes) always fit CPython
    raw = os.fsencode(address)
    return raw if len(raw) > _LONGEST_FOR_CPYTHON else None


def bind(sock: _socket.socket, address: Union[str, bytes]) -> None:
    """``sock.bind(address)`` for a unix address as ``to_std()`` gives it.

    Raises:
        OSError: from ``bind(2)``.
    """
    raw = _full_length(address)
    if raw is None:
        sock.bind(address)
    else:
        native.bind_unix(sock, raw)  # type: ignore[union-attr]


def connect(sock: _socket.socket, address: Union[str, bytes]) -> None:
    """``sock.connect(address)`` for a unix address as ``to_std()`` gives it.

    Raises:
        OSError: from ``connect(2)``.
    """
    raw = _full_length(address)
    if raw is None:
        sock.connect(address)
    else:
        native.connect_unix(sock, raw)  # type: ignore[union-attr]
