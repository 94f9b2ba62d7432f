"""Prediction: each server's arrival rate over the planning horizon, with its uncertainty
(docs/control.md, "Prediction").

A predictor sees one rate per cycle (req/s over the cycle's window) and forecasts the mean rate
at ``horizon_s`` ahead and an upper quantile of it. The variance has two parts: the predictor's
own one-step error, learned as the cycles go, and the Poisson noise of counting arrivals in a
window, sqrt(rate / window). Trends are damped (each window ahead follows the trend ``trend_damping``
times as much as the one before), not extrapolated until half of the predictor's window of history
exists, and growth is capped (default 4x the current rate per horizon); a failed fit falls back to
the last value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from .._text import excerpt as _excerpt
from ..tuner import KalmanFilter

PREDICTORS = ("last", "ewma", "holt", "kalman")


@dataclass(frozen=True)
class Forecast:
    """The predicted rate at the horizon: mean and upper quantile (req/s), and the method used
    (``"last"`` when a trend predictor fell back)."""

    mean_rps: float
    upper_rps: float
    method: str


@dataclass(frozen=True)
class PredictionSettings:
    predictor: str = "holt"
    quantile: float = 0.9          # planning sizes for this quantile of the predicted rate
    alpha: float = 0.5             # level smoothing (ewma, holt)
    beta: float = 0.2              # trend smoothing (holt)
    history_cycles: int = 10       # the trend's window; no trend before half of it
    growth_cap: float = 4.0        # at most this multiple of the current rate per horizon
    prior_cv: float = 0.2          # the one-step error assumed (relative) before any has been measured
    trend_damping: float = 0.8     # per window: a trend is followed less the further ahead (damped Holt)

    def __post_init__(self) -> None:
        if self.predictor not in PREDICTORS:
            raise ValueError(f"predictor must be one of {', '.join(map(repr, PREDICTORS))}, got {_excerpt(self.predictor)}")
        for name, value, low, high in (("quantile", self.quantile, 0.5, 0.9999), ("alpha", self.alpha, 1e-6, 1.0),
                                       ("beta", self.beta, 0.0, 1.0), ("growth_cap", self.growth_cap, 1.0, 1e3),
                                       ("prior_cv", self.prior_cv, 0.0, 10.0),
                                       ("trend_damping", self.trend_damping, 0.0, 1.0)):
            if not (isinstance(value, (int, float)) and not isinstance(value, bool) and low <= value <= high):
                raise ValueError(f"prediction.{name} must be a number in [{low:g}, {high:g}], got {_excerpt(value)}")
        if isinstance(self.history_cycles, bool) or not isinstance(self.history_cycles, int) or \
                not 2 <= self.history_cycles <= 100000:
            raise ValueError(f"prediction.history_cycles must be an integer in [2, 100000], got {_excerpt(self.history_cycles)}")


class Predictor:
    """One server's rate predictor; ``observe`` once per cycle, then ``forecast``."""

    def __init__(self, settings: PredictionSettings) -> None:
        self.settings = settings
        self._z = NormalDist().inv_cdf(settings.quantile)
        self._cycles = 0
        self._last = 0.0
        self._window_s = 60.0
        self._level = 0.0
        self._trend = 0.0         # req/s per second
        self._err2 = 0.0          # smoothed squared one-step error, (req/s)^2
        self._kf: KalmanFilter | None = None
        self._kf_dt = 0.0

    def observe(self, rate_rps: float, window_s: float) -> None:
        """The rate measured over the last window (req/s, finite, >= 0)."""
        if not (math.isfinite(rate_rps) and rate_rps >= 0):
            raise ValueError(f"rate_rps must be a finite number >= 0, got {_excerpt(rate_rps)}")
        if not (math.isfinite(window_s) and window_s > 0):
            raise ValueError(f"window_s must be a finite number > 0, got {_excerpt(window_s)}")
        s = self.settings
        if self._cycles > 0:  # the error of the forecast one window ahead
            predicted = self._point(window_s)
            self._err2 = 0.8 * self._err2 + 0.2 * (rate_rps - predicted) ** 2
        if self._cycles == 0:  # no error measured yet: the prior, relative to the first rate
            self._err2 = (s.prior_cv * rate_rps) ** 2
        if s.predictor == "kalman":
            self._kalman_update(rate_rps, window_s)
        elif self._cycles == 0:
            self._level = rate_rps
        elif s.predictor == "ewma":
            self._level += s.alpha * (rate_rps - self._level)
        elif s.predictor == "holt":
            previous = self._level
            self._level = s.alpha * rate_rps + (1 - s.alpha) * (self._level + self._trend * window_s)
            self._trend = s.beta * (self._level - previous) / window_s + (1 - s.beta) * self._trend
        self._last = rate_rps
        self._window_s = window_s
        self._cycles += 1

    def _kalman_update(self, rate_rps: float, window_s: float) -> None:
        # Local linear trend on log-rate: x = (log level, slope per second), through the library's
        # Kalman filter. The observation noise of a log-rate is that of a Poisson count, 1/(λ·w).
        z = math.log(max(rate_rps, 1e-3))
        if self._kf is None or self._kf_dt != window_s:
            x0 = np.array([z, 0.0]) if self._kf is None else np.ravel(self._kf.x)
            p0 = np.diag([1.0, 1e-4]) if self._kf is None else self._kf.P
            self._kf = KalmanFilter(2, 1, x0, p0)
            self._kf.set_F(np.array([[1.0, window_s], [0.0, 1.0]]))
            self._kf.set_H(np.array([[1.0, 0.0]]))
            self._kf.set_Q(np.diag([1e-3, 1e-8]))
            self._kf_dt = window_s
            if self._cycles == 0:
                return
        self._kf.set_R(np.array([[1.0 / max(rate_rps * window_s, 1.0)]]))
        self._kf.predict()
        self._kf.update(np.array([z]))

    def _damped(self, horizon_s: float) -> float:
        """The seconds of trend to extrapolate: the horizon, with each window after the first
        counting φ times the one before (Gardner's damped trend; φ = 1: none)."""
        phi = self.settings.trend_damping
        steps = horizon_s / self._window_s
        if phi >= 1:
            return horizon_s
        return self._window_s * phi * (1 - phi ** steps) / (1 - phi)

    def _trend_ready(self) -> bool:
        return self._cycles >= max(2, self.settings.history_cycles // 2)

    def _point(self, horizon_s: float) -> float:
        s = self.settings
        if self._cycles == 0:
            return 0.0
        if s.predictor == "last":
            return self._last
        if s.predictor == "ewma":
            return self._level
        if s.predictor == "holt":
            trend = self._trend if self._trend_ready() else 0.0
            return self._level + trend * self._damped(horizon_s)
        assert self._kf is not None
        x = np.ravel(self._kf.x)
        level, slope = float(x[0]), float(x[1])
        if not self._trend_ready():
            slope = 0.0
        return math.exp(level + slope * self._damped(horizon_s))

    def forecast(self, horizon_s: float) -> Forecast:
        """Mean and upper quantile of the rate ``horizon_s`` ahead (req/s)."""
        if not (math.isfinite(horizon_s) and horizon_s >= 0):
            raise ValueError(f"horizon_s must be a finite number >= 0, got {_excerpt(horizon_s)}")
        method = self.settings.predictor
        mean = self._point(horizon_s)
        if not math.isfinite(mean):  # a fit that failed: the last value
            mean, method = self._last, "last"
        cap = self.settings.growth_cap * max(self._last, 1e-9)
        mean = min(max(mean, 0.0), cap) if self._last > 0 else max(mean, 0.0)
        poisson_var = mean / self._window_s if self._window_s > 0 else 0.0
        sd = math.sqrt(self._err2 + poisson_var)
        upper = mean + self._z * sd
        if self._last > 0:
            upper = min(upper, cap)
        return Forecast(mean_rps=mean, upper_rps=max(upper, mean), method=method)
