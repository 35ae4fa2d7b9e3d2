"""Property tests of the pure control-message parsers (no sockets).

fd payloads are always real fds (dups of a pipe end) so that whatever the
parser closes is ours; other payloads are random bytes of random lengths.
"""

from __future__ import annotations

import os
import socket
from array import array
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import open_fds
from uds._cmsg import parse_ancillary, parse_fds
from uds._sys import linux

SOL = linux.SOL_SOCKET
FD_KINDS = (linux.SCM_RIGHTS, linux.SCM_PIDFD)
SETTINGS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@dataclass
class FdMessage:
    kind: int
    count: int
    cut: int  # bytes removed from the end of the fd array (partial fd arrays)


@dataclass
class RawMessage:
    level: int
    kind: int
    payload: bytes


fd_messages = st.builds(
    FdMessage,
    kind=st.sampled_from(FD_KINDS),
    count=st.one_of(st.integers(0, 4), st.integers(0, 8), st.integers(0, 8), st.integers(250, 300)),
    cut=st.integers(0, 7),
)
raw_messages = st.builds(
    RawMessage,
    level=st.one_of(st.just(SOL), st.integers(-(2**31), 2**31 - 1)),
    kind=st.one_of(
        st.sampled_from(
            [linux.SCM_CREDENTIALS, linux.SCM_SECURITY, linux.SCM_TIMESTAMP, linux.SCM_TIMESTAMPNS]
        ),
        st.integers(-(2**31), 2**31 - 1),
    ),
    payload=st.binary(max_size=64),
).filter(lambda m: not (m.level == SOL and m.kind in FD_KINDS))
message_lists = st.lists(st.one_of(fd_messages, raw_messages), max_size=6)
flag_values = st.sampled_from([0, linux.MSG_CTRUNC, linux.MSG_TRUNC | linux.MSG_CTRUNC])


class Built:
    """Real fds laid out as control messages, and what a correct parser must return."""

    def __init__(self, messages: list[FdMessage | RawMessage], source: int) -> None:
        self.ancdata: list[tuple[int, int, bytes]] = []
        self.rights: list[int] = []
        self.pidfds: list[int] = []
        self.unreceived: list[int] = []  # fds cut off a partial array: never "installed"
        for message in messages:
            if isinstance(message, RawMessage):
                self.ancdata.append((message.level, message.kind, message.payload))
                continue
            fds = [os.dup(source) for _ in range(message.count)]
            payload = array("i", fds).tobytes()
            payload = payload[: max(0, len(payload) - message.cut)]
            whole = len(payload) // 4
            self.unreceived += fds[whole:]
            received = fds[:whole]
            (self.rights if message.kind == linux.SCM_RIGHTS else self.pidfds).extend(received)
            self.ancdata.append((SOL, message.kind, payload))

    def cleanup(self) -> None:
        for fd in self.unreceived:
            os.close(fd)


def _check_closed(fds: list[int], baseline: set[int]) -> None:
    leaked = open_fds() - baseline
    assert not leaked, f"fds left open: {sorted(leaked)}"


@SETTINGS
@given(messages=message_lists, flags=flag_values)
def test_parse_ancillary_returns_every_fd_or_closes_all(
    messages: list[FdMessage | RawMessage], flags: int
) -> None:
    r, w = os.pipe()
    baseline = open_fds()
    built = Built(messages, r)
    try:
        try:
            parsed = parse_ancillary(built.ancdata, flags)
        except ValueError:
            _check_closed([], baseline | set(built.unreceived))
            return
        try:
            assert list(parsed.fds) == built.rights
            assert parsed.fds.truncated == bool(flags & linux.MSG_CTRUNC)
            assert parsed.pidfd == (built.pidfds[0] if built.pidfds else None)
            for fd in [*parsed.fds, *([parsed.pidfd] if parsed.pidfd is not None else [])]:
                assert os.path.sameopenfile(fd, r)
            # Extra pidfds were closed by the parser; only the kept ones are open.
            expected_open = set(built.rights) | set(built.pidfds[:1]) | set(built.unreceived)
            assert open_fds() - baseline == expected_open
        finally:
            parsed.close()
        _check_closed([], baseline | set(built.unreceived))
    finally:
        built.cleanup()
        os.close(r)
        os.close(w)


@SETTINGS
@given(
    messages=message_lists,
    flags=flag_values,
    max_fds=st.integers(0, linux.SCM_MAX_FD),
)
def test_parse_fds_never_returns_more_than_asked_nor_leaks(
    messages: list[FdMessage | RawMessage], flags: int, max_fds: int
) -> None:
    r, w = os.pipe()
    baseline = open_fds()
    built = Built(messages, r)
    try:
        try:
            fds = parse_fds(built.ancdata, flags, max_fds)
        except ValueError:
            _check_closed([], baseline | set(built.unreceived))
            return
        with fds:
            assert list(fds) == built.rights[:max_fds]
            assert fds.truncated == (bool(flags & linux.MSG_CTRUNC) or len(built.rights) > max_fds)
            assert open_fds() - baseline == set(fds) | set(built.unreceived)
        _check_closed([], baseline | set(built.unreceived))
    finally:
        built.cleanup()
        os.close(r)
        os.close(w)


@SETTINGS
@given(payload=st.binary(max_size=40), truncated=st.booleans())
def test_short_payloads_raise_value_error_unless_truncated(payload: bytes, truncated: bool) -> None:
    """A short credentials/timestamp payload is malformed, unless it is the cut-off tail."""
    r, w = os.pipe()
    fd = os.dup(r)
    baseline = open_fds() - {fd}
    ancdata = [
        (SOL, linux.SCM_RIGHTS, array("i", [fd]).tobytes()),
        (SOL, linux.SCM_CREDENTIALS, payload),
        (SOL, linux.SCM_TIMESTAMPNS, payload),
    ]
    flags = linux.MSG_CTRUNC if truncated else 0
    try:
        if len(payload) < 16 and not truncated:  # 12 for ucred, 16 for timespec
            try:
                parse_ancillary(ancdata, flags)
            except ValueError:
                pass
            else:
                raise AssertionError("a short credentials/timestamp payload was accepted")
            assert open_fds() == baseline  # the fd from the first message was closed
            return
        with parse_ancillary(ancdata, flags).fds as fds:
            assert list(fds) == [fd]
        assert open_fds() == baseline
    finally:
        os.close(r)
        os.close(w)


def test_cmsg_space_reserve_covers_unsolicited_data() -> None:
    from uds._cmsg import fds_space

    unsolicited = sum(socket.CMSG_SPACE(size) for size in linux.UNSOLICITED_CMSG_SIZES)
    assert fds_space(0) == unsolicited
    assert fds_space(3) == unsolicited + socket.CMSG_SPACE(12)


def test_malformed_message_closes_fds_before_and_after_it() -> None:
    r, w = os.pipe()
    try:
        before, pidfd, after = os.dup(r), os.dup(w), os.dup(r)
        baseline = open_fds() - {before, pidfd, after}
        ancdata = [
            (SOL, linux.SCM_RIGHTS, array("i", [before]).tobytes()),
            (SOL, linux.SCM_PIDFD, array("i", [pidfd]).tobytes()),
            (SOL, linux.SCM_CREDENTIALS, b"short"),
            (SOL, linux.SCM_RIGHTS, array("i", [after]).tobytes()),
        ]
        try:
            parse_ancillary(ancdata, 0)
        except ValueError as error:
            assert "12 bytes, got 5" in str(error)
        else:
            raise AssertionError("a 5-byte struct ucred was accepted")
        assert open_fds() == baseline
    finally:
        os.close(r)
        os.close(w)
