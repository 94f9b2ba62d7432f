"""Configuration search: which accelerator, slice, tensor- and pipeline-parallel degree, batch cap
and chunk size serve a workload within its SLOs at the lowest cost (docs/search.md).

::

    result = inferno.search("samples/search/llama8b.yaml")    # or a dict, or a SearchSpec
    result.table          # one row per configuration: rate per replica, binding SLO, replicas,
                          # cost, QPS per dollar / GPU / watt, Pareto flag, simulator check
    result.best           # the cheapest configuration that meets the SLOs
    result.plot_pareto()  # cost against P95 TTFT and ITL

Two fidelities: the analytical screen (the roofline and the queueing model, in C++) estimates
every configuration in microseconds each; the simulator then checks the Pareto set and the
cheapest ones with several seeds, as a sweep (:mod:`inferno.experiments`) that runs on local
processes or a Dask cluster.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ._lazy import np, pd

from . import sizing as _sizing
from ._core import search as _S
from ._text import excerpt as _excerpt
from .experiments import sweep

__all__ = ["SearchSpec", "SearchResult", "load_spec", "search", "screen", "slo_sweep", "SearchError"]


class SearchError(ValueError):
    """A search spec that cannot be searched: the message names the key and what is allowed."""


_TOP_KEYS = ("models", "workload", "slo", "hardware", "engine", "confirm", "options")
_WORKLOAD_KEYS = ("rate_rps", "in_tokens", "out_tokens", "arrival_cov", "trace", "trace_rate_scale")
_TOKEN_KEYS = ("mean", "distribution", "spread")
_SLO_KEYS = ("ttft_ms", "ttft_percentile", "itl_ms", "itl_percentile", "e2e_ms")
_HARDWARE_KEYS = ("gpus", "slices", "accelerators", "tensor_parallel", "pipeline_parallel", "catalog", "costs")
_ENGINE_KEYS = ("max_num_seqs", "max_num_batched_tokens", "serving")
_CONFIRM_KEYS = ("pareto", "top", "max_configs", "seeds", "duration_s", "warmup_s")
_OPTION_KEYS = ("report_percentile", "service_model", "per_sequence_ms", "efficiency", "slice_cost_rule", "threads",
                "queue_to_batch_ratio")
DISTRIBUTIONS = ("fixed", "uniform", "geometric")
SIMULATED_PERCENTILES = (50.0, 90.0, 95.0, 99.0)


@dataclasses.dataclass(frozen=True)
class TokenShape:
    """Token counts per request: the mean, and how they spread (``uniform`` ± spread·mean, or
    ``geometric``) for the simulator and the TTFT percentiles."""

    mean: float
    distribution: str = "fixed"
    spread: float = 0.0

    def for_simulator(self) -> Any:
        if self.distribution == "uniform":
            return ("uniform", round(self.mean * (1 - self.spread)), round(self.mean * (1 + self.spread)))
        return self.distribution if self.distribution == "geometric" else None


@dataclasses.dataclass(frozen=True)
class SearchSpec:
    """What to search: models × accelerators × degrees × engine knobs, for one workload and SLO.
    :func:`load_spec` builds it from YAML or a mapping (docs/search.md, "The spec")."""

    models: tuple[str, ...]
    accelerators: tuple[str, ...]
    rate_rps: float
    in_tokens: TokenShape
    out_tokens: TokenShape
    slo: tuple[tuple[str, float, float], ...]  # (metric, percentile, target)
    tensor_parallel: tuple[int, ...] = (1,)
    pipeline_parallel: tuple[int, ...] = (1,)
    max_num_seqs: tuple[int, ...] = (256,)
    max_num_batched_tokens: tuple[int, ...] = (8192,)
    serving: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    arrival_cov: float = 1.0
    trace: pd.DataFrame | None = dataclasses.field(default=None, repr=False, compare=False)
    costs: Mapping[str, float] = dataclasses.field(default_factory=dict)
    catalog_files: tuple[str, ...] = ()
    model_files: Mapping[str, str] = dataclasses.field(default_factory=dict)
    efficiency: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    service_model: str = "iteration"
    per_sequence_ms: float = 0.0
    slice_cost_rule: str = "compute"
    queue_to_batch_ratio: int = 10
    report_percentile: float = 95.0
    threads: int = 1
    confirm_pareto: bool = True
    confirm_top: int = 5
    confirm_max_configs: int = 50
    confirm_seeds: int = 3
    confirm_duration_s: float = 600.0
    confirm_warmup_s: float = 60.0

    def replace(self, **changes: Any) -> "SearchSpec":
        return dataclasses.replace(self, **changes)

    @property
    def size(self) -> int:
        """Rows of the screen (a slice takes degree 1 only)."""
        degrees = sum(1 if ":" in a else len(self.tensor_parallel) * len(self.pipeline_parallel) for a in self.accelerators)
        return len(self.models) * degrees * len(self.max_num_seqs) * len(self.max_num_batched_tokens)


def _keys(doc: Any, allowed: Sequence[str], where: str) -> dict:
    if not isinstance(doc, Mapping):
        raise SearchError(f"{where or 'spec'} must be a mapping with keys {', '.join(allowed)}, got {_excerpt(doc)}")
    unknown = [k for k in doc if k not in allowed]
    if unknown:
        raise SearchError(f"{where}{'.' if where else ''}{unknown[0]}: unknown key; allowed: {', '.join(allowed)}")
    return dict(doc)


def _number(doc: Mapping, key: str, where: str, low: float, high: float, default: float | None = None, *,
            open_low: bool = False, integer: bool = False) -> float:
    name = f"{where}.{key}" if where else key
    if key not in doc or doc[key] is None:
        if default is None:
            raise SearchError(f"{name} is required")
        return default
    value = doc[key]
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(float(value))
    if ok and integer:
        ok = float(value) == int(value)
    if ok:
        ok = (float(value) > low if open_low else float(value) >= low) and float(value) <= high
    if not ok:
        kind = "an integer" if integer else "a number"
        raise SearchError(f"{name} must be {kind} in {'(' if open_low else '['}{low:g}, {high:g}], got {_excerpt(value)}")
    return int(value) if integer else float(value)


def _int_list(doc: Mapping, key: str, where: str, low: int, high: int, default: tuple[int, ...]) -> tuple[int, ...]:
    name = f"{where}.{key}"
    if key not in doc:
        return default
    value = doc[key]
    values = value if isinstance(value, list) else [value]
    if not values:
        raise SearchError(f"{name} is empty: the search space needs at least one value")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or not low <= int(v) <= high:
            raise SearchError(f"{name} must be integers in [{low}, {high}], got {_excerpt(v)}")
        out.append(int(v))
    if len(set(out)) != len(out):
        raise SearchError(f"{name} lists a value twice: {out}")
    return tuple(out)


def _str_list(doc: Mapping, key: str, where: str) -> tuple[str, ...]:
    value = doc.get(key)
    values = value if isinstance(value, list) else [value] if value is not None else []
    if not all(isinstance(v, str) and v.strip() for v in values):
        raise SearchError(f"{where}.{key} must be a list of names, got {_excerpt(value)}")
    return tuple(values)


def _tokens(doc: Mapping, key: str, low: float) -> TokenShape:
    value = doc.get(key)
    if isinstance(value, Mapping):
        d = _keys(value, _TOKEN_KEYS, f"workload.{key}")
        mean = _number(d, "mean", f"workload.{key}", low, 1e7)
        kind = d.get("distribution", "fixed")
        if kind not in DISTRIBUTIONS:
            raise SearchError(f"workload.{key}.distribution must be one of {', '.join(DISTRIBUTIONS)}, got {_excerpt(kind)}")
        spread = _number(d, "spread", f"workload.{key}", 0, 1, 0.5 if kind == "uniform" else 0.0)
        if kind != "uniform" and spread:
            raise SearchError(f"workload.{key}.spread is for the uniform distribution only")
        return TokenShape(mean, kind, spread)
    return TokenShape(_number(doc, key, "workload", low, 1e7))


def load_spec(source: str | os.PathLike[str] | Mapping[str, Any] | SearchSpec) -> SearchSpec:
    """A search spec from a YAML file (paths in it are relative to the file) or a mapping. Unknown
    keys, bad numbers, empty lists and unknown names are errors naming the key."""
    if isinstance(source, SearchSpec):
        return source
    from .control.scenario import read_yaml

    doc, base = read_yaml(dict(source) if isinstance(source, Mapping) else source, None, "search spec", SearchError)
    doc = _keys(doc, _TOP_KEYS, "")
    out: dict[str, Any] = {}

    models = doc.get("models")
    models = models if isinstance(models, list) else [models] if models is not None else []
    if not models:
        raise SearchError("models is required: registry names (inferno size models) or paths of config.json files")
    names, files = [], {}
    for m in models:
        if not isinstance(m, str) or not m.strip():
            raise SearchError(f"models must be a list of names or config.json paths, got {_excerpt(m)}")
        path = base / m
        if m.endswith(".json") and path.is_file():
            names.append(m)
            files[m] = str(path)
        else:
            names.append(m)
    if len(set(names)) != len(names):
        raise SearchError(f"models lists a model twice: {names}")
    out["models"], out["model_files"] = tuple(names), files

    w = _keys(doc.get("workload", {}), _WORKLOAD_KEYS, "workload")
    if "trace" in w:
        from .control.scenario import read_trace

        trace = read_trace(base / str(w["trace"]))
        scale = _number(w, "trace_rate_scale", "workload", 0, 1e6, 1.0, open_low=True)
        trace = trace.assign(t_s=trace.t_s / scale)
        span = float(trace.t_s.iloc[-1] - trace.t_s.iloc[0])
        if len(trace) < 2 or span <= 0:
            raise SearchError(f"workload.trace: {w['trace']} needs at least two requests at different times")
        gaps = np.diff(trace.t_s.to_numpy())
        for key in ("rate_rps", "in_tokens", "out_tokens", "arrival_cov"):
            if key in w:
                raise SearchError(f"workload.{key}: the trace gives it; leave it out or drop the trace")
        out["rate_rps"] = (len(trace) - 1) / span
        out["in_tokens"] = TokenShape(float(trace.in_tokens.mean()))
        out["out_tokens"] = TokenShape(max(1.0, float(trace.out_tokens.mean())))
        out["arrival_cov"] = float(np.std(gaps) / np.mean(gaps)) if np.mean(gaps) > 0 else 1.0
        out["trace"] = trace
    else:
        if "trace_rate_scale" in w:
            raise SearchError("workload.trace_rate_scale is for a trace only")
        out["rate_rps"] = _number(w, "rate_rps", "workload", 0, 1e9, open_low=True)
        out["in_tokens"] = _tokens(w, "in_tokens", 0)
        out["out_tokens"] = _tokens(w, "out_tokens", 1)
        out["arrival_cov"] = _number(w, "arrival_cov", "workload", 0, 100, 1.0)

    s = _keys(doc.get("slo", {}), _SLO_KEYS, "slo")
    slo = []
    for metric in ("ttft", "itl", "e2e"):
        if f"{metric}_ms" in s:
            target = _number(s, f"{metric}_ms", "slo", 0, 1e9, open_low=True)
            pct = _number(s, f"{metric}_percentile", "slo", 0, 99.999, 0.0) if metric != "e2e" else 0.0
            if pct and pct <= 0:
                raise SearchError(f"slo.{metric}_percentile must be 0 (the mean) or in (0, 100)")
            slo.append((metric, pct, target))
        elif f"{metric}_percentile" in s:
            raise SearchError(f"slo.{metric}_percentile needs slo.{metric}_ms")
    if not slo:
        raise SearchError("slo needs at least one target: ttft_ms, itl_ms or e2e_ms (with ttft_percentile, "
                          "itl_percentile for percentiles; 0 = the mean)")
    out["slo"] = tuple(slo)

    h = _keys(doc.get("hardware", {}), _HARDWARE_KEYS, "hardware")
    catalogs = _str_list(h, "catalog", "hardware")
    out["catalog_files"] = tuple(str(base / c) for c in catalogs)
    gpus, explicit = _str_list(h, "gpus", "hardware"), _str_list(h, "accelerators", "hardware")
    if not gpus and not explicit:
        raise SearchError("hardware.gpus (catalog GPU types) or hardware.accelerators (\"GPU\" or \"GPU:profile\") is required")
    slices = h.get("slices", False)
    if not isinstance(slices, bool):
        raise SearchError(f"hardware.slices must be true or false, got {_excerpt(slices)}")
    catalog = _catalog(out["catalog_files"])
    accelerators: list[str] = []
    if gpus:
        try:
            accelerators += catalog.candidates(gpus, include_slices=slices)
        except ValueError as error:
            raise SearchError(f"hardware.gpus: {error}") from None
    for a in explicit:
        try:
            catalog.accelerator(a)
        except ValueError as error:
            raise SearchError(f"hardware.accelerators: {error}") from None
        if a not in accelerators:
            accelerators.append(a)
    out["accelerators"] = tuple(accelerators)
    out["tensor_parallel"] = _int_list(h, "tensor_parallel", "hardware", 1, 64, (1,))
    out["pipeline_parallel"] = _int_list(h, "pipeline_parallel", "hardware", 1, 1024, (1,))
    costs = h.get("costs", {})
    if not isinstance(costs, Mapping):
        raise SearchError(f"hardware.costs must map GPU types to prices per GPU-hour, got {_excerpt(costs)}")
    out["costs"] = {str(k): _number(costs, k, "hardware.costs", 0, 1e12, open_low=True) for k in costs}

    e = _keys(doc.get("engine", {}), _ENGINE_KEYS, "engine")
    out["max_num_seqs"] = _int_list(e, "max_num_seqs", "engine", 1, 1000000, (256,))
    out["max_num_batched_tokens"] = _int_list(e, "max_num_batched_tokens", "engine", 1, 100000000, (8192,))
    serving = e.get("serving", {})
    if not isinstance(serving, Mapping):
        raise SearchError(f"engine.serving must be a mapping of vLLM options (docs/sizing.md), got {_excerpt(serving)}")
    for key in ("maxNumSeqs", "maxNumBatchedTokens", "tensorParallelSize", "pipelineParallelSize"):
        if key in serving:
            raise SearchError(f"engine.serving.{key}: the search varies it; list its values in engine or hardware")
    out["serving"] = dict(serving)

    c = _keys(doc.get("confirm", {}), _CONFIRM_KEYS, "confirm")
    pareto = c.get("pareto", True)
    if not isinstance(pareto, bool):
        raise SearchError(f"confirm.pareto must be true or false, got {_excerpt(pareto)}")
    out["confirm_pareto"] = pareto
    out["confirm_top"] = int(_number(c, "top", "confirm", 0, 10000, 5, integer=True))
    out["confirm_max_configs"] = int(_number(c, "max_configs", "confirm", 0, 100000, 50, integer=True))
    out["confirm_seeds"] = int(_number(c, "seeds", "confirm", 2, 1000, 3, integer=True))
    out["confirm_duration_s"] = _number(c, "duration_s", "confirm", 0, 1e6, 600.0, open_low=True)
    out["confirm_warmup_s"] = _number(c, "warmup_s", "confirm", 0, 1e6, 60.0)
    if out["confirm_warmup_s"] >= out["confirm_duration_s"]:
        raise SearchError("confirm.warmup_s must be below confirm.duration_s")

    o = _keys(doc.get("options", {}), _OPTION_KEYS, "options")
    out["report_percentile"] = _number(o, "report_percentile", "options", 0, 100, 95.0, open_low=True)
    if out["report_percentile"] >= 100:
        raise SearchError("options.report_percentile must be in (0, 100)")
    out["service_model"] = o.get("service_model", "iteration")
    if out["service_model"] not in ("iteration", "vllm"):
        raise SearchError(f"options.service_model must be iteration or vllm, got {_excerpt(out['service_model'])}")
    out["per_sequence_ms"] = _number(o, "per_sequence_ms", "options", 0, 1e6, 0.0)
    out["slice_cost_rule"] = o.get("slice_cost_rule", "compute")
    if out["slice_cost_rule"] not in ("compute", "max", "given"):
        raise SearchError(f"options.slice_cost_rule must be compute, max or given, got {_excerpt(out['slice_cost_rule'])}")
    out["threads"] = int(_number(o, "threads", "options", 0, 1024, 1, integer=True))
    out["queue_to_batch_ratio"] = int(_number(o, "queue_to_batch_ratio", "options", 0, 100000, 10, integer=True))
    efficiency = o.get("efficiency", {})
    if not isinstance(efficiency, Mapping):
        raise SearchError(f"options.efficiency must be a mapping (docs/sizing.md), got {_excerpt(efficiency)}")
    out["efficiency"] = dict(efficiency)
    spec = SearchSpec(**out)
    _registry(spec)  # unknown model names fail here, listing the known ones
    return spec


def _catalog(files: Sequence[str]) -> _sizing.Catalog:
    if not files:
        return _sizing._builtin_catalog()
    try:
        return _sizing.Catalog.load(*files)
    except ValueError as error:
        raise SearchError(f"hardware.catalog: {error}") from None


def _registry(spec: SearchSpec) -> dict[str, _sizing.ModelArch]:
    known = _sizing.models()
    out = {}
    for name in spec.models:
        try:
            out[name] = _sizing.resolve_model(spec.model_files.get(name, name), known)
        except ValueError as error:
            raise SearchError(f"models: {error}") from None
    return out


def screen(spec: SearchSpec | Mapping[str, Any] | str | os.PathLike[str]) -> pd.DataFrame:
    """The analytical screen of every configuration of the spec: one row each, in the space's
    order (docs/search.md, "The table")."""
    spec = load_spec(spec)
    registry = _registry(spec)
    catalog = _catalog(spec.catalog_files)
    try:
        columns, _ = _S.screen(
            catalog._c, {k: v._a for k, v in registry.items()}, list(spec.models), list(spec.accelerators),
            list(spec.tensor_parallel), list(spec.pipeline_parallel), list(spec.max_num_seqs),
            list(spec.max_num_batched_tokens), dict(spec.serving), spec.rate_rps, spec.in_tokens.mean,
            spec.out_tokens.mean, arrival_cov=spec.arrival_cov,
            in_tokens_spread=spec.in_tokens.spread if spec.in_tokens.distribution == "uniform" else 0.0,
            slo=list(spec.slo), efficiency=dict(spec.efficiency), service_model=spec.service_model,
            per_sequence_ms=spec.per_sequence_ms, queue_to_batch_ratio=spec.queue_to_batch_ratio,
            costs=dict(spec.costs), cost_rule=spec.slice_cost_rule, report_percentile=spec.report_percentile,
            threads=spec.threads)
    except ValueError as error:
        raise SearchError(str(error)) from None
    table = pd.DataFrame(columns)
    table.attrs["report_percentile"] = spec.report_percentile
    return table


def _engine_model(alpha: float, beta: float, gamma: float, batch: int, max_num_batched_tokens: int, in_tokens: float,
                  out_tokens: float, service_model: str, per_sequence_ms: float, queue: int, **options: Any) -> Any:
    """One engine of a screened configuration as a QueueModel: what the simulator runs and what
    the screen's figures at a given rate come from."""
    from .queue import QueueModel

    params: dict[str, Any] = {"alpha": alpha, "beta": beta, "gamma": gamma}
    if service_model == "vllm":
        params.update(delta=per_sequence_ms, epsilon=0.0)
    return QueueModel(service_model=service_model, in_tokens=in_tokens, out_tokens=out_tokens, max_batch=batch,
                      max_queue=queue, max_num_tokens=max_num_batched_tokens, **options, **params)


def _simulate_point(alpha: float, beta: float, gamma: float, batch: int, max_num_batched_tokens: int, rate_rps: float,
                    seed: int, in_tokens: float, out_tokens: float, in_shape: Any, out_shape: Any, arrival_cov: float,
                    service_model: str, per_sequence_ms: float, queue: int, duration_s: float, warmup_s: float,
                    percentile: float, ttft_slo_percentile: float, itl_slo_percentile: float) -> dict[str, float]:
    """One seed of one configuration's engine at one rate (module level: it runs in workers)."""
    from .sim import simulate

    model = _engine_model(alpha, beta, gamma, batch, max_num_batched_tokens, in_tokens, out_tokens, service_model,
                          per_sequence_ms, queue)
    run = simulate(model, rate_rps, duration_s=duration_s, warmup_s=warmup_s, seed=seed,
                   arrivals="poisson" if arrival_cov == 1.0 else "gamma", cv=arrival_cov,
                   in_tokens=in_shape, out_tokens=out_shape, keep_requests=False, sample_interval_s=0)
    ttft, itl = run.stat("ttft_ms"), run.stat("token_itl_ms")

    def at(stat: dict[str, float], pct: float) -> float:
        return float(stat[f"p{pct:g}"] if pct else stat["mean"])

    return {"sim_ttft_pct_ms": at(ttft, percentile), "sim_itl_pct_ms": at(itl, percentile),
            "sim_ttft_slo_ms": at(ttft, ttft_slo_percentile), "sim_itl_slo_ms": at(itl, itl_slo_percentile),
            "sim_throughput_rps": float(run.summary["throughput_rps"])}


def _ranked(table: pd.DataFrame) -> pd.DataFrame:
    """The feasible rows, cheapest first (ties: lower TTFT, then ITL, then the space's order)."""
    return table[table.feasible].sort_values(["cost", "ttft_pct_ms", "itl_pct_ms"], kind="stable")


def _chosen_for_confirmation(table: pd.DataFrame, spec: SearchSpec) -> list[int]:
    feasible = table[table.feasible]
    chosen: list[int] = []
    if spec.confirm_pareto:
        chosen += list(feasible.index[feasible.pareto])
    cheapest = _ranked(table).index[:spec.confirm_top]
    chosen += [i for i in cheapest if i not in chosen]
    # Cheapest first when the set must be cut to max_configs.
    chosen.sort(key=lambda i: (table.at[i, "cost"], i))
    return chosen[:spec.confirm_max_configs]


_T975 = {2: 12.706, 3: 4.303, 4: 3.182, 5: 2.776, 6: 2.571, 7: 2.447, 8: 2.365, 9: 2.306, 10: 2.262}


def _half_width(values: np.ndarray) -> float:
    """95 % confidence half-width of the mean of the seeds (Student's t)."""
    n = len(values)
    t = _T975.get(n, 1.96 + 2.4 / n)  # the t quantile's large-n behaviour beyond the table
    return float(t * np.std(values, ddof=1) / math.sqrt(n))


def confirm(table: pd.DataFrame, spec: SearchSpec | Mapping[str, Any] | str | os.PathLike[str], *,
            rows: Sequence[int] | None = None, client: Any = None, workers: int | None = None,
            store: Any = None, progress: bool | None = None) -> pd.DataFrame:
    """Simulates the chosen rows (default: the Pareto set and the ``confirm.top`` cheapest, at
    most ``confirm.max_configs``) at their rate per replica λ*, ``confirm.seeds`` seeds each, and
    adds the simulator's TTFT and ITL percentiles with 95 % intervals, whether the SLOs hold
    there, and whether the screen's figures lie within the interval (``agrees``)."""
    spec = load_spec(spec)
    picked = list(rows) if rows is not None else _chosen_for_confirmation(table, spec)
    out = table.copy()
    if "confirmed" not in out:  # a table confirmed before keeps its simulated rows
        for col in ("sim_ttft_pct_ms", "sim_ttft_pct_hw_ms", "sim_itl_pct_ms", "sim_itl_pct_hw_ms", "sim_throughput_rps",
                    "screen_ttft_pct_at_rate_ms", "screen_itl_pct_at_rate_ms"):
            out[col] = np.nan
        out["confirmed"] = pd.array([pd.NA] * len(out), dtype="boolean")
        out["agrees"] = pd.array([pd.NA] * len(out), dtype="boolean")
    if not picked:
        return out
    slo_pct = {m: p for m, p, _ in spec.slo}
    for what, pct in (("options.report_percentile", spec.report_percentile), ("slo.ttft_percentile", slo_pct.get("ttft", 0)),
                      ("slo.itl_percentile", slo_pct.get("itl", 0))):
        if pct and pct not in SIMULATED_PERCENTILES:
            raise SearchError(f"confirm: {what} {pct:g}: the simulator reports the mean and percentiles "
                              f"{', '.join(f'{p:g}' for p in SIMULATED_PERCENTILES)}; choose one of them or simulate=False")
    bad = [i for i in picked if not bool(table.at[i, "feasible"])]
    if bad:
        raise SearchError(f"confirm: rows {bad} are not feasible; only a configuration with a rate can be simulated")
    points = []
    for i in picked:
        r = table.loc[i]
        for seed in range(1, spec.confirm_seeds + 1):
            points.append({
                "row": int(i), "seed": seed, "alpha": float(r.alpha_ms), "beta": float(r.beta_ms),
                "gamma": float(r.gamma_ms), "batch": int(r.batch), "max_num_batched_tokens": int(r.max_num_batched_tokens),
                "rate_rps": float(r.rate_per_replica_rps) / int(r.pp), "in_tokens": spec.in_tokens.mean,
                "out_tokens": spec.out_tokens.mean, "in_shape": spec.in_tokens.for_simulator(),
                "out_shape": spec.out_tokens.for_simulator(), "arrival_cov": spec.arrival_cov,
                "service_model": spec.service_model, "per_sequence_ms": spec.per_sequence_ms,
                "queue": spec.queue_to_batch_ratio * int(r.batch), "duration_s": spec.confirm_duration_s,
                "warmup_s": spec.confirm_warmup_s, "percentile": spec.report_percentile,
                "ttft_slo_percentile": slo_pct.get("ttft", 0.0), "itl_slo_percentile": slo_pct.get("itl", 0.0)})
    runs = sweep(_run_point, points, client=client, workers=workers, store=store, progress=progress,
                 desc="simulating")
    targets = {m: (p, t) for m, p, t in spec.slo}
    for i, group in runs.groupby("row", sort=False):
        if "error" in group and group["error"].notna().any():
            continue  # reported by the sweep's warning; the row keeps no simulated figures
        ttft, itl = group.sim_ttft_pct_ms.to_numpy(), group.sim_itl_pct_ms.to_numpy()
        hw_ttft, hw_itl = _half_width(ttft), _half_width(itl)
        out.at[i, "sim_ttft_pct_ms"], out.at[i, "sim_ttft_pct_hw_ms"] = float(ttft.mean()), hw_ttft
        out.at[i, "sim_itl_pct_ms"], out.at[i, "sim_itl_pct_hw_ms"] = float(itl.mean()), hw_itl
        out.at[i, "sim_throughput_rps"] = float(group.sim_throughput_rps.mean()) * int(table.at[i, "pp"])
        # λ* is where the screen's binding target is just met, so the simulator lands about on it:
        # a target counts as met unless the seeds' mean exceeds it by more than their interval.
        met = True
        for metric, (pct, target) in targets.items():
            if metric == "e2e":
                continue
            values = group[f"sim_{metric}_slo_ms"].to_numpy()
            met = met and float(values.mean()) - _half_width(values) <= target
        out.at[i, "confirmed"] = met
        at_rate = _screen_at_rate(table.loc[i], spec)
        out.at[i, "agrees"] = bool(abs(at_rate[0] - ttft.mean()) <= hw_ttft and abs(at_rate[1] - itl.mean()) <= hw_itl)
        out.at[i, "screen_ttft_pct_at_rate_ms"], out.at[i, "screen_itl_pct_at_rate_ms"] = at_rate
    return out


def _run_point(row: int, seed: int, **kwargs: Any) -> dict[str, float]:
    del row  # part of the point's identity only
    return _simulate_point(seed=seed, **kwargs)


def _screen_at_rate(r: pd.Series, spec: SearchSpec) -> tuple[float, float]:
    """The queueing model's TTFT and ITL percentiles at the row's λ* (what the simulator measured)."""
    model = _engine_model(float(r.alpha_ms), float(r.beta_ms), float(r.gamma_ms), int(r.batch),
                          int(r.max_num_batched_tokens), spec.in_tokens.mean, spec.out_tokens.mean, spec.service_model,
                          spec.per_sequence_ms, spec.queue_to_batch_ratio * int(r.batch), arrival_cov=spec.arrival_cov,
                          in_tokens_spread=spec.in_tokens.spread if spec.in_tokens.distribution == "uniform" else 0.0)
    a = model.analyze(float(r.rate_per_replica_rps) / int(r.pp), percentiles=[spec.report_percentile])
    key = f"p{spec.report_percentile:g}"
    return float(a.percentiles[f"ttft_{key}_ms"]), float(a.percentiles[f"itl_{key}_ms"])


@dataclasses.dataclass
class SearchResult:
    """The outcome of :func:`search`: the table and what it took."""

    spec: SearchSpec
    table: pd.DataFrame
    screen_s: float
    confirm_s: float

    @property
    def feasible(self) -> pd.DataFrame:
        return self.table[self.table.feasible]

    @property
    def pareto(self) -> pd.DataFrame:
        """The Pareto set, cheapest first."""
        return self.table[self.table.pareto].sort_values(["cost", "ttft_pct_ms"], kind="stable")

    @property
    def best(self) -> pd.Series | None:
        """The cheapest configuration that meets the SLOs (ties: lower TTFT, then ITL, then the
        space's order); a simulated row that failed the SLOs is skipped. None when nothing fits."""
        rows = _ranked(self.table)
        if "confirmed" in rows:
            rows = rows[rows.confirmed.fillna(True).astype(bool)]
        return None if rows.empty else rows.iloc[0]

    def why_none(self) -> str:
        """When no configuration meets the SLOs: how many failed for each reason."""
        counts = self.table.reason.where(self.table.reason.str.len() < 40, "invalid configuration").value_counts()
        return ", ".join(f"{n} {reason}" for reason, n in counts.items())

    def summary(self, timings: bool = False) -> str:
        """What was found, in a few lines (``timings``: with the time each fidelity took)."""
        n, ok = len(self.table), int(self.table.feasible.sum())
        took = f" in {self.screen_s * 1e3:.0f} ms" if timings else ""
        lines = [f"{n} configurations screened{took}: {ok} meet the SLOs, {int(self.table.pareto.sum())} on the Pareto front"]
        if "confirmed" in self.table and self.table.confirmed.notna().any():
            sim = self.table[self.table.confirmed.notna()]
            took = f" in {self.confirm_s:.1f} s" if timings else ""
            lines.append(f"{len(sim)} simulated ({self.spec.confirm_seeds} seeds × {self.spec.confirm_duration_s:g} s){took}: "
                         f"{int(sim.confirmed.sum())} meet the SLOs, {int(sim.agrees.sum())} agree with the screen "
                         f"within the interval")
        best = self.best
        if best is None:
            lines.append("no configuration meets the SLOs: " + self.why_none())
        else:
            how = "" if "confirmed" not in best or pd.isna(best.confirmed) else " (confirmed by simulation)"
            lines.append(f"best{how}: {best.model} on {best.accelerator} tp {best.tp} pp {best.pp}, max_num_seqs "
                         f"{best.max_num_seqs}, max_num_batched_tokens {best.max_num_batched_tokens}: "
                         f"{best.replicas} replicas × {best.rate_per_replica_rps:.3g} req/s, cost {best.cost:.4g}, "
                         f"binding {best.binding}")
        return "\n".join(lines)

    def optimizer_documents(self, rows: Sequence[int] | None = None) -> dict:
        """The optimizer's documents (docs/sizing.md §8) for the chosen configurations (default: the
        best per model), with the spec's workload and SLOs as one server per model and, as the
        capacity, the GPUs the configurations need."""
        table = self.table
        if rows is None:
            ranked = _ranked(table)
            if "confirmed" in ranked:
                ranked = ranked[ranked.confirmed.fillna(True).astype(bool)]
            picked = [group.index[0] for _, group in ranked.groupby("model", sort=False)]
        else:
            picked = list(rows)
        if not picked:
            raise SearchError("optimizer_documents: no feasible configuration to emit")
        servers, gpus, slices = [], [], False
        capacity: dict[str, int] = {}
        slo: dict[str, float] = {}
        for metric, pct, target in self.spec.slo:
            if metric in ("ttft", "itl"):
                slo[metric] = target
                if pct:
                    slo[f"{metric}Percentile"] = pct
        for i in picked:
            r = table.loc[i]
            if not bool(r.feasible):
                raise SearchError(f"optimizer_documents: row {i} is not feasible ({r.reason})")
            serving = {**self.spec.serving, "tensorParallelSize": int(r.tp), "pipelineParallelSize": int(r.pp),
                       "maxNumSeqs": int(r.max_num_seqs), "maxNumBatchedTokens": int(r.max_num_batched_tokens)}
            servers.append({"name": f"{r.model.split('/')[-1]}-{i}", "model": r.model, "serving": serving,
                            "load": {"arrivalRateRps": self.spec.rate_rps, "avgInTokens": self.spec.in_tokens.mean,
                                     "avgOutTokens": self.spec.out_tokens.mean}, "slo": slo})
            if r.gpu not in gpus:
                gpus.append(r.gpu)
            # The GPUs the configuration needs for the target load: the optimizer's capacity.
            capacity[r.gpu] = capacity.get(r.gpu, 0) + math.ceil(float(r.replicas) * float(r.gpus_per_replica) - 1e-9)
            slices = slices or bool(r.profile)
        request = {"servers": servers, "menu": {"gpuTypes": gpus, "includeSlices": slices},
                   "sliceCostRule": self.spec.slice_cost_rule, "queueToBatchRatio": self.spec.queue_to_batch_ratio,
                   "serviceModel": self.spec.service_model, "perSequenceMs": self.spec.per_sequence_ms,
                   "capacity": capacity}
        if self.spec.costs:
            request["costs"] = dict(self.spec.costs)
        if self.spec.efficiency:
            request["efficiency"] = dict(self.spec.efficiency)
        return _sizing.emit_optimizer_data(request, _catalog(self.spec.catalog_files), _registry(self.spec))

    def write_optimizer_documents(self, directory: str | os.PathLike[str], rows: Sequence[int] | None = None) -> list[Path]:
        return _sizing.write_optimizer_dir(self.optimizer_documents(rows), Path(directory))

    # ---- plots -------------------------------------------------------------------------------

    def plot_pareto(self, ax: Any = None, metric: str = "ttft") -> Any:
        """Cost for the target load against the TTFT (or ``metric="itl"``) percentile, one series per
        accelerator (colour-blind-safe colours and distinct markers), the Pareto set outlined."""
        return plot_pareto(self.table, ax=ax, metric=metric)

    def plot_qps_per_dollar(self, ax: Any = None, top: int = 20) -> Any:
        """The best QPS per dollar of each accelerator and degree, as horizontal bars."""
        return plot_qps_per_dollar(self.table, ax=ax, top=top)


def plot_pareto(table: pd.DataFrame, ax: Any = None, metric: str = "ttft") -> Any:
    from ._style import MARKERS, PALETTE

    if metric not in ("ttft", "itl"):
        raise ValueError(f"metric must be 'ttft' or 'itl', got {_excerpt(metric)}")
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4.5))
    rows = table[table.feasible]
    pct = table.attrs.get("report_percentile", 95)
    column = f"{metric}_pct_ms"
    for k, (acc, group) in enumerate(rows.groupby("accelerator", sort=False)):
        colour, marker = PALETTE[k % len(PALETTE)], MARKERS[k % len(MARKERS)]
        ax.scatter(group[column], group.cost, s=22, color=colour, marker=marker, alpha=0.55, label=acc)
        front = group[group.pareto]
        ax.scatter(front[column], front.cost, s=70, facecolors="none", edgecolors="black", marker=marker, linewidths=1.2)
    front = rows[rows.pareto].sort_values(column)
    if not front.empty:
        best = front.cost.cummin()
        ax.step(front[column], best, where="post", color="black", linewidth=1, label="Pareto front (outlined)")
    ax.set_xlabel(f"P{pct:g} {'TTFT' if metric == 'ttft' else 'ITL'} at the target load (ms)")
    ax.set_ylabel("cost of the fleet for the target load (per hour)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    return ax


def plot_qps_per_dollar(table: pd.DataFrame, ax: Any = None, top: int = 20) -> Any:
    from ._style import PALETTE

    import matplotlib.pyplot as plt

    rows = table[table.feasible].copy()
    rows["config"] = rows.accelerator + " tp" + rows.tp.astype(str) + " pp" + rows.pp.astype(str)
    best = rows.sort_values("qps_per_dollar", ascending=False).drop_duplicates("config").head(top)[::-1]
    if ax is None:
        _, ax = plt.subplots(figsize=(7, max(2.5, 0.3 * len(best) + 1)))
    colours = [PALETTE[i % 2] for i in range(len(best))]
    ax.barh(best.config, best.qps_per_dollar, color=colours, hatch=None)
    for y, (v, seqs) in enumerate(zip(best.qps_per_dollar, best.max_num_seqs)):
        ax.text(v, y, f" {v:.3g} (N≤{seqs})", va="center", fontsize=7)
    ax.set_xlabel("requests per second per unit of cost per hour (QPS/$)")
    ax.set_ylabel("accelerator and degrees (best engine knobs)")
    ax.grid(axis="x", alpha=0.3)
    return ax


def slo_sweep(spec: SearchSpec | Mapping[str, Any] | str | os.PathLike[str], metric: str,
              targets_ms: Sequence[float]) -> pd.DataFrame:
    """How the best configuration and its cost move as one SLO tightens: the screen at each target
    of ``metric`` ("ttft", "itl" or "e2e"), the other targets as in the spec. One row per target:
    the best configuration (or none) and its cost."""
    spec = load_spec(spec)
    if metric not in ("ttft", "itl", "e2e"):
        raise SearchError(f"slo_sweep: metric must be ttft, itl or e2e, got {_excerpt(metric)}")
    base = [s for s in spec.slo if s[0] == metric]
    pct = base[0][1] if base else 0.0
    others = tuple(s for s in spec.slo if s[0] != metric)
    rows: list[dict[str, Any]] = []
    for target in targets_ms:
        if not (isinstance(target, numbers.Real) and math.isfinite(target) and target > 0):
            raise SearchError(f"slo_sweep: targets must be numbers > 0 (ms), got {_excerpt(target)}")
        table = screen(spec.replace(slo=(*others, (metric, pct, float(target)))))
        ok = table[table.feasible]
        row: dict[str, Any] = {f"{metric}_target_ms": float(target)}
        if ok.empty:
            row.update(feasible=False, cost=np.nan)
        else:
            b = _ranked(ok).iloc[0]
            row.update(feasible=True, cost=float(b.cost), model=b.model, accelerator=b.accelerator, tp=int(b.tp),
                       pp=int(b.pp), max_num_seqs=int(b.max_num_seqs), max_num_batched_tokens=int(b.max_num_batched_tokens),
                       replicas=int(b.replicas), binding=b.binding)
        rows.append(row)
    out = pd.DataFrame(rows)
    out.attrs["metric"], out.attrs["percentile"] = metric, pct
    return out


def plot_slo_cost(sweep_table: pd.DataFrame, ax: Any = None) -> Any:
    """The cost of the best configuration against the SLO target, each change of configuration
    labelled: where a few milliseconds of SLO double the cost shows as a step."""
    from ._style import MARKERS, PALETTE

    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    metric, pct = sweep_table.attrs.get("metric", "itl"), sweep_table.attrs.get("percentile", 0)
    x = sweep_table[f"{metric}_target_ms"]
    ax.step(x, sweep_table.cost, where="post", color=PALETTE[0], linewidth=1.5)
    configs = sweep_table.get("accelerator", pd.Series(dtype=str)).fillna("") + " tp" + \
        sweep_table.get("tp", pd.Series(dtype=float)).fillna(0).astype(int).astype(str)
    previous = None
    for k, (xi, ci, label) in enumerate(zip(x, sweep_table.cost, configs)):
        if label != previous and not math.isnan(ci):
            ax.plot([xi], [ci], marker=MARKERS[k % len(MARKERS)], color=PALETTE[(k % (len(PALETTE) - 1)) + 1],
                    linestyle="none")
            ax.annotate(label, (xi, ci), textcoords="offset points", xytext=(4, 6), fontsize=7)
        previous = label
    name = "TTFT" if metric == "ttft" else "ITL" if metric == "itl" else "end-to-end latency"
    ax.set_xlabel(f"{'P%g ' % pct if pct else 'mean '}{name} target (ms)")
    ax.set_ylabel("cost of the cheapest fleet (per hour)")
    ax.grid(alpha=0.3)
    return ax


def search(spec: SearchSpec | Mapping[str, Any] | str | os.PathLike[str], *, simulate: bool = True,
           client: Any = None, workers: int | None = None, store: Any = None,
           progress: bool | None = None) -> SearchResult:
    """Screens the spec's space analytically, then (``simulate``) confirms the Pareto set and the
    cheapest configurations with the simulator, on local processes (``workers``) or a Dask
    ``client`` (a ``distributed.Client`` or a scheduler address); ``store`` keeps the simulated
    points so that an interrupted search resumes."""
    spec = load_spec(spec)
    start = time.perf_counter()
    table = screen(spec)
    screen_s = time.perf_counter() - start
    confirm_s = 0.0
    if simulate:
        start = time.perf_counter()
        table = confirm(table, spec, client=client, workers=workers, store=store, progress=progress)
        # Until the cheapest configuration the simulator has not refuted is one it confirmed, the
        # next cheapest unsimulated ones are simulated too (at most max_configs more): the best
        # answer is then a simulated one whenever the budget allows.
        budget = spec.confirm_max_configs
        while budget > 0:
            alive = _ranked(table)
            alive = alive[alive.confirmed.fillna(True).astype(bool)]
            if alive.empty or bool(alive.confirmed.notna().iloc[0]):
                break
            fresh = [i for i in alive.index if pd.isna(table.at[i, "confirmed"])][:max(1, min(spec.confirm_top, budget))]
            budget -= len(fresh)
            table = confirm(table, spec, rows=fresh, client=client, workers=workers, store=store, progress=progress)
        confirm_s = time.perf_counter() - start
    return SearchResult(spec, table, screen_s, confirm_s)
