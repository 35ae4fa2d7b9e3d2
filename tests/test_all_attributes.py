"""Every public module's __all__ names exactly what it exports, and nothing private."""

from __future__ import annotations

import importlib
import pkgutil
import types

import pytest

import uds

PUBLIC_MODULES = sorted(
    name
    for name in ["uds", "uds_mio_compat"]
    + [f"uds.{m.name}" for m in pkgutil.iter_modules(uds.__path__) if not m.name.startswith("_")]
    if name != "uds.__main__"
)


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_all_is_complete_and_public(name: str) -> None:
    if name == "uds.anyio":
        pytest.importorskip("anyio")  # an optional extra
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    assert len(exported) == len(set(exported)), f"{name}.__all__ has duplicates"
    for attribute in exported:
        assert not attribute.startswith("_"), f"{name} exports private {attribute}"
        assert hasattr(module, attribute), f"{name}.__all__ names missing {attribute}"
    public = {
        key
        for key, value in vars(module).items()
        if not key.startswith("_")
        and not isinstance(value, types.ModuleType)
        and getattr(value, "__module__", name).startswith(("uds", "uds_mio_compat"))
        and key not in {"annotations"}
    }
    missing = public - set(exported)
    assert not missing, f"{name} defines public names not in __all__: {sorted(missing)}"


def test_top_level_api_names() -> None:
    for attribute in [
        "UnixSocketAddr",
        "ReceivedFds",
        "ConnCredentials",
        "send_fds",
        "recv_fds",
        "recv_fds_into",
        "initial_peer_credentials",
        "UnsupportedPlatformError",
    ]:
        assert attribute in uds.__all__
    assert issubclass(uds.UnsupportedPlatformError, OSError)
