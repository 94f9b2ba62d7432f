"""Execute every notebook in notebooks/ and fail on the first cell error.

The notebooks run in a fresh kernel started from *this* interpreter (the test's virtualenv), with
the notebooks folder as working directory. The notebook files are not modified: they are kept in
the repository without outputs, and the executed copy is discarded.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

NOTEBOOKS = sorted(Path(__file__).parent.parent.glob("notebooks/*.ipynb"))
KERNEL_NAME = "python3"
CELL_TIMEOUT_S = 300
# Headless and rendering to PNG like Jupyter itself; also overrides any GUI backend inherited
# from the caller's environment.
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"


@pytest.fixture(scope="session")
def kernel_specs(tmp_path_factory: pytest.TempPathFactory) -> KernelSpecManager:
    """A private "python3" kernelspec that runs sys.executable.

    The "python3" spec that jupyter_client would find can belong to another interpreter (a
    user-level or system kernelspec shadows the virtualenv's), so the tests never rely on it.
    """
    kernels = tmp_path_factory.mktemp("kernels")
    spec_dir = kernels / KERNEL_NAME
    spec_dir.mkdir()
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (inferno tests)",
        "language": "python",
        "env": {"MPLBACKEND": INLINE_BACKEND},
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1), encoding="utf-8")
    return KernelSpecManager(kernel_dirs=[str(kernels)])


def _execute(nb: nbformat.NotebookNode, cwd: Path, specs: KernelSpecManager) -> None:
    km = KernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=specs)
    client = NotebookClient(nb, km=km, kernel_name=KERNEL_NAME, timeout=CELL_TIMEOUT_S,
                            resources={"metadata": {"path": str(cwd)}})
    client.execute()  # raises CellExecutionError on the first failing cell


def test_kernel_is_this_interpreter(kernel_specs: KernelSpecManager, tmp_path: Path) -> None:
    spec = kernel_specs.get_kernel_spec(KERNEL_NAME)
    assert spec.argv[0] == sys.executable
    probe = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import os, sys, matplotlib\n"
        "print(sys.executable, sys.prefix, os.getcwd(), matplotlib.get_backend(), sep='\\n')")])
    _execute(probe, tmp_path, kernel_specs)
    lines = probe.cells[0].outputs[0]["text"].splitlines()
    assert lines[:2] == [sys.executable, sys.prefix]
    assert os.path.samefile(lines[2], tmp_path)
    assert lines[3] == INLINE_BACKEND


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path: Path, kernel_specs: KernelSpecManager) -> None:
    nb = nbformat.read(path, as_version=4)
    _execute(nb, path.parent, kernel_specs)


@pytest.mark.parametrize("name", ["03-tuner.ipynb", "06-real-vllm.ipynb"])
def test_a_notebook_runs_outside_the_checkout(name: str, kernel_specs: KernelSpecManager, tmp_path: Path) -> None:
    """The sample data ship with the package (inferno.samples_path()): a notebook copied anywhere
    runs as it does in notebooks/."""
    copy = tmp_path / name
    copy.write_bytes((Path(__file__).parent.parent / "notebooks" / name).read_bytes())
    nb = nbformat.read(copy, as_version=4)
    _execute(nb, tmp_path, kernel_specs)
