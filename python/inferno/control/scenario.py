"""Closed-loop scenarios: a fleet, a workload per server, the truth, faults and the policies to
compare, read from YAML and checked key by key (docs/control.md, "Scenarios")."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._lazy import np, pd

from .._text import excerpt as _excerpt
from .planning import PlanningSettings
from .policies import POLICIES
from .prediction import PredictionSettings
from .stabilizer import StabilizerSettings
from .tuning import TuningSettings

WORKLOAD_KINDS = ("trace", "diurnal", "step", "onoff", "constant")
_WORKLOAD_KEYS = {
    "trace": {"kind", "path", "shift_s", "rate_scale"},
    "diurnal": {"kind", "peak_to_trough", "period_s", "phase_s", "rate_scale"},
    "step": {"kind", "factor", "at_s", "ramp_s", "rate_scale"},
    "onoff": {"kind", "on_s", "off_s", "off_factor", "rate_scale"},
    "constant": {"kind", "rate_scale"},
}
_TOP_KEYS = ("fleet", "servers", "duration_s", "period_s", "seed", "startup_delay_s", "workload", "per_server", "truth",
             "faults", "policies", "prediction", "stabilizer", "planning", "tuning")
_FAULT_KEYS = {"sensor_outage": {"kind", "start_s", "end_s"},
               "actuator_errors": {"kind", "start_s", "end_s", "servers"},
               "capacity": {"kind", "at_s", "type", "count"},
               "stale_pods": {"kind", "start_s", "end_s", "servers"},
               "missing_demand": {"kind", "start_s", "end_s", "servers"},
               "server_added": {"kind", "at_s", "server", "prior"},
               "server_removed": {"kind", "at_s", "server"}}


class ScenarioError(ValueError):
    """A scenario that cannot run: the message names the key, row or column and what is allowed."""


@dataclass(frozen=True)
class Workload:
    """A server's load: a rate profile (req/s at time t) scaled to its documented rate, or a
    trace compressed in time to that rate and shifted."""

    kind: str
    rate_scale: float = 1.0
    path: str | None = None
    shift_s: float = 0.0
    peak_to_trough: float = 6.0
    period_s: float = 86400.0
    phase_s: float = 0.0
    factor: float = 5.0
    at_s: float = 0.0
    ramp_s: float = 60.0
    on_s: float = 600.0
    off_s: float = 600.0
    off_factor: float = 0.2

    def shape(self, t: np.ndarray) -> np.ndarray:
        """The rate relative to the documented one at times t (s), for the synthetic kinds."""
        if self.kind == "diurnal":  # a sinusoid whose peak is peak_to_trough x its trough, mean 1
            a = (self.peak_to_trough - 1) / (self.peak_to_trough + 1)
            return 1 + a * np.sin(2 * math.pi * (t + self.phase_s) / self.period_s - math.pi / 2)
        if self.kind == "step":  # a flash crowd: x factor from at_s, reached over ramp_s
            ramp = np.clip((t - self.at_s) / max(self.ramp_s, 1e-9), 0, 1)
            return 1 + (self.factor - 1) * ramp
        if self.kind == "onoff":
            cycle = np.mod(t, self.on_s + self.off_s)
            return np.where(cycle < self.on_s, 1.0, self.off_factor)
        return np.ones_like(t, dtype=float)


@dataclass(frozen=True)
class Scenario:
    fleet: Path
    duration_s: float = 3600.0
    period_s: float = 60.0
    seed: int = 1
    startup_delay_s: float = 60.0
    servers: tuple[str, ...] | None = None
    workload: Workload = field(default_factory=lambda: Workload("constant"))
    per_server: dict[str, Workload] = field(default_factory=dict)
    per_server_startup_s: dict[str, float] = field(default_factory=dict)
    truth: dict[str, float] = field(default_factory=lambda: {"alpha": 1.0, "beta": 1.0, "gamma": 1.0})
    sensor_outages: tuple[tuple[float, float], ...] = ()
    actuator_errors: tuple[tuple[float, float, tuple[str, ...] | None], ...] = ()
    capacity_changes: tuple[tuple[float, str, int], ...] = ()  # (at_s, card type, cards from then on)
    sensor_faults: tuple[tuple[str, float, float, tuple[str, ...] | None], ...] = ()  # stale_pods, missing_demand
    # (at_s, "server_added" or "server_removed", server, prior or None); prior: {architecture, gpus}
    server_changes: tuple[tuple[float, str, str, dict[str, Any] | None], ...] = ()
    policies: tuple[str, ...] = POLICIES
    prediction: PredictionSettings = field(default_factory=PredictionSettings)
    stabilizer: StabilizerSettings = field(default_factory=StabilizerSettings)
    planning: PlanningSettings = field(default_factory=PlanningSettings)
    tuning: TuningSettings = field(default_factory=lambda: TuningSettings(enabled=False))
    base_dir: Path = field(default_factory=Path.cwd)

    def workload_of(self, server: str) -> Workload:
        return self.per_server.get(server, self.workload)

    def startup_of(self, server: str) -> float:
        return self.per_server_startup_s.get(server, self.startup_delay_s)


def _number(doc: dict, key: str, where: str, low: float, high: float, default: float | None = None,
            open_low: bool = False) -> float:
    value = doc.get(key, default)
    if value is None:
        raise ScenarioError(f"{where}{key} is required")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or \
            value < low or value > high or (open_low and value == low):
        raise ScenarioError(f"{where}{key} must be a number in {'(' if open_low else '['}{low:g}, {high:g}], "
                            f"got {_excerpt(value)}")
    return float(value)


def _keys(doc: Any, allowed: set[str] | tuple[str, ...], where: str) -> dict:
    if not isinstance(doc, dict):
        raise ScenarioError(f"{where or 'scenario'}: expected a mapping, got {_excerpt(doc)}")
    for key in doc:
        if key not in allowed:
            raise ScenarioError(f"{where}unknown key {_excerpt(key)}; allowed: {', '.join(sorted(allowed))}")
    return doc


def _workload(doc: Any, where: str) -> Workload:
    doc = _keys(doc, set().union(*_WORKLOAD_KEYS.values()), where)
    kind = doc.get("kind")
    if kind not in WORKLOAD_KINDS:
        raise ScenarioError(f"{where}kind must be one of {', '.join(WORKLOAD_KINDS)}, got {_excerpt(kind)}")
    _keys(doc, _WORKLOAD_KEYS[kind], where)
    w: dict[str, Any] = {"kind": kind, "rate_scale": _number(doc, "rate_scale", where, 0, 1e6, 1.0)}
    if kind == "trace":
        if not isinstance(doc.get("path"), str):
            raise ScenarioError(f"{where}path (a CSV file with t_s,in_tokens,out_tokens) is required for a trace")
        w.update(path=doc["path"], shift_s=_number(doc, "shift_s", where, 0, 1e8, 0.0))
    elif kind == "diurnal":
        w.update(peak_to_trough=_number(doc, "peak_to_trough", where, 1, 1e4, 6.0),
                 period_s=_number(doc, "period_s", where, 0, 1e8, 86400.0, open_low=True),
                 phase_s=_number(doc, "phase_s", where, 0, 1e8, 0.0))
    elif kind == "step":
        w.update(factor=_number(doc, "factor", where, 0, 1e4, 5.0), at_s=_number(doc, "at_s", where, 0, 1e8, 0.0),
                 ramp_s=_number(doc, "ramp_s", where, 0, 1e8, 60.0))
    elif kind == "onoff":
        w.update(on_s=_number(doc, "on_s", where, 0, 1e8, 600.0, open_low=True),
                 off_s=_number(doc, "off_s", where, 0, 1e8, 600.0, open_low=True),
                 off_factor=_number(doc, "off_factor", where, 0, 1e4, 0.2))
    return Workload(**w)


def _settings(cls: Any, doc: Any, where: str) -> Any:
    if doc is None:
        return cls()
    names = set(cls.__dataclass_fields__)
    _keys(doc, names, where)
    try:
        return cls(**doc)
    except (TypeError, ValueError) as error:
        raise ScenarioError(f"{where}{error}") from None


def read_yaml(source: str | os.PathLike[str] | dict, base_dir: str | os.PathLike[str] | None, what: str,
              error: type[ValueError] = ScenarioError) -> tuple[Any, Path]:
    """A YAML document and the folder its relative paths start from: the file's, or ``base_dir``
    (default the working directory) for a mapping given as is."""
    if isinstance(source, dict):
        return source, Path(base_dir or Path.cwd())
    import yaml
    path = Path(source)
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")), path.parent
    except FileNotFoundError:
        raise error(f"no such {what} file {_excerpt(str(path))}") from None
    except yaml.YAMLError as problem:
        raise error(f"{path}: malformed YAML: {problem}") from None


def documents_path(doc: dict, key: str, base: Path) -> Path:
    """The optimizer's documents named by ``key``: a directory or one system-data.json that exists."""
    if not isinstance(doc.get(key), str):
        raise ScenarioError(f"{key} (a directory of the optimizer's documents, or a system-data.json) is required")
    path = (base / doc[key]).resolve()
    if not path.exists():
        raise ScenarioError(f"{key}: no such directory or file {_excerpt(str(path))}")
    return path


def load_scenario(source: str | os.PathLike[str] | dict) -> Scenario:
    """A scenario from a YAML file (paths in it are relative to the file) or a mapping."""
    doc, base = read_yaml(source, None, "scenario")
    _keys(doc, _TOP_KEYS, "")
    out: dict[str, Any] = {"fleet": documents_path(doc, "fleet", base), "base_dir": base}
    out["duration_s"] = _number(doc, "duration_s", "", 0, 1e7, 3600.0, open_low=True)
    out["period_s"] = _number(doc, "period_s", "", 0, 86400, 60.0, open_low=True)
    seed = doc.get("seed", 1)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ScenarioError(f"seed must be an integer >= 0, got {_excerpt(seed)}")
    out["seed"] = seed
    startup = doc.get("startup_delay_s", 60.0)
    if isinstance(startup, dict):
        _keys(startup, {"default", "per_server"}, "startup_delay_s.")
        out["startup_delay_s"] = _number(startup, "default", "startup_delay_s.", 0, 86400, 60.0)
        per = _keys(startup.get("per_server", {}), set(startup.get("per_server", {})), "startup_delay_s.per_server.")
        out["per_server_startup_s"] = {str(k): _number(per, k, "startup_delay_s.per_server.", 0, 86400) for k in per}
    else:
        out["startup_delay_s"] = _number(doc, "startup_delay_s", "", 0, 86400, 60.0)
    if "servers" in doc:
        if not isinstance(doc["servers"], list) or not all(isinstance(s, str) for s in doc["servers"]) or not doc["servers"]:
            raise ScenarioError("servers must be a non-empty list of server names")
        out["servers"] = tuple(doc["servers"])
    out["workload"] = _workload(doc.get("workload", {"kind": "constant"}), "workload.")
    per_server = doc.get("per_server", {}) or {}
    _keys(per_server, set(per_server), "per_server.")
    out["per_server"] = {str(k): _workload(v, f"per_server.{k}.") for k, v in per_server.items()}
    truth = _keys(doc.get("truth", {}) or {}, {"alpha", "beta", "gamma"}, "truth.")
    out["truth"] = {k: _number(truth, k, "truth.", 0, 100, 1.0, open_low=True) for k in ("alpha", "beta", "gamma")}
    outages, errors, capacity, sensor_faults, server_changes = [], [], [], [], []
    faults = doc.get("faults", []) or []
    if not isinstance(faults, list):
        raise ScenarioError("faults must be a list")
    for i, f in enumerate(faults):
        where = f"faults[{i}]."
        kind = f.get("kind") if isinstance(f, dict) else None
        if kind not in _FAULT_KEYS:
            raise ScenarioError(f"{where}kind must be one of {', '.join(_FAULT_KEYS)}, got {_excerpt(kind)}")
        _keys(f, _FAULT_KEYS[kind], where)
        if kind == "capacity":
            count = f.get("count")
            if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= 10**7:
                raise ScenarioError(f"{where}count must be an integer in [0, 10000000], got {_excerpt(count)}")
            if not isinstance(f.get("type"), str):
                raise ScenarioError(f"{where}type (a card type of the fleet's capacity) is required")
            capacity.append((_number(f, "at_s", where, 0, 1e8), f["type"], count))
            continue
        if kind in ("server_added", "server_removed"):
            if not isinstance(f.get("server"), str):
                raise ScenarioError(f"{where}server (the name of one of the fleet's servers) is required")
            server_changes.append((_number(f, "at_s", where, 0, 1e8), kind, f["server"], _prior(f.get("prior"), where)))
            continue
        start, end = _number(f, "start_s", where, 0, 1e8), _number(f, "end_s", where, 0, 1e8)
        if end <= start:
            raise ScenarioError(f"{where}end_s must be after start_s, got {end:g} <= {start:g}")
        if kind == "sensor_outage":
            outages.append((start, end))
            continue
        names = f.get("servers")
        if names is not None and (not isinstance(names, list) or not all(isinstance(n, str) for n in names)):
            raise ScenarioError(f"{where}servers must be a list of server names, got {_excerpt(names)}")
        servers = None if names is None else tuple(names)
        if kind == "actuator_errors":
            errors.append((start, end, servers))
        else:
            sensor_faults.append((kind, start, end, servers))
    out["sensor_outages"], out["actuator_errors"] = tuple(outages), tuple(errors)
    out["sensor_faults"] = tuple(sensor_faults)
    seen: dict[tuple[str, str], float] = {}
    for at_s, kind, server, _ in server_changes:
        if (kind, server) in seen:
            raise ScenarioError(f"faults: {server!r} is {kind.split('_')[1]} twice")
        seen[(kind, server)] = at_s
    for (kind, server), at_s in seen.items():
        if kind == "server_removed" and seen.get(("server_added", server), -1.0) >= at_s:
            raise ScenarioError(f"faults: {server!r} is removed at {at_s:g} s, before it is added")
    out["server_changes"] = tuple(sorted(server_changes, key=lambda c: (c[0], c[1], c[2])))
    out["capacity_changes"] = tuple(sorted(capacity))
    policies = doc.get("policies", list(POLICIES))
    if not isinstance(policies, list) or not policies:
        raise ScenarioError(f"policies must be a non-empty list of {', '.join(POLICIES)}")
    for p in policies:
        if p not in POLICIES:
            raise ScenarioError(f"policies: unknown policy {_excerpt(p)}; allowed: {', '.join(POLICIES)}")
    out["policies"] = tuple(policies)
    out["prediction"] = _settings(PredictionSettings, doc.get("prediction"), "prediction.")
    out["stabilizer"] = _settings(StabilizerSettings, doc.get("stabilizer"), "stabilizer.")
    out["planning"] = _settings(PlanningSettings, doc.get("planning"), "planning.")
    out["tuning"] = _settings(TuningSettings, doc.get("tuning", {"enabled": False}), "tuning.")
    return Scenario(**out)


def _prior(doc: Any, where: str) -> dict[str, Any] | None:
    """An added server's sizing prior: ``{architecture: a model of inferno.sizing.models(),
    gpus: {fleet card type: GPU of the sizing catalog}}``; None when not given."""
    if doc is None:
        return None
    _keys(doc, {"architecture", "gpus"}, f"{where}prior.")
    from .. import sizing
    architecture = doc.get("architecture")
    known = sorted(sizing.models())
    if architecture not in known:
        raise ScenarioError(f"{where}prior.architecture must be one of {', '.join(known)}, got {_excerpt(architecture)}")
    gpus = doc.get("gpus")
    if not isinstance(gpus, dict) or not gpus:
        raise ScenarioError(f"{where}prior.gpus must map the fleet's card types to GPUs of the sizing catalog, "
                            f"got {_excerpt(gpus)}")
    catalog = list(sizing.Catalog.builtin().gpu_ids)
    for card, gpu in gpus.items():
        if gpu not in catalog:
            raise ScenarioError(f"{where}prior.gpus.{card} must be one of {', '.join(catalog)}, got {_excerpt(gpu)}")
    return {"architecture": architecture, "gpus": {str(k): str(v) for k, v in gpus.items()}}


def read_trace(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A request trace (CSV ``t_s,in_tokens,out_tokens``), checked: times finite, >= 0 and
    sorted; tokens finite and >= 0 (outputs >= 1)."""
    try:
        frame = pd.read_csv(path)
    except FileNotFoundError:
        raise ScenarioError(f"no such trace file {_excerpt(str(path))}") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise ScenarioError(f"{path}: malformed CSV: {error}") from None
    columns = ["t_s", "in_tokens", "out_tokens"]
    if list(frame.columns[:3]) != columns:
        raise ScenarioError(f"{path}: the columns must be {','.join(columns)}, got {','.join(map(str, frame.columns))}")
    for col, low in (("t_s", 0), ("in_tokens", 0), ("out_tokens", 1)):
        values = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
        bad = np.flatnonzero(~np.isfinite(values) | (values < low))
        if bad.size:
            row = int(bad[0])
            raise ScenarioError(f"{path}: row {row + 2}, column {col}: must be a finite number >= {low}, got "
                                f"{_excerpt(frame[col].tolist()[row])}")
        frame[col] = values
    order = np.flatnonzero(np.diff(frame["t_s"].to_numpy()) < 0)
    if order.size:
        row = int(order[0]) + 1
        raise ScenarioError(f"{path}: row {row + 2}, column t_s: times must be sorted, got {frame.t_s.iloc[row]:g} after "
                            f"{frame.t_s.iloc[row - 1]:g}")
    if frame.empty:
        raise ScenarioError(f"{path}: the trace has no rows")
    return frame[columns]
