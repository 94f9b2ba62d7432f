"""Model tuner: learn the iteration-time parameters α, β, γ of a variant (a model on an
accelerator) from observed TTFT/ITL, with their uncertainty.

::

    tuner = inferno.Tuner()                       # prefill-decode: (α, β, γ) from (TTFT, ITL)
    tuner.update({"rate_rpm": 60, "in_tokens": 512, "out_tokens": 256, "max_batch": 64,
                  "ttft_ms": 41.0, "itl_ms": 9.8})
    tuner.estimate                                # values, standard deviations, κ, NIS, ...
    tuner.history                                 # one row per observation step
    inferno.tuner.fit(frame)                      # a joint Nelder–Mead fit of a table

The numerics (EKF, fits, condition numbers) are in the C++ core; this module converts
observations, builds DataFrames and reads CSV files.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd

from ._core import tuner as _tuner
from ._text import excerpt as _excerpt

CONFIGS = ("decode", "prefill-decode", "full")
PROFILES = ("inferno", "reference")
LAYOUTS = ("auto", "inferno", "offline-observer")

#: Observation fields (units in the names) and what they mean.
OBSERVATION_FIELDS = {
    "rate_rpm": "offered arrival rate, requests per minute (> 0)",
    "in_tokens": "mean prompt tokens per request (> 0; ignored by the decode configuration)",
    "out_tokens": "mean output tokens per request (>= 1)",
    "max_batch": "concurrency cap in force during the window (integer >= 1)",
    "max_queue": "external waiting room (integer >= 0; default 0 = none)",
    "arrival_cov": "coefficient of variation of inter-arrival times (in [0, 100]; default 1 = Poisson, "
                   "0 = evenly spaced as a benchmark's constant rate)",
    "ttft_ms": "observed mean time to first token, ms",
    "itl_ms": "observed mean inter-token latency, ms",
    "wait_ms": "observed mean queueing wait, ms (decode and full configurations)",
    "throughput_rpm": "completed requests per minute (optional; a saturation signal)",
    "avg_concurrency": "mean requests in service (optional; a saturation signal)",
    "saturated": "the producer's saturation flag (optional)",
}
# Other accepted spellings: name -> (canonical name, factor).
_ALIASES = {
    "rate_rps": ("rate_rpm", 60.0),
    "arrival_rate_rpm": ("rate_rpm", 1.0),
    "throughput_rps": ("throughput_rpm", 60.0),
    "wait_s": ("wait_ms", 1000.0),
}
_UNITLESS = {"rate": "rate_rpm", "ttft": "ttft_ms", "itl": "itl_ms", "wait": "wait_ms",
             "throughput": "throughput_rpm", "arrival_rate": "rate_rpm"}


class IdentifiabilityWarning(UserWarning):
    """The observations cannot determine every parameter (condition number above κ_max)."""


@dataclasses.dataclass
class Observation:
    """One measurement window of one replica (units in the field names)."""

    rate_rpm: float
    in_tokens: float
    out_tokens: float
    max_batch: int
    max_queue: int = 0
    arrival_cov: float = 1.0
    ttft_ms: float | None = None
    itl_ms: float | None = None
    wait_ms: float | None = None
    throughput_rpm: float | None = None
    avg_concurrency: float | None = None
    saturated: bool = False


def to_observation(item: Any) -> dict[str, Any]:
    """An observation as the core's dict, from a dict, a dataclass, a namedtuple or a DataFrame
    row. Other columns are ignored; a known quantity without its unit is an error."""
    if isinstance(item, pd.Series):
        raw = item.to_dict()
    elif dataclasses.is_dataclass(item) and not isinstance(item, type):
        raw = dataclasses.asdict(item)
    elif hasattr(item, "_asdict"):
        raw = item._asdict()
    elif isinstance(item, Mapping):
        raw = dict(item)
    else:
        raise TypeError(f"an observation must be a dict, a dataclass, a namedtuple or a DataFrame row, "
                        f"got {type(item).__name__}")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        name = str(key)
        if name in _UNITLESS:
            raise ValueError(f"observation field '{name}' needs its unit: use '{_UNITLESS[name]}'")
        factor = 1.0
        if name in _ALIASES:
            name, factor = _ALIASES[name]
        if name not in OBSERVATION_FIELDS:
            continue
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        if name == "saturated":
            out[name] = bool(value)
        else:
            try:
                out[name] = float(value) * factor
            except (TypeError, ValueError):
                raise ValueError(f"observation field '{name}' must be a number, got {_excerpt(value)}") from None
    return out


def _observations(data: Any) -> list[dict[str, Any]]:
    if isinstance(data, pd.DataFrame):
        return [to_observation(row) for _, row in data.iterrows()]
    if isinstance(data, (Mapping, pd.Series, Observation)) or dataclasses.is_dataclass(data) or hasattr(data, "_asdict"):
        return [to_observation(data)]
    if isinstance(data, Iterable) and not isinstance(data, (str, bytes)):
        return [to_observation(item) for item in data]
    return [to_observation(data)]


def _params_option(value: Any, names: list[str] | None, what: str) -> list[float] | None:
    if value is None:
        return None
    if isinstance(value, Mapping):
        if names is None:
            raise ValueError(f"{what} as a dict needs the parameter names")
        unknown = set(value) - set(names)
        if unknown:
            raise ValueError(f"{what}: unknown parameter(s) {sorted(unknown)}; allowed: {names}")
        missing = [n for n in names if n not in value]
        if missing:
            raise ValueError(f"{what}: missing parameter(s) {missing}")
        return [float(value[n]) for n in names]
    return [float(v) for v in value]


OPTIONAL_PERF_PARMS = ("delta", "epsilon")  # perfParms keys the optimizer's `vllm` queue model reads


def perf_parms_of(params: Mapping[str, float]) -> dict[str, float]:
    """The optimizer's ``perfParms`` record of tuned parameters: α, β, γ (0 when not tuned), and
    δ, ε where the service model has them (docs/optimizer.md, ``queueModel: "vllm"``)."""
    out = {"alpha": params["alpha"], "beta": params["beta"], "gamma": params.get("gamma", 0.0)}
    out.update({name: params[name] for name in OPTIONAL_PERF_PARMS if name in params})
    return out


def _state_names(config: str, service_model: str = "iteration") -> list[str]:
    """The tuned parameters: the configuration's, then any other parameter of the service model
    (``vllm``: delta, epsilon), in the core's order."""
    names = ["alpha", "beta"] if config == "decode" else ["alpha", "beta", "gamma"]
    fixed = {"gamma"} if config == "decode" else set()
    from ._core import queue as _q
    for info in _q.SERVICE_MODELS:
        if info["name"] == service_model:
            names += [p["name"] for p in info["params"] if p["name"] not in names and p["name"] not in fixed]
    return names


def _check_choice(value: str, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise ValueError(f"unknown {what} {_excerpt(value)}; allowed: {', '.join(repr(a) for a in allowed)}")
    return value


def _options(config: str, init: Any, seed: Any, options: dict[str, Any],
             service_model: str = "iteration") -> dict[str, Any]:
    names = _state_names(config, service_model)
    opts = dict(options)
    if init is not None:
        opts["start"] = _params_option(init, names, "init")
    if seed is not None:
        opts["init_state"] = _params_option(seed, names, "seed")
    for key in ("min_state", "max_state", "percent_change", "initial_change", "init_state"):
        if isinstance(opts.get(key), Mapping):
            opts[key] = _params_option(opts[key], names, key)
    return opts


def _frame(matrix: Any, names: list[str]) -> pd.DataFrame | None:
    if matrix is None:
        return None
    return pd.DataFrame(np.asarray(matrix, dtype=float), index=names, columns=names)


@dataclasses.dataclass(frozen=True)
class Estimate:
    """Parameters with their uncertainty and the filter's bookkeeping (docs/tuner.md §4)."""

    params: dict[str, float]
    stddev: dict[str, float | None]
    rel_stddev: dict[str, float | None]
    lower95: dict[str, float | None]
    upper95: dict[str, float | None]
    covariance: pd.DataFrame | None
    correlation: pd.DataFrame | None
    sigma_rel: dict[str, float]
    source: str
    kappa: float | None
    identifiable: bool
    ill_conditioned: bool
    nis: float | None
    innovation: dict[str, float | None]
    outcome: str
    at_bounds: dict[str, bool]
    update_count: int
    observation_count: int
    cycle: int
    warming_up: bool
    phase: str
    needs_calibration: bool
    queue_model_version: str

    @classmethod
    def _from_core(cls, d: dict[str, Any]) -> "Estimate":
        names = list(d["params"])
        return cls(params=dict(d["params"]), stddev=dict(d["stddev"]), rel_stddev=dict(d["rel_stddev"]),
                   lower95=dict(d["lower95"]), upper95=dict(d["upper95"]),
                   covariance=_frame(d["covariance"], names), correlation=_frame(d["correlation"], names),
                   sigma_rel=dict(d["sigma_rel"]), source=d["source"], kappa=d["kappa"],
                   identifiable=bool(d["identifiable"]), ill_conditioned=bool(d["ill_conditioned"]), nis=d["nis"],
                   innovation=dict(d["innovation"]), outcome=d["outcome"], at_bounds=dict(d["at_bounds"]),
                   update_count=int(d["update_count"]), observation_count=int(d["observation_count"]),
                   cycle=int(d["cycle"]), warming_up=bool(d["warming_up"]), phase=d["phase"],
                   needs_calibration=bool(d["needs_calibration"]), queue_model_version=d["queue_model_version"])

    @property
    def perf_parms(self) -> dict[str, float]:
        """The optimizer's ``perfParms`` (γ = 0 when it is not tuned; the ``vllm`` model's δ and ε
        when they are)."""
        return perf_parms_of(self.params)

    def to_frame(self) -> pd.DataFrame:
        """One row per parameter: value, stddev, relative stddev, 95 % band, at a bound."""
        names = list(self.params)
        return pd.DataFrame({"value": [self.params[n] for n in names],
                             "stddev": [self.stddev[n] for n in names],
                             "rel_stddev": [self.rel_stddev[n] for n in names],
                             "lower95": [self.lower95[n] for n in names],
                             "upper95": [self.upper95[n] for n in names],
                             "at_bound": [self.at_bounds.get(n, False) for n in names]},
                            index=pd.Index(names, name="parameter"))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (non-finite numbers as None, matrices as nested lists)."""
        out: dict[str, Any] = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, pd.DataFrame):
                value = value.to_numpy().tolist()
            out[field.name] = value
        out["perf_parms"] = self.perf_parms
        return out

    def __repr__(self) -> str:
        parts = ", ".join(
            f"{n}={v:.6g}" + (f"±{self.stddev[n]:.2g}" if self.stddev.get(n) is not None else "")
            for n, v in self.params.items())
        kappa = "None" if self.kappa is None else f"{self.kappa:.3g}"
        return (f"Estimate({parts}; source={self.source}, kappa={kappa}, nis={self.nis}, "
                f"phase={self.phase}, updates={self.update_count})")


@dataclasses.dataclass(frozen=True)
class Cycle:
    """What one :meth:`Tuner.update` did: a step record per observation, and any fit."""

    cycle: int
    stored: bool
    phase: str
    warming_up: bool
    steps: list[dict[str, Any]]
    fit: dict[str, Any] | None
    lockout_recovery: bool
    excursion: bool

    @property
    def outcomes(self) -> list[str]:
        return [s["outcome"] for s in self.steps]


class Tuner:
    """Tuner of one variant, fed one control cycle at a time (docs/tuner.md §3.1, §3).

    Parameters
    ----------
    config: ``"prefill-decode"`` (α, β, γ from TTFT and ITL; the default), ``"decode"`` (α, β from
        wait and ITL, γ = 0, no prompt tokens) or ``"full"`` (α, β, γ from TTFT, ITL and wait).
    profile: ``"inferno"`` (log parameters, relative R, per-cycle process noise, saturation
        excluded, anchored bounds, lock-out recovery) or ``"reference"`` (the reference's semantics).
    init: a known starting point (sequence or dict of α, β, γ): no cold start.
    seed: the configuration's initial state, which also seeds the cold-start guess.
    **options: any core option (``inferno.tuner.option_names()``), e.g. ``warm_up_cycles=3``,
        ``noise="adaptive"``, ``mode="sliding-window"``, ``gate_probability=0.95``.
    """

    def __init__(self, config: str = "prefill-decode", *, profile: str = "inferno", init: Any = None,
                 seed: Any = None, service_model: str = "iteration", keep_history: bool = True,
                 **options: Any) -> None:
        _check_choice(config, CONFIGS, "tuner configuration")
        _check_choice(profile, PROFILES, "tuner profile")
        if not isinstance(keep_history, bool):
            raise ValueError(f"keep_history must be True or False, got {_excerpt(keep_history)}")
        self._config_name = config
        self._core = _tuner.VariantTuner(config, profile, _options(config, init, seed, options, service_model), service_model)
        # keep_history=False keeps memory flat over long runs: only the latest cycle's rows.
        self._keep_history = keep_history
        self._rows: list[dict[str, Any]] = []
        self._warned = False

    @property
    def config(self) -> dict[str, Any]:
        """The effective configuration."""
        return dict(self._core.config)

    @property
    def state_names(self) -> list[str]:
        return list(self._core.state_names)

    def update(self, observations: Any) -> Cycle:
        """One cycle: an observation, or several (one per replica of the variant)."""
        obs = _observations(observations)
        result = self._core.cycle(obs)
        fit = result["fit"]
        kappa_max = float(self._core.config["kappa_max"])
        if (fit is not None and fit["status"] != "ok" and fit["source"] != "lockout_fit" and not self._warned
                and (fit["kappa"] is None or (kappa_max > 0 and fit["kappa"] > kappa_max))):
            self._warned = True
            kappa = fit["kappa"]
            if fit["status"] == "ill_conditioned":
                start = (f"the fit, held near the configured initial state along {fit['weak_direction']}"
                         if fit.get("weak_direction") else "the fit, held near the configured initial state")
            else:
                start = "the single-observation guess" if fit["source"] == "guess" else "the configured initial state"
            warnings.warn(IdentifiabilityWarning(
                f"the cold-start observations cannot determine all of {self.state_names} "
                f"(condition number {'inf' if kappa is None else f'{kappa:.3g}'} > kappa_max {kappa_max:g}): "
                f"vary the operating points (token mixes, load) or start from known parameters; "
                f"continuing from {start}"), stacklevel=2)
        est = self._core.estimate()
        if not self._keep_history:
            self._rows.clear()
        for index, (o, step) in enumerate(zip(obs, result["steps"])):
            row: dict[str, Any] = {"cycle": result["cycle"], "step": index, "phase": result["phase"]}
            row.update({k: o.get(k) for k in ("rate_rpm", "in_tokens", "out_tokens", "max_batch", "max_queue")})
            row.update({k: v for k, v in step.items() if k != "at_bounds"})
            if est is not None:
                for name, value in est["params"].items():
                    row[name] = value
                    row[f"{name}_std"] = est["stddev"][name]
                row["source"] = est["source"]
                row["kappa"] = est["kappa"]
            row["update_count"] = self._core.update_count
            row["warming_up"] = result["warming_up"]
            self._rows.append(row)
        return Cycle(cycle=result["cycle"], stored=result["stored"], phase=result["phase"],
                     warming_up=result["warming_up"], steps=list(result["steps"]), fit=fit,
                     lockout_recovery=result["lockout_recovery"], excursion=result["excursion"])

    def calibrate(self, sweep: Any) -> "FitResult":
        """Calibrates from a deliberate sweep of operating points (at least 2; docs/tuner.md §3.5). When the
        joint fit is identifiable it becomes the estimate and the anchor and warm-up is over;
        otherwise nothing changes and the result's status says why."""
        obs = _observations(sweep)
        d = self._core.calibrate(obs)
        kappa = d["kappa"]
        kappa_max = float(self.config["kappa_max"])
        identifiable = kappa is not None and (kappa_max <= 0 or kappa <= kappa_max)
        return _fit_result(d, self.state_names, identifiable, observations_used=len(obs), invalid=[])

    @property
    def calibrated(self) -> bool:
        return bool(self._core.calibrated)

    def fit(self, data: Any) -> "Tuner":
        """Feeds a table in order: one cycle per row, or per value of a ``cycle`` column."""
        if isinstance(data, pd.DataFrame) and "cycle" in data.columns:
            for _, group in data.groupby("cycle", sort=False):
                self.update(group)
        elif isinstance(data, pd.DataFrame):
            for row in data.to_dict("records"):  # plain dicts: iterrows builds a Series per row
                self.update(row)
        else:
            for item in data:
                self.update(item)
        return self

    @property
    def estimate(self) -> Estimate | None:
        """The current estimate, or None while the cold start is still collecting."""
        d = self._core.estimate()
        return None if d is None else Estimate._from_core(d)

    @property
    def history(self) -> pd.DataFrame:
        """Every observation step so far: inputs, prediction, innovation, NIS, outcome and the
        estimate after its cycle (with ``keep_history=False``, the latest cycle's steps only)."""
        return pd.DataFrame(self._rows)

    @property
    def warming_up(self) -> bool:
        """True while the controller should hold back (docs/tuner.md §3.3)."""
        return bool(self._core.warming_up)

    @property
    def phase(self) -> str:
        return str(self._core.phase)

    @property
    def outcome_counts(self) -> dict[str, int]:
        return dict(self._core.outcome_counts)

    def __repr__(self) -> str:
        return (f"Tuner({self._config_name!r}, phase={self.phase}, updates={self._core.update_count}, "
                f"estimate={self.estimate!r})")


@dataclasses.dataclass(frozen=True)
class FitResult:
    """A joint fit of several observations (Nelder–Mead, docs/tuner.md §3.1)."""

    status: str                    # ok, ill_conditioned, failed_guess, failed
    params: dict[str, float] | None
    stddev: dict[str, float | None] | None
    lower95: dict[str, float | None] | None
    upper95: dict[str, float | None] | None
    covariance: pd.DataFrame | None
    kappa: float | None
    identifiable: bool
    objective: float
    evaluations: int
    observations_used: int
    invalid: list[tuple[int, str]]
    weak_direction: str | None = None  # ill_conditioned: what the data cannot tell apart, e.g. "beta vs gamma"

    @property
    def perf_parms(self) -> dict[str, float] | None:
        return None if self.params is None else perf_parms_of(self.params)


def fit(data: Any, config: str = "prefill-decode", *, start: Any = None, seed: Any = None,
        kappa_max: float = 1000.0, service_model: str = "iteration", warn: bool = True,
        **options: Any) -> FitResult:
    """Fits α, β, γ jointly to every observation of a table (relative squared errors of each
    channel). Warns with :class:`IdentifiabilityWarning` when the operating points cannot
    determine every parameter; the result's status is then ``ill_conditioned``: its parameters
    are still the minimiser (they fit the data), without a covariance, and ``weak_direction``
    names the combination the data cannot pin down (e.g. "beta vs gamma")."""
    _check_choice(config, CONFIGS, "tuner configuration")
    names = _state_names(config, service_model)
    opts = _options(config, None, seed, options, service_model)
    opts["kappa_max"] = kappa_max
    obs = _observations(data)
    d = _tuner.fit(config, opts, obs, _params_option(start, names, "start"), service_model)
    kappa = d["kappa"]
    identifiable = kappa is not None and (kappa_max <= 0 or kappa <= kappa_max)
    if warn and not identifiable:
        weak = f"; the weakest direction is {d['weak_direction']}" if d.get("weak_direction") else ""
        warnings.warn(IdentifiabilityWarning(
            f"the observations cannot determine all of {names} (condition number "
            f"{'inf' if kappa is None else f'{kappa:.3g}'} > kappa_max {kappa_max:g}){weak}; "
            f"{'one operating point gives two equations for three unknowns; ' if len(obs) == 1 else ''}"
            f"vary the token mix or the load"), stacklevel=2)
    return _fit_result(d, names, identifiable, int(d["observations_used"]), [tuple(x) for x in d["invalid"]])


def _fit_result(d: dict[str, Any], names: list[str], identifiable: bool, observations_used: int,
                invalid: list[tuple[int, str]]) -> FitResult:
    has = d["params"] is not None
    return FitResult(status=d["status"], params=dict(d["params"]) if has else None,
                     stddev=dict(d["stddev"]) if has else None, lower95=dict(d["lower95"]) if has else None,
                     upper95=dict(d["upper95"]) if has else None,
                     covariance=_frame(d["covariance"], names) if has else None, kappa=d["kappa"],
                     identifiable=identifiable, objective=float(d["objective"]), evaluations=int(d["evaluations"]),
                     observations_used=observations_used, invalid=invalid, weak_direction=d.get("weak_direction"))


def observations_from_server_specs(specs: Iterable[Mapping[str, Any]]) -> tuple[
        dict[tuple[str, str], list[dict[str, Any]]], list[tuple[str, str]]]:
    """Observations per variant from the reference's per-replica ServerSpec documents (the
    collector's ``/tune`` input, docs/tuner.md §5): replicas with arrivalRate > 0, grouped by (model,
    currentAlloc.accelerator), in replica-name order. N is maxBatchSize if > 0, else
    currentAlloc.maxBatch; Qmax is maxQueueSize. Keys are matched case-insensitively. Returns the
    groups and the skipped replicas as (name, reason)."""
    def get(d: Any, key: str, default: Any = None) -> Any:
        if not isinstance(d, Mapping):
            return default
        for k, v in d.items():
            if str(k).lower() == key.lower():
                return v
        return default

    groups: dict[tuple[str, str], list[tuple[str, dict[str, Any]]]] = {}
    skipped: list[tuple[str, str]] = []
    for spec in specs:
        name = str(get(spec, "name", ""))
        alloc = get(spec, "currentAlloc", {}) or {}
        load = get(alloc, "load", {}) or {}
        rate = float(get(load, "arrivalRate", 0) or 0)
        if not rate > 0:
            continue  # no active traffic: not an observation
        batch = int(get(spec, "maxBatchSize", 0) or 0) or int(get(alloc, "maxBatch", 0) or 0)
        obs = {"rate_rpm": rate, "in_tokens": float(get(load, "avgInTokens", 0) or 0),
               "out_tokens": float(get(load, "avgOutTokens", 0) or 0), "max_batch": batch,
               "max_queue": int(get(spec, "maxQueueSize", 0) or 0),
               "ttft_ms": float(get(alloc, "ttftAverage", 0) or 0), "itl_ms": float(get(alloc, "itlAverage", 0) or 0)}
        throughput = get(load, "throughput")
        if throughput is not None:
            obs["throughput_rpm"] = float(throughput)
        concurrency = get(alloc, "avgConcurrency")
        if concurrency is not None:
            obs["avg_concurrency"] = float(concurrency)
        problems = [f for f, ok in (("avgInTokens", obs["in_tokens"] > 0), ("avgOutTokens", obs["out_tokens"] > 0),
                                    ("ttftAverage", obs["ttft_ms"] > 0), ("itlAverage", obs["itl_ms"] > 0),
                                    ("maxBatchSize/maxBatch", batch > 0)) if not ok]
        if problems:
            skipped.append((name, f"not usable: {', '.join(problems)} must be > 0"))
            continue
        key = (str(get(spec, "model", "")), str(get(alloc, "accelerator", "")))
        groups.setdefault(key, []).append((name, obs))
    return {k: [o for _, o in sorted(v, key=lambda item: item[0])] for k, v in sorted(groups.items())}, skipped


def condition_number(data: Any, params: Any, config: str = "prefill-decode",
                     service_model: str = "iteration") -> float:
    """κ of the observations at the given parameters (docs/tuner.md §3.5); inf when not identifiable."""
    _check_choice(config, CONFIGS, "tuner configuration")
    x = _params_option(params, _state_names(config, service_model), "params")
    return float(_tuner.condition_number(config, _observations(data), np.asarray(x), service_model))


def predict(observation: Any, params: Any, config: str = "prefill-decode",
            service_model: str = "iteration") -> dict[str, float]:
    """The model's observed channels (ttft_ms, itl_ms, wait_ms) at an operating point."""
    _check_choice(config, CONFIGS, "tuner configuration")
    x = _params_option(params, _state_names(config, service_model), "params")
    return dict(_tuner.evaluate(config, to_observation(observation), np.asarray(x), service_model))


class Filter:
    """The bare parameter filter (no cold start, no warm-up): one EKF step per call."""

    def __init__(self, config: str = "prefill-decode", *, profile: str = "inferno", seed: Any = None,
                 service_model: str = "iteration", **options: Any) -> None:
        _check_choice(config, CONFIGS, "tuner configuration")
        _check_choice(profile, PROFILES, "tuner profile")
        self._core = _tuner.ParameterFilter(config, profile, _options(config, None, seed, options, service_model), service_model)

    def step(self, observation: Any, *, skip_gate: bool = False, plain: bool = False) -> dict[str, Any]:
        """One validated step (``plain``: the reference's Run, with neither gate nor positivity check)."""
        return dict(self._core.step(to_observation(observation), skip_gate, plain))

    def steps(self, data: Any, *, skip_gate: bool = False, plain: bool = False) -> pd.DataFrame:
        """A step per observation, with the estimate after each."""
        rows = []
        for obs in _observations(data):
            step = self._core.step(obs, skip_gate, plain)
            row = {k: v for k, v in step.items() if k != "at_bounds"}
            row.update(self.params)
            rows.append(row)
        return pd.DataFrame(rows)

    def predict(self, scale: float = 1.0) -> None:
        """P ← P + scale·Q (once per control cycle in the inferno profile)."""
        self._core.predict(scale)

    @property
    def params(self) -> dict[str, float]:
        return dict(zip(self._core.state_names, (float(v) for v in self._core.x)))

    @property
    def estimate(self) -> dict[str, Any]:
        return dict(self._core.estimate())

    @property
    def outcome_counts(self) -> dict[str, int]:
        return dict(self._core.outcome_counts)


def replay_reference(data: pd.DataFrame, config: str = "decode") -> tuple[Filter, pd.DataFrame]:
    """The reference's offline replay (docs/tuner.md §6): the first row only constructs the filter, then
    plain steps in the reference profile. Returns the filter and its step table."""
    f = Filter(config, profile="reference")
    return f, f.steps(data.iloc[1:], plain=True)


def read_observations(path: str | Path, layout: str = "auto") -> tuple[pd.DataFrame, list[tuple[int, str]]]:
    """Reads observations from CSV. ``layout``: ``"inferno"`` (columns named as
    :data:`OBSERVATION_FIELDS`, extra columns kept), ``"offline-observer"`` (the reference's
    ``RPM,tokens,avgConcurrency,maxConcurrency,avgWait,avgITL``, UTF-8 BOM allowed) or ``"auto"``
    (chosen from the header). Returns the table and the skipped rows as (line number, reason)."""
    _check_choice(layout, LAYOUTS, "observation layout")
    path = Path(path)
    with path.open("rb") as handle:
        lines = _csv_lines(handle)
        try:
            header_line, header = next(lines)
        except StopIteration:
            raise ValueError(f"{path}: empty file (expected a header line)") from None
        if isinstance(header, str):
            raise ValueError(f"{path}:{header_line}: header line: {header}")
        header = [h.strip() for h in header]
        observer = ["RPM", "tokens", "avgConcurrency", "maxConcurrency", "avgWait", "avgITL"]
        if layout == "auto":
            layout = "offline-observer" if header[:len(observer)] == observer else "inferno"
        if layout == "offline-observer" and header[:len(observer)] != observer:
            raise ValueError(f"{path}: the offline-observer layout needs the header {','.join(observer)}, "
                             f"got {','.join(header)}")
        if layout == "inferno":
            for name in header:
                if name in _UNITLESS:
                    raise ValueError(f"{path}: column '{name}' needs its unit: use '{_UNITLESS[name]}'")
            present = set(header) | {canonical for name, (canonical, _) in _ALIASES.items() if name in header}
            missing = sorted({"rate_rpm", "out_tokens", "max_batch"} - present)
            if missing:
                raise ValueError(f"{path}: missing column(s) {missing}; columns: {sorted(OBSERVATION_FIELDS)}")
        rows: list[dict[str, Any]] = []
        skipped: list[tuple[int, str]] = []
        for line, values in lines:
            if len(rows) >= MAX_OBSERVATION_ROWS:
                raise ValueError(f"{path}: more than {MAX_OBSERVATION_ROWS:,} observation rows; split the file "
                                 f"(or feed a Tuner row by row from Python)")
            if isinstance(values, str):  # the line could not be read: the reason
                skipped.append((line, values))
                continue
            if not values or all(not v.strip() for v in values):
                continue
            if len(values) != len(header):
                skipped.append((line, f"{len(values)} fields, expected {len(header)}"))
                continue
            record = dict(zip(header, (v.strip() for v in values)))
            row: dict[str, Any]
            try:
                if layout == "offline-observer":
                    row = {"rate_rpm": _number(record["RPM"], "RPM"), "in_tokens": 0.0,
                           "out_tokens": _number(record["tokens"], "tokens"),
                           "avg_concurrency": _number(record["avgConcurrency"], "avgConcurrency"),
                           "max_batch": _number(record["maxConcurrency"], "maxConcurrency"), "max_queue": 0.0,
                           "wait_ms": _number(record["avgWait"], "avgWait"),
                           "itl_ms": _number(record["avgITL"], "avgITL")}
                else:
                    row = {}
                    for name, text in record.items():
                        if name in OBSERVATION_FIELDS or name in _ALIASES:
                            if text == "":
                                continue
                            row[name] = (text.lower() in ("1", "true", "yes")) if name == "saturated" \
                                else _number(text, name)
                        else:
                            row[name] = text
            except ValueError as exc:
                skipped.append((line, str(exc)))
                continue
            rows.append(row)
    frame = pd.DataFrame(rows)
    if layout == "inferno":
        for name, (canonical, factor) in _ALIASES.items():
            if name in frame.columns and canonical not in frame.columns:
                frame[canonical] = frame.pop(name) * factor
    return frame, skipped


MAX_CSV_LINE = 10_000  # characters: an observation row is a few dozen
MAX_OBSERVATION_ROWS = 1_000_000  # per file: read whole before tuning (about 0.5 GB at the limit)


def _csv_lines(handle: Any) -> Iterator[tuple[int, list[str] | str]]:
    """(line number, fields) per line of a binary file, or (line number, reason) for a line that
    is too long or not UTF-8: one bad line is reported and skipped, never the end of the file.
    (Observation files have no quoted line breaks.)"""
    for number, raw in enumerate(handle, start=1):
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]  # the UTF-8 byte-order mark
        if len(raw) > MAX_CSV_LINE:
            yield number, f"line of {len(raw)} bytes, longer than {MAX_CSV_LINE}"
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield number, f"not valid UTF-8 (byte {exc.start + 1})"
            continue
        try:
            yield number, next(csv.reader([text.rstrip("\r\n")]), [])
        except csv.Error as exc:
            yield number, f"malformed CSV: {exc}"


def _number(text: str, column: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"column {column}: {_excerpt(text)} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"column {column}: {_excerpt(text)} is not a finite number")
    return value


# The generic filter library (docs/tuner.md §2).
KalmanFilter = _tuner.KalmanFilter
ExtendedKalmanFilter = _tuner.ExtendedKalmanFilter
Limiter = _tuner.Limiter
numerical_jacobian = _tuner.numerical_jacobian
chi_square_quantile = _tuner.chi_square_quantile
guess_init_state = _tuner.guess_init_state
option_names = _tuner.option_names

__all__ = ["CONFIGS", "Cycle", "Estimate", "ExtendedKalmanFilter", "Filter", "FitResult", "IdentifiabilityWarning",
           "KalmanFilter", "Limiter", "OBSERVATION_FIELDS", "Observation", "Tuner", "chi_square_quantile",
           "condition_number", "fit", "guess_init_state", "numerical_jacobian", "observations_from_server_specs",
           "option_names", "predict",
           "read_observations", "replay_reference", "to_observation"]
