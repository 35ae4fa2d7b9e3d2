"""Which modules and names make up the public API, for the docs and their tests.

Public modules are ``uds`` and ``uds_mio_compat`` and their submodules whose names
do not start with ``_`` (``uds.__main__`` aside); a module that fails to import
(an optional one such as ``uds.anyio`` whose dependency is missing) is left out.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType
from typing import Any

ROOTS = ("uds", "uds_mio_compat")


def public_modules() -> list[ModuleType]:
    """Every importable public module, roots first, then submodules by name."""
    modules: list[ModuleType] = []
    for root_name in ROOTS:
        root = importlib.import_module(root_name)
        modules.append(root)
        for info in sorted(pkgutil.iter_modules(root.__path__), key=lambda m: m.name):
            if info.name.startswith("_"):
                continue
            try:
                modules.append(importlib.import_module(f"{root_name}.{info.name}"))
            except ImportError:
                continue
    return modules


def public_names() -> list[tuple[str, str, Any]]:
    """``(module name, name, object)`` for every name in every public ``__all__``."""
    return [
        (module.__name__, name, getattr(module, name))
        for module in public_modules()
        for name in getattr(module, "__all__", ())
    ]
