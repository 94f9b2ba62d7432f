"""Start-up: ``import inferno`` loads neither numpy, pandas nor matplotlib, and the CLI's JSON
commands load neither pandas nor matplotlib (tables are still printed from DataFrames)
(inferno._lazy, the package's __getattr__); what is deferred is the same object once loaded. The
times are measured by benchmarks/startup.py, not here."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from cli_helpers import REPO

HEAVY = ("numpy", "pandas", "matplotlib", "importlib.metadata")


def _loaded_after(code: str) -> list[str]:
    """The heavy modules a fresh interpreter has loaded after running ``code``."""
    probe = f"{code}\nimport sys, json\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]), file=sys.stderr)"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stderr.strip().splitlines()[-1])


def test_import_inferno_loads_no_heavy_library():
    assert _loaded_after("import inferno; inferno.QueueModel; inferno.samples_path()") == []


@pytest.mark.parametrize("argv", [
    ["optimize", "samples/large", "--format", "json"],
    ["queue", "solve", "--input", "samples/queue/problem-data.json"],
    ["schema"],
], ids=" ".join)
def test_a_cli_command_that_prints_json_loads_neither_pandas_nor_matplotlib(argv):
    code = ("import contextlib, io\nfrom inferno.cli import main\n"
            f"with contextlib.redirect_stdout(io.StringIO()):\n    assert main({argv!r}) == 0")
    loaded = _loaded_after(code)
    assert "pandas" not in loaded and "matplotlib" not in loaded, loaded


def test_the_deferred_api_is_the_defining_modules_own():
    import inferno.config_search
    import inferno.optimizer
    import inferno.sim
    import inferno.tuner
    assert inferno.Tuner is inferno.tuner.Tuner and inferno.Observation is inferno.tuner.Observation
    assert inferno.System is inferno.optimizer.System and inferno.optimize is inferno.optimizer.optimize
    assert inferno.search is inferno.config_search.search and inferno.simulate is inferno.sim.simulate
    assert set(inferno.__all__) <= set(dir(inferno))
    namespace: dict = {}
    exec("from inferno import *", namespace)
    assert {name for name in inferno.__all__} <= set(namespace)
    assert inferno.__version__.count(".") >= 2
    with pytest.raises(AttributeError, match="module 'inferno' has no attribute 'Nope'"):
        inferno.Nope  # noqa: B018
    assert not hasattr(inferno, "no.such.module")


def test_every_submodule_is_an_attribute_of_the_package_in_a_fresh_interpreter():
    code = ("import inferno\n"
            "assert inferno.optimizer.highs_versions()['linked']\n"
            "assert inferno.validate.read_sweeps and inferno.sim.simulate and inferno.config_search.search\n"
            "assert inferno.schemas.names() and inferno.kube\n"
            "try:\n    inferno.no_such_module\nexcept AttributeError as e:\n    assert 'no_such_module' in str(e)\n"
            "else:\n    raise SystemExit('no error')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 0, proc.stderr


def test_a_deferred_library_is_the_library_itself_once_used():
    import numpy
    import pandas

    from inferno._lazy import np, pd
    assert np.ndarray is numpy.ndarray and pd.DataFrame is pandas.DataFrame
    assert np.asarray([1.0, 2.0]).sum() == 3.0
    with pytest.raises(AttributeError):
        np.no_such_function  # noqa: B018
