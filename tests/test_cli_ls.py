"""``uds ls``: the socket table (netlink sock_diag, /proc/net/unix), owners, filters, JSON;
checked against sockets the test creates and against ``ss -x`` on the same sockets."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import socket
import struct
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import pytest

import uds
from uds._cli_info import _look_up
from uds._cli_table import SocketEntry, Table, parse_diag, parse_proc_net_unix, read_diag, read_proc

TIMEOUT = 15


def run_ls(*args: str, cwd: Any = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "uds", "ls", *args], capture_output=True, timeout=TIMEOUT, cwd=cwd
    )


def ls_json(*args: str, cwd: Any = None) -> list[dict[str, Any]]:
    result = run_ls("--json", *args, cwd=cwd)
    assert result.returncode == 0 and result.stderr == b"", result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def inode(sock: Any) -> int:
    return os.fstat(sock.fileno()).st_ino


@contextmanager
def sample_sockets(abstract_name: str, tmp_path: pathlib.Path) -> Iterator[dict[str, Any]]:
    """A seqpacket listener with one client waiting, a stream connection with 5 bytes
    unread at a path, and a bound datagram socket with one datagram queued."""
    with ExitStack() as stack:
        seq = stack.enter_context(uds.bind_unix_addr(abstract_name, socket.SOCK_SEQPACKET))
        waiting = stack.enter_context(
            uds.connect_to_unix_addr(abstract_name, socket.SOCK_SEQPACKET)
        )
        path = str(tmp_path / "stream.sock")
        listener = stack.enter_context(uds.bind_unix_addr(path))
        client = stack.enter_context(uds.connect_to_unix_addr(path))
        server, _ = uds.accept_unix_addr(listener)
        stack.enter_context(server)
        client.sendall(b"hello")
        dgram_name = abstract_name + "-dgram"
        dgram = stack.enter_context(uds.bind_unix_addr(dgram_name, socket.SOCK_DGRAM))
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
            sender.sendto(b"abc", uds.UnixSocketAddr.new(dgram_name).to_std())
        yield {
            "seq": seq,
            "waiting": waiting,
            "path": path,
            "listener": listener,
            "client": client,
            "server": server,
            "dgram_name": dgram_name,
            "dgram": dgram,
        }


def test_ls_json_describes_each_socket(abstract_name: str, tmp_path: pathlib.Path) -> None:
    with sample_sockets(abstract_name, tmp_path) as s:
        rows = ls_json(abstract_name, s["path"], s["dgram_name"])
        by_inode = {row["inode"]: row for row in rows}
        seq = by_inode[inode(s["seq"])]
        assert (seq["type"], seq["state"], seq["address"], seq["kind"]) == (
            "seqpacket",
            "listening",
            abstract_name,
            "abstract",
        )
        assert seq["recv_queue"] == 1 and seq["send_queue"] == 128  # waiting, backlog
        assert seq["pending"] == [inode(s["waiting"])]
        assert seq["uid"] == os.geteuid() and seq["source"] == "diag"
        assert {"pid": os.getpid(), "command": seq["processes"][0]["command"]} == {
            k: seq["processes"][0][k] for k in ("pid", "command")
        }
        assert seq["processes"][0]["fds"] == [s["seq"].fileno()]
        server = by_inode[inode(s["server"])]
        assert (server["type"], server["state"], server["address"]) == (
            "stream",
            "connected",
            s["path"],
        )
        assert server["recv_queue"] == 5
        assert server["peer"] == {"inode": inode(s["client"]), "address": None}
        stat = os.lstat(s["path"])
        assert server["file"] == {"dev": stat.st_dev, "ino": stat.st_ino}
        # The client is listed because it is connected to the path; its peer is named.
        client = by_inode[inode(s["client"])]
        assert client["address"] is None and client["peer"]["address"] == s["path"]
        dgram = by_inode[inode(s["dgram"])]
        assert (dgram["type"], dgram["state"], dgram["recv_queue"]) == ("dgram", "unconnected", 3)
        # Nothing else: only what is at the addresses asked for or connected to it.
        assert set(by_inode) == {
            inode(s[name]) for name in ("seq", "listener", "server", "client", "dgram")
        }
        listening = {row["inode"] for row in ls_json("--listening", abstract_name, s["path"])}
        assert listening == {inode(s["seq"]), inode(s["listener"])}


def _ss_rows() -> dict[int, list[str]]:
    output = subprocess.run(
        ["ss", "-x", "-a", "-n"], capture_output=True, check=True, timeout=TIMEOUT
    ).stdout.decode()
    rows = {}
    for line in output.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 8 and fields[5].isdigit():
            rows[int(fields[5])] = fields
    return rows


@pytest.mark.skipif(shutil.which("ss") is None, reason="ss (iproute2) is not installed")
def test_ls_agrees_with_ss(abstract_name: str, tmp_path: pathlib.Path) -> None:
    netids = {"u_str": "stream", "u_seq": "seqpacket", "u_dgr": "dgram"}
    states = {"LISTEN": "listening", "ESTAB": "connected", "UNCONN": "unconnected"}
    with sample_sockets(abstract_name, tmp_path) as s:
        rows = ls_json(abstract_name, s["path"], s["dgram_name"])
        ss = _ss_rows()
    assert len(rows) == 5
    for row in rows:
        netid, state, recv_q, send_q, local, _, _, peer = ss[row["inode"]][:8]
        assert netids[netid] == row["type"], row
        assert states[state] == row["state"], row
        assert (int(recv_q), int(send_q)) == (row["recv_queue"], row["send_queue"]), row
        assert local == ("*" if row["address"] is None else row["address"]), row
        assert int(peer) == (0 if row["peer"] is None else row["peer"]["inode"]), row


def test_ls_text_lists_and_escapes(abstract_name: str) -> None:
    odd = uds.UnixSocketAddr.from_abstract(abstract_name[1:].encode() + b"\n\x1b")
    with uds.bind_unix_addr(odd, socket.SOCK_SEQPACKET) as listener:
        ours, fd = inode(listener), listener.fileno()
        result = run_ls(str(odd))
        # The printed form (escapes included) names it, and only it.
        other = run_ls("--json", abstract_name + "\\x0a")
    assert (other.returncode, other.stdout) == (1, b"")
    assert result.returncode == 0 and result.stderr == b""
    header, line, *rest = result.stdout.decode().splitlines()
    assert rest == []
    assert header.split() == [
        "INODE",
        "TYPE",
        "STATE",
        "RECV-Q",
        "SEND-Q",
        "ADDRESS",
        "PEER",
        "PROCESS",
    ]
    assert line.split()[:7] == [
        str(ours),
        "seqpacket",
        "listening",
        "0",
        "128",
        abstract_name + "\\x0a\\x1b",
        "-",
    ]
    assert line.split()[7].endswith(f"[{os.getpid()}]:{fd}")


def test_ls_matches_a_path_by_its_file(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    with uds.bind_unix_addr("rel.sock") as listener:  # the table shows "rel.sock"
        for address, cwd in ((str(tmp_path / "rel.sock"), "/"), ("../rel.sock", tmp_path / "sub")):
            rows = ls_json(address, cwd=cwd)
            assert [row["inode"] for row in rows] == [inode(listener)]
            assert rows[0]["address"] == "rel.sock"


def test_ls_exit_status_and_errors(abstract_name: str) -> None:
    nothing = run_ls(abstract_name)
    assert (nothing.returncode, nothing.stdout.splitlines()[1:], nothing.stderr) == (1, [], b"")
    bad = run_ls("@" + "x" * 200)
    assert bad.returncode == 2 and bad.stderr.startswith(b"uds: bad address")
    everything = run_ls()
    assert everything.returncode == 0 and len(everything.stdout.splitlines()) >= 1


# The parsers, on bytes ------------------------------------------------------------------


def test_diag_and_proc_agree_on_what_they_both_show(abstract_name: str) -> None:
    with uds.bind_unix_addr(abstract_name, socket.SOCK_SEQPACKET) as listener:
        diag = {entry.inode: entry for entry in read_diag()}
        proc = {entry.inode: entry for entry in read_proc()}
        ours = inode(listener)
    assert diag[ours].address == proc[ours].address == uds.UnixSocketAddr.new(abstract_name)
    assert (diag[ours].type, diag[ours].state) == (proc[ours].type, proc[ours].state)
    assert proc[ours].peer is None and proc[ours].recv_queue is None


def _nlmsg(kind: int, body: bytes) -> bytes:
    length = 16 + len(body)
    return struct.pack("=IHHII", length, kind, 2, 1, 0) + body + b"\0" * (-length % 4)


def _attr(kind: int, value: bytes) -> bytes:
    return struct.pack("=HH", 4 + len(value), kind) + value + b"\0" * (-len(value) % 4)


def test_parse_diag_reads_attributes_and_errors() -> None:
    msg = struct.pack("=BBBBIII", socket.AF_UNIX, socket.SOCK_STREAM, 1, 0, 42, 0, 0)
    msg += _attr(0, b"/run/x.sock\0")
    msg += _attr(1, struct.pack("=II", 77, (8 << 20) | 3))  # ino, kernel dev 8:3
    msg += _attr(2, struct.pack("=I", 43))
    msg += _attr(4, struct.pack("=II", 5, 6))
    msg += _attr(7, struct.pack("=I", 1000))
    listener = struct.pack("=BBBBIII", socket.AF_UNIX, socket.SOCK_SEQPACKET, 10, 0, 50, 0, 0)
    listener += _attr(0, b"\0odd\0name") + _attr(3, struct.pack("=II", 60, 61))
    entries, done = parse_diag(_nlmsg(20, msg) + _nlmsg(20, listener) + _nlmsg(3, b"\0" * 4))
    assert done
    first, second = entries
    assert first.address == uds.UnixSocketAddr.from_path("/run/x.sock")
    assert first.file == (os.makedev(8, 3), 77) and first.peer == 43
    assert (first.recv_queue, first.send_queue, first.uid) == (5, 6, 1000)
    assert (first.type, first.state) == ("stream", "connected")
    assert second.address == uds.UnixSocketAddr.from_abstract(b"odd\0name")
    assert (second.state, second.pending, second.peer) == ("listening", (60, 61), None)
    assert parse_diag(_nlmsg(20, msg)) == ([first], False)  # more to come
    with pytest.raises(PermissionError):
        parse_diag(_nlmsg(2, struct.pack("=i", -1) + b"\0" * 16))


def test_parse_proc_net_unix() -> None:
    text = (
        b"Num       RefCount Protocol Flags    Type St Inode Path\n"
        b"0000000000000000: 00000002 00000000 00010000 0005 01 1234 @a@b\n"
        b"0000000000000000: 00000003 00000000 00000000 0001 03 1235 /run/s.sock\n"
        b"0000000000000000: 00000002 00000000 00000000 0002 01 1236\n"
    )
    listening, connected, unnamed = parse_proc_net_unix(text)
    assert (listening.inode, listening.type, listening.state) == (1234, "seqpacket", "listening")
    assert listening.address == uds.UnixSocketAddr.from_abstract(b"a@b")  # NUL or "@": unknown
    assert (connected.state, str(connected.address)) == ("connected", "/run/s.sock")
    assert (unnamed.type, unnamed.state, unnamed.address) == ("dgram", "unconnected", None)


# uds info without netlink: the /proc/net/unix fallback --------------------------------------


def test_info_lookup_in_a_proc_table(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "svc.sock"
    text = (
        b"Num       RefCount Protocol Flags    Type St Inode Path\n"
        b"0: 00000002 00000000 00010000 0005 01 1 " + os.fsencode(path) + b"\n"
        b"0: 00000002 00000000 00010000 0001 01 2 @plain\n"
        b"0: 00000002 00000000 00000000 0002 01 3 @a@b\n"
    )
    table = Table("proc", parse_proc_net_unix(text))
    file = (1, 2)  # a socket file is there; /proc/net/unix cannot say which
    # A relative path is resolved against the current directory, then matched by name.
    found, _ = _look_up(uds.UnixSocketAddr.new("svc.sock"), table, file)
    assert found == {"stream": "none", "seqpacket": "listening", "dgram": "none"}
    found, _ = _look_up(uds.UnixSocketAddr.new("@plain"), table, None)
    assert found == {"stream": "listening", "seqpacket": "none", "dgram": "none"}
    # "@a@b" may be the line of "a\0b": the table cannot tell, so the caller must probe.
    found, reason = _look_up(uds.UnixSocketAddr.new("@a@b"), table, None)
    assert found is None and "cannot tell" in reason
    found, reason = _look_up(uds.UnixSocketAddr.new("other.sock"), table, file)
    assert found is None and "no socket bound under that name" in reason


def test_at_file_matches_by_inode_and_on_overlayfs_by_name_too(tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "svc.sock")

    def entry(number: int, name: str, dev: int, ino: int) -> SocketEntry:
        return SocketEntry(number, "stream", "listening", uds.UnixSocketAddr.new(name), (dev, ino))

    with uds.bind_unix_addr(path):
        info = os.lstat(path)
        dev, ino = info.st_dev, info.st_ino
        assert [e.inode for e in Table("diag", [entry(1, path, dev, ino)]).at_file(path)] == [1]
        other = dev + 1  # what overlayfs reports: not the file's st_dev
        overlay = [
            entry(2, path, other, ino),  # its absolute name leads to the file
            entry(3, "svc.sock", other, ino),  # a relative name with the same last part
            entry(4, "x.sock", other, ino),
            entry(5, path, other, ino + 1),
            entry(6, "@svc.sock", other, ino),
        ]
        assert [e.inode for e in Table("diag", overlay).at_file(path)] == [2, 3]
