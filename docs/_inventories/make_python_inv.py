"""Write ``python.inv``: an intersphinx inventory of the stdlib names the docs refer to.

The build has no network, so the inventory of docs.python.org cannot be fetched
when the docs are built. This script writes a small one from the running
interpreter's modules, with the URLs docs.python.org uses (``library/MODULE.html
#MODULE.NAME``; built-in types, functions and exceptions on their own pages).
Run it again (``python docs/_inventories/make_python_inv.py``) to add a module.
"""

from __future__ import annotations

import builtins
import importlib
import inspect
import zlib
from pathlib import Path

# Modules whose public names are all documented on library/MODULE.html.
MODULES = (
    "errno",
    "os",
    "pathlib",
    "selectors",
    "signal",
    "socket",
    "struct",
    "subprocess",
    "typing",
)
# asyncio spreads over several pages: the names we refer to, by page.
ASYNCIO = {
    "asyncio-stream": ("StreamReader", "StreamWriter", "open_unix_connection", "start_unix_server"),
    "asyncio-eventloop": ("AbstractEventLoop",),
    "asyncio-exceptions": ("CancelledError", "TimeoutError"),
    "asyncio-task": ("Task", "wait_for", "gather"),
}
STDTYPES = ("bytes", "bytearray", "memoryview", "str", "list", "tuple", "dict", "set", "frozenset")
FUNCTION_TYPES = ("int", "bool", "float", "object", "type")
PAGES = {
    "multiprocessing.reduction": (
        "library/multiprocessing.html",
        ("sendfds", "recvfds", "send_handle", "recv_handle"),
    ),
}


def _role(obj: object) -> str:
    if inspect.isclass(obj):
        return "exception" if issubclass(obj, BaseException) else "class"
    if inspect.ismodule(obj):
        return "module"
    if callable(obj):
        return "function"
    return "data"


def entries() -> list[tuple[str, str, str]]:
    """``(name, py:role, uri)`` for every name in the inventory."""
    out: list[tuple[str, str, str]] = []
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        page = f"library/{module_name}.html"
        out.append((module_name, "py:module", f"{page}#module-{module_name}"))
        for name in sorted(dir(module)):
            if name.startswith("_"):
                continue
            obj = getattr(module, name)
            if inspect.ismodule(obj):
                continue
            uri = f"{page}#{module_name}.{name}"
            out.append((f"{module_name}.{name}", f"py:{_role(obj)}", uri))
    out.append(("asyncio", "py:module", "library/asyncio.html#module-asyncio"))
    import asyncio

    for page, names in ASYNCIO.items():
        for name in names:
            role = _role(getattr(asyncio, name))
            out.append((f"asyncio.{name}", f"py:{role}", f"library/{page}.html#asyncio.{name}"))
    for dotted, (page, names) in PAGES.items():
        for name in names:
            out.append((f"{dotted}.{name}", "py:function", f"{page}#{dotted}.{name}"))
    for name in sorted(dir(builtins)):
        obj = getattr(builtins, name)
        if inspect.isclass(obj) and issubclass(obj, BaseException):
            out.append((name, "py:exception", f"library/exceptions.html#{name}"))
    for name in STDTYPES:
        out.append((name, "py:class", f"library/stdtypes.html#{name}"))
    for name in FUNCTION_TYPES:
        out.append((name, "py:class", f"library/functions.html#{name}"))
    for name in ("open", "len", "iter", "isinstance", "callable"):
        out.append((name, "py:function", f"library/functions.html#{name}"))
    return out


def write(path: Path) -> None:
    """Write the inventory in Sphinx's version-2 format."""
    lines = []
    for name, role, uri in sorted(set(entries())):
        # "$" in a URI stands for the name itself; "-" as the display name means "the name".
        shortened = uri[: -len(name)] + "$" if uri.endswith("#" + name) else uri
        lines.append(f"{name} {role} 1 {shortened} -")
    header = (
        "# Sphinx inventory version 2\n"
        "# Project: Python\n"
        "# Version: 3\n"
        "# The remainder of this file is compressed using zlib.\n"
    )
    body = zlib.compress(("\n".join(lines) + "\n").encode())
    path.write_bytes(header.encode() + body)


if __name__ == "__main__":
    write(Path(__file__).resolve().parent / "python.inv")
