"""The documentation's examples still hold.

* ``docs/api.md`` is written as doctests: every ``>>>`` example is run and must print what the page
  shows.
* ``docs/cli.md`` shows terminal sessions in ```` ```console ```` blocks: lines starting with ``$ ``
  are commands, the lines after them their output. Each block is re-run with bash from the
  repository root (so file arguments are relative to it), with ``inferno`` resolving to the
  console script installed next to this interpreter, and the output (standard output and standard
  error together, as in a terminal) must equal the block's text exactly.

To update a page after a deliberate change, re-run its examples and paste the new output.
"""

from __future__ import annotations

import doctest
import os
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import inferno

REPO = Path(__file__).resolve().parents[1]
API_PAGE = REPO / "docs" / "api.md"
CLI_PAGE = REPO / "docs" / "cli.md"
INFERNO = Path(sys.executable).with_name("inferno")


# ----------------------------------------------------------------------------- api.md
def test_api_page_doctests():
    result = doctest.testfile(
        str(API_PAGE), module_relative=False,
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
        globs={"inferno": inferno, "np": np, "pd": pd})
    assert result.attempted > 50, "docs/api.md lost its examples"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in docs/api.md failed (see the captured output)"


def _modules_with_examples() -> list[str]:
    import importlib
    import pkgutil
    # Python modules only (not the extension's binaries), without the CLI and the entry point
    names = [m.name for m in pkgutil.walk_packages(inferno.__path__, "inferno.")
             if ".cli" not in m.name and not m.name.endswith("__main__") and "libhighs" not in m.name and "._core" not in m.name]
    return [n for n in names if ">>>" in (importlib.import_module(n).__doc__ or "")]


@pytest.mark.parametrize("name", _modules_with_examples())
def test_module_docstring_examples(name):
    """The examples in the package's own docstrings run as written."""
    import importlib
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed"


def test_the_module_docstring_examples_are_found():
    assert {"inferno.kube", "inferno.webhook"} <= set(_modules_with_examples())


# ----------------------------------------------------------------------------- cli.md
@dataclass(frozen=True)
class Command:
    line: int                   # 1-based line of the command in the page
    text: str                   # the command, without "$ "
    expected: tuple[str, ...]   # the output lines shown under it


def console_blocks(path: Path) -> list[list[Command]]:
    """The ```console blocks of a page, each as its list of commands with their shown output."""
    blocks: list[list[Command]] = []
    current: list[Command] | None = None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if current is None:
            if line.strip() == "```console":
                current = []
            continue
        if line.strip() == "```":
            blocks.append(current)
            current = None
        elif line.startswith("$ "):
            current.append(Command(number, line[2:], ()))
        else:
            assert current, f"{path.name}:{number}: output before the first command of a console block"
            last = current[-1]
            current[-1] = Command(last.line, last.text, last.expected + (line,))
    assert current is None, f"{path.name}: unterminated console block"
    return blocks


CLI_BLOCKS = console_blocks(CLI_PAGE)


def run_block(commands: list[Command]) -> list[list[str]]:
    """Run a block's commands in one bash process; return each command's output lines."""
    marker = f"@@inferno-docs-{uuid.uuid4().hex}@@"
    script = "".join(f"__rc=$?; echo '{marker}'; (exit $__rc)\n{c.text}\n" for c in commands)
    env = dict(os.environ, PATH=f"{INFERNO.parent}{os.pathsep}{os.environ.get('PATH', '')}",
               COLUMNS="80", LC_ALL="C.UTF-8")
    proc = subprocess.run(["bash", "-c", script], cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
    chunks = proc.stdout.split(marker + "\n")
    assert chunks[0] == "", f"unexpected output before the first command: {chunks[0]!r}"
    return [chunk.splitlines() for chunk in chunks[1:]]


@pytest.fixture(scope="module")
def cli_outputs() -> list[list[list[str]]]:
    """Every block of docs/cli.md, run in parallel (each command starts a Python process)."""
    assert INFERNO.exists(), f"the inferno console script is not installed next to {sys.executable}"
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 1)) as pool:
        return list(pool.map(run_block, CLI_BLOCKS))


def test_cli_page_has_console_examples():
    commands = [c for block in CLI_BLOCKS for c in block]
    assert len(CLI_BLOCKS) >= 10 and len(commands) >= 20, "docs/cli.md lost its console examples"
    assert all(any("inferno " in c.text for c in block) for block in CLI_BLOCKS)


@pytest.mark.parametrize("index", range(len(CLI_BLOCKS)),
                         ids=[f"cli.md:{block[0].line}" for block in CLI_BLOCKS])
def test_cli_page_console_block(index, cli_outputs):
    commands, outputs = CLI_BLOCKS[index], cli_outputs[index]
    assert len(outputs) == len(commands)
    mismatches = []
    for command, got in zip(commands, outputs):
        if got != list(command.expected):
            mismatches.append(f"docs/cli.md:{command.line}: $ {command.text}\n"
                              "--- shown:\n" + "\n".join(command.expected) +
                              "\n--- got:\n" + "\n".join(got))
    assert not mismatches, "\n\n".join(mismatches)
