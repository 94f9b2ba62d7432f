"""Discrete-event simulation of continuous-batching inference servers and fleets.

::

    model = inferno.QueueModel(alpha=12, beta=0.05, gamma=0.0005, in_tokens=128, out_tokens=512,
                               max_batch=48, max_queue=128)
    run = inferno.simulate(model, rate_rps=3.0, duration_s=600, seed=1)
    run.summary            # measured throughput, TTFT/ITL/E2E/wait means and percentiles, ...
    run.requests           # one row per request
    run.series             # queue length and batch size over time

The engine is the C++ core; this module turns arguments into its inputs and its outputs into
DataFrames.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import numbers
from collections.abc import Iterable, Mapping
from typing import Any

from ._lazy import np, pd

from ._core import sim as _sim
from .queue import QueueModel
from ._text import excerpt as _excerpt

MODES = ("iteration", "markov")
ROUTERS = ("round-robin", "jsq", "least-tokens")
ARRIVALS = ("poisson", "gamma", "constant", "closed", "trace")
KV_POLICIES = ("reserve", "on-demand")
DISTRIBUTIONS = ("fixed", "geometric", "exponential", "uniform", "empirical")
# Per request, except token_itl_ms: every decode interval, weighted by the tokens it delayed (the
# distribution the queue model's ITL percentiles describe).
_STATS = ("ttft_ms", "itl_ms", "token_itl_ms", "e2e_ms", "wait_ms")


def _config(model: QueueModel | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(model, Mapping):
        model = QueueModel(**model)  # validates like the queue model does
    if not isinstance(model, QueueModel):
        raise TypeError(f"model must be an inferno.QueueModel or a dict of its arguments, got {type(model).__name__}")
    spec = model.spec
    named = {"max_batch", "max_queue", "in_tokens", "out_tokens", "service_model", "max_num_tokens", "in_tokens_spread",
             "arrival_cov", "service_cov", "itl_weighting"}
    return {"service_model": spec["service_model"], "params": {k: float(v) for k, v in spec.items() if k not in named},
            "in_tokens": float(spec["in_tokens"] or 0.0), "out_tokens": float(spec["out_tokens"] or 1.0),
            "max_num_tokens": int(spec["max_num_tokens"]), "max_batch": int(spec["max_batch"]),
            "max_queue": int(spec["max_queue"])}


def _dist(value: Any, mean: float, what: str) -> dict[str, Any]:
    """None: the model's mean for every request; a number: that value; a name: that distribution
    with the model's mean; a tuple ('geometric', mean), ('uniform', low, high), ('empirical',
    values); or a dict with kind/value/low/high/values."""
    if value is None:
        return {"kind": "fixed", "value": mean}
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, numbers.Real) and not isinstance(value, bool):  # NumPy numbers too
        return {"kind": "fixed", "value": float(value)}
    if isinstance(value, str):
        if value not in DISTRIBUTIONS or value in ("uniform", "empirical"):
            raise ValueError(f"{what}: {_excerpt(value)} needs parameters or is unknown; give 'fixed', 'geometric' "
                             f"or 'exponential' (the model's mean), or a tuple ('uniform', low, high) / "
                             f"('empirical', values)")
        return {"kind": value, "value": mean}
    if isinstance(value, tuple) and value and value[0] in DISTRIBUTIONS:
        kind = value[0]
        if kind in ("fixed", "geometric", "exponential") and len(value) == 2:
            return {"kind": kind, "value": float(value[1])}
        if kind == "uniform" and len(value) == 3:
            return {"kind": kind, "low": float(value[1]), "high": float(value[2])}
        if kind == "empirical" and len(value) == 2:
            return {"kind": kind, "values": [float(v) for v in value[1]]}
    raise ValueError(f"{what}: expected None, a number, one of {DISTRIBUTIONS}, or a tuple like "
                     f"('uniform', 100, 900); got {_excerpt(value)}")


def uniform_around(mean: float, spread: float = 0.5) -> tuple[str, float, float]:
    """Token counts uniform in [(1 - spread)·mean, (1 + spread)·mean], the shape of the benchmark
    tools' synthetic data (GuideLLM: spread 0.5), as a distribution for ``in_tokens`` or
    ``out_tokens``."""
    for name, value, low, high in (("mean", mean, 0.0, 1e8), ("spread", spread, 0.0, 1.0)):
        if not isinstance(value, numbers.Real) or isinstance(value, bool) or not low <= float(value) <= high:
            raise ValueError(f"uniform_around: {name} must be a number in [{low:g}, {high:g}], got {_excerpt(value)}")
    return ("uniform", round(mean * (1 - spread)), round(mean * (1 + spread)))


def _columns(data: Any, names: tuple[str, ...], what: str) -> dict[str, list[float]]:
    if isinstance(data, pd.DataFrame):
        missing = [n for n in names if n not in data.columns]
        if missing:
            raise ValueError(f"{what}: missing column(s) {missing}; expected {list(names)}")
        return {n: [float(v) for v in data[n]] for n in names}
    rows = list(data)
    for row in rows:
        if len(row) != len(names):
            raise ValueError(f"{what}: each entry must be ({', '.join(names)}), got {_excerpt(row)}")
    return {n: [float(row[i]) for row in rows] for i, n in enumerate(names)}


@dataclasses.dataclass(frozen=True)
class Simulation:
    """The outcome of :func:`simulate`."""

    summary: pd.Series
    requests: pd.DataFrame
    series: pd.DataFrame
    stats: dict[str, dict[str, float]]

    def stat(self, metric: str) -> dict[str, float]:
        """Mean, p50, p90, p95, p99, half_width and count of ttft_ms, itl_ms (per request),
        token_itl_ms (per output token), e2e_ms or wait_ms."""
        if metric not in self.stats:
            raise ValueError(f"unknown metric {_excerpt(metric)}; allowed: {', '.join(self.stats)}")
        return dict(self.stats[metric])

    def to_dict(self) -> dict[str, Any]:
        """The summary as plain numbers (None where not measured)."""
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in self.summary.items()}

    def __repr__(self) -> str:
        s = self.summary
        return (f"Simulation({int(s['completed'])} requests measured over {s['window_s']:g} s: "
                f"throughput {s['throughput_rps']:.4g} req/s, TTFT {s['ttft_ms_mean']:.4g} ms, "
                f"ITL {s['itl_ms_mean']:.4g} ms, blocking {s['blocking_prob']:.3g})")


def simulate(model: QueueModel | Mapping[str, Any], rate_rps: float | None = None, *, duration_s: float = 600.0,
             warmup_s: float | None = None, seed: int = 1, mode: str = "iteration", arrivals: str = "poisson",
             cv: float = 1.0, clients: int | None = None, think_time_s: float = 0.0, schedule: Any = None,
             schedule_kind: str = "step", trace: Any = None,
             in_tokens: Any = None, out_tokens: Any = None, replicas: int = 1, router: str = "round-robin",
             startup_delay_s: float = 0.0, scale_events: Iterable[tuple[float, int]] = (),
             kv_capacity_tokens: float = 0.0, kv_policy: str = "reserve", max_num_seqs: int | None = None,
             max_num_batched_tokens: int | None = None, iteration_noise_cv: float = 0.0,
             sample_interval_s: float = 1.0, ci_batches: int = 20, keep_requests: bool = True) -> Simulation:
    """Simulates `model`'s server (its batch cap, waiting room, service model and parameters).

    rate_rps: offered load (Poisson or gamma arrivals); or give ``schedule``, rows of (time_s,
        rate_rps) held (``schedule_kind="step"``) or interpolated (``"linear"``), or ``trace``,
        rows of (time_s, in_tokens, out_tokens) (a DataFrame with those columns or tuples).
    arrivals: ``"poisson"``, ``"gamma"`` (with ``cv``), ``"constant"`` (evenly spaced, as the
        benchmark tools' constant-rate strategy) or ``"closed"``: ``clients`` users, each sending
        its next request ``think_time_s`` after its previous one completes (a concurrency-limited
        benchmark; no ``rate_rps``).
    mode: ``"iteration"`` runs the engine loop (token budget, chunked prefill; the ``iteration``
        and ``vllm`` service models); ``"markov"`` completes requests at the model's rates μ_B, so
        its statistics estimate exactly what the analytical chain computes.
    kv_capacity_tokens, kv_policy: a KV cache per replica; ``"reserve"`` holds prompt + output
        tokens from admission, ``"on-demand"`` grows as tokens are produced and preempts the
        latest request (recomputed later) when it is full, as vLLM does.
    max_num_seqs, max_num_batched_tokens: vLLM's names for the batch cap and the token budget
        per iteration; they replace the model's ``max_batch`` and ``max_num_tokens``.
    in_tokens, out_tokens: token-count distributions (default: the model's means for every
        request); see the module docs.
    warmup_s: excluded from the statistics (default 10 % of duration_s).
    replicas, router, startup_delay_s, scale_events: a fleet; ``scale_events`` are (time_s, ±k).
    """
    return _simulation(_sim.simulate(*_inputs(**locals())), mode)


def _inputs(model: QueueModel | Mapping[str, Any], rate_rps: float | None, *, duration_s: float,
            warmup_s: float | None, seed: int, mode: str, arrivals: str, cv: float, clients: int | None,
            think_time_s: float, schedule: Any, schedule_kind: str, trace: Any, in_tokens: Any, out_tokens: Any,
            replicas: int, router: str, startup_delay_s: float, scale_events: Iterable[tuple[float, int]],
            kv_capacity_tokens: float, kv_policy: str, max_num_seqs: int | None,
            max_num_batched_tokens: int | None, iteration_noise_cv: float, sample_interval_s: float,
            ci_batches: int, keep_requests: bool) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The four dicts the core's simulate and Simulator take, checked."""
    if isinstance(model, Mapping):
        model = QueueModel(**model)  # validates like the queue model does
    for name, value, key in (("max_num_seqs", max_num_seqs, "max_batch"),
                             ("max_num_batched_tokens", max_num_batched_tokens, "max_num_tokens")):
        if value is not None and isinstance(model, QueueModel):
            try:  # the queue model's own checks and ranges, under vLLM's name
                model = model.replace(**{key: value})
            except (TypeError, ValueError) as error:
                raise ValueError(f"{name} (vLLM's name for {key}): {error}") from None
    config = _config(model)
    if kv_policy not in KV_POLICIES:
        raise ValueError(f"unknown kv_policy {_excerpt(kv_policy)}; allowed: {', '.join(map(repr, KV_POLICIES))}")
    if mode not in MODES:
        raise ValueError(f"unknown mode {_excerpt(mode)}; allowed: {', '.join(map(repr, MODES))}")
    if router not in ROUTERS:
        raise ValueError(f"unknown router {_excerpt(router)}; allowed: {', '.join(map(repr, ROUTERS))}")
    if schedule_kind not in ("step", "linear"):
        raise ValueError(f"unknown schedule_kind {_excerpt(schedule_kind)}; allowed: 'step', 'linear'")
    workload: dict[str, Any] = {"cv": float(cv), "in_tokens": _dist(in_tokens, config["in_tokens"], "in_tokens"),
                                "out_tokens": _dist(out_tokens, config["out_tokens"], "out_tokens")}
    if trace is not None:
        cols = _columns(trace, ("time_s", "in_tokens", "out_tokens"), "trace")
        workload.update(arrivals="trace", trace_time_s=cols["time_s"], trace_in_tokens=cols["in_tokens"],
                        trace_out_tokens=cols["out_tokens"])
    else:
        if arrivals not in ("poisson", "gamma", "constant", "closed"):
            raise ValueError(f"unknown arrivals {_excerpt(arrivals)}; allowed: 'poisson', 'gamma', 'constant', "
                             f"'closed' (or give trace=...)")
        workload["arrivals"] = arrivals
        if arrivals == "closed":
            if schedule is not None or rate_rps is not None:
                raise ValueError("closed arrivals are paced by their clients: give clients=..., not rate_rps or "
                                 "schedule")
            if not isinstance(clients, numbers.Integral) or isinstance(clients, bool):
                raise ValueError(f"clients must be an integer in [1, 1000000] for closed arrivals, got "
                                 f"{_excerpt(clients)}")
            workload.update(clients=int(clients), think_time_s=float(think_time_s))
        elif clients is not None:
            raise ValueError("clients is used by closed arrivals only (arrivals='closed')")
        elif schedule is not None:
            cols = _columns(schedule, ("time_s", "rate_rps"), "schedule")
            workload.update(schedule_times_s=cols["time_s"], schedule_rates_rps=cols["rate_rps"],
                            schedule_linear=schedule_kind == "linear")
        elif rate_rps is None:
            raise ValueError("rate_rps is required (or give schedule=... or trace=...)")
        else:
            workload["rate_rps"] = float(rate_rps)
    fleet = {"replicas": int(replicas), "router": router, "startup_delay_s": float(startup_delay_s),
             "scale_events": [(float(t), int(k)) for t, k in scale_events]}
    options = {"mode": mode, "duration_s": float(duration_s),
               "warmup_s": float(duration_s) / 10 if warmup_s is None else float(warmup_s), "seed": int(seed),
               "sample_interval_s": float(sample_interval_s), "ci_batches": int(ci_batches),
               "keep_requests": bool(keep_requests), "kv_capacity_tokens": float(kv_capacity_tokens),
               "kv_policy": kv_policy,
               "iteration_noise_cv": float(iteration_noise_cv)}
    return config, workload, fleet, options


def _simulation(out: dict[str, Any], mode: str) -> Simulation:
    raw = out["summary"]
    flat: dict[str, Any] = {}
    stats: dict[str, dict[str, float]] = {}
    for key, value in raw.items():
        if key in _STATS:
            stats[key] = dict(value)
            for field, number in value.items():
                flat[f"{key}_{field}"] = number
        else:
            flat[key] = value
    flat["mode"] = mode
    requests = pd.DataFrame(out["requests"])  # the same columns whether or not there are rows
    for col in ("start_ms", "first_token_ms", "finish_ms"):
        requests[col] = requests[col].where(requests[col] >= 0, np.nan)
    requests["wait_ms"] = requests["start_ms"] - requests["arrival_ms"]
    requests["ttft_ms"] = requests["first_token_ms"] - requests["arrival_ms"]
    requests["e2e_ms"] = requests["finish_ms"] - requests["arrival_ms"]
    return Simulation(summary=pd.Series(flat, dtype=object), requests=requests,
                      series=pd.DataFrame(out["series"]), stats=stats)


_SIMULATE_DEFAULTS = {name: p.default for name, p in inspect.signature(simulate).parameters.items()
                      if p.kind is inspect.Parameter.KEYWORD_ONLY}


class Simulator:
    """A simulation that can be stepped, for closed-loop control (docs/simulator.md, "Stepping").

    Takes the arguments of :func:`simulate`. ``advance_to(t)`` runs the events up to ``t`` seconds;
    ``scale_to(k, startup_delay_s)`` makes the serving plus starting replicas ``k`` now (new ones
    serve after the delay, removed ones stop taking requests and finish what they hold);
    ``counters()`` reads what a vLLM metrics endpoint would report (counters since the start and
    gauges now); ``finish()`` runs to the end and returns the :class:`Simulation` that
    :func:`simulate` would have given for the same scaling.

    >>> from inferno import QueueModel
    >>> from inferno.sim import Simulator
    >>> model = QueueModel(alpha=8, beta=0.02, gamma=5e-4, in_tokens=256, out_tokens=64, max_batch=16,
    ...                    max_queue=1000)
    >>> s = Simulator(model, 6.0, duration_s=120, seed=3)
    >>> s.advance_to(10); s.scale_to(3, startup_delay_s=30); s.advance_to(60)
    >>> c = s.counters()
    >>> c["replicas_serving"], round(c["replica_seconds"])
    (3, 160)
    """

    def __init__(self, model: QueueModel | Mapping[str, Any], rate_rps: float | None = None, **options: Any) -> None:
        unknown = sorted(set(options) - set(_SIMULATE_DEFAULTS))
        if unknown:
            raise ValueError(f"unknown option {_excerpt(unknown[0])}; allowed: {', '.join(_SIMULATE_DEFAULTS)}")
        settings = {**_SIMULATE_DEFAULTS, **options}
        self._mode = str(settings["mode"])
        self._core = _sim.Simulator(*_inputs(model, rate_rps, **settings))

    @property
    def now_s(self) -> float:
        """The simulated time, s."""
        return float(self._core.now_s)

    def advance_to(self, time_s: float) -> None:
        """Runs the events up to ``time_s`` (s, not before :attr:`now_s`)."""
        self._core.advance_to(float(time_s))

    def scale_to(self, replicas: int, startup_delay_s: float = 0.0) -> None:
        """Serving plus starting replicas become ``replicas`` now."""
        if isinstance(replicas, bool) or not isinstance(replicas, numbers.Integral):
            raise ValueError(f"replicas must be an integer in [0, 1000], got {_excerpt(replicas)}")
        self._core.scale_to(int(replicas), float(startup_delay_s))

    def stop_arrivals_at(self, time_s: float) -> None:
        """No arrival at or after ``time_s`` (s, not before :attr:`now_s`) is offered to this run:
        they belong to a successor, as when a server moves to another accelerator
        (make-before-break). Requests already in the run finish."""
        self._core.stop_arrivals_at(float(time_s))

    def counters(self) -> dict[str, float]:
        """Counters since the start (arrivals, request_success, prompt/generation tokens, TTFT, ITL
        and E2E sums in s with their counts, running/waiting/replica-second integrals) and gauges
        now (running, waiting, kv_cache_usage, replicas serving, starting and draining)."""
        result: dict[str, float] = self._core.counters()
        return result

    def finish(self) -> Simulation:
        """Runs to the end (arrivals stop at duration_s; requests in flight finish) and summarises."""
        return _simulation(self._core.finish(), self._mode)

    def __repr__(self) -> str:
        c = self.counters()
        return (f"Simulator(t={c['time_s']:g} s, {c['replicas_serving']} serving, {c['replicas_starting']} starting, "
                f"{c['request_success']} of {c['arrivals']} requests done)")


__all__ = ["ARRIVALS", "KV_POLICIES", "MODES", "ROUTERS", "Simulation", "Simulator", "simulate", "uniform_around"]
