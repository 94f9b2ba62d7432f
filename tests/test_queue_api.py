"""The Python API of the queueing model: public vectors, shapes, names and errors."""

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

import inferno
from inferno import _core

REL = 5e-4  # docs/queueing-model.md §9.3: the reference computes in float32


def close(value, ref, rel=REL):
    return abs(value - ref) <= rel * abs(ref)


def close_cancelled(value, ref, response_ref):
    """docs/queueing-model.md §9.3 tolerance for quantities containing the reference's float32 T - S."""
    return abs(value - ref) <= REL * abs(ref) + 1e-6 * response_ref


def test_solve_a_matches_reference(model_a):
    a = model_a.analyze(3.0)
    assert isinstance(a, inferno.Analysis)
    assert close(a.throughput_rps, 3)
    assert close(a.response_ms, 10348.367)
    assert close_cancelled(a.wait_ms, 21.405273, 10348.367)
    assert close(a.num_in_service, 30.980886)
    assert close_cancelled(a.ttft_ms, 67.614647, 10348.367)
    assert close(a.itl_ms, 20.118889)
    assert close(a.prefill_ms, 26.090485)
    assert close(a.batch_fill, 0.6454352)
    assert close(model_a.max_stable_rate_rps, 3.8609295, 1e-6)
    assert a.response_ms == pytest.approx(a.ttft_ms + 511 * a.itl_ms, rel=1e-12)


def test_array_evaluation_equals_scalar_and_has_unit_columns(model_a):
    rates = np.linspace(0.5, 4.5, 9)
    frame = model_a.analyze(rates, percentiles=[50, 95])
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns[:len(_core.queue.METRIC_FIELDS)]) == list(_core.queue.METRIC_FIELDS)
    for col in ("rate_rps", "throughput_rps", "ttft_ms", "itl_ms", "wait_ms", "ttft_p95_ms",
                "itl_p50_ms", "wait_p95_ms"):
        assert col in frame.columns
    for i, rate in enumerate(rates):
        single = model_a.analyze(rate, percentiles=[50, 95]).to_dict()
        row = frame.iloc[i].to_dict()
        assert row == single  # same core, same numbers, bit for bit
    # Long arrays take the multi-threaded path; results must not change.
    many = np.tile(rates, 3000)
    big = model_a.analyze(many)
    assert np.array_equal(big["ttft_ms"].to_numpy()[:9], frame["ttft_ms"].to_numpy())
    assert np.array_equal(big["ttft_ms"].to_numpy()[-9:], frame["ttft_ms"].to_numpy())


def test_array_evaluation_equals_scalar_for_spread_ttft_percentiles():
    """The array path reports the analyzer's percentiles too: TTFT with the vllm admission phase
    and the prompts' spread, and TPOT (it once added the mean post-queue time to the wait
    quantile instead)."""
    model = inferno.QueueModel(service_model="vllm", alpha=6.6, beta=0.02, gamma=4e-5, delta=3e-5, epsilon=1e-6,
                               in_tokens=1024,
                               out_tokens=256, max_batch=64, max_queue=64, in_tokens_spread=0.5, arrival_cov=0)
    rates = [0.5, 3.0, 8.0]
    frame = model.analyze(rates, percentiles=[5, 95])
    for i, rate in enumerate(rates):
        assert frame.iloc[i].to_dict() == model.analyze(rate, percentiles=[5, 95]).to_dict()
    assert frame["ttft_p95_ms"].iloc[0] > frame["ttft_ms"].iloc[0] > frame["ttft_p5_ms"].iloc[0]


def test_analysis_fields_match_the_core_table():
    """Results are built by filling the dataclass directly from the core's field table."""
    from dataclasses import fields
    names = [f.name for f in fields(inferno.Analysis)]
    assert names == [*_core.queue.METRIC_FIELDS, "percentiles", "approximation"]


def test_result_objects_carry_exactly_their_fields(model_a):
    """Results skip the dataclass __init__; every declared field must be set, and nothing else."""
    from dataclasses import fields
    r = model_a.max_rate(ttft_ms=60, itl_ms=20, percentiles=[95])
    c = model_a.optimal_concurrency(ttft_ms=60, itl_ms=20)
    for obj in (r, r.metrics, c, c.at_onset, model_a.analyze(2.0)):
        assert set(vars(obj)) == {f.name for f in fields(obj)}, type(obj).__name__
    assert isinstance(r.rate_rps, float) and isinstance(r.replicas_for_tps, int)
    assert r == model_a.max_rate(ttft_ms=60, itl_ms=20, percentiles=[95])


def test_results_have_readable_repr_and_to_dict(model_a):
    a = model_a.analyze(3.0, percentiles=[95, 99.9])
    text = repr(a)
    assert text.startswith("Analysis(rate_rps=3, throughput_rps=3")
    assert "ttft_p95_ms=" in text
    d = a.to_dict()
    assert d["ttft_ms"] == a.ttft_ms and d["ttft_p95_ms"] == a.ttft_p95_ms
    assert a.ttft_p99_9_ms == a.percentiles["ttft_p99.9_ms"]
    with pytest.raises(AttributeError):
        a.ttft_p42_ms
    assert a.ttft_p95_ms == pytest.approx(a.wait_p95_ms + (a.ttft_ms - a.wait_ms), rel=1e-12)
    assert a == model_a.analyze(3, percentiles=[95, 99.9])  # int rate, same result
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.ttft_ms = 0.0


def test_max_rate_a(model_a):
    r = model_a.max_rate(ttft_ms=60, itl_ms=20)
    assert r.status == "ok" and r.feasible
    assert r.binding == "ttft_ms"
    assert close(r.rate_rps, 2.9494622)
    assert float(r) == r.rate_rps
    assert close(r.constraint_rates_rps["ttft_ms"], 2.9494622)
    assert close(r.constraint_rates_rps["itl_ms"], 2.971982)
    assert r.metrics.ttft_ms <= 60.0
    assert r.achieved == {"ttft_ms": r.metrics.ttft_ms, "itl_ms": r.metrics.itl_ms}
    assert "binding='ttft_ms'" in repr(r)
    assert r.to_dict()["rate_ttft_ms_rps"] == r.constraint_rates_rps["ttft_ms"]


def test_max_rate_percentile_target_reported_at_sized_rate(model_a):
    r = model_a.max_rate(ttft_p95_ms=150, percentiles=[50])
    assert r.status == "ok" and r.binding == "ttft_p95_ms"
    assert r.metrics.ttft_p95_ms <= 150
    assert r.metrics.ttft_p95_ms == pytest.approx(150, rel=1e-6)
    assert r.achieved["ttft_p95_ms"] == r.metrics.ttft_p95_ms
    assert "ttft_p50_ms" in r.metrics.percentiles
    # Same target through the dict form, decimals allowed.
    r2 = model_a.max_rate(targets={"ttft_p99.9_ms": 400})
    assert r2.binding == "ttft_p99.9_ms" and r2.metrics.ttft_p99_9_ms <= 400


def test_max_rate_statuses(model_a):
    none = model_a.max_rate()
    assert none.status == "unconstrained" and none.binding == "stability"
    assert none.rate_rps == model_a.max_stable_rate_rps
    bad = model_a.max_rate(ttft_ms=5, itl_ms=20)
    assert bad.status == "infeasible" and not bad.feasible
    assert bad.rate_rps == 0 and bad.violated == ("ttft_ms",) and bad.binding == "ttft_ms"
    tps = model_a.max_rate(tps=10_000)
    assert tps.status == "unconstrained" and tps.binding == "tps_headroom"
    assert tps.rate_rps == pytest.approx(0.9 * model_a.max_stable_rate_rps, rel=1e-15)
    assert tps.replicas_for_tps == math.ceil(10_000 / tps.metrics.tokens_per_s)
    assert not tps.tps_met


def test_optimal_concurrency_reproduces_reference_search(model_a):
    c = model_a.optimal_concurrency(ttft_ms=60, itl_ms=20)
    assert (c.concurrency, c.itl_bracket, c.ttft_bracket, c.calls) == (48, 31, 48, 6)
    assert c.probes == (48, 39, 44, 46, 47, 48)
    big = model_a.replace(max_batch=256).optimal_concurrency(ttft_ms=60, itl_ms=20)
    assert (big.concurrency, big.itl_bracket, big.ttft_bracket, big.calls) == (49, 31, 164, 8)
    assert big.probes == (256, 143, 87, 59, 45, 52, 49, 49)
    assert close(big.throughput_rps, 2.9715836)
    assert close(big.anchor_throughput_rps, 2.9704919)
    assert big.at_onset is not None and close(big.at_onset.metrics.ttft_ms, 57.9873)
    assert not big.converged and (big.bracket_lo, big.bracket_hi) == (46, 49)
    converged = model_a.replace(max_batch=256).optimal_concurrency(ttft_ms=60, itl_ms=20, converge=True)
    assert converged.converged and converged.concurrency <= 48


def test_legacy_token_model_2024_readme():
    m = inferno.QueueModel(service_model="token", alpha=19, beta=1, tokens_per_request=1024,
                           max_batch=48, max_queue=200)
    a = m.analyze(30 / 60)
    assert close(a.throughput_rps * 60, 29.999998)
    assert close(a.response_ms / 1000, 41.96881)
    assert close(a.num_in_service, 20.983025)
    assert close(a.itl_ms, 40.98247)
    assert close(m.max_stable_rate_rps * 60, 41.93564, 1e-6)
    r = m.max_rate(wait_ms=1000, itl_ms=50)
    assert r.binding == "itl_ms"
    assert close(r.metrics.throughput_rps * 60, 35.200314)
    assert close(r.constraint_rates_rps["wait_ms"] * 60, 36.61307)


def test_prefill_decode_model_and_service_model_table():
    m = inferno.QueueModel(service_model="prefill-decode", decode_alpha=10, decode_beta=0.3,
                           prefill_gamma=15, prefill_delta=0.002, in_tokens=200, out_tokens=100,
                           max_batch=32, max_queue=64)
    a = m.analyze(0.5 * m.max_stable_rate_rps)
    assert a.response_ms == pytest.approx(a.ttft_ms + 99 * a.itl_ms, rel=1e-12)
    assert m.prefill_chunks_by_batch is None
    table = inferno.service_models()
    assert set(table["service_model"]) == {"iteration", "prefill-decode", "token", "iteration-v2", "vllm"}
    assert list(table[table.service_model == "iteration"]["parameter"]) == ["alpha", "beta", "gamma"]


def test_iteration_v2_reproduces_the_readme_solve(model_a):
    """docs/queueing-model.md §9.3: the reference README's /solve output comes from the older v2 model."""
    v2 = model_a.replace(service_model="iteration-v2", alpha=12, beta=0.05, gamma=0.0005)
    a = v2.analyze(3.0)
    assert close(a.response_ms, 10568.446) and close(a.itl_ms, 20.534498)
    assert close(a.num_in_service, 31.620514) and close(v2.max_stable_rate_rps, 3.8208232, 1e-6)
    assert close_cancelled(a.ttft_ms, 75.31746, 10568.446)
    assert a.response_ms == pytest.approx(a.ttft_ms + 511 * a.itl_ms, rel=1e-12)


def test_replace_switches_service_model(model_a):
    token = model_a.replace(service_model="token", alpha=19, beta=1, tokens_per_request=1024)
    assert token.spec["service_model"] == "token" and "gamma" not in token.spec
    assert token.max_batch == 48
    assert model_a.replace(max_batch=8).max_batch == 8


def test_distributions(model_a):
    dist = model_a.itl_distribution(3.0)
    assert list(dist.columns) == ["itl_ms", "prob"]
    assert dist["prob"].sum() == pytest.approx(1.0, rel=1e-12)
    assert dist["itl_ms"].is_monotonic_increasing
    surv = model_a.wait_survival(3.7, [0.0, 100.0, 1000.0])
    assert surv[0] == pytest.approx(model_a.analyze(3.7).wait_prob, rel=1e-12)
    assert surv[0] > surv[1] > surv[2] >= 0
    assert isinstance(model_a.wait_survival(3.7, 10.0), float)
    chunks = inferno.QueueModel(alpha=8, beta=0.033, gamma=0.000333, in_tokens=4096, out_tokens=64,
                                max_batch=200, max_queue=400).prefill_chunks_by_batch
    assert chunks[63] == 1 and chunks[64] == 2 and chunks[199] == 39


def test_variability_correction_is_labelled(model_a):
    exact = model_a.analyze(3.5)
    approx = model_a.replace(arrival_cov=2.0).analyze(3.5)
    assert approx.approximation == "allen-cunneen" and exact.approximation is None
    assert approx.wait_ms == pytest.approx(2.5 * exact.wait_ms, rel=1e-14)
    frame = model_a.replace(service_cov=0.5).analyze([1.0, 2.0])
    assert set(frame["approximation"]) == {"allen-cunneen"}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(max_batch=0), "max_batch must be an integer in \\[1, 10000000\\]"),
        (dict(max_batch=10**12), "max_batch must be an integer in \\[1, 10000000\\]"),
        (dict(max_batch=4.5), "max_batch must be an integer"),
        (dict(max_queue=-1), "max_queue must be an integer in \\[0, 1000000000000\\], got -1"),
        (dict(out_tokens=0), "out_tokens must be a finite number in \\[1, 1e\\+08\\], got 0"),
        (dict(in_tokens=float("nan")), "in_tokens must be a finite number in \\[0, 1e\\+08\\], got nan"),
        (dict(alpha=-1.0), "alpha must be a finite number in \\[0, 1e\\+06\\], got -1"),
        (dict(alpha=0, beta=0, gamma=0), "must not all be 0"),
        (dict(delta=1.0), "unknown parameter 'delta'"),
        (dict(service_model="fancy"), "unknown service_model 'fancy'"),
        (dict(arrival_cov=-0.5), "arrival_cov must be a finite number in \\[0, 100\\], got -0.5"),
        (dict(itl_weighting="tokens"), "itl_weighting must be 'token' or 'time'"),
        (dict(out_tokens=None), "out_tokens is required"),
    ],
)
def test_bad_construction_names_the_field(kwargs, message):
    base = dict(alpha=12, beta=0.05, gamma=0.0005, in_tokens=128, out_tokens=512, max_batch=48,
                max_queue=128)
    base.update(kwargs)
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        inferno.QueueModel(**base)


def test_missing_model_parameter():
    with pytest.raises(ValueError, match="missing parameter 'gamma'"):
        inferno.QueueModel(alpha=12, beta=0.05, in_tokens=128, out_tokens=512, max_batch=4, max_queue=0)
    with pytest.raises(ValueError, match="not used by service_model 'token'"):
        inferno.QueueModel(service_model="token", alpha=1, beta=1, tokens_per_request=10,
                           in_tokens=5, max_batch=4, max_queue=0)


@pytest.mark.parametrize("rate", [0.0, -1.0, float("nan"), float("inf"), "3"])
def test_bad_rates(model_a, rate):
    with pytest.raises(ValueError, match="rate_rps"):
        model_a.analyze(rate)
    with pytest.raises(ValueError, match="rate_rps"):
        model_a.analyze([1.0, rate] if not isinstance(rate, str) else [1.0, -1.0])


def test_bad_targets(model_a):
    with pytest.raises(ValueError, match="ttft_ms must be a finite number > 0"):
        model_a.max_rate(ttft_ms=-5)
    with pytest.raises(ValueError, match="unknown target 'ttft_p95'"):
        model_a.max_rate(ttft_p95=100)
    with pytest.raises(ValueError, match=r"percentile of target 'ttft_p100_ms' must be in \(0, 100\)"):
        model_a.max_rate(ttft_p100_ms=100)
    with pytest.raises(ValueError, match=r"blocking_prob must be in \(0, 1\)"):
        model_a.max_rate(blocking_prob=1.5)
    with pytest.raises(ValueError, match="percentile of target 'ttft_p0_ms' must be in"):
        model_a.max_rate(ttft_p0_ms=100)
    with pytest.raises(ValueError, match="target 'ttft_ms' is given twice"):
        model_a.max_rate(ttft_ms=60, targets={"ttft_ms": 100})
    with pytest.raises(ValueError, match="duplicates another target"):
        model_a.max_rate(targets={"ttft_p99.9_ms": 100}, ttft_p99_9_ms=100)
    assert model_a.max_rate(targets={"tps": 1000}).binding == "tps_headroom"
    with pytest.raises(ValueError, match="percentile must be in"):
        model_a.analyze(1.0, percentiles=[100])


def test_chunked_prefill_ttft_by_hand_at_a_non_integer_occupancy():
    """A 4096-token prompt under a 2048-token budget: 3 chunks while the batch holds up to 10
    requests, 4 from 11 on. At a mean occupancy of 10.3 the chunk count is that of the nearest
    batch, 10 (not 11), and the mean TTFT follows the mean-field split by hand
    (docs/queueing-model.md, the iteration model)."""
    a, b, g, n, m, budget = 5.0, 0.02, 0.0004, 4096.0, 64.0, 2048
    q = inferno.QueueModel(alpha=a, beta=b, gamma=g, in_tokens=n, out_tokens=m, max_batch=16, max_queue=160,
                           max_num_tokens=budget)

    def batch_limit(c: int) -> int:  # b_c: the largest batch whose prompts fit c chunks
        return math.floor(max(0.0, (c + m) * (budget - n / c) / (n + m)) + 1e-9)

    chunks = [next(c for c in range(1, 100) if batch_limit(c) >= batch) for batch in range(1, 17)]
    assert chunks == [3] * 10 + [4] * 6 == list(q.prefill_chunks_by_batch)

    lo, hi = 1e-3, 100.0  # the rate at which the mean occupancy is 10.3
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if q.analyze(mid).num_in_service < 10.3 else (lo, mid)
    r = q.analyze(lo)
    x = r.num_in_service
    assert x == pytest.approx(10.3, abs=1e-9)
    c = chunks[round(x) - 1]
    assert c == 3
    prefill_work = (b + g * (c + 1) / 2) * n
    decode_work = b * m + g * m * (n + (m + 1) / 2)
    per_iteration = (prefill_work + decode_work) / (c + m)
    prefill = c * max(0.0, a + (x - 1) * per_iteration) + prefill_work
    assert r.prefill_ms == pytest.approx(prefill, rel=1e-12)
    itl = (r.service_ms - prefill) / m
    assert r.itl_ms == pytest.approx(itl, rel=1e-12)
    assert r.ttft_ms == pytest.approx(r.wait_ms + prefill + itl, rel=1e-12)


def test_burst_throughput_counts_completions_within_the_window(model_a):
    """docs/queueing-model.md 3.7: N renewal processes from a cold start, counted up to W."""
    tau_s = model_a.service_times_ms[-1] / 1000.0
    n = model_a.max_batch
    # no spread of lengths: every slot finishes exactly floor(W / τ_N) requests
    for rounds in (0.5, 1.0001, 4.5, 10.2):
        window_s = rounds * tau_s
        assert model_a.burst_throughput_rps(window_s) == pytest.approx(n * math.floor(rounds) / window_s, rel=1e-12)
    # with a spread, the count rises monotonically towards the steady state N / τ_N, from below
    steady = n / tau_s
    counts = [model_a.burst_throughput_rps(w * tau_s, out_tokens_spread=0.5) / steady for w in (2, 5, 20, 100, 10_000)]
    assert counts == sorted(counts) and counts[-1] < 1 and counts[-1] == pytest.approx(1, rel=1e-4)
    assert steady == pytest.approx(model_a.completion_rates_rps[-1], rel=1e-12)
    # bad input names the field
    for window, spread, field in ((0, 0, "window_s"), (-1, 0, "window_s"), (math.nan, 0, "window_s"),
                                  (math.inf, 0, "window_s"), ("60", 0, "window_s"), (60, -0.1, "out_tokens_spread"),
                                  (60, 1.5, "out_tokens_spread"), (60, math.nan, "out_tokens_spread")):
        with pytest.raises(ValueError, match=field):
            model_a.burst_throughput_rps(window, out_tokens_spread=spread)


def test_the_sample_data_ship_with_the_package():
    samples = inferno.samples_path()
    for name in ("NOTICE.md", "large/server-data.json", "small/model-data.json", "queue/problem-data.json",
                 "sizing/request.json", "tuner/tuner-exp13.csv", "real/llama31-8b-h100-guidellm.csv"):
        assert (samples / name).is_file(), name
    assert inferno.load(samples / "small").servers.shape[0] > 0


def test_blocking_prob_is_the_one_name_and_loss_prob_warns():
    """One metric, one name: Analysis.blocking_prob and the target blocking_prob=; loss_prob,
    the old name of both, still answers for one release, with a DeprecationWarning."""
    m = inferno.QueueModel(alpha=12, beta=0.05, gamma=0.0005, in_tokens=128, out_tokens=512, max_batch=8, max_queue=2)
    a = m.analyze(1.5)
    assert 0 < a.blocking_prob < 1 and "blocking_prob" in a.to_dict() and "loss_prob" not in a.to_dict()
    with pytest.warns(DeprecationWarning, match="use blocking_prob"):
        assert a.loss_prob == a.blocking_prob
    new = m.max_rate(blocking_prob=0.01)
    with pytest.warns(DeprecationWarning, match="use blocking_prob"):
        old = m.max_rate(loss_prob=0.01)
    assert new.rate_rps == old.rate_rps and new.binding == "blocking_prob"
    with pytest.raises(ValueError, match="not also its deprecated name"), pytest.warns(DeprecationWarning):
        m.max_rate(blocking_prob=0.01, loss_prob=0.02)
