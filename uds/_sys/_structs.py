"""Pure helpers shared by the per-OS struct parsers of :mod:`uds._sys`."""

from __future__ import annotations

import struct

GID = struct.Struct("=I")
POINTER_SIZE = struct.calcsize("P")


def unpack(layout: struct.Struct, raw: bytes, what: str) -> tuple[int, ...]:
    """Unpack the leading ``layout.size`` bytes of ``raw``.

    Raises:
        ValueError: ``raw`` is shorter than ``what`` needs.
    """
    if len(raw) < layout.size:
        raise ValueError(f"{what} needs {layout.size} bytes, got {len(raw)}")
    return layout.unpack_from(raw)


def gids(raw: bytes, offset: int, count: int, limit: int, what: str) -> tuple[int, ...]:
    """``count`` gid_t values at ``offset``; ``count`` must be within 0..``limit``.

    Raises:
        ValueError: ``count`` is out of range or ``raw`` is too short for it.
    """
    if not 0 <= count <= limit:
        raise ValueError(f"{what}: group count {count} is outside 0..{limit}")
    end = offset + count * GID.size
    if len(raw) < end:
        raise ValueError(f"{what} with {count} groups needs {end} bytes, got {len(raw)}")
    return struct.unpack_from(f"={count}I", raw, offset)


def timeval_ns(layout: struct.Struct, raw: bytes) -> int:
    """Nanoseconds since the epoch from a ``struct timeval`` laid out as ``layout``."""
    seconds, micros = unpack(layout, raw, "struct timeval")
    return seconds * 1_000_000_000 + micros * 1000


def align(offset: int, alignment: int) -> int:
    """``offset`` rounded up to a multiple of ``alignment``."""
    return -(-offset // alignment) * alignment
