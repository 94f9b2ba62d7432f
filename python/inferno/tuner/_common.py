"""What the online tuner and the batch fit share: configurations, option conversion, state names."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

from .._lazy import np, pd

from .._text import excerpt as _excerpt

CONFIGS = ("decode", "prefill-decode", "full")
PROFILES = ("inferno", "reference")

class IdentifiabilityWarning(UserWarning):
    """The observations cannot determine every parameter (condition number above κ_max)."""


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


def _state_names(config: str, service_model: str = "iteration", held: Mapping[str, float] | None = None) -> list[str]:
    """The tuned parameters: the configuration's, then any other parameter of the service model
    (``vllm``: delta, epsilon) that is not ``held`` fixed, in the core's order."""
    names = ["alpha", "beta"] if config == "decode" else ["alpha", "beta", "gamma"]
    fixed = ({"gamma"} if config == "decode" else set()) | set(held or ())
    from .._core import queue as _q
    for info in _q.SERVICE_MODELS:
        if info["name"] == service_model:
            names += [p["name"] for p in info["params"] if p["name"] not in names and p["name"] not in fixed]
    return names


def _check_choice(value: str, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise ValueError(f"unknown {what} {_excerpt(value)}; allowed: {', '.join(repr(a) for a in allowed)}")
    return value


def _init_state(init_state: Any, seed: Any, where: str) -> Any:
    """``init_state``, or the deprecated ``seed`` that meant the same (a seed elsewhere is random)."""
    if seed is None:
        return init_state
    if init_state is not None:
        raise ValueError(f"{where}: give init_state, not also its deprecated name seed")
    warnings.warn(f"{where}(seed=) is deprecated: use init_state= (seed names a random seed elsewhere)",
                  DeprecationWarning, stacklevel=3)
    return seed


def _options(config: str, init: Any, init_state: Any, options: dict[str, Any],
             service_model: str = "iteration", fixed: Mapping[str, float] | None = None) -> dict[str, Any]:
    names = _state_names(config, service_model, fixed)
    opts = dict(options)
    if init is not None:
        opts["start"] = _params_option(init, names, "init")
    if init_state is not None:
        opts["init_state"] = _params_option(init_state, names, "init_state")
    for key in ("min_state", "max_state", "percent_change", "initial_change", "init_state"):
        if isinstance(opts.get(key), Mapping):
            opts[key] = _params_option(opts[key], names, key)
    return opts


def _frame(matrix: Any, names: list[str]) -> pd.DataFrame | None:
    if matrix is None:
        return None
    return pd.DataFrame(np.asarray(matrix, dtype=float), index=names, columns=names)
