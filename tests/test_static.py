"""Static checks of the Python sources, configured in pyproject.toml: ruff (style and errors),
mypy (types, with the extension's stubs), and the stubs of inferno._core kept current
(docs/development.md, "Static checks")."""

from __future__ import annotations

import filecmp
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STUBS = REPO / "python" / "inferno" / "_core"


def run(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, capture_output=True, text=True, timeout=600)


def test_ruff_finds_nothing():
    proc = run("ruff", "check", "--no-cache", "python", "tests", "scripts", "benchmarks")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_finds_nothing():
    proc = run("mypy", "--no-incremental", "--cache-dir", "/dev/null")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_extensions_stubs_are_current(tmp_path):
    """python/inferno/_core/*.pyi are what pybind11-stubgen makes of the built extension; after a
    change to the bindings, regenerate them with
    ``.venv/bin/pybind11-stubgen inferno._core -o python``."""
    proc = run("pybind11_stubgen", "inferno._core", "-o", str(tmp_path))
    assert proc.returncode == 0 and "ERROR" not in proc.stderr, proc.stderr
    fresh = tmp_path / "inferno" / "_core"
    names = sorted(p.name for p in fresh.glob("*.pyi"))
    assert names == sorted(p.name for p in STUBS.glob("*.pyi")) and "__init__.pyi" in names
    _, mismatch, errors = filecmp.cmpfiles(fresh, STUBS, names, shallow=False)
    assert mismatch == [] and errors == [], f"stale stubs: {mismatch + errors}; regenerate them (see the docstring)"
