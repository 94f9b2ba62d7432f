"""The result protocol (docs/development.md, "Results"): every result object has ``to_dict()``
(JSON-ready: plain values, snake_case names with their units), ``to_frame()`` where it is
tabular, and a short one-line ``repr``."""

import json
import math
import re

import pytest

import inferno
from inferno import sizing, tuner
from inferno import validate as V

SAMPLES = inferno.samples_path()
LLAMA = "meta-llama/Meta-Llama-3-8B"
SNAKE = re.compile(r"^[a-z0-9_.%+-]+$")  # lower case; dots and % only in the queue's constraint names


def _model():
    return inferno.QueueModel(service_model="iteration", alpha=6.9, beta=0.02, gamma=4e-5, in_tokens=512, out_tokens=256,
                              max_batch=64, max_queue=640)


def _observations():
    return [{"rate_rpm": r, "in_tokens": 512, "out_tokens": 256, "max_batch": 64,
             **{k: v for k, v in _model().analyze(r / 60).to_dict().items() if k in ("ttft_ms", "itl_ms")}}
            for r in (60, 240, 600, 900)]


def _results():
    model = _model()
    sweeps = V.read_sweeps(SAMPLES / "real" / "llama31-8b-h100-guidellm.csv")[0]
    one_mix = sweeps[sweeps["sweep"] == sweeps["sweep"].iloc[0]]
    t = tuner.Tuner()
    for observation in _observations() * 3:
        cycle = t.update(observation)
    return {
        "queue.Analysis": model.analyze(5.0),
        "queue.MaxRate": model.max_rate(ttft_ms=500, itl_ms=40),
        "queue.Concurrency": model.optimal_concurrency(ttft_ms=500, itl_ms=40),
        "optimizer.Solution": inferno.optimize(inferno.load(SAMPLES / "small")),
        "sim.Simulation": inferno.simulate(model, 5.0, duration_s=30, seed=1),
        "sizing.Estimate": sizing.derive(LLAMA, "H100-SXM5-80GB"),
        "sizing.Recommendation": sizing.recommend(SAMPLES / "sizing" / "request.json"),
        "sizing.Calibration": sizing.calibrate(LLAMA, SAMPLES / "sizing" / "points.json"),
        "sizing.Packing": sizing.pack("A100-SXM4-80GB", "3g.40gb=3,1g.10gb=5"),
        "tuner.FitResult": tuner.fit(_observations()),
        "tuner.Estimate": t.estimate,
        "tuner.Cycle": cycle,
        "validate.Validation": V.validate(one_mix),
    }


RESULTS = _results()


def _keys(value, path=""):
    """Every dict key in a nested value, with where it is (the request-format efficiency of a
    calibration keeps its input keys, so that it can be passed back)."""
    if isinstance(value, dict):
        for k, v in value.items():
            if path.endswith("efficiency"):
                continue
            yield f"{path}.{k}", k
            yield from _keys(v, f"{path}.{k}")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from _keys(v, f"{path}[{i}]")


@pytest.mark.parametrize("name", sorted(RESULTS))
def test_to_dict_is_json_ready_and_snake_case(name):
    d = RESULTS[name].to_dict()
    assert isinstance(d, dict) and d
    text = json.dumps(d, allow_nan=True)  # plain values only (a numpy or pandas object would raise)
    assert json.loads(text) == json.loads(text)
    bad = [(where, key) for where, key in _keys(d) if not SNAKE.match(str(key))]
    assert not bad, bad[:5]


@pytest.mark.parametrize("name", sorted(RESULTS))
def test_repr_is_one_short_line(name):
    text = repr(RESULTS[name])
    assert "\n" not in text and len(text) <= 240, text
    assert text.split("(")[0] == type(RESULTS[name]).__name__


@pytest.mark.parametrize("name", ["optimizer.Solution", "tuner.Estimate"])
def test_tabular_results_have_to_frame(name):
    frame = RESULTS[name].to_frame()
    assert len(frame) > 0 and all(SNAKE.match(str(c)) for c in frame.columns)


def test_sizing_tables_use_the_names_of_to_dict():
    rec = RESULTS["sizing.Recommendation"]
    option_keys = set(rec.to_dict()["servers"][0]["options"][0])
    assert set(rec.options.columns) - {"chosen"} <= option_keys | {"server"}
    assert set(rec.choices.columns) <= option_keys | {"choice", "slo_unattainable", "unallocated"}
    chosen = rec.servers[0].chosen
    row = rec.choices.loc[rec.servers[0].server]
    assert row["itl_ms"] == chosen.itl_ms and row["cost_per_hour"] == chosen.cost_per_hour
    # The document keeps the camelCase of the format; the old .raw still gives it, with a warning.
    assert rec.document["servers"][0]["options"][0]["ratePerReplica"] == rec.servers[0].options[0].rate_per_replica_rps
    with pytest.warns(DeprecationWarning, match="use .document"):
        assert rec.raw is rec.document
    est = RESULTS["sizing.Estimate"]
    assert est.to_dict()["alpha_ms"] == est.document["alpha"] and not math.isnan(est.epsilon_ms)
    with pytest.warns(DeprecationWarning):
        assert est.raw is est.document


def test_validation_to_dict_is_what_the_cli_writes():
    v = RESULTS["validate.Validation"]
    d = v.to_dict(decimals=4)
    assert set(d) == {"summary", "params", "by_mix", "by_band", "capacity", "excluded"}
    assert d["summary"]["ttft_mean_ms_mape_pct"] == round(v.summary()["ttft_mean_ms_mape_pct"], 4)
    assert len(v.to_dict(points=True)["points"]) == len(v.points)
