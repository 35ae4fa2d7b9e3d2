"""The one switch between the C core (``uds._native``) and its pure-Python twin.

The C core is used when it was built and imports, unless the environment
variable ``UDS_PURE_PYTHON`` is set to anything but ``""`` or ``"0"``. Either way
the public names, signatures, docstrings and errors are the same: the C
functions take their docstrings from their twins here, and hand any input off
their fast path to the twin. :func:`native_available` says which one runs.
"""

from __future__ import annotations

import importlib
import inspect
import os
import socket
import types
from typing import TYPE_CHECKING, Any, Callable, Optional, TypeVar

from uds import _addr, _platform, _seqpacket_io
from uds._addr import UnixSocketAddr
from uds._fds import ReceivedFds
from uds._packet import Packet

__all__ = ["native", "native_available", "why_pure", "accelerate", "SocketSlots", "SeqpacketIO"]

_F = TypeVar("_F", bound=Callable[..., Any])
_sys = _platform.current

#: The pure-Python twins the C code falls back to, by name.
_TWINS = types.SimpleNamespace(SeqpacketIO=_seqpacket_io.SeqpacketIO)

native: Optional[types.ModuleType] = None
#: Why the pure-Python implementation runs (``None`` when the C core does).
why_pure: Optional[str] = None
#: Whether the C core reads socket objects' fd directly (it checked CPython's
#: layout on live sockets); if not, calls on socket objects go to the twins.
reads_socket_objects = False

if os.environ.get("UDS_PURE_PYTHON", "") not in ("", "0"):
    why_pure = "UDS_PURE_PYTHON is set"
else:
    try:
        native = importlib.import_module("uds._native")
    except ImportError as error:
        why_pure = f"uds._native is not available ({error})"


def _layout_probes() -> list[socket.socket]:
    """Sockets whose fd, family and timeout the C core checks its view of objects against."""
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    a.settimeout(None)
    b.settimeout(0.0)
    c = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    c.settimeout(2.5)
    return [a, b, c]


def _timeout_ns(sock: socket.socket) -> int:
    # CPython stores "no timeout" as -1 second, in nanoseconds.
    timeout = sock.gettimeout()
    return -1_000_000_000 if timeout is None else round(timeout * 1_000_000_000)


def _setup(module: types.ModuleType) -> None:
    global reads_socket_objects
    probes = _layout_probes()
    try:
        reads_socket_objects = module.setup(
            _TWINS,
            ReceivedFds,
            UnixSocketAddr.from_std,
            Packet,
            _platform.SEND_FLAGS,
            getattr(_platform, "SEQPACKET_SEND_FLAGS", _platform.SEND_FLAGS),
            _platform.RECV_FLAGS,
            _sys.MSG_DONTWAIT,
            _sys.MSG_PEEK,
            _sys.MSG_TRUNC,
            _sys.MSG_CTRUNC,
            getattr(_sys, "MSG_WAITFORONE", 0),
            _platform.SCM_MAX_FD,
            getattr(_sys, "SCM_PIDFD", None) or -1,
            sum(socket.CMSG_SPACE(size) for size in _sys.UNSOLICITED_CMSG_SIZES),
            tuple((sock, sock.fileno(), int(sock.family), _timeout_ns(sock)) for sock in probes),
        )
    finally:
        for sock in probes:
            sock.close()
    _document(module.SeqpacketIO, _seqpacket_io.SeqpacketIO)
    # ReceivedFds.close in one C call (the Python method stays as _TWINS.received_fds_close).
    _TWINS.received_fds_close = ReceivedFds.close
    module.set_docs(None, {"close": _doc_with_signature("close", ReceivedFds.close, "$self, ")})
    ReceivedFds.close = module.received_fds_close  # type: ignore[method-assign]


def _document(native_type: type, twin: type) -> None:
    """Give the C methods their twins' docstrings and signatures (``help()``, Sphinx)."""
    docs = {}
    for name in vars(native_type):
        method = getattr(twin, name, None)
        if name.startswith("_") or method is None or not method.__doc__:
            continue
        docs[name] = _doc_with_signature(name, method, "$self, ")
    native.set_docs(None, docs)  # type: ignore[union-attr]


def _doc_with_signature(name: str, twin: Callable[..., Any], first: str) -> str:
    """``name(sig)\\n--\\n\\n`` + the twin's docstring: CPython reads the signature from it."""
    parameters = []
    for parameter in inspect.signature(twin).parameters.values():
        if parameter.name == "self":
            continue
        text = parameter.name
        if parameter.default is not inspect.Parameter.empty:
            text += f"={parameter.default!r}"
        parameters.append(text)
    return f"{name}({first}{', '.join(parameters)})\n--\n\n{inspect.getdoc(twin)}"


def native_available() -> bool:
    """Whether the C core (``uds._native``) runs the hot paths in this process.

    It is False when the package was installed without a C compiler, or when
    the environment variable ``UDS_PURE_PYTHON`` is set (to anything but ``0``)
    before ``uds`` is imported; the pure-Python implementation then does the
    same work with the same results, more slowly.
    """
    return native is not None


def accelerate(twin: _F) -> _F:
    """The C function of the same name as ``twin`` when the C core runs, else ``twin``.

    ``twin`` becomes what the C function falls back to, and lends it its docstring.
    """
    _TWINS.__dict__[twin.__name__] = twin
    if native is None:
        return twin
    fast = getattr(native, twin.__name__)
    native.set_docs({twin.__name__: _doc_with_signature(twin.__name__, twin, "$module, ")}, None)
    return fast  # type: ignore[no-any-return]


if native is not None:
    _setup(native)
    _addr.allow_full_length_paths()

if TYPE_CHECKING:
    SocketSlots = _seqpacket_io.SocketSlots
    SeqpacketIO = _seqpacket_io.SeqpacketIO
elif native is not None:
    SocketSlots = native.SocketSlots
    SeqpacketIO = native.SeqpacketIO
else:
    SocketSlots = _seqpacket_io.SocketSlots
    SeqpacketIO = _seqpacket_io.SeqpacketIO
