"""Per-OS constants and struct parsers, on byte layouts built from each OS's headers.

The structs are packed here with explicit little-endian formats as the
amd64 headers lay them out (sys/socket.h, sys/un.h, sys/ucred.h), independently
of the parsers' own struct definitions, so a wrong offset or field order fails.
"""

from __future__ import annotations

import os
import socket
import struct
from array import array
from types import ModuleType

import pytest

from tests.helpers import assert_cloexec
from uds._cmsg import parse_ancillary
from uds._credentials import ReceivedCredentials
from uds._sys import darwin, freebsd, linux, netbsd, openbsd

PLATFORMS = [linux, freebsd, darwin, openbsd, netbsd]
SHARED_NAMES = [
    "NAME",
    "SUN_PATH_LEN",
    "HAS_ABSTRACT_ADDRESSES",
    "HAS_SEQPACKET",
    "HAS_ACCEPT4",
    "SCM_MAX_FD",
    "SOL_SOCKET",
    "SCM_RIGHTS",
    "SCM_TIMESTAMP",
    "SO_TIMESTAMP",
    "SO_NOSIGPIPE",
    "MSG_PEEK",
    "MSG_EOR",
    "MSG_TRUNC",
    "MSG_CTRUNC",
    "MSG_DONTWAIT",
    "MSG_NOSIGNAL",
    "MSG_CMSG_CLOEXEC",
    "PASSCRED_OPTION",
    "TIMESTAMP_OPTION",
    "TIMESTAMPNS_OPTION",
    "PASSPIDFD_OPTION",
    "PASSSEC_OPTION",
    "NOSIGPIPE_OPTION",
    "PASSCRED_EVERY_MESSAGE",
    "UNSOLICITED_CMSG_SIZES",
    "CREDENTIALS_PARSERS",
    "TIMESTAMP_PARSERS",
    "credentials_cmsg",
    "own_credentials_cmsg",
    "read_peer_credentials",
    "parse_timeval_ns",
]
ids = [module.NAME for module in PLATFORMS]


@pytest.mark.parametrize("module", PLATFORMS, ids=ids)
def test_every_platform_defines_the_shared_names(module: ModuleType) -> None:
    missing = [name for name in SHARED_NAMES if not hasattr(module, name)]
    assert missing == []


@pytest.mark.parametrize("module", PLATFORMS[1:], ids=ids[1:])
def test_bsd_family_constants(module: ModuleType) -> None:
    assert (module.SOL_SOCKET, module.SCM_RIGHTS, module.SUN_PATH_LEN) == (0xFFFF, 1, 104)
    assert (module.MSG_PEEK, module.MSG_EOR, module.MSG_TRUNC, module.MSG_CTRUNC) == (
        0x2,
        0x8,
        0x10,
        0x20,
    )
    assert module.MSG_DONTWAIT == 0x80 and not module.HAS_ABSTRACT_ADDRESSES


def test_linux_constants_match_the_socket_module() -> None:
    for name in ("SOL_SOCKET", "SCM_RIGHTS", "SCM_CREDENTIALS", "MSG_CTRUNC", "MSG_TRUNC"):
        assert getattr(linux, name) == getattr(socket, name), name
    for name in ("SO_PASSCRED", "SO_PEERCRED", "MSG_NOSIGNAL", "MSG_CMSG_CLOEXEC"):
        assert getattr(linux, name) == getattr(socket, name), name
    assert linux.PASSCRED_OPTION == (socket.SOL_SOCKET, socket.SO_PASSCRED)


def test_header_values() -> None:
    """Values copied from the headers, named so a typo in a module shows here."""
    assert (freebsd.SCM_TIMESTAMP, freebsd.SCM_CREDS, freebsd.SCM_CREDS2) == (0x02, 0x03, 0x08)
    assert (freebsd.SOL_LOCAL, freebsd.LOCAL_PEERCRED, freebsd.LOCAL_CREDS) == (0, 1, 2)
    assert freebsd.LOCAL_CREDS_PERSISTENT == 3 and freebsd.SO_TIMESTAMP == 0x0400
    assert (freebsd.MSG_NOSIGNAL, freebsd.MSG_CMSG_CLOEXEC) == (0x20000, 0x40000)
    assert (darwin.SOL_LOCAL, darwin.LOCAL_PEERCRED, darwin.LOCAL_PEERPID) == (0, 1, 2)
    assert (darwin.SO_NOSIGPIPE, darwin.SO_TIMESTAMP, darwin.SCM_TIMESTAMP) == (0x1022, 0x400, 2)
    assert (darwin.MSG_NOSIGNAL, darwin.MSG_CMSG_CLOEXEC, darwin.HAS_SEQPACKET) == (0, 0, False)
    assert (openbsd.SO_PEERCRED, openbsd.SO_TIMESTAMP, openbsd.SCM_TIMESTAMP) == (0x1022, 0x800, 4)
    assert (openbsd.MSG_NOSIGNAL, openbsd.MSG_CMSG_CLOEXEC) == (0x400, 0x800)
    assert (netbsd.SOL_LOCAL, netbsd.LOCAL_PEEREID, netbsd.LOCAL_CREDS) == (0, 3, 4)
    assert (netbsd.SCM_TIMESTAMP, netbsd.SCM_CREDS, netbsd.SO_TIMESTAMP) == (0x08, 0x10, 0x2000)
    assert (netbsd.MSG_NOSIGNAL, netbsd.MSG_CMSG_CLOEXEC, netbsd.SO_NOSIGPIPE) == (
        0x400,
        0x800,
        0x800,
    )


def test_unsupported_features_are_none() -> None:
    for module in (darwin, openbsd):
        assert module.PASSCRED_OPTION is None and module.credentials_cmsg is None
        assert module.CREDENTIALS_PARSERS == {}
    for module in PLATFORMS[1:]:
        assert module.PASSPIDFD_OPTION is None and module.PASSSEC_OPTION is None
        assert module.TIMESTAMPNS_OPTION is None
    assert linux.NOSIGPIPE_OPTION is None and openbsd.NOSIGPIPE_OPTION is None


# Linux -----------------------------------------------------------------------


def test_linux_ucred_and_timestamps() -> None:
    assert linux.parse_ucred(struct.pack("<iII", 42, 1000, 100)) == (42, 1000, 100)
    assert linux.parse_timeval_ns(struct.pack("<qq", 1_700_000_000, 123_456)) == (
        1_700_000_000_123_456_000
    )
    assert linux.parse_timespec_ns(struct.pack("<qq", 1_700_000_000, 999_999_999)) == (
        1_700_000_000_999_999_999
    )
    with pytest.raises(ValueError, match="12 bytes, got 11"):
        linux.parse_ucred(bytes(11))


# FreeBSD ---------------------------------------------------------------------


def xucred_freebsd(uid: int, groups: list[int], pid: int) -> bytes:
    # u_int cr_version; uid_t cr_uid; short cr_ngroups; (2 pad) gid_t cr_groups[16];
    # (4 pad to the 8-aligned union) union { void *; pid_t cr_pid; }
    padded = groups + [0] * (16 - len(groups))
    return struct.pack("<IIh2x16I4xi4x", 0, uid, len(groups), *padded, pid)


def test_freebsd_xucred_with_pid() -> None:
    raw = xucred_freebsd(1001, [20, 0, 5], 4242)
    assert len(raw) == 88 == freebsd.XUCRED_SIZE
    assert freebsd.parse_xucred(raw) == (4242, 1001, 20, (0, 5))


def test_freebsd_12_xucred_has_no_pid() -> None:
    assert freebsd.parse_xucred(xucred_freebsd(0, [0], 0)) == (None, 0, 0, ())


def test_freebsd_xucred_rejects_bad_version_and_count() -> None:
    raw = bytearray(xucred_freebsd(1, [1], 1))
    raw[0] = 1
    with pytest.raises(ValueError, match="version 1"):
        freebsd.parse_xucred(bytes(raw))
    bad_count = struct.pack("<IIh", 0, 1, 17) + bytes(78)
    with pytest.raises(ValueError, match="17"):
        freebsd.parse_xucred(bad_count)
    with pytest.raises(ValueError, match="needs 76 bytes"):
        freebsd.parse_xucred(bytes(40))


def test_freebsd_cmsgcred() -> None:
    # pid_t pid; uid_t uid; uid_t euid; gid_t gid; short ngroups; (2 pad) gid_t groups[16]
    raw = struct.pack("<iIIIh2x16I", 77, 1000, 0, 100, 2, 0, 5, *[0] * 14)
    assert len(raw) == 84
    assert freebsd.parse_cmsgcred(raw) == (77, 1000, 100, 0, None, (0, 5))


def test_freebsd_sockcred2_through_parse_ancillary() -> None:
    # int version; pid_t pid; uid_t uid; uid_t euid; gid_t gid; gid_t egid; int ngroups;
    # gid_t groups[ngroups]
    raw = struct.pack("<iiIIIIi3I", 0, 555, 1000, 1001, 100, 101, 3, 100, 5, 6)
    parsed = parse_ancillary([(0xFFFF, freebsd.SCM_CREDS2, raw)], 0, freebsd)
    assert parsed.credentials == ReceivedCredentials(555, 1000, 100, 1001, 101, (100, 5, 6))
    with pytest.raises(ValueError, match="3 groups needs 40 bytes"):
        freebsd.parse_sockcred2(raw[:36])


def test_freebsd_own_credentials_message_is_empty_cmsgcred() -> None:
    assert freebsd.own_credentials_cmsg(1, 2, 3) == (0xFFFF, 0x03, bytes(84))


# macOS -----------------------------------------------------------------------


def test_darwin_xucred_and_pid() -> None:
    # u_int cr_version; uid_t cr_uid; short cr_ngroups; (2 pad) gid_t cr_groups[16]
    raw = struct.pack("<IIh2x16I", 0, 501, 3, 20, 12, 61, *[0] * 13)
    assert len(raw) == 76 == darwin.XUCRED.size
    assert darwin.parse_xucred(raw) == (501, 20, (12, 61))
    assert darwin.parse_pid(struct.pack("<i", 321)) == 321


def test_darwin_timeval_is_long_and_int() -> None:
    # struct timeval { long tv_sec; int tv_usec; } (+4 pad)
    raw = struct.pack("<qi4x", 1_600_000_000, 5)
    assert darwin.parse_timeval_ns(raw) == 1_600_000_000_000_005_000
    parsed = parse_ancillary([(0xFFFF, darwin.SCM_TIMESTAMP, raw)], 0, darwin)
    assert parsed.timestamp_ns == 1_600_000_000_000_005_000 and parsed.credentials is None


# OpenBSD ---------------------------------------------------------------------


def test_openbsd_sockpeercred_field_order() -> None:
    # struct sockpeercred { uid_t uid; gid_t gid; pid_t pid; }
    raw = struct.pack("<IIi", 1000, 100, 4321)
    assert openbsd.parse_sockpeercred(raw) == (4321, 1000, 100)


def test_openbsd_timestamp_type_is_4() -> None:
    raw = struct.pack("<qq", 10, 20)
    parsed = parse_ancillary([(0xFFFF, 4, raw)], 0, openbsd)
    assert parsed.timestamp_ns == 10_000_020_000


# NetBSD ----------------------------------------------------------------------


def test_netbsd_unpcbid() -> None:
    # struct unpcbid { pid_t unp_pid; uid_t unp_euid; gid_t unp_egid; }
    assert netbsd.parse_unpcbid(struct.pack("<iII", 99, 1000, 100)) == (99, 1000, 100)


def test_netbsd_sockcred_through_parse_ancillary() -> None:
    # pid_t pid; uid_t uid; uid_t euid; gid_t gid; gid_t egid; int ngroups; gid_t groups[]
    raw = struct.pack("<iIIIIi2I", 31, 1000, 0, 100, 0, 2, 100, 7)
    parsed = parse_ancillary([(0xFFFF, 0x10, raw)], 0, netbsd)
    assert parsed.credentials == ReceivedCredentials(31, 1000, 100, 0, 0, (100, 7))
    zero_groups = struct.pack("<iIIIIi", 31, 1000, 0, 100, 0, 0)
    assert netbsd.parse_sockcred(zero_groups)[5] == ()


def test_netbsd_timeval_is_int64_and_int() -> None:
    raw = struct.pack("<qi4x", 7, 8)
    parsed = parse_ancillary([(0xFFFF, 0x08, raw)], 0, netbsd)
    assert parsed.timestamp_ns == 7_000_008_000


def test_bsd_message_types_do_not_leak_into_linux() -> None:
    """FreeBSD's SCM_CREDS (3) is Linux's SCM_SECURITY: the platform decides."""
    raw = struct.pack("<iIIIh2x16I", 77, 1000, 0, 100, 1, 0, *[0] * 15)
    as_linux = parse_ancillary([(1, 3, b"label\0")], 0, linux)
    assert as_linux.security == b"label" and as_linux.credentials is None
    as_freebsd = parse_ancillary([(0xFFFF, 3, raw)], 0, freebsd)
    assert as_freebsd.credentials is not None and as_freebsd.security is None
    assert parse_ancillary([(0xFFFF, 3, raw)], 0, linux).unknown == [(0xFFFF, 3, raw)]


def test_darwin_sets_cloexec_after_receive() -> None:
    """Without MSG_CMSG_CLOEXEC the parser marks each received fd close-on-exec."""
    r, w = os.pipe()
    try:
        received = os.dup(r)
        os.set_inheritable(received, True)
        rights = (0xFFFF, darwin.SCM_RIGHTS, array("i", [received]).tobytes())
        with parse_ancillary([rights], 0, darwin).fds as fds:
            assert list(fds) == [received]
            assert_cloexec(received)
    finally:
        os.close(r)
        os.close(w)


def test_reserved_room_uses_the_c_size_of_each_struct() -> None:
    """A timestamp is reserved with sizeof(struct timeval), padding included (16 on LP64)."""
    import ctypes

    class CTimeval(ctypes.Structure):  # long tv_sec; int tv_usec (Darwin, NetBSD)
        _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_int)]

    assert ctypes.sizeof(CTimeval) == 16
    assert (ctypes.sizeof(CTimeval),) == darwin.UNSOLICITED_CMSG_SIZES
    assert ctypes.sizeof(CTimeval) in netbsd.UNSOLICITED_CMSG_SIZES
