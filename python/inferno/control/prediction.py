"""Prediction: each server's arrival rate over the planning horizon, with its uncertainty
(docs/control.md, "Prediction").

A predictor sees one rate per cycle (req/s over the cycle's window) and forecasts the mean rate
at ``horizon_s`` ahead and an upper quantile of it. The variance has two parts: the predictor's
own one-step error, learned as the cycles go, and the Poisson noise of counting arrivals in a
window, sqrt(rate / window). Trends are damped (each window ahead follows the trend ``trend_damping``
times as much as the one before), not extrapolated until half of the predictor's window of history
exists, and growth is capped (default 4x the current rate per horizon); a failed fit falls back to
the last value.

An optional seasonal floor (``seasonal_floor`` > 0) learns the usual rate at each time of day
(bins of ``season_bin_s`` over a ``season_s`` season, each bin the mean of its past days) and,
once a full season has been seen, never forecasts below that fraction of it at the horizon's
time: the morning ramp is ordered before it shows in the trend.
"""

from __future__ import annotations

import math
from typing import Any
from dataclasses import dataclass
from statistics import NormalDist

from .._lazy import np, pd

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
    seasonal_floor: float = 0.0    # > 0: never forecast below this fraction of the usual rate at that time of day
    season_s: float = 86400.0      # the season's length (a day)
    season_bin_s: float = 900.0    # the profile's resolution
    season_memory: float = 0.5     # weight of the newest season in each bin (1: the last season only)

    def __post_init__(self) -> None:
        if self.predictor not in PREDICTORS:
            raise ValueError(f"predictor must be one of {', '.join(map(repr, PREDICTORS))}, got {_excerpt(self.predictor)}")
        for name, value, low, high in (("quantile", self.quantile, 0.5, 0.9999), ("alpha", self.alpha, 1e-6, 1.0),
                                       ("beta", self.beta, 0.0, 1.0), ("growth_cap", self.growth_cap, 1.0, 1e3),
                                       ("prior_cv", self.prior_cv, 0.0, 10.0),
                                       ("trend_damping", self.trend_damping, 0.0, 1.0),
                                       ("seasonal_floor", self.seasonal_floor, 0.0, 2.0),
                                       ("season_s", self.season_s, 1.0, 1e8),
                                       ("season_bin_s", self.season_bin_s, 1.0, 1e8),
                                       ("season_memory", self.season_memory, 1e-6, 1.0)):
            if not (isinstance(value, (int, float)) and not isinstance(value, bool) and low <= value <= high):
                raise ValueError(f"prediction.{name} must be a number in [{low:g}, {high:g}], got {_excerpt(value)}")
        if isinstance(self.history_cycles, bool) or not isinstance(self.history_cycles, int) or \
                not 2 <= self.history_cycles <= 100000:
            raise ValueError(f"prediction.history_cycles must be an integer in [2, 100000], got {_excerpt(self.history_cycles)}")
        bins = self.season_s / self.season_bin_s
        if not (bins >= 2 and bins <= 100000 and abs(bins - round(bins)) < 1e-9 * bins):
            raise ValueError(f"prediction.season_bin_s must divide season_s into 2 to 100000 whole bins, got "
                             f"{self.season_bin_s:g} s for a {self.season_s:g} s season")


class SeasonalProfile:
    """The usual rate at each time of day: per bin, the mean of each past season's observations
    in it, blended across seasons with weight ``memory`` on the newest."""

    def __init__(self, season_s: float, bin_s: float, memory: float) -> None:
        self.season_s, self.bin_s, self.memory = season_s, bin_s, memory
        self.bins = int(round(season_s / bin_s))
        self.profile = np.full(self.bins, np.nan)
        self._sum = np.zeros(self.bins)
        self._count = np.zeros(self.bins)
        self._season = np.full(self.bins, -1, dtype=np.int64)  # the season each bin's sums belong to
        self.first_s: float | None = None
        self.last_s = 0.0

    def _fold(self, b: int) -> None:
        if self._count[b] > 0:
            mean = self._sum[b] / self._count[b]
            old = self.profile[b]
            self.profile[b] = mean if not np.isfinite(old) else (1 - self.memory) * old + self.memory * mean
        self._sum[b] = self._count[b] = 0.0

    def add(self, mid_s: float, rate_rps: float) -> None:
        """A rate measured over a window centred at ``mid_s`` (s since the predictor's start)."""
        if self.first_s is None:
            self.first_s = mid_s
        self.last_s = max(self.last_s, mid_s)
        season, b = int(mid_s // self.season_s), int((mid_s % self.season_s) // self.bin_s) % self.bins
        if self._season[b] != season:  # a new day in this bin: the finished one joins the profile
            self._fold(b)
            self._season[b] = season
        self._sum[b] += rate_rps
        self._count[b] += 1

    def ready(self) -> bool:
        return self.first_s is not None and self.last_s - self.first_s >= self.season_s

    def at(self, time_s: float) -> float | None:
        """The usual rate at ``time_s``, interpolated between bin centres from the finished
        seasons and the current one's partial means (None where nothing is known)."""
        values = self.profile.copy()
        partial = self._count > 0
        fresh = partial & ~np.isfinite(values)
        values[fresh] = self._sum[fresh] / self._count[fresh]
        x = (time_s % self.season_s) / self.bin_s - 0.5
        lo = int(math.floor(x)) % self.bins
        hi = (lo + 1) % self.bins
        w = x - math.floor(x)
        a, b = values[lo], values[hi]
        if not np.isfinite(a) and not np.isfinite(b):
            return None
        if not np.isfinite(a):
            return float(b)
        if not np.isfinite(b):
            return float(a)
        return float((1 - w) * a + w * b)


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
        self._now_s = 0.0         # end of the latest window, s since the first window's start
        self._season = (SeasonalProfile(settings.season_s, settings.season_bin_s, settings.season_memory)
                        if settings.seasonal_floor > 0 else None)

    def observe(self, rate_rps: float, window_s: float, end_s: float | None = None) -> None:
        """The rate measured over the last window (req/s, finite, >= 0), which ended at ``end_s``
        (s on the caller's clock, whose 0 is a midnight when a seasonal floor is used; default:
        right after the previous window)."""
        if not (math.isfinite(rate_rps) and rate_rps >= 0):
            raise ValueError(f"rate_rps must be a finite number >= 0, got {_excerpt(rate_rps)}")
        if not (math.isfinite(window_s) and window_s > 0):
            raise ValueError(f"window_s must be a finite number > 0, got {_excerpt(window_s)}")
        if end_s is not None and not math.isfinite(end_s):
            raise ValueError(f"end_s must be a finite number, got {_excerpt(end_s)}")
        s = self.settings
        self._now_s = end_s if end_s is not None else self._now_s + window_s
        if self._season is not None:
            self._season.add(self._now_s - window_s / 2, rate_rps)
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
        floor = self.seasonal_floor(horizon_s)
        floored = floor is not None and floor > mean
        if floored:  # learned from past days, not extrapolated: the growth cap does not apply to it
            assert floor is not None
            mean, method = floor, f"{method}+seasonal"
        poisson_var = mean / self._window_s if self._window_s > 0 else 0.0
        sd = math.sqrt(self._err2 + poisson_var)
        upper = mean + self._z * sd
        if self._last > 0 and not floored:
            upper = min(upper, cap)
        return Forecast(mean_rps=mean, upper_rps=max(upper, mean), method=method)

    _SCALARS = ("_cycles", "_last", "_window_s", "_level", "_trend", "_err2", "_kf_dt", "_now_s")

    def state(self) -> dict[str, Any]:
        """What the predictor has learned, as JSON-ready values (the live controller persists it)."""
        out: dict[str, Any] = {k: getattr(self, k) for k in self._SCALARS}
        out["kf"] = None if self._kf is None else {"x": np.ravel(self._kf.x).tolist(), "P": np.asarray(self._kf.P).tolist()}
        if self._season is not None:
            z = self._season
            out["season"] = {"profile": [None if not np.isfinite(v) else float(v) for v in z.profile],
                             "sum": z._sum.tolist(), "count": z._count.tolist(), "season": z._season.tolist(),
                             "first_s": z.first_s, "last_s": z.last_s}
        return out

    def restore(self, state: dict[str, Any]) -> None:
        """Continues from what :meth:`state` returned (same settings)."""
        for k in self._SCALARS:
            setattr(self, k, type(getattr(self, k))(state[k]))
        kf = state.get("kf")
        if kf is not None:
            self._kf = KalmanFilter(2, 1, np.array(kf["x"], dtype=float), np.array(kf["P"], dtype=float))
            self._kf_dt = -1.0  # its transition, noise and observation matrices are set again at the next update
        season = state.get("season")
        if self._season is not None and season is not None and len(season["profile"]) == self._season.bins:
            z = self._season
            z.profile = np.array([np.nan if v is None else v for v in season["profile"]], dtype=float)
            z._sum, z._count = np.array(season["sum"], dtype=float), np.array(season["count"], dtype=float)
            z._season = np.array(season["season"], dtype=np.int64)
            z.first_s, z.last_s = season["first_s"], float(season["last_s"])

    def seasonal_floor(self, horizon_s: float) -> float | None:
        """The floor at ``horizon_s`` ahead: ``seasonal_floor`` x the usual rate at the middle of
        the window then, once a full season has been seen (None before, or when off)."""
        if self._season is None or not self._season.ready():
            return None
        usual = self._season.at(self._now_s + horizon_s - self._window_s / 2)
        return None if usual is None else self.settings.seasonal_floor * usual


def window_rates(times_s: np.ndarray, period_s: float, duration_s: float | None = None) -> np.ndarray:
    """Arrivals per second in consecutive windows of ``period_s`` from 0 (the last partial
    window is dropped)."""
    times = np.asarray(times_s, dtype=float)
    end = float(times.max()) if duration_s is None and times.size else float(duration_s or 0.0)
    n = int(end // period_s)
    counts = np.bincount(np.minimum((times[times < n * period_s] // period_s).astype(np.int64), max(n - 1, 0)),
                         minlength=n)[:n]
    return counts / period_s


def forecast_errors(times_s: np.ndarray, period_s: float = 60.0, horizon_s: float | None = None,
                    settings: dict[str, PredictionSettings] | None = None) -> pd.DataFrame:
    """How well each predictor forecasts a trace's rate (docs/control.md, "Prediction"): fed one
    window of ``period_s`` at a time, as the loop does, its forecast one window ahead and
    ``horizon_s`` ahead (default three windows: a period and a start-up delay of two) against the
    rate then. Per predictor: nRMSE (RMSE over the mean rate) one window and the horizon ahead,
    each against ``last``'s; the share of windows under-predicted by more than 10 % at the
    horizon; and how often the rate stayed at or below the forecast's upper quantile."""
    if not (math.isfinite(period_s) and period_s > 0):
        raise ValueError(f"period_s must be a finite number > 0, got {_excerpt(period_s)}")
    horizon_s = 3 * period_s if horizon_s is None else horizon_s
    h = int(round(horizon_s / period_s))
    if not (math.isfinite(horizon_s) and h >= 1 and abs(h * period_s - horizon_s) < 1e-9 * horizon_s):
        raise ValueError(f"horizon_s must be a whole number (>= 1) of periods of {period_s:g} s, got {_excerpt(horizon_s)}")
    rates = window_rates(times_s, period_s)
    if rates.size < h + 3:
        raise ValueError(f"the trace covers {rates.size} windows of {period_s:g} s; at least {h + 3} are needed for a "
                         f"horizon of {h} windows")
    settings = settings or {name: PredictionSettings(predictor=name) for name in PREDICTORS}
    mean_rate = float(rates.mean()) or 1.0
    rows = []
    for name, cfg in settings.items():
        p = Predictor(cfg)
        one: list[float] = []
        far: list[tuple[float, float, float]] = []
        for i, rate in enumerate(rates):
            p.observe(float(rate), period_s, end_s=(i + 1) * period_s)
            if i + 1 < rates.size:
                one.append(p.forecast(period_s).mean_rps - rates[i + 1])
            if i + h < rates.size:
                f = p.forecast(h * period_s)
                far.append((f.mean_rps, f.upper_rps, rates[i + h]))
        future = np.array(far)
        rows.append({"predictor": name,
                     "one_step_nrmse": math.sqrt(float(np.mean(np.square(one)))) / mean_rate,
                     "horizon_nrmse": math.sqrt(float(np.mean(np.square(future[:, 0] - future[:, 2])))) / mean_rate,
                     "under_10pct_share": float(np.mean(future[:, 0] < 0.9 * future[:, 2])),
                     "upper_coverage": float(np.mean(future[:, 2] <= future[:, 1]))})
    frame = pd.DataFrame(rows)
    base = PredictionSettings(predictor="last") if "last" not in settings else settings["last"]
    if "last" not in settings:
        frame_last = forecast_errors(times_s, period_s, horizon_s, {"last": base})
        last_one, last_far = float(frame_last.one_step_nrmse.iloc[0]), float(frame_last.horizon_nrmse.iloc[0])
    else:
        row = frame[frame.predictor == "last"].iloc[0]
        last_one, last_far = float(row.one_step_nrmse), float(row.horizon_nrmse)
    frame.insert(2, "one_step_vs_last", frame.one_step_nrmse / last_one if last_one > 0 else math.nan)
    frame.insert(4, "horizon_vs_last", frame.horizon_nrmse / last_far if last_far > 0 else math.nan)
    frame.attrs.update(period_s=period_s, horizon_s=horizon_s, windows=int(rates.size), mean_rps=mean_rate)
    return frame
