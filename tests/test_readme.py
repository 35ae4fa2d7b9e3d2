"""The README's Python snippets run as written, each in a fresh interpreter."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

import pytest

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_readme_has_python_snippets() -> None:
    assert BLOCKS, "README.md lost its Python examples"


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_snippet_runs(code: str, tmp_path: pathlib.Path) -> None:
    result = subprocess.run(
        # Development mode and warnings as errors: an unclosed socket or file fails.
        [sys.executable, "-X", "dev", "-W", "error", "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, f"snippet failed:\n{code}\n--- stderr ---\n{result.stderr}"
    # Warnings raised in finalisers are printed, not raised: look for them.
    assert "ResourceWarning" not in result.stderr, result.stderr


def _setup_commands() -> list[str]:
    """The shell commands of the README's set-up section, in order."""
    text = README.read_text()
    section = text[text.index("## Set-up") : text.index("\n## ", text.index("## Set-up") + 1)]
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)]


def test_setup_starts_with_a_venv() -> None:
    """A system Python refuses pip install (externally-managed-environment)."""
    commands = _setup_commands()
    assert commands and commands[0] == "python3 -m venv .venv && . .venv/bin/activate"


def test_setup_installs_are_visible_to_type_checkers() -> None:
    """The default editable install is an import hook that mypy cannot follow."""
    installs = [c for c in _setup_commands() if "pip install" in c]
    assert len(installs) == 2
    for command in installs:
        assert "pip install -e " in command
        assert "--config-settings editable_mode=compat" in command


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    """CI (.ci/run) must run exactly what the README tells a new user to run."""
    test_command = [c for c in _setup_commands() if "pytest" in c]
    assert len(test_command) == 1
    ci = (README.parent / ".ci" / "run").read_text()
    assert test_command[0] in ci
