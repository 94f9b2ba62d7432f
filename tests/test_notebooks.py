"""Execute every notebook in notebooks/ and fail on the first cell error.

The notebooks run in a fresh kernel started from *this* interpreter (the test's virtualenv), with
the notebooks folder as working directory (tests/notebook_runner.py). The notebook files are not
modified: they are kept in the repository without outputs. The executed copies are shared with
the documentation site's test, which shows them: each notebook runs once per test run.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from notebook_runner import INLINE_BACKEND, KERNEL_NAME, NOTEBOOKS, execute, executed
from notebook_runner import kernel_specs as make_kernel_specs


@pytest.fixture(scope="session")
def kernel_specs(tmp_path_factory: pytest.TempPathFactory) -> KernelSpecManager:
    return make_kernel_specs(tmp_path_factory.mktemp("kernels"))


def test_kernel_is_this_interpreter(kernel_specs: KernelSpecManager, tmp_path: Path) -> None:
    spec = kernel_specs.get_kernel_spec(KERNEL_NAME)
    assert spec.argv[0] == sys.executable
    probe = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import os, sys, matplotlib\n"
        "print(sys.executable, sys.prefix, os.getcwd(), matplotlib.get_backend(), sep='\\n')")])
    execute(probe, tmp_path, kernel_specs)
    lines = probe.cells[0].outputs[0]["text"].splitlines()
    assert lines[:2] == [sys.executable, sys.prefix]
    assert os.path.samefile(lines[2], tmp_path)
    assert lines[3] == INLINE_BACKEND


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path: Path, kernel_specs: KernelSpecManager) -> None:
    copy = executed(path, kernel_specs)  # raises on the first failing cell
    nb = nbformat.read(copy, as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    original = [cell for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code"]
    assert [cell.source for cell in code] == [cell.source for cell in original], "a stale executed copy"
    assert all(cell.get("execution_count") for cell in code if cell.source.strip()), "a cell was not run"


@pytest.mark.parametrize("name", ["03-tuner.ipynb", "06-real-vllm.ipynb"])
def test_a_notebook_runs_outside_the_checkout(name: str, kernel_specs: KernelSpecManager, tmp_path: Path) -> None:
    """The sample data ship with the package (inferno.samples_path()): a notebook copied anywhere
    runs as it does in notebooks/."""
    copy = tmp_path / name
    copy.write_bytes((Path(__file__).parent.parent / "notebooks" / name).read_bytes())
    nb = nbformat.read(copy, as_version=4)
    execute(nb, tmp_path, kernel_specs)
