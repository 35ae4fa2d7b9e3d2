"""Sphinx directives for the uds docs: names not yet grouped, optional modules, the CLI.

- ``.. uds-ungrouped::`` documents, with autodoc, every object named in a public
  ``__all__`` that no ``auto*`` directive of ``docs/reference/*.rst`` documents
  (compared by identity, so a re-export of a documented object counts as
  documented). A name added to the API therefore appears in the reference at
  once, and in its topic page once someone moves it there.
- ``.. uds-automodule:: NAME`` is ``automodule`` with members for a module that
  imports, and a note saying it is not available otherwise (``uds.anyio`` without
  anyio installed).
- ``.. uds-cli::`` renders the usage, options and notes of ``uds`` and each
  subcommand from the argparse parser itself (``uds._cli.build_parser``), as
  ``program``/``option`` directives, so the HTML page and the man page cannot
  drift from the code.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import re
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles
from uds_public import public_modules, public_names

_AUTO = re.compile(r"^\s*\.\. auto(?:class|function|data|exception|attribute)::\s*(\S+)", re.M)
_AUTOMODULE = re.compile(r"^\s*\.\. uds-automodule::\s*(\S+)", re.M)
_MODULE = re.compile(r"^\s*\.\. (?:py:)?(?:module|automodule|uds-automodule)::\s*(\S+)", re.M)


def _resolve(dotted: str) -> Any:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attribute in parts[cut:]:
            obj = getattr(obj, attribute)
        return obj
    raise ImportError(dotted)


def declared_modules(reference_dir: Path) -> set[str]:
    """The modules the reference pages declare (``module``, ``automodule``)."""
    declared: set[str] = set()
    for page in sorted(reference_dir.glob("*.rst")):
        declared.update(_MODULE.findall(page.read_text(encoding="utf-8")))
    return declared


def grouped_objects(reference_dir: Path) -> tuple[set[int], set[str]]:
    """Ids of the objects the topic pages document, and the modules they automodule."""
    ids: set[int] = set()
    modules: set[str] = set()
    for page in sorted(reference_dir.glob("*.rst")):
        text = page.read_text(encoding="utf-8")
        for dotted in _AUTO.findall(text):
            try:
                ids.add(id(_resolve(dotted)))
            except (ImportError, AttributeError):
                continue  # autodoc itself reports it
        modules.update(_AUTOMODULE.findall(text))
    return ids, modules


def _directive_for(obj: Any) -> str:
    if inspect.isclass(obj):
        return "autoexception" if issubclass(obj, BaseException) else "autoclass"
    if callable(obj):
        return "autofunction"
    return "autodata"


class UngroupedDirective(SphinxDirective):
    """Autodoc for every public name the topic pages do not document yet."""

    def run(self) -> list[nodes.Node]:
        reference = Path(self.env.srcdir) / "reference"
        ids, automodules = grouped_objects(reference)
        lines: list[str] = []
        # A public module no page declares (a new optional one): its docstring here.
        declared = declared_modules(reference)
        for module in public_modules():
            if module.__name__ not in declared:
                lines += [f".. automodule:: {module.__name__}", ""]
        seen: set[int] = set()
        for module, name, obj in public_names():
            if id(obj) in ids or id(obj) in seen or module in automodules:
                continue
            seen.add(id(obj))
            lines += [f".. {_directive_for(obj)}:: {module}.{name}"]
            if inspect.isclass(obj):
                lines += ["   :members:", "   :show-inheritance:"]
            lines.append("")
        if not lines:
            lines = ["Every public name is in its topic page."]
        for dependency in sorted({str(p) for p in reference.glob("*.rst")}):
            self.env.note_dependency(dependency)
        return self._parse(lines)

    def _parse(self, lines: list[str]) -> list[nodes.Node]:
        container = nodes.section()
        container.document = self.state.document
        self.state.nested_parse(StringList(lines, source="<uds-ungrouped>"), 0, container)
        return list(container.children)


class OptionalModuleDirective(UngroupedDirective):
    """``automodule`` with members when the module imports, a note when it does not."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        name = self.arguments[0]
        try:
            importlib.import_module(name)
        except ImportError as error:
            lines = [f".. note:: ``{name}`` is not available here ({error})."]
        else:
            lines = [f".. automodule:: {name}", "   :members:", "   :show-inheritance:"]
        return self._parse(lines)


def _option_lines(parser: argparse.ArgumentParser, program: str) -> list[str]:
    lines = [f".. program:: {program}", ""]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) or action.help == argparse.SUPPRESS:
            continue
        if action.option_strings:
            metavar = ""
            if action.nargs != 0:
                metavar = " " + (action.metavar or action.dest.upper())
            spelled = ", ".join(option + metavar for option in action.option_strings)
        else:
            spelled = str(action.metavar or action.dest)
        lines += [f".. option:: {spelled}", "", f"   {action.help or ''}", ""]
    return lines


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


class CliDirective(UngroupedDirective):
    """Usage, options and notes of ``uds`` and every subcommand, read from the parser.

    ``.. uds-cli::`` renders the top-level options; ``.. uds-cli:: commands``
    renders a section per subcommand (its help, usage, options, and its notes
    where they differ from the top level's); ``.. uds-cli:: notes`` renders the
    top-level epilog.
    """

    optional_arguments = 1

    def run(self) -> list[nodes.Node]:
        from uds._cli import build_parser

        parser = build_parser()
        part = self.arguments[0] if self.arguments else "options"
        if part == "options":
            lines = _usage_lines(parser) + _option_lines(parser, "uds")
        elif part == "notes":
            lines = _literal(parser.epilog or "")
        elif part == "commands":
            lines = []
            helps = _subcommand_help(parser)
            for name, sub in _subcommands(parser).items():
                title = f"uds {name}"
                lines += [title, "-" * len(title), "", helps.get(name, ""), ""]
                lines += _usage_lines(sub) + _option_lines(sub, title)
                if sub.epilog and sub.epilog != parser.epilog:
                    lines += _literal(sub.epilog)
        else:
            raise self.error(f"unknown part {part!r}: options, commands or notes")
        container = nodes.section()
        container.document = self.state.document
        nested_parse_with_titles(self.state, StringList(lines, source="<uds-cli>"), container)
        return list(container.children)


def _usage_lines(parser: argparse.ArgumentParser) -> list[str]:
    return _literal(" ".join(parser.format_usage().split()[1:]))


def _literal(text: str) -> list[str]:
    return ["::", "", *(f"   {line}" for line in text.splitlines()), ""]


def _subcommand_help(parser: argparse.ArgumentParser) -> dict[str, str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return {choice.dest: choice.help or "" for choice in action._choices_actions}
    return {}


def add_reexport_aliases(app: Sphinx, env: BuildEnvironment) -> None:
    """Make every re-export resolve to where its object is documented.

    ``uds.ext.send_fds`` is ``uds.send_fds``; the reference documents it once,
    and this adds ``uds.ext.send_fds`` (and every other public name whose class
    or function is documented under another name) to the Python domain, so
    cross-references and the inventory find it.
    """
    domain: Any = env.get_domain("py")
    objects = domain.objects
    documented: dict[int, Any] = {}
    for name, entry in list(objects.items()):
        if entry.aliased:
            continue
        try:
            obj = _resolve(name)
        except (ImportError, AttributeError):
            continue
        if inspect.isclass(obj) or inspect.isroutine(obj):
            documented.setdefault(id(obj), entry)
    for module, name, obj in public_names():
        full = f"{module}.{name}"
        entry = documented.get(id(obj))
        if full not in objects and entry is not None:
            objects[full] = entry._replace(aliased=True)


def reread_generated(
    app: Sphinx, env: BuildEnvironment, added: set[str], changed: set[str], removed: set[str]
) -> list[str]:
    """Re-read the pages generated from the code on every build, even incremental ones."""
    return [name for name in ("reference/other", "cli") if name in env.found_docs]


def purge_generated(app: Sphinx, env: BuildEnvironment, docnames: list[str]) -> None:
    """Forget the generated pages' objects before any page is read.

    Sphinx clears a page just before re-reading it; a topic page read earlier
    that now documents a name the old catch-all page had would otherwise be
    reported as a duplicate in an incremental build.
    """
    for name in ("reference/other", "cli"):
        if name in docnames:
            env.clear_doc(name)


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("env-before-read-docs", purge_generated)
    app.connect("env-get-outdated", reread_generated)
    app.connect("env-updated", add_reexport_aliases)
    app.add_directive("uds-ungrouped", UngroupedDirective)
    app.add_directive("uds-automodule", OptionalModuleDirective)
    app.add_directive("uds-cli", CliDirective)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
