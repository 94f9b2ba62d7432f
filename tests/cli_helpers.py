"""Running the ``inferno`` command line from tests, in a separate process or in-process, and
strict JSON parsing of its output. Shared by the CLI test modules."""

from __future__ import annotations

import contextlib
import functools
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Sequence

from inferno.cli import main

REPO = Path(__file__).resolve().parents[1]


@functools.lru_cache(maxsize=1)
def cli_command() -> tuple[str, ...]:
    """``python -m inferno.cli`` if the package is runnable that way, else the console script
    next to sys.executable."""
    probe = subprocess.run([sys.executable, "-m", "inferno.cli", "--version"], capture_output=True, text=True)
    if probe.returncode == 0 and "inferno" in probe.stdout:
        return (sys.executable, "-m", "inferno.cli")
    script = Path(sys.executable).with_name("inferno")
    assert script.exists(), f"neither `-m inferno.cli` nor {script} is usable: {probe.stderr}"
    return (str(script),)


def run_process(argv: Sequence[Any], stdin: str | None = None,
                stdin_file: Path | None = None) -> subprocess.CompletedProcess:
    """``inferno ARGV`` as a separate process (fresh interpreter, real exit code); stdin from a
    string or, like ``< file``, from a real file."""
    cmd = [*cli_command(), *map(str, argv)]
    if stdin_file is not None:
        with open(stdin_file, encoding="utf-8") as f:
            return subprocess.run(cmd, stdin=f, capture_output=True, text=True, cwd=REPO, timeout=120)
    return subprocess.run(cmd, input=stdin or "", capture_output=True, text=True, cwd=REPO, timeout=120)


def run_in_process(argv: Sequence[Any], stdin: str = "") -> subprocess.CompletedProcess:
    """``inferno ARGV`` through ``inferno.cli.main`` (the same result shape as run_process)."""
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = main([str(a) for a in argv])
            except SystemExit as exc:  # argparse errors
                rc = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.stdin = saved
    return subprocess.CompletedProcess([str(a) for a in argv], rc, out.getvalue(), err.getvalue())


def _reject_constant(name: str):
    raise AssertionError(f"output contains the non-JSON constant {name}")


def strict_json(text: str) -> Any:
    """JSON without NaN, Infinity or -Infinity."""
    return json.loads(text, parse_constant=_reject_constant)


def strict_json_lines(stdout: str) -> list[dict]:
    """One strict JSON object per line."""
    assert stdout.endswith("\n") or stdout == ""
    out = [strict_json(line) for line in stdout.splitlines()]
    assert all(isinstance(o, dict) for o in out), stdout
    return out
