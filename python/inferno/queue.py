"""Queueing model of one continuous-batching LLM server (see docs/queueing-model.md).

All numerics run in the compiled core; this module validates arguments, names things and turns
results into dataclasses and pandas DataFrames. Times are in milliseconds and rates in requests
per second everywhere; field and column names carry their unit.
"""

from __future__ import annotations

import math
import numbers
import re
import warnings
from dataclasses import dataclass, field, fields
from typing import Any, Iterable, Mapping, cast

from ._lazy import np, pd

from . import _core
from ._text import excerpt as _excerpt

_q = _core.queue

__all__ = ["Analysis", "Concurrency", "MaxRate", "QueueModel", "service_models"]

# Percentile target names: ttft_p95_ms, itl_p99_ms, wait_p90_ms; decimals as p99.9 or p99_9.
_PERCENTILE_TARGET = re.compile(r"^(ttft|itl|wait)_p(\d+(?:[._]\d+)?)_ms$")
_MEAN_TARGETS = {"ttft_ms": "ttft", "itl_ms": "itl", "wait_ms": "wait", "blocking_prob": "loss"}
# Core (REST-style) constraint names -> the Python target names used in results.
_CORE_METRIC = {"TTFT": "ttft", "ITL": "itl", "WaitTime": "wait"}
_CORE_BINDING = {"stability": "stability", "tpsHeadroom": "tps_headroom"}


def _target_name(core_name: str) -> str:
    """'TTFT' -> 'ttft_ms', 'ITL_p99.9' -> 'itl_p99.9_ms', 'LossProb' -> 'blocking_prob'."""
    if core_name == "LossProb":
        return "blocking_prob"
    if core_name in _CORE_BINDING:
        return _CORE_BINDING[core_name]
    metric, _, pct = core_name.partition("_p")
    return f"{_CORE_METRIC[metric]}_p{pct}_ms" if pct else f"{_CORE_METRIC[metric]}_ms"


def service_models() -> pd.DataFrame:
    """The registered service models and their parameters (one row per parameter)."""
    rows = []
    for info in _q.SERVICE_MODELS:
        for p in info["params"]:
            bound = (">" if p["lower_strict"] else ">=") + f" {p['lower']:g}"
            rows.append({"service_model": info["name"], "parameter": p["name"], "unit": p["unit"],
                         "allowed": bound, "description": p["description"]})
    return pd.DataFrame(rows)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return repr(value)


@dataclass(frozen=True, repr=False)
class Analysis:
    """Metrics of a server at one offered rate. Means are over accepted requests.

    ``batch_fill`` is the mean batch occupancy divided by ``max_batch`` (not the busy
    probability); ``throughput_rps`` is the accepted rate, ``dropped_rps`` the blocked rate.
    Requested percentiles are in ``percentiles`` and also readable as attributes, e.g.
    ``a.ttft_p95_ms``.
    """

    rate_rps: float
    throughput_rps: float
    dropped_rps: float
    ttft_ms: float
    itl_ms: float
    wait_ms: float
    prefill_ms: float
    service_ms: float
    response_ms: float
    num_in_service: float
    num_in_system: float
    queue_length: float
    batch_fill: float
    busy_prob: float
    blocking_prob: float  # share of arrivals turned away by a full system
    wait_prob: float
    tokens_per_s: float
    percentiles: Mapping[str, float] = field(default_factory=dict)
    approximation: str | None = None

    def __getattr__(self, name: str) -> float:
        # Only called when normal lookup fails: expose percentiles as attributes.
        pct = self.__dict__.get("percentiles", {})
        if name in pct:
            return pct[name]
        dotted = re.sub(r"_p(\d+)_(\d+)_ms$", r"_p\1.\2_ms", name)  # ttft_p99_9_ms -> ttft_p99.9_ms
        if dotted in pct:
            return pct[dotted]
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    @property
    def loss_prob(self) -> float:
        """Deprecated name of ``blocking_prob`` (one metric had two names); removed in the next release."""
        warnings.warn("Analysis.loss_prob is deprecated: use blocking_prob", DeprecationWarning, stacklevel=2)
        return self.blocking_prob

    def to_dict(self) -> dict[str, Any]:
        """Flat dict: every metric, then the percentiles, then the approximation label if any."""
        out: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)
                               if f.name not in ("percentiles", "approximation")}
        out.update(self.percentiles)
        if self.approximation:
            out["approximation"] = self.approximation
        return out

    def __repr__(self) -> str:
        shown = ["rate_rps", "throughput_rps", "ttft_ms", "itl_ms", "wait_ms", "response_ms",
                 "num_in_service", "batch_fill", "blocking_prob"]
        parts = [f"{k}={_fmt(getattr(self, k))}" for k in shown]
        parts += [f"{k}={_fmt(v)}" for k, v in self.percentiles.items()]
        if self.approximation:
            parts.append(f"approximation={self.approximation!r}")
        return f"Analysis({', '.join(parts)})"


def _frozen(cls: type, values: dict[str, Any]) -> Any:
    """An instance of a frozen dataclass from exactly its field values, without __init__.

    The frozen __init__ sets every field through object.__setattr__, which costs about 0.5 us
    a field; results are built in hot loops, so fill __dict__ directly (tests check that the
    values cover exactly the dataclass's fields).
    """
    obj: Any = object.__new__(cls)
    obj.__dict__.update(values)
    return obj


def _analysis(d: Mapping[str, Any], approximation: str | None) -> Analysis:
    # The core returns exactly the metric fields, as Python floats.
    values = {name: d[name] for name in _q.METRIC_FIELDS}
    values["percentiles"] = dict(d.get("percentiles", {}))
    values["approximation"] = approximation
    return _frozen(Analysis, values)


@dataclass(frozen=True, repr=False)
class MaxRate:
    """Largest arrival rate meeting every target (``float(result)`` gives ``rate_rps``).

    ``status``: ``"ok"`` (a target binds; ``binding`` names it), ``"unconstrained"`` (met at every
    stable rate; ``binding`` is ``"stability"`` or ``"tpsHeadroom"``) or ``"infeasible"``
    (violated even at vanishing load; ``violated`` lists the targets, ``rate_rps`` is 0 and
    ``metrics`` are those at the zero-load probe). ``constraint_rates_rps`` gives each target's
    own largest rate and ``achieved`` each target metric's value at ``rate_rps``, both keyed by
    the target names used to set them (``ttft_ms``, ``itl_ms``, ``wait_ms``, ``blocking_prob``,
    ``ttft_p95_ms``, ...). ``metrics.percentiles`` holds the percentile targets' values and any
    requested ``percentiles`` at ``rate_rps``.
    """

    rate_rps: float
    status: str
    binding: str
    violated: tuple[str, ...]
    constraint_rates_rps: Mapping[str, float]
    constraint_status: Mapping[str, str]
    achieved: Mapping[str, float]
    metrics: Analysis
    tps_rate_rps: float
    tps_met: bool
    replicas_for_tps: int
    evaluations: int

    @property
    def feasible(self) -> bool:
        return self.status != "infeasible"

    def __float__(self) -> float:
        return self.rate_rps

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rate_rps": self.rate_rps, "status": self.status,
                               "binding": self.binding, "violated": list(self.violated)}
        out.update({f"rate_{k}_rps": v for k, v in self.constraint_rates_rps.items()})
        out.update({f"status_{k}": v for k, v in self.constraint_status.items()})
        out.update({f"achieved_{k}": v for k, v in self.achieved.items()})
        out.update({"tps_rate_rps": self.tps_rate_rps, "tps_met": self.tps_met,
                    "replicas_for_tps": self.replicas_for_tps, "evaluations": self.evaluations})
        out.update({f"metrics.{k}": v for k, v in self.metrics.to_dict().items()})
        return out

    def __repr__(self) -> str:
        rates = ", ".join(f"{k}: {_fmt(v)}" for k, v in self.constraint_rates_rps.items())
        return (f"MaxRate(rate_rps={_fmt(self.rate_rps)}, status={self.status!r}, "
                f"binding={self.binding!r}, constraint_rates_rps={{{rates}}}, "
                f"ttft_ms={_fmt(self.metrics.ttft_ms)}, itl_ms={_fmt(self.metrics.itl_ms)})")


def _max_rate(d: Mapping[str, Any], approximation: str | None,
              metrics: Analysis | None = None) -> MaxRate:
    per = d["per_constraint"]
    violated = tuple(_target_name(v) for v in d["violated"])
    binding = ",".join(violated) if d["status"] == "infeasible" else _target_name(d["binding"])
    names = {k: _target_name(k) for k in per}
    return _frozen(MaxRate, dict(
        rate_rps=d["rate_rps"], status=d["status"], binding=binding, violated=violated,
        constraint_rates_rps={names[k]: v[1] for k, v in per.items()},
        constraint_status={names[k]: v[0] for k, v in per.items()},
        achieved={names[k]: v for k, v in d["achieved"].items()},
        metrics=metrics or _analysis(d["metrics"], approximation),
        tps_rate_rps=d["tps_rate_rps"], tps_met=d["tps_met"],
        replicas_for_tps=d["replicas_for_tps"], evaluations=d["evaluations"]))


@dataclass(frozen=True, repr=False)
class Concurrency:
    """Smallest batch cap whose SLO-feasible throughput is within ε of the largest cap's.

    ``itl_bracket`` / ``ttft_bracket`` are the closed-form brackets (0 when that target is not
    set); ``probes`` lists every batch cap evaluated, in order; ``calls`` counts those with a
    positive throughput (the reference's ``oracleCalls``); ``at_onset`` is the sizing result at
    the chosen cap (None when infeasible).
    """

    concurrency: int
    throughput_rps: float
    feasible: bool
    itl_bracket: int
    ttft_bracket: int
    calls: int
    anchor_throughput_rps: float
    probes: tuple[int, ...]
    converged: bool
    bracket_lo: int
    bracket_hi: int
    max_stable_rate_rps: float
    at_onset: MaxRate | None

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "at_onset"}
        out["probes"] = list(self.probes)
        if self.at_onset is not None:
            out.update({f"at_onset.{k}": v for k, v in self.at_onset.metrics.to_dict().items()})
        return out

    def __repr__(self) -> str:
        return (f"Concurrency(concurrency={self.concurrency}, throughput_rps="
                f"{_fmt(self.throughput_rps)}, feasible={self.feasible}, itl_bracket="
                f"{self.itl_bracket}, ttft_bracket={self.ttft_bracket}, calls={self.calls}, "
                f"probes={list(self.probes)}, converged={self.converged})")


# Upper bounds shared with the core (memory is O(max_batch)).
_MAX_BATCH = 10_000_000
_MAX_INT32 = 2**31 - 1


def _as_int(name: str, value: Any, lower: int, upper: int = _MAX_INT32) -> int:
    if type(value) is int and lower <= value <= upper:  # fast path
        return value
    allowed = f"an integer in [{lower}, {upper}]"
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{name} must be {allowed}, got {_excerpt(value)}")
    if isinstance(value, numbers.Integral):
        result = int(value)
    elif isinstance(value, numbers.Real) and math.isfinite(value) and float(value).is_integer():
        result = int(float(value))
    else:
        raise ValueError(f"{name} must be {allowed}, got {_excerpt(value)}")
    if not lower <= result <= upper:
        raise ValueError(f"{name} must be {allowed}, got {result}")
    return result


def _as_float(name: str, value: Any) -> float:
    if type(value) is float:  # fast path: isinstance against the numbers ABCs costs ~1 us
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, got {_excerpt(value)}")
    return float(value)


def _as_float_array(name: str, values: Any) -> np.ndarray:
    """A 1-D or N-D float array of `values`, rejecting booleans and non-numbers as the scalar
    path does (numpy would read True as 1.0 and "3" as 3.0)."""
    if isinstance(values, (list, tuple)) and any(isinstance(v, (bool, np.bool_)) for v in values):
        raise ValueError(f"{name} must be numbers, got a boolean in {_excerpt(values)}")
    raw = np.asarray(values)
    if raw.dtype.kind in "iuf":
        return raw.astype(float, copy=False)
    if raw.dtype.kind == "O":
        return np.array([_as_float(name, v) for v in raw.ravel()], dtype=float).reshape(raw.shape)
    raise ValueError(f"{name} must be numbers, got {raw.dtype.name} values {_excerpt(values)}")


def _gather_targets(keywords: Mapping[str, Any], targets: Mapping[str, Any] | None,
                    percentile_targets: Mapping[str, Any]) -> tuple[list[tuple[str, float, float]], float]:
    """Target keywords -> ((metric, percentile, target) triples, tps demand).

    None or 0 means no target. A target given twice (as a keyword and in ``targets``) is an
    error rather than a silent choice.
    """
    merged = {k: v for k, v in keywords.items() if v is not None and k != "loss_prob"}
    old_name = {"loss_prob": keywords["loss_prob"]} if keywords.get("loss_prob") is not None else {}
    for source in old_name, (targets or {}), percentile_targets:
        for key, value in source.items():
            if value is None:
                continue
            if key == "loss_prob":  # the old name of blocking_prob, kept for one release
                warnings.warn("the target loss_prob is deprecated: use blocking_prob", DeprecationWarning, stacklevel=3)
                if "blocking_prob" in merged:
                    raise ValueError("give blocking_prob, not also its deprecated name loss_prob")
                key = "blocking_prob"
            if key in merged:
                raise ValueError(f"target {_excerpt(key)} is given twice")
            merged[key] = value
    tps = merged.pop("tps", None)
    demand = 0.0 if tps is None else _as_float("tps", tps)
    if not (math.isfinite(demand) and demand >= 0):
        raise ValueError(f"tps must be a finite number >= 0 (tokens/s demand), got {demand}")
    out: list[tuple[str, float, float]] = []
    for key, value in merged.items():
        target = _as_float(key, value)
        if key in _MEAN_TARGETS:
            metric, pct = _MEAN_TARGETS[key], 0.0
        else:
            match = _PERCENTILE_TARGET.match(key)
            if not match:
                raise ValueError(
                    f"unknown target {_excerpt(key)}; allowed: ttft_ms, itl_ms, wait_ms, blocking_prob, tps, or "
                    "percentile targets like ttft_p95_ms, itl_p99_ms, wait_p90_ms (p99.9 as p99_9)")
            metric, pct = match.group(1), float(match.group(2).replace("_", "."))
            if not 0 < pct < 100:
                raise ValueError(f"the percentile of target {_excerpt(key)} must be in (0, 100), got {pct:g}")
        if target == 0:
            continue  # 0 = unconstrained, as in the REST API
        if not (math.isfinite(target) and target > 0):
            raise ValueError(f"{key} must be a finite number > 0 (or 0/None for no target), got {target}")
        if metric == "loss" and not target < 1:
            raise ValueError(f"blocking_prob must be in (0, 1), got {target}")
        if any(m == metric and p == pct for m, p, _ in out):
            raise ValueError(f"target {_excerpt(key)} duplicates another target on the same percentile")
        out.append((metric, pct, target))
    return out, demand


class QueueModel:
    """One LLM inference server: service model, batch cap and waiting room.

    Example::

        m = QueueModel(alpha=12, beta=0.05, gamma=0.0005, in_tokens=128, out_tokens=512,
                       max_batch=48, max_queue=128)

    Parameters
    ----------
    max_batch:
        Largest number of requests in the batch (N >= 1).
    max_queue:
        Largest number of waiting requests (Q >= 0); arrivals beyond N + Q are blocked.
    in_tokens, out_tokens:
        Mean prompt and output tokens per request (out_tokens >= 1). Not used by the
        ``token`` model, which takes ``tokens_per_request`` instead.
    service_model:
        ``"iteration"`` (default; params ``alpha`` ms, ``beta`` and ``gamma`` ms/token),
        ``"prefill-decode"`` (``decode_alpha``, ``decode_beta``, ``prefill_gamma``,
        ``prefill_delta``) or ``"token"`` (``alpha``, ``beta``, ``tokens_per_request``).
        See :func:`service_models`.
    max_num_tokens:
        Token budget per engine iteration (iteration model's chunked prefill), default 8192.
    arrival_cov, service_cov:
        Coefficients of variation. Leaving both at 1 keeps the exact Markov model; other values
        apply the Allen–Cunneen approximation to queueing delay (results are labelled).
    itl_weighting:
        ``"token"`` (default) or ``"time"``: how ITL percentiles weight batch occupancy.
    in_tokens_spread:
        Prompt lengths uniform in [(1 - s)·in_tokens, (1 + s)·in_tokens], s in [0, 1]: spreads each
        request's own prefill, hence the TTFT percentiles (default 0: every prompt the mean).
    **params:
        The service model's parameters.
    """

    def __init__(self, *, max_batch: int, max_queue: int, in_tokens: float | None = None,
                 out_tokens: float | None = None, service_model: str = "iteration",
                 max_num_tokens: int = 8192, arrival_cov: float = 1.0, service_cov: float = 1.0,
                 itl_weighting: str = "token", in_tokens_spread: float = 0.0, **params: float) -> None:
        info = next((i for i in _q.SERVICE_MODELS if i["name"] == service_model), None)
        if info is None:
            names = ", ".join(repr(i["name"]) for i in _q.SERVICE_MODELS)
            raise ValueError(f"unknown service_model {_excerpt(service_model)}; allowed: {names}")
        if info["uses_request_shape"]:
            for name, value in (("in_tokens", in_tokens), ("out_tokens", out_tokens)):
                if value is None:
                    raise ValueError(f"{name} is required for service_model {_excerpt(service_model)} "
                                     "(mean tokens per request; in_tokens >= 0, out_tokens >= 1)")
        else:
            for name, value in (("in_tokens", in_tokens), ("out_tokens", out_tokens)):
                if value is not None:
                    raise ValueError(f"{name} is not used by service_model {_excerpt(service_model)}; "
                                     "give tokens_per_request instead")
        self._spec: dict[str, Any] = dict(
            max_batch=max_batch, max_queue=max_queue, in_tokens=in_tokens, out_tokens=out_tokens,
            service_model=service_model, max_num_tokens=max_num_tokens, arrival_cov=arrival_cov,
            service_cov=service_cov, itl_weighting=itl_weighting, **params)
        if in_tokens_spread != 0:  # shown (and passed on by replace) only when set
            self._spec["in_tokens_spread"] = in_tokens_spread
        self._params = {k: _as_float(k, v) for k, v in params.items()}
        self._core = _q.Queue(
            service_model, self._params,
            _as_float("in_tokens", in_tokens) if in_tokens is not None else 0.0,
            _as_float("out_tokens", out_tokens) if out_tokens is not None else 1.0,
            _as_int("max_num_tokens", max_num_tokens, 1, 1_000_000_000),
            _as_int("max_batch", max_batch, 1, _MAX_BATCH),
            _as_int("max_queue", max_queue, 0, 10**12), _as_float("arrival_cov", arrival_cov),
            _as_float("service_cov", service_cov), str(itl_weighting), _as_float("in_tokens_spread", in_tokens_spread))
        self._approximation = "allen-cunneen" if self._core.kappa != 1.0 else None

    # ----------------------------------------------------------------- description
    def replace(self, **changes: Any) -> "QueueModel":
        """A new model with some arguments changed, e.g. ``m.replace(max_batch=64)``.

        Changing ``service_model`` drops the old model's parameters (and the request shape when
        the new model does not use it), so give the new ones: ``m.replace(service_model="token",
        alpha=19, beta=1, tokens_per_request=1024)``.
        """
        spec = dict(self._spec)
        if changes.get("service_model", spec["service_model"]) != spec["service_model"]:
            for name in self._params:
                spec.pop(name, None)
            info = next((i for i in _q.SERVICE_MODELS if i["name"] == changes["service_model"]), None)
            if info is not None and not info["uses_request_shape"]:
                spec["in_tokens"] = spec["out_tokens"] = None
        return QueueModel(**{**spec, **changes})

    @property
    def spec(self) -> dict[str, Any]:
        """The constructor arguments of this model."""
        return dict(self._spec)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._spec.items() if v is not None)
        return f"QueueModel({args})"

    max_batch = property(lambda self: self._core.max_batch, doc="Batch cap N.")
    max_queue = property(lambda self: self._core.max_queue, doc="Waiting room Q.")
    kappa = property(lambda self: self._core.kappa,
                     doc="Allen–Cunneen factor (c_a² + c_s²)/2; 1 for the exact Markov model.")
    approximation = property(lambda self: self._approximation,
                             doc="'allen-cunneen' when the variability correction is active.")
    max_stable_rate_rps = property(
        lambda self: self._core.max_stable_rate_rps,
        doc="maxRPS = 0.999·μ_N in req/s: the largest rate sizing considers.")
    peak_rate_rps = property(
        lambda self: self._core.peak_rate_rps,
        doc="Largest completion rate over batch sizes (can exceed μ_N with chunked prefill).")
    peak_batch = property(lambda self: self._core.peak_batch, doc="Batch size attaining peak_rate_rps.")
    min_rate_rps = property(lambda self: self._core.min_rate_rps,
                            doc="The zero-load probe 0.001·μ_1 in req/s (low end of sizing).")
    service_times_ms = property(lambda self: self._core.service_times_ms,
                                doc="τ_b: time in service with b requests in the batch, b = 1..N.")
    completion_rates_rps = property(lambda self: self._core.completion_rates_rps,
                                    doc="μ_b = b/τ_b in req/s, b = 1..N.")
    itl_by_batch_ms = property(lambda self: self._core.itl_by_batch_ms,
                               doc="Per-token decode latency at each batch occupancy b = 1..N.")
    prefill_chunks_by_batch = property(
        lambda self: self._core.prefill_chunks_by_batch,
        doc="Iteration model: prefill chunks nc(b) of a request in a batch of b = 1..N "
            "(None for other service models).")

    # ----------------------------------------------------------------- analysis
    def analyze(self, rate_rps: float | Iterable[float], *,
                percentiles: Iterable[float] | None = None) -> Analysis | pd.DataFrame:
        """Metrics at an offered rate (req/s).

        A scalar gives an :class:`Analysis`; an array (list, ndarray, Series) gives a DataFrame
        with one row per rate, computed in C++. Every finite rate > 0 is valid: load above
        capacity shows up as blocking (``blocking_prob``, ``dropped_rps``). ``percentiles`` (in
        percent, e.g. ``[50, 95, 99]``) adds ``ttft_pXX_ms``, ``itl_pXX_ms`` and
        ``wait_pXX_ms``.
        """
        pcts = [_as_float("percentiles", p) for p in (() if percentiles is None else percentiles)]
        if type(rate_rps) is float:  # the common scalar case, without numpy's shape inspection
            return _analysis(self._core.analyze(rate_rps, pcts), self._approximation)
        if np.ndim(cast(Any, rate_rps)) == 0:  # a NumPy scalar or a 0-d array
            rate = _as_float("rate_rps", rate_rps)
            return _analysis(self._core.analyze(rate, pcts), self._approximation)
        rates = _as_float_array("rate_rps", rate_rps)
        if rates.ndim != 1:
            raise ValueError(f"rate_rps must be a scalar or a 1-D array, got shape {rates.shape}")
        frame = pd.DataFrame(self._core.analyze_many(rates, pcts))
        if self._approximation:
            frame["approximation"] = self._approximation
        return frame

    def wait_survival(self, rate_rps: float, t_ms: float | Iterable[float]) -> np.ndarray | float:
        """P(wait > t) of an accepted request at the given rate (exact within the model)."""
        scalar = np.ndim(cast(Any, t_ms)) == 0
        out = self._core.wait_survival(_as_float("rate_rps", rate_rps), np.atleast_1d(_as_float_array("t_ms", t_ms)))
        return float(out[0]) if scalar else out

    def itl_distribution(self, rate_rps: float) -> pd.DataFrame:
        """Discrete ITL distribution over batch occupancy: columns ``itl_ms``, ``prob``."""
        values, probs = self._core.itl_distribution(_as_float("rate_rps", rate_rps))
        return pd.DataFrame({"itl_ms": values, "prob": probs})

    def burst_throughput_rps(self, window_s: float, *, out_tokens_spread: float = 0.0) -> float:
        """Requests per second a throughput benchmark of ``window_s`` seconds counts: every batch
        slot starts a request at once, the queue never empties, and only requests finished within
        the window count. Below the steady state ``max_batch / τ_N`` by about half a service time
        per slot, so it matters when requests take a sizeable part of the window. Output lengths
        uniform within ± ``out_tokens_spread`` of the mean spread the completions out
        (docs/queueing-model.md, "Capacity measured in a window")."""
        window = _as_float("window_s", window_s)
        if not (math.isfinite(window) and 0 < window <= 1e12):
            raise ValueError(f"window_s must be a finite number of seconds in (0, 1e12], got {window}")
        return float(self._core.burst_throughput_rps(1000.0 * window,
                                                     _as_float("out_tokens_spread", out_tokens_spread)))

    # ----------------------------------------------------------------- sizing
    def max_rate(self, *, ttft_ms: float | None = None, itl_ms: float | None = None,
                 wait_ms: float | None = None, blocking_prob: float | None = None,
                 tps: float | None = None, targets: Mapping[str, float] | None = None,
                 grid_points: int = 16, loss_prob: float | None = None, tps_safety_fraction: float = 0.1,
                 percentiles: Iterable[float] | None = None,
                 **percentile_targets: float) -> MaxRate:
        """Largest arrival rate (req/s) at which every target holds (at it and every lower rate).

        Mean targets: ``ttft_ms``, ``itl_ms``, ``wait_ms``, ``blocking_prob`` (``loss_prob``, its
        old name, warns). Percentile targets as
        keywords ``ttft_p95_ms=500``, ``itl_p99_ms=30``, ``wait_p90_ms=100`` (``p99_9`` for
        99.9) or in ``targets={"ttft_p99.9_ms": 800}``. ``tps`` is a token-throughput demand: it
        caps the rate at ``(1 - tps_safety_fraction)·max_stable_rate_rps`` and reports how many
        replicas the demand needs. A returned rate never violates a target. ``percentiles`` adds
        those percentiles to ``result.metrics`` (percentile targets' own values are always there).
        """
        cons, demand = _gather_targets(
            {"ttft_ms": ttft_ms, "itl_ms": itl_ms, "wait_ms": wait_ms, "blocking_prob": blocking_prob,
             "loss_prob": loss_prob, "tps": tps}, targets, percentile_targets)
        result = self._core.max_rate(cons, demand, _as_int("grid_points", grid_points, 1, 1000),
                                     _as_float("tps_safety_fraction", tps_safety_fraction))
        return _max_rate(result, self._approximation,
                         self._metrics_at(result, cons, percentiles))

    def _metrics_at(self, result: Mapping[str, Any], cons: list[tuple[str, float, float]],
                    percentiles: Iterable[float] | None) -> Analysis | None:
        """Metrics at the sized rate with the wanted percentiles (None: use the core's)."""
        wanted = [_as_float("percentiles", p) for p in (() if percentiles is None else percentiles)]
        wanted += [pct for _, pct, _ in cons if pct > 0 and pct not in wanted]
        if not wanted or result["status"] == "infeasible":
            return None
        rate = float(result["metrics"]["rate_rps"])
        return self.analyze(rate, percentiles=sorted(wanted))

    def optimal_concurrency(self, *, ttft_ms: float | None = None, itl_ms: float | None = None,
                            wait_ms: float | None = None, blocking_prob: float | None = None,
                            tps: float | None = None, targets: Mapping[str, float] | None = None,
                            loss_prob: float | None = None, min_batch: int = 1, epsilon: float = 0.02, max_iters: int = 6,
                            converge: bool = False, verify_hi: bool = True, grid_points: int = 16,
                            tps_safety_fraction: float = 0.1,
                            **percentile_targets: float) -> Concurrency:
        """Smallest batch cap in [min_batch, max_batch] whose SLO-feasible throughput
        (:meth:`max_rate`'s throughput) is within ``epsilon`` of that at ``max_batch``.

        Defaults reproduce the reference search (6 probes); ``converge=True`` bisects until the
        bracket closes.
        """
        cons, demand = _gather_targets(
            {"ttft_ms": ttft_ms, "itl_ms": itl_ms, "wait_ms": wait_ms, "blocking_prob": blocking_prob,
             "loss_prob": loss_prob, "tps": tps}, targets, percentile_targets)
        d = self._core.optimal_concurrency(
            cons, demand, _as_int("min_batch", min_batch, 1, self.max_batch),
            _as_float("epsilon", epsilon), _as_int("max_iters", max_iters, 0, 1000), bool(converge), bool(verify_hi),
            _as_int("grid_points", grid_points, 1, 1000), _as_float("tps_safety_fraction", tps_safety_fraction))
        at_onset = None
        if d["size"] is not None:
            onset = self.replace(max_batch=int(d["concurrency"]))
            at_onset = _max_rate(d["size"], self._approximation, onset._metrics_at(d["size"], cons, None))
        return Concurrency(
            concurrency=int(d["concurrency"]), throughput_rps=float(d["throughput_rps"]),
            feasible=bool(d["feasible"]), itl_bracket=int(d["itl_bracket"]),
            ttft_bracket=int(d["ttft_bracket"]), calls=int(d["calls"]),
            anchor_throughput_rps=float(d["anchor_throughput_rps"]), probes=tuple(d["probes"]),
            converged=bool(d["converged"]), bracket_lo=int(d["bracket_lo"]),
            bracket_hi=int(d["bracket_hi"]), max_stable_rate_rps=float(d["max_stable_rate_rps"]),
            at_onset=at_onset)
