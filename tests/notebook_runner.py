"""Executing the notebooks of notebooks/ for the tests, once per test run.

Two test modules need every notebook executed: test_notebooks (each one must run without an
error) and test_docs_site (the site shows the executed notebooks with their plots). Executing
them twice took minutes, so the executed copies are shared: the first process of a run (pytest-xdist
workers included) that needs a notebook takes its lock, executes it and writes the copy to
build/executed-notebooks; the others wait for the lock and reuse the copy. A copy from an
earlier run is never reused.

The notebooks run in a fresh kernel started from *this* interpreter (the test's virtualenv), with
the notebooks folder as working directory. The notebook files themselves are not modified: they
are kept in the repository without outputs.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
EXECUTED = REPO / "build" / "executed-notebooks"
KERNEL_NAME = "python3"
CELL_TIMEOUT_S = 300
# Headless and rendering to PNG like Jupyter itself; also overrides any GUI backend inherited
# from the caller's environment.
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"


def kernel_specs(directory: Path) -> KernelSpecManager:
    """A private "python3" kernelspec in ``directory`` that runs sys.executable.

    The "python3" spec that jupyter_client would find can belong to another interpreter (a
    user-level or system kernelspec shadows the virtualenv's), so the tests never rely on it.
    """
    spec_dir = directory / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (inferno tests)",
        "language": "python",
        "env": {"MPLBACKEND": INLINE_BACKEND},
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1), encoding="utf-8")
    return KernelSpecManager(kernel_dirs=[str(directory)])


def execute(nb: nbformat.NotebookNode, cwd: Path, specs: KernelSpecManager) -> None:
    """Runs every cell of ``nb`` in place; raises CellExecutionError on the first failing cell."""
    km = KernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=specs)
    client = NotebookClient(nb, km=km, kernel_name=KERNEL_NAME, timeout=CELL_TIMEOUT_S,
                            resources={"metadata": {"path": str(cwd)}})
    client.execute()


def _run_id() -> str:
    """The same for every process of one pytest run (xdist gives its workers a shared id)."""
    return os.environ.get("PYTEST_XDIST_TESTRUNUID", f"pid-{os.getpid()}")


def executed(path: Path, specs: KernelSpecManager) -> Path:
    """The executed copy of notebook ``path`` for this test run: executed here unless another
    process of the run already did. A failing notebook raises here, in whichever test asked."""
    EXECUTED.mkdir(parents=True, exist_ok=True)
    copy = EXECUTED / path.name
    marker = EXECUTED / f"{path.name}.run"
    with open(EXECUTED / f"{path.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if copy.is_file() and marker.is_file() and marker.read_text() == _run_id():
            return copy
        marker.unlink(missing_ok=True)
        nb = nbformat.read(path, as_version=4)
        execute(nb, path.parent, specs)
        partial = copy.with_suffix(".partial")
        nbformat.write(nb, partial)
        partial.replace(copy)
        marker.write_text(_run_id())
    return copy
