"""PeerPolicy: judging real peers, including a forked child that became nobody."""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import pytest

import uds
from tests.helpers import FilenoOnly

NOBODY = 65534
EXTRA_GROUP = 4242

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="changing uid in the child needs root")


@contextmanager
def peer_as(
    listener: socket.socket, address: str, uid: int, gid: int, groups: Sequence[int]
) -> Iterator[tuple[socket.socket, int]]:
    """Fork a child that drops to ``uid``/``gid``/``groups`` and then connects to ``address``.

    Yields the accepted connection and the child's pid; the child waits for us to
    close the connection, then exits with 0 (or 1 if anything failed in it).
    """
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            os.setgroups(list(groups))
            os.setgid(gid)
            os.setuid(uid)
            with uds.connect_to_unix_addr(address) as client:
                client.recv(1)
            status = 0
        finally:
            os._exit(status)
    try:
        conn, _ = uds.accept_unix_addr(listener)
        with conn:
            yield conn, pid
    finally:
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


@needs_root
def test_nobody_is_refused_by_a_same_user_policy(abstract_name: str) -> None:
    policy = uds.PeerPolicy.same_user()
    with (
        uds.bind_unix_addr(abstract_name) as listener,
        peer_as(listener, abstract_name, NOBODY, NOBODY, [EXTRA_GROUP]) as (conn, pid),
        pytest.raises(PermissionError) as raised,
    ):
        policy.check(conn)
    assert raised.value.errno == errno.EACCES
    message = str(raised.value)
    assert f"pid {pid}" in message
    assert f"uid {NOBODY}" in message
    assert f"groups {EXTRA_GROUP}" in message
    assert "uids=[0]" in message


@needs_root
@pytest.mark.parametrize(
    "policy",
    [
        uds.PeerPolicy(uids=[NOBODY]),
        uds.PeerPolicy(gids=[NOBODY]),
        uds.PeerPolicy(gids=[EXTRA_GROUP]),
        uds.PeerPolicy(uids=[1], gids=[2, EXTRA_GROUP]),
    ],
    ids=["uid", "egid", "supplementary", "any-rule"],
)
def test_nobody_is_allowed_by_a_matching_rule(abstract_name: str, policy: uds.PeerPolicy) -> None:
    with (
        uds.bind_unix_addr(abstract_name) as listener,
        peer_as(listener, abstract_name, NOBODY, NOBODY, [EXTRA_GROUP]) as (conn, pid),
    ):
        creds = policy.check(FilenoOnly(conn))
        assert (creds.pid, creds.euid, creds.egid) == (pid, NOBODY, NOBODY)
        assert creds.groups == (EXTRA_GROUP,)


@needs_root
def test_pid_rule(abstract_name: str) -> None:
    with (
        uds.bind_unix_addr(abstract_name) as listener,
        peer_as(listener, abstract_name, NOBODY, NOBODY, []) as (conn, pid),
    ):
        assert uds.PeerPolicy(pids=[pid]).check(conn).pid == pid
        with pytest.raises(PermissionError, match=f"pid {pid}"):
            uds.PeerPolicy(pids=[pid + 1]).check(conn)


@needs_root
def test_root_only_with_allow_root(stream_pair: tuple[socket.socket, socket.socket]) -> None:
    a, _ = stream_pair
    with pytest.raises(PermissionError, match="uid 0"):
        uds.PeerPolicy(uids=[NOBODY]).check(a)
    assert uds.PeerPolicy(uids=[NOBODY], allow_root=True).check(a).euid == 0
    assert uds.PeerPolicy.same_user().check(a).pid == os.getpid()


def test_empty_policy_refuses_everyone(stream_pair: tuple[socket.socket, socket.socket]) -> None:
    a, _ = stream_pair
    with pytest.raises(PermissionError, match=r"PeerPolicy\(\)"):
        uds.PeerPolicy().check(a)


def test_allows_on_plain_credentials() -> None:
    creds = uds.ConnCredentials(pid=None, euid=1000, egid=None, groups=(10, 20))
    assert uds.PeerPolicy(gids=[20]).allows(creds)
    assert not uds.PeerPolicy(gids=[30]).allows(creds)
    assert not uds.PeerPolicy(pids=[0]).allows(creds)
    assert not uds.PeerPolicy(uids=[0], allow_root=True).allows(creds)


def test_check_on_an_unconnected_socket_is_an_os_error() -> None:
    with socket.socket(socket.AF_UNIX) as sock, pytest.raises(OSError) as raised:
        uds.PeerPolicy.same_user().check(sock)
    assert not isinstance(raised.value, PermissionError)
    # Linux reports "no credentials recorded" rather than "not connected".
    assert raised.value.errno in (errno.ENOTCONN, errno.ENODATA)


@pytest.mark.parametrize("bad", [[-1], ["0"], [True], [1.5]])
def test_bad_ids_are_rejected(bad: list[object]) -> None:
    with pytest.raises(ValueError, match="uids must hold non-negative ints"):
        uds.PeerPolicy(uids=bad)  # type: ignore[arg-type]


def test_policy_is_immutable_and_hashable() -> None:
    policy = uds.PeerPolicy(uids=[1, 2], gids=(3,))
    assert policy == uds.PeerPolicy(uids={2, 1}, gids=[3])
    assert hash(policy) == hash(uds.PeerPolicy(uids=[2, 1], gids=[3]))
    with pytest.raises(AttributeError):
        policy.allow_root = True  # type: ignore[misc]
    assert repr(policy) == "PeerPolicy(uids=[1, 2], gids=[3])"
