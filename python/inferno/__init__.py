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

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from .optimizer import Solution, System, candidates, load, optimize
from .queue import Analysis, Concurrency, MaxRate, QueueModel, service_models
from . import experiments, sizing, tuner
from .config_search import SearchResult, SearchSpec, search
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


try:
    __version__ = version("inferno")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = ["Analysis", "Concurrency", "MaxRate", "Observation", "QueueModel", "SearchResult", "SearchSpec", "Simulation",
           "Solution", "System", "Tuner", "candidates", "experiments", "load", "optimize", "samples_path", "search",
           "service_models", "simulate", "sizing", "tuner", "__version__"]
