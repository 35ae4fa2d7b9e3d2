"""What ``help()`` shows of the public API: no private modules, and Raises: sections that hold.

Every public object's docstring (and its public methods') must point readers
to public names only. The second half pins "Raises:" claims checked against
behaviour that no other test covered.
"""

from __future__ import annotations

import errno
import importlib
import inspect
import re
import socket
from collections.abc import Iterator

import pytest

import uds
import uds.ancillary
import uds.systemd

PUBLIC_MODULES = [
    "uds",
    "uds.ancillary",
    "uds.asyncio",
    "uds.ext",
    "uds.nonblocking",
    "uds.systemd",
    "uds_mio_compat",
    "uds_mio_compat.net",
]
PRIVATE_REFERENCE = re.compile(
    r"\buds(?:_mio_compat)?\._[A-Za-z]|:(?:mod|class|func|meth|attr|data):`~?(?:\w+\.)*_[A-Za-z]"
)
# native_available() names the C extension module, which is what it reports on.
ALLOWED = {("uds.native_available", "uds._native")}


def _documented() -> Iterator[tuple[str, object]]:
    seen: set[int] = set()
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        yield module_name, module
        for name in module.__all__:
            obj = getattr(module, name)
            if id(obj) in seen or isinstance(obj, (int, str, float)):
                continue
            seen.add(id(obj))
            yield f"{module_name}.{name}", obj
            if not inspect.isclass(obj):
                continue
            for klass in obj.__mro__[:-1]:
                for attr, member in vars(klass).items():
                    if attr.startswith("_") and attr != "__init__":
                        continue
                    if isinstance(member, (staticmethod, classmethod)):
                        member = member.__func__
                    elif isinstance(member, property):
                        member = member.fget
                    if id(member) not in seen:
                        seen.add(id(member))
                        yield f"{module_name}.{name}.{attr}", member


def test_public_docstrings_point_to_public_names_only() -> None:
    found = []
    for where, obj in _documented():
        doc = inspect.getdoc(obj) or ""
        for match in PRIVATE_REFERENCE.finditer(doc):
            line = doc[doc.rfind("\n", 0, match.start()) + 1 : doc.find("\n", match.end())]
            if not any(where == w and private in line for w, private in ALLOWED):
                found.append(f"{where}: {line.strip()}")
    assert not found, "\n".join(found)


@pytest.fixture
def tcp_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        accepted, _ = server.accept()
        with client, accepted:
            yield client, accepted


def test_peer_pidfd_raises_as_documented(tcp_pair: tuple[socket.socket, socket.socket]) -> None:
    with pytest.raises(OSError) as not_unix:
        uds.peer_pidfd(tcp_pair[0])
    assert not_unix.value.errno == errno.EAFNOSUPPORT
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as unconnected:
        try:
            uds.peer_pidfd(unconnected)
        except uds.UnsupportedPlatformError:
            pytest.skip("this kernel has no SO_PEERPIDFD")
        except OSError as error:
            assert error.errno == errno.ENODATA
        else:
            pytest.fail("an unconnected socket has no peer to open a pidfd for")


def test_send_ancillary_refuses_control_data_to_other_families(
    tcp_pair: tuple[socket.socket, socket.socket], pipe: tuple[int, int]
) -> None:
    for kwargs in ({"fds": [pipe[0]]}, {"credentials": True}):
        with pytest.raises(OSError) as info:
            uds.ancillary.send_ancillary(tcp_pair[0], b"x", **kwargs)
        assert info.value.errno == errno.EAFNOSUPPORT
    tcp_pair[1].setblocking(False)
    with pytest.raises(BlockingIOError):
        tcp_pair[1].recv(10)  # nothing was sent


def test_peer_policy_check_on_a_tcp_socket(tcp_pair: tuple[socket.socket, socket.socket]) -> None:
    with pytest.raises(OSError) as info:
        uds.PeerPolicy(uids=[0]).check(tcp_pair[1])
    assert info.value.errno == errno.EAFNOSUPPORT


def test_notify_listener_arguments() -> None:
    with pytest.raises(TypeError, match="max_fds must be an int"):
        uds.systemd.NotifyListener(max_fds="3")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="max_fds must be an int"):
        uds.systemd.NotifyListener(max_fds=True)
    with pytest.raises(ValueError, match="max_fds"):
        uds.systemd.NotifyListener(max_fds=254)
    with pytest.raises(TypeError):
        uds.systemd.NotifyListener(addr=5)  # type: ignore[arg-type]
