"""Model tuner: learn the iteration-time parameters α, β, γ of a variant (a model on an
accelerator) from observed TTFT/ITL, with their uncertainty.

::

    tuner = inferno.Tuner()                       # prefill-decode: (α, β, γ) from (TTFT, ITL)
    tuner.update({"rate_rpm": 60, "in_tokens": 512, "out_tokens": 256, "max_batch": 64,
                  "ttft_ms": 41.0, "itl_ms": 9.8})
    tuner.estimate                                # values, standard deviations, κ, NIS, ...
    tuner.history                                 # one row per observation step
    inferno.tuner.fit(frame)                      # a joint Nelder–Mead fit of a table

The numerics (EKF, fits, condition numbers) are in the C++ core; this package converts
observations (``observations``), runs the online filter (``online``) and the batch fit
(``batch``), builds DataFrames and reads CSV files.
"""

from .._core import tuner as _tuner
from ._common import CONFIGS, PROFILES, IdentifiabilityWarning, perf_parms_of
from .batch import FitResult, condition_number, fit, predict
from .observations import (LAYOUTS, OBSERVATION_FIELDS, Observation, observations_from_server_specs, read_observations,
                           to_observation)
from .online import Cycle, Estimate, Filter, Tuner, replay_reference

# The generic filter library (docs/tuner.md §2).
KalmanFilter = _tuner.KalmanFilter
ExtendedKalmanFilter = _tuner.ExtendedKalmanFilter
Limiter = _tuner.Limiter
numerical_jacobian = _tuner.numerical_jacobian
chi_square_quantile = _tuner.chi_square_quantile
guess_init_state = _tuner.guess_init_state
option_names = _tuner.option_names
option_registry = _tuner.option_registry


def options_schema() -> dict:
    """The JSON Schema (draft 2020-12) of the tuner's options as a document (``{"init_obs": 8,
    ...}``, the keyword arguments of :class:`Tuner`), generated from the core's option table;
    shipped as ``inferno/schemas/tuner-options.schema.json``. Names are case-sensitive."""
    from .. import schemas
    return schemas.generated("tuner-options")


__all__ = ["CONFIGS", "LAYOUTS", "OBSERVATION_FIELDS", "PROFILES", "Cycle", "Estimate", "ExtendedKalmanFilter", "Filter",
           "FitResult", "IdentifiabilityWarning", "KalmanFilter", "Limiter", "Observation", "Tuner", "chi_square_quantile",
           "condition_number", "fit", "guess_init_state", "numerical_jacobian", "observations_from_server_specs",
           "option_names", "option_registry", "options_schema", "perf_parms_of", "predict", "read_observations",
           "replay_reference", "to_observation"]
