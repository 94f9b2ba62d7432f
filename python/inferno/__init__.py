"""inferno: performance models, optimisation and simulation for LLM inference fleets.

Quick start::

    import inferno
    m = inferno.QueueModel(alpha=12, beta=0.05, gamma=0.0005, in_tokens=128, out_tokens=512,
                           max_batch=48, max_queue=128)
    m.analyze(3.0).ttft_ms                  # mean time to first token at 3 req/s
    m.analyze(np.linspace(0.5, 3.8, 50))    # a DataFrame, one row per rate
    m.max_rate(ttft_ms=60, itl_ms=20)       # largest load meeting the SLOs

    system = inferno.load("samples/large")  # the reference's JSON documents
    solution = inferno.optimize(system)     # accelerator, replicas, batch size per server
    solution.to_frame()

    tuner = inferno.Tuner()                 # learn α, β, γ from observed TTFT/ITL (EKF)
    tuner.update(observation)               # one control cycle
    tuner.estimate                          # values with standard deviations, κ, NIS

    run = inferno.simulate(m, rate_rps=3.0) # discrete-event simulation of the same server
    run.summary, run.requests, run.series   # measured metrics, per request, over time

    result = inferno.search("spec.yaml")    # GPU, slice, TP/PP, batch cap, chunk size: the cheapest
    result.table, result.best               # within the SLOs, with Pareto flags, confirmed by simulation
    inferno.experiments.sweep(fn, grid)     # batch experiments on local processes or Dask
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .queue import Analysis, Concurrency, MaxRate, QueueModel, service_models

# The rest of the API is imported on first use (PEP 562), so that ``import inferno`` and a CLI
# command load only what they run: name -> the module that defines it (None: the submodule itself).
_ON_FIRST_USE = {
    "Solution": "optimizer", "System": "optimizer", "candidates": "optimizer", "load": "optimizer",
    "optimize": "optimizer",
    "experiments": None, "sizing": None, "tuner": None,
    "SearchResult": "config_search", "SearchSpec": "config_search", "search": "config_search",
    "Simulation": "sim", "simulate": "sim",
    "Observation": "tuner", "Tuner": "tuner",
}
if TYPE_CHECKING:
    from . import experiments, sizing, tuner
    from .config_search import SearchResult, SearchSpec, search
    from .optimizer import Solution, System, candidates, load, optimize
    from .sim import Simulation, simulate
    from .tuner import Observation, Tuner


def samples_path() -> Path:
    """The sample data (``large``, ``small``, ``queue``, ``sizing``, ``tuner``, ``real``, and their
    NOTICE.md): shipped in the package, or, in a source checkout that has not been installed, the
    repository's ``samples/``."""
    packaged = Path(__file__).resolve().parent / "samples"
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parents[2] / "samples"
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"no sample data: neither {packaged} nor {checkout} exists")


def __getattr__(name: str) -> Any:
    """The API and the submodules, imported on first use, and ``__version__``, read from the
    installed package's metadata when first asked for (importlib.metadata takes longer to import
    than the rest of ``import inferno``)."""
    if name in _ON_FIRST_USE:
        module_name = _ON_FIRST_USE[name]
        module = importlib.import_module(f".{module_name or name}", __name__)
        value = module if module_name is None else getattr(module, name)
    elif name.isidentifier() and not name.startswith("__") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        value = importlib.import_module(f".{name}", __name__)  # a submodule: inferno.optimizer, inferno.validate, ...
    elif name == "__version__":
        from importlib.metadata import PackageNotFoundError, version
        try:
            value = version("inferno")
        except PackageNotFoundError:  # pragma: no cover - running from a source tree
            value = "0.0.0"
    else:
        raise AttributeError(f"module 'inferno' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_ON_FIRST_USE) | {"__version__"})


__all__ = ["Analysis", "Concurrency", "MaxRate", "Observation", "QueueModel", "SearchResult", "SearchSpec", "Simulation",
           "Solution", "System", "Tuner", "candidates", "experiments", "load", "optimize", "samples_path", "search",
           "service_models", "simulate", "sizing", "tuner", "__version__"]
