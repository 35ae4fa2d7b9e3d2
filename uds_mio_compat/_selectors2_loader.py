"""Importing selectors2 on Python 3.10+, where its ``from collections import Mapping`` fails."""

from __future__ import annotations

import builtins
import collections
import collections.abc
import importlib.util
import sys
import threading
import types
from typing import Any, Optional

__all__ = ["load_selectors2"]

_NAME = "selectors2"
_lock = threading.Lock()
# What selectors2 2.0.2 imports from collections; the ABC moved to collections.abc.
_COLLECTIONS_SHIM = types.SimpleNamespace(
    namedtuple=collections.namedtuple, Mapping=collections.abc.Mapping
)


def _import_for_selectors2(
    name: str,
    globals: Optional[dict[str, Any]] = None,
    locals: Optional[dict[str, Any]] = None,
    fromlist: Any = (),
    level: int = 0,
) -> Any:
    if name == "collections" and level == 0:
        return _COLLECTIONS_SHIM
    return builtins.__import__(name, globals, locals, fromlist, level)


def load_selectors2() -> types.ModuleType:
    """Import and return the ``selectors2`` module, on every supported Python.

    selectors2 2.0.2 does ``from collections import Mapping``, which fails on
    Python 3.10+ and warns before. Its source runs here with its own
    ``__import__`` that answers that statement with ``collections.abc.Mapping``
    and the real ``namedtuple``; nothing global is patched, ``collections`` is
    left untouched, and the result is registered as ``sys.modules["selectors2"]``
    so later ``import selectors2`` statements get the same module.

    Raises:
        ModuleNotFoundError: selectors2 is not installed (``pip install
            'uds-unix[selectors2]'``).
    """
    with _lock:
        module = sys.modules.get(_NAME)
        if module is not None:
            return module
        spec = importlib.util.find_spec(_NAME)
        if spec is None or spec.loader is None:
            raise ModuleNotFoundError(
                "selectors2 is not installed: pip install 'uds-unix[selectors2]'", name=_NAME
            )
        module = importlib.util.module_from_spec(spec)
        module.__dict__["__builtins__"] = {**vars(builtins), "__import__": _import_for_selectors2}
        sys.modules[_NAME] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[_NAME]
            raise
        return module
