"""Every tuner option's documented range (docs/tuner.md, "Option ranges") is the range the core
enforces: both ends of every row are probed, values just outside are refused naming the option,
and a tuner configured at a bound runs cycles without a NaN or an exception."""
import math
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from doc_tables import range_rows

from inferno import tuner as T

DOC = Path(__file__).resolve().parents[1] / "docs" / "tuner.md"
PARAMETERS = 3  # prefill-decode tunes alpha, beta, gamma


def documented_rows():
    text = DOC.read_text(encoding="utf-8")
    return range_rows(text.split("#### Option ranges", 1)[1].split("\nObservations can be dicts", 1)[0], 4, 2)


ROWS = documented_rows()


def test_every_option_has_exactly_one_documented_range():
    assert sorted(ROWS) == sorted(T.option_names().split(", "))


def synthetic_observations():
    truth = {"alpha": 8.0, "beta": 0.016, "gamma": 0.0005}
    rng = np.random.default_rng(3)
    rows = []
    for k in range(12):
        n, m = [(512, 256), (1024, 128), (256, 512)][k % 3]
        u = {"rate_rpm": 30 + 30 * (k % 4), "in_tokens": n, "out_tokens": m, "max_batch": 64}
        z = T.predict(u, truth)
        rows.append({**u, "ttft_ms": z["ttft_ms"] * (1 + 0.03 * rng.standard_normal()),
                     "itl_ms": z["itl_ms"] * (1 + 0.03 * rng.standard_normal())})
    return rows


OBSERVATIONS = synthetic_observations()
WIDE_BOUNDS = {"min_state": [1e-12] * PARAMETERS, "max_state": [1e12] * PARAMETERS}


def context(option, x):
    """Other options that keep the configuration consistent while `option` is probed at x."""
    if option in ("init_state", "start"):
        return dict(WIDE_BOUNDS)
    if option == "min_state":
        return {"max_state": [1e12] * PARAMETERS, "init_state": [x] * PARAMETERS}
    if option == "max_state":
        return {"min_state": [1e-12] * PARAMETERS, "init_state": [x] * PARAMETERS}
    if option == "expected_observations":
        return {"noise": "expected"}
    if option == "sigma_min":
        return {"noise": "adaptive", "sigma_max": 100.0}
    # error_level, t_percentile and gamma_factor combine into sigma_rel, which has a range of its
    # own: the other two are chosen so that sigma_rel stays 0.1 at any probed value.
    if option == "error_level" and x > 0:
        return {"t_percentile": min(x * 10, 1e6), "gamma_factor": (x / (0.1 * min(x * 10, 1e6))) ** 2}
    if option == "t_percentile" and x > 0:
        return {"error_level": 0.1 * x}
    if option == "gamma_factor" and x > 0:
        return {"error_level": 0.1 * math.sqrt(x), "t_percentile": 1.0}
    return {}


def value_for(option, x):
    rule = ROWS[option]
    if rule.startswith("per parameter"):
        return [x] * PARAMETERS
    if rule.startswith("per channel"):
        return [x] * 2
    return x


def build(option, x):
    finite = isinstance(x, (int, float)) and math.isfinite(x)
    return T.Tuner(**{**context(option, x if finite else 1.0), option: value_for(option, x)})


def runs_clean(t):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", T.IdentifiabilityWarning)  # init_obs=1 warns, rightly
        for row in OBSERVATIONS:
            t.update(row)
    estimate = t.estimate
    if estimate is not None:
        assert all(math.isfinite(v) for v in estimate.perf_parms.values())
    history = t.history.select_dtypes("number")
    # NaN marks "not computed" in the history table only where no step ran; never inf.
    assert not np.isinf(history.to_numpy(dtype=float)).any()


def refused(option, x):
    with pytest.raises(ValueError) as info:
        build(option, x)
    assert option in str(info.value) or option.rstrip("_") in str(info.value)


INTERVAL = re.compile(r"([\[(])(\S+), (\S+)([\])])")


def interval(option):
    m = INTERVAL.search(ROWS[option])
    return (m.group(1), m.group(2), m.group(3), m.group(4)) if m else None


def below(x):
    return -1e-9 if x == 0 else x * (1 - 1e-9)


def above(x):
    return x * (1 + 1e-9)


NUMERIC = [o for o in ROWS if interval(o) and "sigma_min" not in ROWS[o]]


@pytest.mark.parametrize("option", NUMERIC)
def test_numeric_range_is_enforced_at_both_ends(option):
    left, low, high, right = interval(option)
    low, high = float(low), float(high)
    integer = ROWS[option].startswith("integer")
    if integer:
        low, high = int(low), int(high)
    # inside, at the ends that are closed: accepted, and the arithmetic stays finite there
    for x, closed in ((low, left == "["), (high, right == "]")):
        if closed:
            runs_clean(build(option, x))
        else:
            refused(option, x)
    if integer:
        refused(option, low - 1)
        refused(option, high + 1)
        refused(option, low + 0.5)
    else:
        refused(option, below(low) if left == "[" else low)
        refused(option, above(high))
        refused(option, math.nan)
        refused(option, math.inf)
        if left == "(":  # an open end: just inside it is accepted
            runs_clean(build(option, low + (min(high, low + 1) - low) * 1e-6))


def test_sigma_max_is_bounded_by_sigma_min_and_100():
    runs_clean(T.Tuner(noise="adaptive", sigma_min=0.2, sigma_max=0.2))
    runs_clean(T.Tuner(noise="adaptive", sigma_max=100.0))
    for bad in (0.19, 100.0001, math.nan):
        with pytest.raises(ValueError, match="sigma_max"):
            T.Tuner(sigma_min=0.2, sigma_max=bad)


def test_the_combined_relative_noise_is_bounded():
    # each factor inside its own range, the combination outside [1e-6, 100]
    with pytest.raises(ValueError, match=r"sigma_rel = error_level / \(t_percentile \* sqrt\(gamma_factor\)\) must be in \[1e-6, 100\]"):
        T.Tuner(error_level=1e6, t_percentile=1e-3)
    with pytest.raises(ValueError, match="sigma_rel"):
        T.Tuner(error_level=1e-6, t_percentile=1e3)
    runs_clean(T.Tuner(error_level=100.0, t_percentile=1.0))


@pytest.mark.parametrize("option", [o for o in ROWS if ROWS[o] == "True or False"])
def test_flags_take_booleans_only(option):
    T.Tuner(**{option: False})
    for bad in (1, 0.0, "yes", None):
        with pytest.raises(ValueError, match=option):
            T.Tuner(**{option: bad})


@pytest.mark.parametrize("option", [o for o in ROWS if ROWS[o].startswith('`"')])
def test_enumerations_accept_exactly_the_documented_names(option):
    names = re.findall(r'`"([^"]+)"`', ROWS[option])
    for name in names:
        T.Tuner(**{**context(option, 1.0), option: name})
    with pytest.raises(ValueError) as info:
        T.Tuner(**{option: names[0].upper() + "x"})
    assert all(f"'{name}'" in str(info.value) for name in names)


@pytest.mark.parametrize("option, lowest", [("kappa_max", 0.0), ("init_fit_threshold", 0.0),
                                            ("residual_threshold", -1e300)])
def test_finite_options(option, lowest):
    assert "finite" in ROWS[option]
    runs_clean(T.Tuner(mode="sliding-window", **{option: lowest}))
    runs_clean(T.Tuner(mode="sliding-window", **{option: 1e300}))
    for bad in (math.inf, math.nan) + ((-1e-12,) if lowest == 0 else ()):
        with pytest.raises(ValueError, match=option):
            T.Tuner(**{option: bad})
