"""UnixSocketAddr: a path, an abstract name or nothing, validated and immutable."""

from __future__ import annotations

import errno
import os
import pathlib
import re
from functools import total_ordering
from typing import NamedTuple, Optional, Union

from uds import _platform

__all__ = ["UnixSocketAddr", "AddrName", "AddrLike", "naming"]

_SUN_PATH_LEN: int = _platform.current.SUN_PATH_LEN
# A path may fill sun_path without a NUL where the kernel does not need one
# (Linux, FreeBSD, NetBSD); binding or connecting to one takes the C core,
# since CPython's bind/connect keep a byte for the NUL. uds._impl raises
# _path_limit to _FULL_PATH_LEN when the C core runs.
_FULL_PATH_LEN: int = _SUN_PATH_LEN - (1 if _platform.current.PATH_NEEDS_NUL else 0)
_path_limit: int = _SUN_PATH_LEN - 1


def allow_full_length_paths() -> None:
    """Accept paths of the full ``sun_path`` length (the C core can bind and connect them)."""
    global _path_limit
    _path_limit = _FULL_PATH_LEN
_HAS_ABSTRACT: bool = _platform.current.HAS_ABSTRACT_ADDRESSES

UNNAMED = "unnamed"
PATH = "path"
ABSTRACT = "abstract"
_KIND_ORDER = {UNNAMED: 0, PATH: 1, ABSTRACT: 2}

_PRINTABLE = frozenset(range(0x20, 0x7F)) - {ord("\\")}
# Paths that str() prefixes with "./" (they would read as abstract, or as a
# shorter such path), and what new() strips one "./" from.
_AMBIGUOUS_PATH = re.compile(rb"(?:\./)*@")
_DOT_AT = re.compile(rb"\./(?:\./)*@")


class AddrName(NamedTuple):
    """What an address names: ``kind`` is ``"unnamed"``, ``"path"`` or ``"abstract"``.

    ``value`` is ``None``, a :class:`pathlib.Path` or the abstract name as ``bytes``.
    """

    kind: str
    value: Union[pathlib.Path, bytes, None]


def _escape(name: bytes) -> str:
    return "".join(chr(b) if b in _PRINTABLE else f"\\x{b:02x}" for b in name)


@total_ordering
class UnixSocketAddr:
    """The address of a unix socket: a filesystem path, an abstract name, or unnamed.

    Instances are immutable, hashable and ordered (unnamed < path < abstract, then
    by bytes). Build them with the ``new``/``from_*`` class methods; the constructor
    is private.
    """

    __slots__ = ("_kind", "_raw")

    _kind: str
    _raw: bytes

    def __init__(self, kind: str, raw: bytes, *, _validated: bool = False) -> None:
        if not _validated:
            raise TypeError("use UnixSocketAddr.new() or one of the from_*() constructors")
        object.__setattr__(self, "_kind", kind)
        object.__setattr__(self, "_raw", raw)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("UnixSocketAddr is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("UnixSocketAddr is immutable")

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (self._kind, self._raw))

    # Limits ----------------------------------------------------------------

    @staticmethod
    def max_path_len() -> int:
        """The longest path, in bytes, that a socket can be bound or connected to.

        Where the kernel does not need a terminating NUL (Linux, FreeBSD,
        NetBSD), a path may fill all of ``sun_path`` (108 bytes on Linux) when
        the C core runs (:func:`uds.native_available`); otherwise, and on
        systems that need the NUL (macOS, OpenBSD), one byte is kept for it.
        """
        return _path_limit

    @staticmethod
    def max_abstract_len() -> int:
        """The longest abstract name in bytes (``sun_path`` minus the leading NUL)."""
        return _SUN_PATH_LEN - 1

    @staticmethod
    def has_abstract_addresses() -> bool:
        """Whether this OS has abstract addresses (Linux only)."""
        return _HAS_ABSTRACT

    # Constructors ----------------------------------------------------------

    @classmethod
    def new(cls, addr: AddrLike) -> UnixSocketAddr:
        """Parse an address the way a user writes it.

        ``"@name"`` (or ``b"@name"``) is abstract, ``""`` is unnamed, anything else
        is a path; an existing :class:`UnixSocketAddr` is returned unchanged. A path
        that really starts with ``@`` is written ``"./@name"`` (what ``str()``
        prints for it) or built with :meth:`from_path`: one leading ``./`` before
        an ``@`` is dropped, so ``new(str(addr)) == addr`` for every path (and
        for abstract names of printable ASCII other than backslash).

        Raises:
            ValueError: the path or name is too long, or a path contains NUL.
            TypeError: ``addr`` is not a str, bytes, path-like or address.
        """
        if isinstance(addr, UnixSocketAddr):
            return addr
        if isinstance(addr, str):
            if not addr:
                return cls.new_unspecified()
            if addr[0] == "@":
                return cls.from_abstract(addr[1:])
            if addr[:2] == "./" and _DOT_AT.match(os.fsencode(addr)):
                return cls.from_path(addr[2:])
            return cls.from_path(addr)
        if isinstance(addr, (bytes, bytearray, memoryview)):
            raw = bytes(addr)
            if not raw:
                return cls.new_unspecified()
            if raw[:1] == b"@":
                return cls.from_abstract(raw[1:])
            if _DOT_AT.match(raw):
                return cls.from_path(raw[2:])
            return cls.from_path(raw)
        if isinstance(addr, os.PathLike):
            return cls.from_path(addr)
        raise TypeError(f"cannot make a unix socket address from {type(addr).__name__}")

    @classmethod
    def from_path(
        cls, path: Union[str, bytes, os.PathLike[str], os.PathLike[bytes]]
    ) -> UnixSocketAddr:
        """An address for the filesystem path ``path`` (relative or absolute).

        Raises:
            ValueError: ``path`` is empty, contains NUL or is longer than
                :meth:`max_path_len` bytes once encoded.
        """
        raw = os.fsencode(path)
        if not raw:
            raise ValueError("a socket path cannot be empty (use new_unspecified() for unnamed)")
        if b"\0" in raw:
            raise ValueError(f"a socket path cannot contain NUL bytes: {raw!r}")
        if len(raw) > _path_limit:
            why = ""
            if len(raw) <= _FULL_PATH_LEN:
                why = (
                    " (a path that fills sun_path needs uds's C core, which is not running:"
                    " CPython's bind and connect keep a byte for the NUL)"
                )
            raise ValueError(
                f"socket path is {len(raw)} bytes, longer than the limit of {_path_limit}"
                f"{why}: {raw!r}"
            )
        return cls(PATH, raw, _validated=True)

    @classmethod
    def from_abstract(cls, name: Union[str, bytes]) -> UnixSocketAddr:
        """An abstract address (Linux); ``name`` may hold any bytes, NUL included.

        A ``str`` name is encoded as UTF-8.

        Raises:
            ValueError: the name is longer than :meth:`max_abstract_len` bytes.
            UnsupportedPlatformError: the OS has no abstract addresses.
        """
        if not _HAS_ABSTRACT:
            from uds._errors import UnsupportedPlatformError

            raise UnsupportedPlatformError("abstract unix socket addresses")
        raw = name.encode() if isinstance(name, str) else bytes(name)
        limit = _SUN_PATH_LEN - 1
        if len(raw) > limit:
            raise ValueError(
                f"abstract name is {len(raw)} bytes, longer than the limit of {limit}: {raw!r}"
            )
        return cls(ABSTRACT, raw, _validated=True)

    @classmethod
    def new_unspecified(cls) -> UnixSocketAddr:
        """The unnamed address (that of an unbound socket or a socketpair end).

        Binding to it asks Linux to autobind to a fresh abstract name.
        """
        return _UNNAMED

    @classmethod
    def from_raw_bytes(cls, raw: bytes) -> UnixSocketAddr:
        """Parse ``sun_path`` bytes as the kernel gives them.

        Empty is unnamed, a leading NUL marks an abstract name (all further bytes
        belong to it), otherwise a path that ends at the first NUL.

        Raises:
            ValueError: the bytes are longer than ``sun_path``.
        """
        raw = bytes(raw)
        if len(raw) > _SUN_PATH_LEN:
            raise ValueError(f"{len(raw)} bytes do not fit in sun_path ({_SUN_PATH_LEN} bytes)")
        if not raw:
            return _UNNAMED
        if raw[0] == 0:
            return cls.from_abstract(raw[1:])
        end = raw.find(b"\0")
        path = raw if end < 0 else raw[:end]
        if len(path) > _SUN_PATH_LEN - 1:
            # The kernel accepts a path that fills sun_path without a NUL; keep it.
            return cls(PATH, path, _validated=True)
        return cls.from_path(path)

    @classmethod
    def from_std(cls, addr: Union[str, bytes, bytearray]) -> UnixSocketAddr:
        """Convert what ``socket.getsockname()``/``recvfrom()`` return for AF_UNIX.

        Raises:
            OSError: ``addr`` is not a unix address (errno ``EAFNOSUPPORT``),
                e.g. the tuple of an inet socket.
        """
        # Servers convert the same few addresses over and over (their own, each
        # client's): addresses are immutable, so equal inputs can share one object.
        cached = _FROM_STD_CACHE.get(addr) if type(addr) is str or type(addr) is bytes else None
        if cached is not None:
            return cached
        # Fast paths for what the kernel hands back through getsockname()/recvfrom():
        # already within sun_path, so only the kind needs deciding.
        if type(addr) is bytes and addr[:1] == b"\0" and _HAS_ABSTRACT:
            if len(addr) <= _SUN_PATH_LEN:
                return _remember(addr, _make(cls, ABSTRACT, addr[1:]))
        elif type(addr) is str and addr:
            raw = os.fsencode(addr)
            if len(raw) < _SUN_PATH_LEN and b"\0" not in raw:
                return _remember(addr, _make(cls, PATH, raw))
        if isinstance(addr, str):
            return cls.from_raw_bytes(os.fsencode(addr)) if addr else _UNNAMED
        if isinstance(addr, (bytes, bytearray)):
            return cls.from_raw_bytes(bytes(addr))
        raise OSError(errno.EAFNOSUPPORT, f"not the address of a unix socket: {addr!r}")

    # Queries ---------------------------------------------------------------

    @property
    def is_unnamed(self) -> bool:
        """True for the address of an unbound socket or a socketpair end."""
        return self._kind == UNNAMED

    @property
    def is_abstract(self) -> bool:
        """True for an abstract (Linux) address."""
        return self._kind == ABSTRACT

    @property
    def is_path(self) -> bool:
        """True for a filesystem path."""
        return self._kind == PATH

    @property
    def is_absolute_path(self) -> bool:
        """True for a path that starts with ``/``."""
        return self._kind == PATH and self._raw[:1] == b"/"

    @property
    def is_relative_path(self) -> bool:
        """True for a path that does not start with ``/``."""
        return self._kind == PATH and self._raw[:1] != b"/"

    def as_pathname(self) -> Optional[pathlib.Path]:
        """The path, or ``None`` when this is not a path address."""
        return pathlib.Path(os.fsdecode(self._raw)) if self._kind == PATH else None

    def as_abstract(self) -> Optional[bytes]:
        """The abstract name without the leading NUL, or ``None``."""
        return self._raw if self._kind == ABSTRACT else None

    @property
    def name(self) -> AddrName:
        """The kind and value of the address as an :class:`AddrName`."""
        if self._kind == PATH:
            return AddrName(PATH, pathlib.Path(os.fsdecode(self._raw)))
        if self._kind == ABSTRACT:
            return AddrName(ABSTRACT, self._raw)
        return AddrName(UNNAMED, None)

    def as_raw_bytes(self) -> bytes:
        """The ``sun_path`` bytes: the path, NUL plus name, or empty."""
        if self._kind == ABSTRACT:
            return b"\0" + self._raw
        return self._raw

    def to_std(self) -> Union[str, bytes]:
        """The value that ``socket.bind``/``connect``/``sendto`` accept for this address.

        A path is a ``str`` (as ``getsockname()`` returns it), an abstract name is
        ``bytes`` with a leading NUL, unnamed is ``""``.
        """
        if self._kind == PATH:
            return os.fsdecode(self._raw)
        if self._kind == ABSTRACT:
            return b"\0" + self._raw
        return ""

    # Dunders ---------------------------------------------------------------

    def __str__(self) -> str:
        """``@name`` for abstract (bytes outside printable ASCII as ``\\xNN``), the path
        for a path, ``(unnamed)``; :meth:`new` parses a path back to an equal address.

        A path that :meth:`new` would read as abstract (``@name``, or ``./@name``
        which it reads as ``@name``) is printed with one more leading ``./``.
        """
        if self._kind == PATH:
            if _AMBIGUOUS_PATH.match(self._raw):
                return "./" + os.fsdecode(self._raw)
            return os.fsdecode(self._raw)
        if self._kind == ABSTRACT:
            return "@" + _escape(self._raw)
        return "(unnamed)"

    def __repr__(self) -> str:
        if self._kind == PATH:
            return f"UnixSocketAddr.from_path({self._raw!r})"
        if self._kind == ABSTRACT:
            return f"UnixSocketAddr.from_abstract({self._raw!r})"
        return "UnixSocketAddr.new_unspecified()"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, UnixSocketAddr):
            return NotImplemented
        return self._kind == other._kind and self._raw == other._raw

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, UnixSocketAddr):
            return NotImplemented
        return (_KIND_ORDER[self._kind], self._raw) < (_KIND_ORDER[other._kind], other._raw)

    def __hash__(self) -> int:
        return hash((self._kind, self._raw))


# The slots' own descriptors: they store without going through the refusing __setattr__.
_set_kind = UnixSocketAddr.__dict__["_kind"].__set__
_set_raw = UnixSocketAddr.__dict__["_raw"].__set__


def _make(cls: type[UnixSocketAddr], kind: str, raw: bytes) -> UnixSocketAddr:
    """An address from a ``kind`` and ``raw`` already validated, without the Python __init__."""
    addr = object.__new__(cls)
    _set_kind(addr, kind)
    _set_raw(addr, raw)
    return addr


def _rebuild(kind: str, raw: bytes) -> UnixSocketAddr:
    return UnixSocketAddr(kind, raw, _validated=True)


_UNNAMED = UnixSocketAddr(UNNAMED, b"", _validated=True)

_FROM_STD_CACHE: dict[Union[str, bytes], UnixSocketAddr] = {"": _UNNAMED, b"": _UNNAMED}
_FROM_STD_CACHE_LIMIT = 1024


def _remember(key: Union[str, bytes], addr: UnixSocketAddr) -> UnixSocketAddr:
    if len(_FROM_STD_CACHE) >= _FROM_STD_CACHE_LIMIT:
        # Crude but bounded: a server that sees many distinct peers starts over.
        _FROM_STD_CACHE.clear()
        _FROM_STD_CACHE[""] = _FROM_STD_CACHE[b""] = _UNNAMED
    _FROM_STD_CACHE[key] = addr
    return addr


AddrLike = Union[UnixSocketAddr, str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]


def naming(error: OSError, addr: UnixSocketAddr) -> OSError:
    """Set ``addr`` as ``error.filename`` (so ``str(error)`` says where) and return ``error``.

    The class, errno and traceback stay: ``[Errno 98] Address already in use:
    '@name'``. An error that already names a file, or has no errno (an
    argument error, say), is returned unchanged.
    """
    if error.filename is None and error.errno is not None:
        error.filename = str(addr)
    return error
