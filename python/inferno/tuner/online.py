"""The online tuner: an extended Kalman filter over (α, β, γ) updated one observation at a time,
its estimate and history (docs/tuner.md §2–§4), and the reference's bare filter."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping
from typing import Any

from .._lazy import pd

from .._core import tuner as _tuner
from .._text import excerpt as _excerpt
from ._common import CONFIGS, PROFILES, IdentifiabilityWarning, _check_choice, _frame, _init_state, _options, perf_parms_of
from .batch import FitResult, _fit_result
from .observations import _observations, to_observation



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


@dataclasses.dataclass(frozen=True, repr=False)
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

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def __repr__(self) -> str:
        return (f"Cycle({self.cycle}: {self.phase}, {len(self.steps)} step(s) {', '.join(self.outcomes) or '-'}"
                f"{', fit' if self.fit else ''}{', stored' if self.stored else ''})")


class Tuner:
    """Tuner of one variant, fed one control cycle at a time (docs/tuner.md §3.1, §3).

    Parameters
    ----------
    config: ``"prefill-decode"`` (α, β, γ from TTFT and ITL; the default), ``"decode"`` (α, β from
        wait and ITL, γ = 0, no prompt tokens) or ``"full"`` (α, β, γ from TTFT, ITL and wait).
    profile: ``"inferno"`` (log parameters, relative R, per-cycle process noise, saturation
        excluded, anchored bounds, lock-out recovery) or ``"reference"`` (the reference's semantics).
    init: a known starting point (sequence or dict of α, β, γ): no cold start.
    init_state: the configuration's initial state, which also seeds the cold-start guess
        (``seed``, its old name, is deprecated: a seed is a random seed elsewhere).
    service_model: the queueing model's service model (``"iteration"``; ``"vllm"`` adds the wait
        for the iteration in progress and tunes its δ and ε too, unless they are ``fixed``).
    fixed: service-model parameters held at a value instead of tuned, e.g. ``{"delta": 0,
        "epsilon": 0}`` with ``service_model="vllm"``.
    **options: any core option (``inferno.tuner.option_names()``), e.g. ``warm_up_cycles=3``,
        ``noise="adaptive"``, ``mode="sliding-window"``, ``gate_probability=0.95``.
    """

    def __init__(self, config: str = "prefill-decode", *, profile: str = "inferno", init: Any = None,
                 init_state: Any = None, seed: Any = None, service_model: str = "iteration", keep_history: bool = True,
                 fixed: Mapping[str, float] | None = None, **options: Any) -> None:
        _check_choice(config, CONFIGS, "tuner configuration")
        _check_choice(profile, PROFILES, "tuner profile")
        if not isinstance(keep_history, bool):
            raise ValueError(f"keep_history must be True or False, got {_excerpt(keep_history)}")
        self._config_name = config
        if fixed is not None and not isinstance(fixed, Mapping):
            raise ValueError(f"fixed must be a mapping of parameter names to values, got {_excerpt(fixed)}")
        held: dict[str, float] = {}
        for key, value in (fixed or {}).items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"fixed: {key!r} must be a finite number >= 0, got {_excerpt(value)}")
            held[str(key)] = float(value)
        self._core = _tuner.VariantTuner(config, profile, _options(config, init, _init_state(init_state, seed, "Tuner"), options,
                                                                        service_model, held), service_model, held)
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


class Filter:
    """The bare parameter filter (no cold start, no warm-up): one EKF step per call."""

    def __init__(self, config: str = "prefill-decode", *, profile: str = "inferno", init_state: Any = None,
                 seed: Any = None, service_model: str = "iteration", **options: Any) -> None:
        _check_choice(config, CONFIGS, "tuner configuration")
        _check_choice(profile, PROFILES, "tuner profile")
        self._core = _tuner.ParameterFilter(config, profile, _options(config, None, _init_state(init_state, seed, "Filter"), options,
                                                                         service_model), service_model)

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
