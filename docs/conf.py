"""Sphinx configuration of the uds documentation.

Build strictly (every warning an error) with::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

and the man page, uds(1), from the same sources with ``-b man``.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
sys.path.insert(0, str(HERE.parent))  # the checkout's uds, also when not installed

import uds  # noqa: E402

project = "uds"
author = "The uds-unix developers"
copyright = "the uds-unix developers, MIT OR Apache-2.0"
release = uds.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
    "sphinx.ext.napoleon",
    "myst_parser",
    "uds_docs",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_ext", "_inventories", "README.md"]
templates_path: list[str] = []

# autodoc: the docstrings are the reference.
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
# Sphinx's preserve-defaults fails on some inherited methods ("pop from empty list").
autodoc_preserve_defaults = False
autoclass_content = "both"
add_module_names = True

# Cross-references to our own API must resolve (nitpicky); references into
# other projects, and the private modules some docstrings name, may stay plain
# text: nothing here can fetch those inventories, and a private name is not
# part of the reference.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(?!uds\b|uds_mio_compat\b).*"),
    (r"py:.*", r"(uds|uds_mio_compat)(\.\w+)*\._\w+.*"),
]

# intersphinx to the Python docs from a vendored inventory (no network at build
# time): docs/_inventories/python.inv, written by make_python_inv.py beside it.
intersphinx_mapping = {
    "python": ("https://docs.python.org/3", str(HERE / "_inventories" / "python.inv")),
}

# MyST renders the Markdown pages kept at their old paths (docs/reliability.md).
myst_heading_anchors = 3

html_theme = "furo"
html_title = f"uds {release}"
html_static_path: list[str] = []

# uds(1), from docs/cli.rst.
man_pages = [
    ("cli", "uds", "talk over unix domain sockets: relay, pass fds, show credentials", [author], 1),
]
man_show_urls = True

# The docstrings are Google style ("Raises:", "Returns:").
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
napoleon_use_ivar = True
