"""UnixSocketAddr: constructors, queries, limits, conversions, ordering."""

from __future__ import annotations

import os
import pathlib
import pickle
import socket

import pytest

import uds
from uds import AddrName, UnixSocketAddr

MAX = UnixSocketAddr.max_path_len()


def test_limits_on_linux() -> None:
    # A path may fill sun_path (108 bytes) when the C core binds and connects it.
    assert UnixSocketAddr.max_path_len() == (108 if uds.native_available() else 107)
    assert UnixSocketAddr.max_abstract_len() == 107
    assert UnixSocketAddr.has_abstract_addresses() is True


@pytest.mark.parametrize(
    ("text", "kind"),
    [("@name", "abstract"), ("", "unnamed"), ("/run/x.sock", "path"), ("rel.sock", "path")],
)
def test_new_parses_the_kind(text: str, kind: str) -> None:
    addr = UnixSocketAddr.new(text)
    assert addr.name.kind == kind
    assert UnixSocketAddr.new(text.encode()) == addr


def test_path_queries() -> None:
    absolute = UnixSocketAddr.from_path("/tmp/a.sock")
    relative = UnixSocketAddr.from_path(pathlib.Path("sub/b.sock"))
    assert absolute.is_path and absolute.is_absolute_path and not absolute.is_relative_path
    assert relative.is_path and relative.is_relative_path and not relative.is_absolute_path
    assert absolute.as_pathname() == pathlib.Path("/tmp/a.sock")
    assert absolute.as_abstract() is None
    assert not absolute.is_abstract and not absolute.is_unnamed
    assert absolute.name == AddrName("path", pathlib.Path("/tmp/a.sock"))
    assert absolute.as_raw_bytes() == b"/tmp/a.sock"
    assert absolute.to_std() == "/tmp/a.sock"
    assert str(absolute) == "/tmp/a.sock"


def test_abstract_queries_and_any_bytes() -> None:
    name = b"a\x00b\xffc"
    addr = UnixSocketAddr.from_abstract(name)
    assert addr.is_abstract and not addr.is_path and not addr.is_unnamed
    assert addr.as_abstract() == name
    assert addr.as_pathname() is None
    assert addr.as_raw_bytes() == b"\0" + name
    assert addr.to_std() == b"\0" + name
    assert str(addr) == "@a\\x00b\\xffc"
    assert addr.name == AddrName("abstract", name)
    assert UnixSocketAddr.from_abstract("ü").as_abstract() == "ü".encode()


def test_unnamed() -> None:
    addr = UnixSocketAddr.new_unspecified()
    assert addr.is_unnamed and not addr.is_path and not addr.is_abstract
    assert addr.as_pathname() is None and addr.as_abstract() is None
    assert addr.to_std() == "" and addr.as_raw_bytes() == b""
    assert str(addr) == "(unnamed)"
    assert addr.name == AddrName("unnamed", None)


@pytest.mark.parametrize(
    "addr",
    [
        UnixSocketAddr.from_path("/tmp/x"),
        UnixSocketAddr.from_path(b"rel\xff"),
        UnixSocketAddr.from_abstract(b"\x00\x01 \\ '\""),
        UnixSocketAddr.new_unspecified(),
    ],
)
def test_repr_round_trips_and_pickles(addr: UnixSocketAddr) -> None:
    assert eval(repr(addr), {"UnixSocketAddr": UnixSocketAddr}) == addr
    assert pickle.loads(pickle.dumps(addr)) == addr


def test_limits_are_enforced_not_truncated() -> None:
    assert UnixSocketAddr.from_path("/" + "a" * (MAX - 1)).as_raw_bytes() == b"/" + b"a" * (MAX - 1)
    with pytest.raises(ValueError, match=f"limit of {MAX}"):
        UnixSocketAddr.from_path("/" + "a" * MAX)
    UnixSocketAddr.from_abstract(b"x" * UnixSocketAddr.max_abstract_len())
    with pytest.raises(ValueError, match="abstract name is 108 bytes"):
        UnixSocketAddr.from_abstract(b"x" * 108)


def test_bad_paths() -> None:
    with pytest.raises(ValueError, match="NUL"):
        UnixSocketAddr.from_path("a\0b")
    with pytest.raises(ValueError, match="empty"):
        UnixSocketAddr.from_path("")
    with pytest.raises(TypeError):
        UnixSocketAddr.new(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        UnixSocketAddr("path", b"x")


def test_immutable_hashable_ordered() -> None:
    a = UnixSocketAddr.new("@a")
    with pytest.raises(AttributeError):
        a._raw = b"b"  # type: ignore[misc]
    assert len({a, UnixSocketAddr.from_abstract(b"a"), UnixSocketAddr.new("a")}) == 2
    ordered = sorted([UnixSocketAddr.new("@b"), UnixSocketAddr.new("/z"), UnixSocketAddr.new("")])
    assert [x.name.kind for x in ordered] == ["unnamed", "path", "abstract"]
    assert UnixSocketAddr.new("@a") < UnixSocketAddr.new("@b")
    assert (UnixSocketAddr.new("@a") == "@a") is False


def test_from_raw_bytes_follows_the_kernel() -> None:
    assert UnixSocketAddr.from_raw_bytes(b"").is_unnamed
    assert UnixSocketAddr.from_raw_bytes(b"\0abc\0").as_abstract() == b"abc\0"
    assert UnixSocketAddr.from_raw_bytes(b"/tmp/s\0\0garbage") == UnixSocketAddr.from_path("/tmp/s")
    full = b"/" + b"p" * 107  # a path that fills sun_path without a NUL
    assert UnixSocketAddr.from_raw_bytes(full).as_raw_bytes() == full
    with pytest.raises(ValueError, match="sun_path"):
        UnixSocketAddr.from_raw_bytes(b"x" * 109)


def test_from_std_matches_what_sockets_report(tmp_path: pathlib.Path, abstract_name: str) -> None:
    with socket.socket(socket.AF_UNIX) as unbound:
        assert UnixSocketAddr.from_std(unbound.getsockname()).is_unnamed
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(b"\0" + abstract_name[1:].encode())
        assert UnixSocketAddr.from_std(s.getsockname()) == UnixSocketAddr.new(abstract_name)
    path = tmp_path / "s.sock"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))
        addr = UnixSocketAddr.from_std(s.getsockname())
        assert addr.as_pathname() == path
        assert addr.to_std() == s.getsockname()
    with pytest.raises(OSError, match="not the address of a unix socket") as info:
        UnixSocketAddr.from_std(("127.0.0.1", 80))  # type: ignore[arg-type]
    import errno

    assert info.value.errno == errno.EAFNOSUPPORT


def test_to_std_is_accepted_by_stdlib_sockets(tmp_path: pathlib.Path, abstract_name: str) -> None:
    for addr in (UnixSocketAddr.new(abstract_name), UnixSocketAddr.from_path(tmp_path / "t")):
        with socket.socket(socket.AF_UNIX) as s:
            s.bind(addr.to_std())
            assert UnixSocketAddr.from_std(s.getsockname()) == addr


def test_new_returns_existing_and_accepts_pathlike(tmp_path: pathlib.Path) -> None:
    addr = UnixSocketAddr.new("@x")
    assert UnixSocketAddr.new(addr) is addr
    assert UnixSocketAddr.new(tmp_path / "p").as_pathname() == tmp_path / "p"
    assert UnixSocketAddr.from_path(os.fsencode(tmp_path / "p")) == UnixSocketAddr.new(
        tmp_path / "p"
    )


def test_from_std_fast_paths_build_the_same_addresses_as_the_validating_ones() -> None:
    longest = b"n" * UnixSocketAddr.max_abstract_len()
    for name in (b"a", b"\0with\0nuls", longest):
        got = UnixSocketAddr.from_std(b"\0" + name)
        assert got == UnixSocketAddr.from_abstract(name) and got.as_abstract() == name
        assert hash(got) == hash(UnixSocketAddr.from_abstract(name))
        assert repr(got) == repr(UnixSocketAddr.from_abstract(name))
    for path in ("/tmp/x", "relative", "é/" + "p" * (UnixSocketAddr.max_path_len() - 3)):
        got = UnixSocketAddr.from_std(path)
        assert got == UnixSocketAddr.from_path(path) and got.is_path
        with pytest.raises(AttributeError):
            got._raw = b"other"  # type: ignore[misc]
    # Beyond the fast paths the validating code still decides.
    with pytest.raises(ValueError, match="sun_path"):
        UnixSocketAddr.from_std(b"\0" + longest + b"x")
    assert UnixSocketAddr.from_std("p" * 108).as_raw_bytes() == b"p" * 108


def test_from_std_shares_equal_addresses_and_stays_bounded() -> None:
    from uds import _addr

    first = UnixSocketAddr.from_std(b"\0shared-name")
    assert UnixSocketAddr.from_std(b"\0shared-name") is first
    assert UnixSocketAddr.from_std("/run/a.sock") == UnixSocketAddr.from_path("/run/a.sock")
    for i in range(3 * _addr._FROM_STD_CACHE_LIMIT):
        assert UnixSocketAddr.from_std(f"/tmp/s{i}").as_raw_bytes() == f"/tmp/s{i}".encode()
    assert len(_addr._FROM_STD_CACHE) <= _addr._FROM_STD_CACHE_LIMIT
    assert UnixSocketAddr.from_std("").is_unnamed and UnixSocketAddr.from_std(b"").is_unnamed


@pytest.mark.parametrize(
    ("path", "printed"),
    [
        ("@foo", "./@foo"),
        ("./@foo", "././@foo"),
        ("././@x", "./././@x"),
        (b"@\xff", "./@\udcff"),
        ("./foo", "./foo"),
        ("foo@bar", "foo@bar"),
        ("/run/@x", "/run/@x"),
        (".@x", ".@x"),
        ("@" + "a" * (MAX - 1), "./@" + "a" * (MAX - 1)),
    ],
)
def test_a_path_never_prints_as_an_abstract_name(path: str, printed: str) -> None:
    addr = UnixSocketAddr.from_path(path)
    assert str(addr) == printed
    assert UnixSocketAddr.new(str(addr)) == addr
    assert UnixSocketAddr.new(os.fsencode(str(addr))) == addr
    assert eval(repr(addr), {"UnixSocketAddr": UnixSocketAddr}) == addr
    assert str(addr) != str(UnixSocketAddr.from_abstract(b"foo"))


def test_dot_slash_at_names_the_file_and_at_the_abstract_address() -> None:
    assert UnixSocketAddr.new("./@foo") == UnixSocketAddr.from_path("@foo")
    assert UnixSocketAddr.new(b"./@foo") == UnixSocketAddr.from_path(b"@foo")
    assert UnixSocketAddr.new("@foo") == UnixSocketAddr.from_abstract(b"foo")
    assert str(UnixSocketAddr.new("@foo")) == "@foo"
    # A path object is a path whatever its first character.
    assert UnixSocketAddr.new(pathlib.Path("@foo")) == UnixSocketAddr.from_path("@foo")


def test_a_bound_at_path_reports_itself_unambiguously(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with uds.UnixSeqpacketListener.bind("@file") as listener:
        local = listener.local_unix_addr()
        assert local == UnixSocketAddr.from_path("@file")
        assert str(local) == "./@file"
        assert "local=./@file" in repr(listener)
        # What was printed connects to the file, not to an abstract name.
        with uds.UnixSeqpacketConn.connect_unix_addr(str(local)) as client:
            assert client.peer_unix_addr() == local
    assert (tmp_path / "@file").exists()
