"""GPU right-sizing: roofline estimates, calibration, slice recommendation and MIG packing.

The numerics live in the C++ core (``inferno._core.sizing``); this module loads the catalog and
model files shipped with the package, converts between dicts/files and the core's JSON documents,
and returns results as small objects with pandas views and plots.

>>> from inferno import sizing
>>> cat = sizing.Catalog.builtin()
>>> llama = sizing.models()["meta-llama/Meta-Llama-3-8B"]
>>> est = sizing.derive(llama, "H100-SXM5-80GB:3g.40gb", catalog=cat, in_tokens=1024, out_tokens=128)
>>> round(est.alpha_ms, 3), est.n_max
(12.485, 139)
"""

from __future__ import annotations

import dataclasses
import functools
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence, Union

from ._lazy import pd

from . import _core
from ._text import excerpt as _excerpt

_S = _core.sizing

DATA_DIR = Path(__file__).parent / "data"
BUILTIN_CATALOG = DATA_DIR / "catalog.json"
MODELS_DIR = DATA_DIR / "models"

JsonLike = Union[str, Path, Mapping[str, Any], Sequence[Any]]

__all__ = [
    "Catalog", "ModelArch", "Estimate", "Calibration", "Recommendation", "Packing",
    "models", "load_models", "derive", "derive_all", "calibrate", "recommend", "emit_optimizer_data",
    "write_optimizer_dir", "pack", "discover", "tuner_seed", "efficiency_from_theta",
]


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _parse(text: str, what: str) -> Any:
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise ValueError(f"{what}: malformed JSON: {exc}") from None


def _document(doc: JsonLike | None, what: str) -> Any:
    """A document for the core, which takes values, never JSON text: a dict or list as given;
    JSON text, a path or a Path parsed here (errors name ``what``)."""
    if doc is None:
        return None
    if isinstance(doc, Path):
        return _parse(doc.read_text(), f"{what} ({doc})")
    if isinstance(doc, str):
        stripped = doc.lstrip()
        if stripped.startswith("{") or stripped.startswith("["):
            return _parse(doc, what)
        path = Path(doc)
        if not path.exists():
            raise ValueError(f"{what}: no such file {_excerpt(doc)} (and not JSON text)")
        return _parse(path.read_text(), f"{what} ({doc})")
    return doc


class Catalog:
    """GPUs and MIG geometries. ``Catalog.builtin()`` is the shipped file; ``merge`` adds user files
    (a GPU whose id exists is updated field by field; a MIG family is replaced whole)."""

    def __init__(self) -> None:
        self._c = _S.Catalog()

    @classmethod
    def builtin(cls) -> "Catalog":
        cat = cls()
        cat._c.merge(_document(BUILTIN_CATALOG, "catalog"), str(BUILTIN_CATALOG.name))
        return cat

    @classmethod
    def load(cls, *files: JsonLike, builtin: bool = True) -> "Catalog":
        cat = cls.builtin() if builtin else cls()
        for f in files:
            cat.merge(f)
        return cat

    def merge(self, doc: JsonLike, source: str = "") -> "Catalog":
        name = source or (str(doc) if isinstance(doc, (str, Path)) and not str(doc).lstrip().startswith("{") else "catalog")
        self._c.merge(_document(doc, name), name)
        return self

    def to_dict(self) -> dict:
        result: dict = self._c.to_dict()
        return result

    @property
    def gpu_ids(self) -> list[str]:
        return list(self._c.gpu_ids())

    def gpus(self) -> pd.DataFrame:
        rows = []
        for g in self.to_dict()["gpus"]:
            row = {k: v for k, v in g.items() if k != "power"}
            row.update({f"power_{k}": v for k, v in g["power"].items()})
            rows.append(row)
        return pd.DataFrame(rows).set_index("id")

    def geometry(self, gpu: str) -> dict:
        result: dict = self._c.geometry(gpu)
        return result

    def profiles(self, gpu: str) -> pd.DataFrame:
        geo = self.geometry(gpu)
        df = pd.DataFrame(geo["profiles"]).set_index("name")
        return df

    def accelerator(self, name: str) -> dict:
        result: dict = self._c.accelerator(name)
        return result

    __getitem__ = accelerator

    def candidates(self, gpus: Iterable[str] | None = None, include_slices: bool = True,
                   exclude_media: bool = True) -> list[str]:
        return list(self._c.candidates(list(gpus or []), include_slices, exclude_media))

    def geometry_facts(self, gpu: str) -> dict:
        result: dict = self._c.geometry_facts(gpu)
        return result

    def __repr__(self) -> str:
        return f"Catalog({len(self.gpu_ids)} GPUs)"


class ModelArch:
    """A model architecture from a Hugging Face ``config.json`` (dict, JSON text or path)."""

    def __init__(self, handle: Any) -> None:
        self._a = handle

    @classmethod
    def from_hf_config(cls, config: JsonLike, name: str = "") -> "ModelArch":
        return cls(_S.ModelArch.from_hf_config(_document(config, "config"), name))

    @property
    def name(self) -> str:
        return self._a.name

    def to_dict(self) -> dict:
        result: dict = self._a.to_dict()
        return result

    def __repr__(self) -> str:
        d = self.to_dict()
        return f"ModelArch({d['name']!r}, {d['paramsTotal'] / 1e9:.2f} B parameters)"


def load_models(*paths: Union[str, Path]) -> dict[str, ModelArch]:
    """Architectures from config files or directories of them, keyed by name (``_name_or_path``,
    else the file stem)."""
    out: dict[str, ModelArch] = {}
    for p in paths:
        p = Path(p)
        files = sorted(p.glob("*.json")) if p.is_dir() else [p]
        for f in files:
            cfg = _document(f, "config")
            name = cfg.get("_name_or_path") or f.stem if isinstance(cfg, dict) else f.stem
            out[name] = ModelArch.from_hf_config(cfg, name)
    return out


@functools.lru_cache(maxsize=1)
def _builtin_models() -> dict[str, ModelArch]:
    return load_models(MODELS_DIR)


def models() -> dict[str, ModelArch]:
    """The example architectures shipped with the package (the reference architectures of docs/sizing.md §2)."""
    return dict(_builtin_models())  # a copy: callers may add to it


@functools.lru_cache(maxsize=1)
def _builtin_catalog() -> Catalog:
    """The default of every ``catalog=None`` argument: parsed once, never modified (the functions
    here only read catalogs; ``Catalog.builtin()`` gives a fresh one to modify)."""
    return Catalog.builtin()


def resolve_model(model: Union[str, ModelArch, Mapping[str, Any], Path],
                  registry: Mapping[str, ModelArch] | None = None) -> ModelArch:
    """A model's architecture from a registry name, a config.json path or text, a mapping of its
    keys, or a ModelArch (returned as is); ``registry`` defaults to the shipped architectures."""
    if isinstance(model, ModelArch):
        return model
    reg = registry if registry is not None else _builtin_models()
    if isinstance(model, str) and not model.strip():
        raise ValueError(f"model: must not be empty; known: {', '.join(sorted(reg))} (or give a config.json path)")
    if isinstance(model, (str, Path)) and not str(model).lstrip().startswith("{") and Path(model).is_dir():
        raise ValueError(f"model: {_excerpt(str(model))} is a directory; give a model's config.json or one of: "
                         f"{', '.join(sorted(reg))}")
    if isinstance(model, str) and not model.lstrip().startswith("{") and not Path(model).exists():
        if model in reg:
            return reg[model]
        matches = [k for k in reg if k.split("/")[-1] == model]
        if len(matches) == 1:
            return reg[matches[0]]
        raise ValueError(f"model: unknown {_excerpt(model)}; known: {', '.join(sorted(reg))} (or give a config.json path)")
    return ModelArch.from_hf_config(model)


@dataclass(frozen=True, repr=False)
class Estimate:
    """Roofline result for one model on one accelerator (times in ms)."""
    accelerator: str
    alpha_ms: float
    beta_ms: float
    gamma_ms: float
    n_max: int
    n_mem: int
    kv_capacity_tokens: int
    ctx_tokens: int
    max_model_len: int
    feasible: bool
    reason: str
    knee_batch: float
    itl1_ms: float
    bound: str
    intensity_flop_per_byte: float
    tflops: float
    bw_gbps: float
    mem_gib: float
    weights_gb: float
    kv_budget_gib: float
    epsilon_ms: float = 0.0  # prefill attention per token pair (the vllm model's ε)
    kv_bytes_per_token: float = 0.0
    reserve_gib: float = 0.0
    document: dict = field(repr=False, compare=False, default_factory=dict)  # the camelCase document

    @classmethod
    def from_dict(cls, accelerator: str, d: dict) -> "Estimate":
        return cls(accelerator, d["alpha"], d["beta"], d["gamma"], d["nMax"], d["nMem"], d["kvCapacityTokens"],
                   d["ctxTokens"], d["maxModelLen"], d["feasible"], d["reason"], d["kneeBatch"], d["itl1"], d["bound"],
                   d["intensityFlopPerByte"], d["tflops"], d["bwGBps"], d["memGiB"], d["weightsGB"], d["kvBudgetGiB"],
                   d.get("epsilon", 0.0), d.get("kvBytesPerToken", 0.0), d.get("reserveGiB", 0.0), d)

    @property
    def raw(self) -> dict:
        """Deprecated alias of ``document``; removed in the next release."""
        warnings.warn("Estimate.raw is deprecated: use .document, or the fields and .to_dict()", DeprecationWarning, stacklevel=2)
        return self.document

    def to_dict(self) -> dict:
        """JSON-ready: every field (snake_case, units in the names) but the document."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "document"}

    def __repr__(self) -> str:
        if not self.feasible:
            return f"Estimate({self.accelerator}: infeasible, {self.reason})"
        return (f"Estimate({self.accelerator}: alpha {self.alpha_ms:.4g} ms, beta {self.beta_ms:.4g} ms/token, "
                f"gamma {self.gamma_ms:.4g} ms/token^2, n_max {self.n_max}, {self.bound}-bound)")


def _token_counts(in_tokens: float, out_tokens: float, old: Mapping[str, Any], where: str) -> tuple[float, float]:
    """in_tokens, out_tokens, taking the deprecated n=/m= (n and m name the batch elsewhere)."""
    unknown = set(old) - {"n", "m"}
    if unknown:
        raise TypeError(f"{where}() got an unexpected keyword argument {sorted(unknown)[0]!r}")
    if old:
        warnings.warn(f"{where}(n=, m=) is deprecated: use in_tokens= and out_tokens=", DeprecationWarning, stacklevel=3)
    return float(old.get("n", in_tokens)), float(old.get("m", out_tokens))


def derive(model: Union[str, ModelArch, Mapping[str, Any]], accelerator: str, catalog: Catalog | None = None, *,
           in_tokens: float = 1024, out_tokens: float = 128, serving: Mapping[str, Any] | None = None,
           efficiency: Mapping[str, Any] | None = None, at_tokens: int = 0, **deprecated: Any) -> Estimate:
    """α, β, γ and the memory-feasible batch of ``model`` on ``accelerator`` ("GPU" or "GPU:profile")
    for requests of ``in_tokens`` prompt and ``out_tokens`` output tokens (means).

    ``serving`` holds vLLM options (gpuMemoryUtilization, maxModelLen, maxNumSeqs, dtype,
    kvCacheDtype, ...); ``efficiency`` the roofline factors (etaBw, etaFlops, t0Ms, reserveGiB, ...).
    """
    n, m = _token_counts(in_tokens, out_tokens, deprecated, "derive")
    cat = catalog or _builtin_catalog()
    arch = resolve_model(model)
    d = _S.derive(arch._a, cat._c, accelerator, _document(serving, "serving"), _document(efficiency, "efficiency"),
                  n, m, int(at_tokens))
    return Estimate.from_dict(accelerator, d)


def derive_all(model: Union[str, ModelArch, Mapping[str, Any]], catalog: Catalog | None = None, *,
               gpus: Iterable[str] | None = None, include_slices: bool = True, in_tokens: float = 1024,
               out_tokens: float = 128, serving: Mapping[str, Any] | None = None,
               efficiency: Mapping[str, Any] | None = None, **deprecated: Any) -> pd.DataFrame:
    """One row per candidate accelerator (whole GPUs and their slices) with the roofline estimate."""
    n, m = _token_counts(in_tokens, out_tokens, deprecated, "derive_all")
    cat = catalog or _builtin_catalog()
    arch = resolve_model(model)
    rows = []
    for acc in cat.candidates(gpus, include_slices):
        e = derive(arch, acc, cat, in_tokens=n, out_tokens=m, serving=serving, efficiency=efficiency)
        rows.append(e.to_dict())
    return pd.DataFrame(rows).set_index("accelerator")


def _snake_keys(value: Any, names: Mapping[str, str]) -> Any:
    if isinstance(value, dict):
        return {names.get(k, k): _snake_keys(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_snake_keys(v, names) for v in value]
    return value


@dataclass(repr=False)
class Calibration:
    """A calibration fit: ``accepted``, ``reason``, the fitted θ (theta mode) or efficiency
    (family mode), ``kappa``, ``rel_rms`` and the per-row residuals."""
    handle: Any = field(repr=False)
    model: str = ""

    @property
    def accepted(self) -> bool:
        return bool(self.handle.accepted)

    @property
    def reason(self) -> str:
        return self.handle.reason

    @property
    def document(self) -> dict:
        """The calibration document (camelCase, as ``inferno size calibrate --format json`` writes it)."""
        result: dict = self.handle.to_dict()
        return result

    def to_dict(self) -> dict:
        """JSON-ready, snake_case: accepted, reason, mode, gpus, kappa, rel_rms, what was fitted
        (``perf_parms`` in theta mode, ``efficiency`` in family mode, keyed as in the request) and
        the rows (``rel_error``)."""
        names = {"relRms": "rel_rms", "relError": "rel_error", "perfParms": "perf_parms"}
        return {"model": self.model, **{names.get(k, k): (_snake_keys(v, names) if k == "rows" else v)
                                        for k, v in self.document.items()}}

    def __repr__(self) -> str:
        d = self.document
        verdict = "accepted" if d["accepted"] else f"not accepted: {d['reason']}"
        return f"Calibration({self.model}, {d['mode']} mode, {len(d['rows'])} rows, rel. RMS {d['relRms']:.3g}, {verdict})"

    @property
    def rows(self) -> pd.DataFrame:
        """One row per measured point (empty, with the same columns, when nothing was fitted)."""
        return pd.DataFrame(self.to_dict()["rows"], columns=["point", "measured", "metric", "predicted", "rel_error"])

    def theta(self, accelerator: str, catalog: Catalog | None = None, *, arch: ModelArch | None = None,
              in_tokens: float = 1024, out_tokens: float = 128, serving: Mapping[str, Any] | None = None,
              **deprecated: Any) -> tuple[float, float, float]:
        """(α, β, γ) of ``accelerator`` under this calibration."""
        n, m = _token_counts(in_tokens, out_tokens, deprecated, "theta")
        cat = catalog or _builtin_catalog()
        a = arch or resolve_model(self.model)
        alpha, beta, gamma = _S.calibrated_theta(self.handle, a._a, cat._c, accelerator, _document(serving, "serving"), n, m)
        return alpha, beta, gamma

    def tuner_seed(self, accelerator: str, catalog: Catalog | None = None, **kwargs: Any) -> dict:
        """Options for ``inferno.Tuner`` (init_state, bounds, percent_change) seeded from this fit."""
        return tuner_seed(self.theta(accelerator, catalog, **kwargs), self.document["relRms"])


def calibrate(model: Union[str, ModelArch, Mapping[str, Any]], points: JsonLike, catalog: Catalog | None = None, *,
              mode: str = "family", serving: Mapping[str, Any] | None = None,
              efficiency: Mapping[str, Any] | None = None, kappa_max: float = 1000.0, max_rel_rms: float = 0.15,
              pin_gamma: bool = False) -> Calibration:
    """Fit closed-loop profiling points (``{"points": [...]}`` or a list) by non-negative least squares.

    ``mode="theta"``: α, β, γ of one accelerator. ``mode="family"``: t0, η_B, η_F shared by every
    slice of the GPU types measured (the default for MIG)."""
    cat = catalog or _builtin_catalog()
    arch = resolve_model(model)
    if isinstance(points, list):
        points = {"points": points}
    handle = _S.calibrate(arch._a, cat._c, _document(points, "points"), mode, _document(serving, "serving"),
                          _document(efficiency, "efficiency"), float(kappa_max), float(max_rel_rms), bool(pin_gamma))
    return Calibration(handle, arch.name)


def tuner_seed(theta: Sequence[float], rel_rms: float) -> dict:
    result: dict = _S.tuner_seed(list(theta), float(rel_rms))
    return result


def efficiency_from_theta(model: Union[str, ModelArch], accelerator: str, theta: Sequence[float],
                          catalog: Catalog | None = None, *, current: Mapping[str, Any] | None = None,
                          weight: float = 0.2) -> dict:
    """The efficiency a converged tuner estimate implies, blended into ``current`` (EWMA)."""
    cat = catalog or _builtin_catalog()
    result: dict = _S.efficiency_from_theta(resolve_model(model)._a, cat._c, accelerator, list(theta),
                                            _document(current, "current"), None, float(weight))
    return result


def _registry_handles(registry: Mapping[str, ModelArch] | None) -> dict:
    reg = registry if registry is not None else _builtin_models()
    return {name: arch._a for name, arch in reg.items()}


def _calibration_handles(calibrations: Iterable[Calibration] | None) -> dict:
    out: dict[str, list] = {}
    for c in calibrations or []:
        out.setdefault(c.model, []).append(c.handle)
    return out


def _missing_as_nan(value: float | None) -> float:
    return float("nan") if value is None else value


# Python names of the recommendation document's keys (snake_case, units in the names); keys not
# listed keep their name. The document itself (``Recommendation.document``, the CLI's JSON) keeps
# the camelCase of the other input and output documents.
_OPTION_NAMES = {"alpha": "alpha_ms", "beta": "beta_ms", "gamma": "gamma_ms", "nMax": "n_max",
                 "kvCapacityTokens": "kv_capacity_tokens", "ratePerReplica": "rate_per_replica_rps", "itl": "itl_ms",
                 "ttft": "ttft_ms", "itlAtPercentile": "itl_at_percentile_ms", "ttftAtPercentile": "ttft_at_percentile_ms",
                 "costPerReplica": "cost_per_replica_per_hour", "cost": "cost_per_hour", "memSlices": "mem_slices"}


@dataclass(frozen=True)
class SizingOption:
    """One accelerator evaluated for one server: its roofline parameters, the batch and replicas
    that meet the SLOs, the predicted latencies (None when nothing was predicted) and the cost."""
    server: str
    accelerator: str
    gpu: str
    profile: str  # "" for a whole GPU
    feasible: bool
    reason: str  # why not, when not feasible
    calibrated: bool
    alpha_ms: float
    beta_ms: float
    gamma_ms: float
    n_max: int
    kv_capacity_tokens: float
    batch: int
    replicas: int
    rate_per_replica_rps: float
    itl_ms: float | None
    ttft_ms: float | None
    itl_at_percentile_ms: float | None  # the SLO's percentile, when it asks for one
    ttft_at_percentile_ms: float | None
    cost_per_replica_per_hour: float
    cost_per_hour: float
    units: int  # compute-slice units of one replica
    mem_slices: int
    gpus: float  # GPUs the option takes at least: the larger of its compute and memory shares

    @classmethod
    def from_document(cls, server: str, doc: Mapping[str, Any]) -> "SizingOption":
        return cls(server=server, **{_OPTION_NAMES.get(k, k): v for k, v in doc.items()})

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def __repr__(self) -> str:
        what = f"{self.replicas} x {self.accelerator}" if self.feasible else f"{self.accelerator}: {self.reason}"
        return f"SizingOption({self.server}: {what}, {self.cost_per_hour:.4g}/h)"


@dataclass(frozen=True)
class ServerRecommendation:
    """The choice for one server and every option evaluated for it."""
    server: str
    choice: str | None  # accelerator name; None when nothing can serve it
    slo_unattainable: bool  # closed loop: nothing met the SLOs, a whole GPU the model fits is returned
    unallocated: bool
    options: tuple[SizingOption, ...]

    @property
    def chosen(self) -> SizingOption | None:
        return next((o for o in self.options if o.accelerator == self.choice), None)

    def to_dict(self) -> dict:
        return {"server": self.server, "choice": self.choice, "slo_unattainable": self.slo_unattainable,
                "unallocated": self.unallocated, "options": [o.to_dict() for o in self.options]}


@dataclass(frozen=True)
class CapacityUse:
    """GPUs of one owned type that the choices together need at least, against those owned."""
    gpu: str
    needed_gpus: float
    owned_gpus: int
    short: bool


_CHOICE_COLUMNS = ["choice", "slo_unattainable", "unallocated", "replicas", "itl_ms", "ttft_ms", "itl_at_percentile_ms",
                   "ttft_at_percentile_ms", "cost_per_hour"]


@dataclass(frozen=True, repr=False)
class Recommendation:
    """The chosen accelerator per server and every evaluated option (the explanation table).

    ``servers``: one ``ServerRecommendation`` each; ``capacity_use``: per owned GPU type.
    ``choices``, ``options`` and ``capacity`` are the same as tables; ``to_dict()`` is JSON-ready
    (snake_case, units in the names); ``document`` is the recommendation document the CLI writes
    (camelCase, docs/sizing.md §5)."""
    servers: tuple[ServerRecommendation, ...]
    capacity_use: tuple[CapacityUse, ...]
    document: dict = field(compare=False)

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> "Recommendation":
        servers = tuple(ServerRecommendation(s["server"], s["choice"] or None, s["sloUnattainable"], s["unallocated"],
                                             tuple(SizingOption.from_document(s["server"], o) for o in s["options"]))
                        for s in doc["servers"])
        capacity = tuple(CapacityUse(gpu, u["neededGpus"], u["ownedGpus"], u["short"])
                         for gpu, u in doc.get("capacity", {}).items())
        return cls(servers, capacity, dict(doc))

    @property
    def raw(self) -> dict:
        """Deprecated alias of ``document`` (the camelCase document); removed in the next release."""
        warnings.warn("Recommendation.raw is deprecated: use .document (the camelCase document), or the typed "
                      ".servers, .to_dict() and the tables", DeprecationWarning, stacklevel=2)
        return self.document

    def to_dict(self) -> dict:
        return {"servers": [s.to_dict() for s in self.servers],
                "capacity": [dataclasses.asdict(c) for c in self.capacity_use]}

    def __repr__(self) -> str:
        parts = [f"{s.server}: {s.chosen.replicas} x {s.choice}" if s.chosen else f"{s.server}: none" for s in self.servers]
        return f"Recommendation({'; '.join(parts)})"

    @property
    def choices(self) -> pd.DataFrame:
        """One row per server: the choice, its replicas, predicted latencies and cost per hour."""
        rows = []
        for s in self.servers:
            o = s.chosen
            rows.append({"server": s.server, "choice": s.choice, "slo_unattainable": s.slo_unattainable,
                         "unallocated": s.unallocated, "replicas": o.replicas if o else 0,
                         **{c: _missing_as_nan(getattr(o, c) if o else None) for c in _CHOICE_COLUMNS[4:]}})
        return pd.DataFrame(rows, columns=["server", *_CHOICE_COLUMNS]).set_index("server")

    @property
    def capacity(self) -> pd.DataFrame:
        """Per GPU type with a capacity in the request: the GPUs the choices need at least
        (``needed_gpus``: the larger of their summed compute and memory shares; packing may need
        more), the GPUs owned, and whether that is short."""
        rows = [dataclasses.asdict(c) for c in self.capacity_use]
        return pd.DataFrame(rows, columns=["gpu", "needed_gpus", "owned_gpus", "short"]).set_index("gpu")

    @property
    def options(self) -> pd.DataFrame:
        """Every evaluated option, indexed by (server, accelerator); NaN where nothing was predicted."""
        rows = [{**o.to_dict(), "chosen": o.accelerator == s.choice} for s in self.servers for o in s.options]
        columns = [f.name for f in dataclasses.fields(SizingOption)] + ["chosen"]
        frame = pd.DataFrame(rows, columns=columns)
        for c in ("itl_ms", "ttft_ms", "itl_at_percentile_ms", "ttft_at_percentile_ms"):
            frame[c] = frame[c].astype(float)  # None -> NaN
        return frame.set_index(["server", "accelerator"])


def recommend(request: JsonLike, catalog: Catalog | None = None, registry: Mapping[str, ModelArch] | None = None,
              calibrations: Iterable[Calibration] | None = None) -> Recommendation:
    """Cheapest accelerator meeting each server's SLOs (docs/sizing.md §5). ``request`` is the
    recommendation document (dict, JSON text or path); its "models" may add architectures."""
    cat = catalog or _builtin_catalog()
    doc = _S.recommend(_document(request, "request"), cat._c, _registry_handles(registry),
                       _calibration_handles(calibrations))
    return Recommendation.from_document(doc)


OPTIMIZER_FILES = {"accelerators": "accelerator-data.json", "count": "capacity-data.json", "models": "model-data.json",
                   "serviceClasses": "serviceclass-data.json", "servers": "server-data.json",
                   "optimizer": "optimizer-data.json"}


def emit_optimizer_data(request: JsonLike, catalog: Catalog | None = None,
                        registry: Mapping[str, ModelArch] | None = None,
                        calibrations: Iterable[Calibration] | None = None) -> dict:
    """Accelerator, capacity, model, service-class, server and options documents for ``inferno
    optimize``, with MIG slices as accelerators of their GPU type (docs/sizing.md §8)."""
    cat = catalog or _builtin_catalog()
    result: dict = _S.emit_optimizer_data(_document(request, "request"), cat._c, _registry_handles(registry),
                                          _calibration_handles(calibrations))
    return result


def write_optimizer_dir(data: Mapping[str, Any], directory: Union[str, Path]) -> list[Path]:
    """Writes the documents of :func:`emit_optimizer_data` as the optimizer's data files."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for key, name in OPTIMIZER_FILES.items():
        path = out / name
        path.write_text(json.dumps({key: data[key]}, indent=2) + "\n")
        written.append(path)
    return written


_PACKING_NAMES = {"gpusUsed": "gpus_used", "lowerBound": "lower_bound", "computeUtilization": "compute_utilization",
                  "memoryUtilization": "memory_utilization", "freeComputeSlices": "free_compute_slices",
                  "strandedComputeSlices": "stranded_compute_slices", "freeCompute": "free_compute_slices",
                  "freeMemory": "free_memory_slices", "largestPlaceable": "largest_placeable"}


@dataclass(frozen=True, repr=False)
class Packing:
    """Slices placed on GPUs: per-GPU layouts and fragmentation metrics."""
    gpu: str
    document: dict = field(compare=False)  # the camelCase document (``inferno size pack --format json``)

    @property
    def raw(self) -> dict:
        """Deprecated alias of ``document``; removed in the next release."""
        warnings.warn("Packing.raw is deprecated: use .document, or the properties and .to_dict()", DeprecationWarning,
                      stacklevel=2)
        return self.document

    def to_dict(self) -> dict:
        """JSON-ready, snake_case (``gpus_used``, ``lower_bound``, ``compute_utilization``, per-GPU ``slices``, ...)."""
        return {"gpu": self.gpu, **_snake_keys(self.document, _PACKING_NAMES)}

    gpus_used = property(lambda self: self.document["gpusUsed"], doc="GPUs the plan uses")
    lower_bound = property(lambda self: self.document["lowerBound"], doc="no plan uses fewer GPUs")
    optimal = property(lambda self: self.document["optimal"], doc="gpus_used is proven minimal")
    method = property(lambda self: self.document["method"])
    compute_utilization = property(lambda self: self.document["computeUtilization"])
    memory_utilization = property(lambda self: self.document["memoryUtilization"])
    free_compute_slices = property(lambda self: self.document["freeComputeSlices"])
    stranded_compute_slices = property(lambda self: self.document["strandedComputeSlices"])

    def __repr__(self) -> str:
        return (f"Packing({self.gpu}: {self.gpus_used} GPUs, lower bound {self.lower_bound}"
                f"{', optimal' if self.optimal else ''}, compute {self.compute_utilization:.0%} used)")

    @property
    def layout(self) -> pd.DataFrame:
        rows = [{"gpu": i, **s} for i, g in enumerate(self.document["gpus"]) for s in g["slices"]]
        return pd.DataFrame(rows, columns=["gpu", "profile", "start", "size", "g", "owner"])

    def mig_parted(self, config_name: str = "inferno-plan") -> str:
        """The plan as an NVIDIA mig-parted configuration (counts per device, largest first)."""
        lines = ["version: v1", "mig-configs:", f"  {config_name}:"]
        for i, g in enumerate(self.document["gpus"]):
            counts: dict[str, int] = {}
            for s in sorted(g["slices"], key=lambda s: (-s["size"], -s["g"], s["start"])):
                counts[s["profile"]] = counts.get(s["profile"], 0) + 1
            lines.append(f"    - devices: [{i}]")
            lines.append(f"      mig-enabled: {'true' if counts else 'false'}")
            if counts:
                lines.append("      mig-devices: {" + ", ".join(f'"{k}": {v}' for k, v in counts.items()) + "}")
        return "\n".join(lines) + "\n"

    def plot(self, ax: Any = None, memory_slices: int | None = None) -> Any:
        """Draws each GPU as a row of memory slices with its instances as labelled boxes."""
        import matplotlib.pyplot as plt

        gpus = self.document["gpus"]
        S = memory_slices or max([s["start"] + s["size"] for g in gpus for s in g["slices"]] + [8])
        if ax is None:
            _, ax = plt.subplots(figsize=(8, 0.5 + 0.6 * max(1, len(gpus))))
        colors = plt.get_cmap("tab10")
        for row, g in enumerate(gpus):
            ax.add_patch(plt.Rectangle((0, row + 0.1), S, 0.8, fill=False, edgecolor="0.6"))
            for s in g["slices"]:
                c = colors((s["g"] - 1) % 10)
                ax.add_patch(plt.Rectangle((s["start"], row + 0.1), s["size"], 0.8, facecolor=c, alpha=0.6, edgecolor="k"))
                label = s["profile"] + (f"\n{s['owner']}" if s["owner"] else "")
                ax.text(s["start"] + s["size"] / 2, row + 0.5, label, ha="center", va="center", fontsize=8)
        ax.set_xlim(0, S)
        ax.set_ylim(len(gpus), 0)
        ax.set_yticks([i + 0.5 for i in range(len(gpus))], [f"GPU {i}" for i in range(len(gpus))])
        ax.set_xlabel("memory slice")
        ax.set_title(f"{self.gpu}: {self.document['gpusUsed']} GPUs (lower bound {self.document['lowerBound']}), "
                     f"compute {self.document['computeUtilization']:.0%} used")
        return ax


def pack(gpu: str, demand: Union[str, Mapping[str, int], Sequence[Mapping[str, Any]]], catalog: Catalog | None = None, *,
         existing: JsonLike | None = None, allow_repartition: bool = False, exact: bool = True,
         node_budget: int = 2_000_000) -> Packing:
    """Packs slices of one GPU type onto as few GPUs as possible. ``demand``: "3g.40gb=3,1g.10gb=5",
    a {profile: count} dict, or [{"profile", "count", "owner"}]; ``existing``: current layouts."""
    cat = catalog or _builtin_catalog()
    # "3g.40gb=3,..." is the compact form the core reads; JSON text is parsed into a document first.
    compact = isinstance(demand, str) and not demand.lstrip().startswith(("{", "["))
    doc = _S.pack(cat._c, gpu, demand if compact else _document(demand, "demand"), _document(existing, "existing"),
                  bool(allow_repartition), bool(exact), int(node_budget))
    return Packing(gpu, doc)


def discover(gpu: str, lgip: str, lgipp: str, family: str | None = None, catalog: Catalog | None = None) -> dict:
    """A catalog override from saved ``nvidia-smi mig -lgip`` and ``-lgipp`` output for ``gpu``."""
    cat = catalog or _builtin_catalog()
    try:  # the GPU's current geometry gives the slice counts; 7 + 8 (every MIG family but A30) otherwise
        g = cat.geometry(gpu)
        compute, memory = g["computeSlices"], g["memorySlices"]
    except ValueError:
        compute, memory = 7, 8
    fam = family or f"{gpu}-discovered"
    geo = _S.parse_nvidia_smi(lgip, lgipp, fam, compute, memory)
    return {"gpus": [{"id": gpu, "migFamily": fam}], "migFamilies": {fam: geo}}
