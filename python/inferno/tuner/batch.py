"""Batch calibration: a joint fit of a whole table of observations, its condition number, and the
model's predictions for given parameters (docs/tuner.md §6)."""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

from .._lazy import np, pd

from .._core import tuner as _tuner
from ._common import (CONFIGS, IdentifiabilityWarning, _check_choice, _frame, _init_state, _options, _params_option,
                      _state_names, perf_parms_of)
from .observations import _observations, to_observation



@dataclasses.dataclass(frozen=True, repr=False)
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

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: every field, the covariance as nested {row: {column: value}}."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["covariance"] = None if self.covariance is None else {
            str(r): {str(c): float(v) for c, v in row.items()} for r, row in self.covariance.iterrows()}
        d["invalid"] = [list(x) for x in self.invalid]
        return d

    def __repr__(self) -> str:
        params = "none" if self.params is None else ", ".join(f"{k} {v:.4g}" for k, v in self.params.items())
        kappa = "n/a" if self.kappa is None else f"{self.kappa:.3g}"
        return (f"FitResult({self.status}: {params}; kappa {kappa}, {self.observations_used} observations, "
                f"{len(self.invalid)} invalid)")


def fit(data: Any, config: str = "prefill-decode", *, start: Any = None, init_state: Any = None, seed: Any = None,
        kappa_max: float = 1000.0, service_model: str = "iteration", warn: bool = True,
        **options: Any) -> FitResult:
    """Fits α, β, γ jointly to every observation of a table (relative squared errors of each
    channel). Warns with :class:`IdentifiabilityWarning` when the operating points cannot
    determine every parameter; the result's status is then ``ill_conditioned``: its parameters
    are still the minimiser (they fit the data), without a covariance, and ``weak_direction``
    names the combination the data cannot pin down (e.g. "beta vs gamma")."""
    _check_choice(config, CONFIGS, "tuner configuration")
    names = _state_names(config, service_model)
    opts = _options(config, None, _init_state(init_state, seed, "fit"), options, service_model)
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
