"""Seqpacket send flags per platform: MSG_EOR where the OS needs it to keep records apart.

FreeBSD 15 merges consecutive seqpacket sends into one packet unless each carries
``MSG_EOR``; Linux, OpenBSD and NetBSD make every send a record. Only Linux runs
here, so the other platforms are pinned by their modules' flags.
"""

from __future__ import annotations

import socket
from types import ModuleType

import pytest

from uds import _platform
from uds._sys import darwin, freebsd, linux, netbsd, openbsd

# (module, needs MSG_EOR, the flags every seqpacket send carries) from each OS's headers.
EXPECTED = [
    (linux, False, 0x4000),  # MSG_NOSIGNAL
    (freebsd, True, 0x20000 | 0x8),  # MSG_NOSIGNAL | MSG_EOR
    (openbsd, False, 0x400),
    (netbsd, False, 0x400),
    (darwin, False, 0),  # no seqpacket, no MSG_NOSIGNAL
]


@pytest.mark.parametrize(
    ("module", "needs_eor", "flags"), EXPECTED, ids=[m.NAME for m, _, _ in EXPECTED]
)
def test_each_platform_says_whether_seqpacket_sends_need_msg_eor(
    module: ModuleType, needs_eor: bool, flags: int
) -> None:
    assert module.SEQPACKET_NEEDS_EOR is needs_eor
    assert _platform.seqpacket_send_flags(module) == flags
    # MSG_EOR is added on top of the ordinary send flags, never instead of them.
    assert flags & module.MSG_NOSIGNAL == module.MSG_NOSIGNAL
    assert bool(flags & module.MSG_EOR) is needs_eor


def test_freebsd_msg_eor_value() -> None:
    assert freebsd.MSG_EOR == 0x8  # sys/sys/socket.h


def test_this_platform_uses_its_own_flags() -> None:
    assert _platform.seqpacket_send_flags(_platform.current) == _platform.SEQPACKET_SEND_FLAGS
    assert _platform.SEQPACKET_SEND_FLAGS & _platform.SEND_FLAGS == _platform.SEND_FLAGS


@pytest.mark.skipif(_platform.current is not linux, reason="Linux flag values")
def test_linux_sends_as_before() -> None:
    assert _platform.SEQPACKET_SEND_FLAGS == _platform.SEND_FLAGS == socket.MSG_NOSIGNAL


def test_the_asyncio_seqpacket_sends_use_the_seqpacket_flags() -> None:
    from uds import _asyncio_seqpacket

    assert _asyncio_seqpacket._SEND_FLAGS == _platform.SEQPACKET_SEND_FLAGS


@pytest.mark.skipif(not _platform.current.HAS_SEQPACKET, reason="no SOCK_SEQPACKET here")
def test_sends_with_the_seqpacket_flags_stay_separate_records() -> None:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with a, b:
        for packet in (b"one", b"two", b""):
            assert a.send(packet, _platform.SEQPACKET_SEND_FLAGS) == len(packet)
        assert a.sendmsg([b"three"], [], _platform.SEQPACKET_SEND_FLAGS) == 5
        b.settimeout(5)
        assert [b.recv(100) for _ in range(4)] == [b"one", b"two", b"", b"three"]
