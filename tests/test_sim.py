"""Tests of the simulator's Python layer (``inferno.simulate``) and end-to-end properties.

The C++ Catch2 suite (cpp/tests/test_sim.cpp) covers the engine in isolation. Here the same
kinds of checks go through the Python API with other numbers, plus what the Python layer adds:
argument conversion (traces, schedules, token distributions, fleets), the DataFrames, the
summary Series, ``to_dict``/``repr`` and the errors. Statistical checks use fixed seeds (the
simulator is deterministic for a seed), long runs, and tolerances of three 95 % half-widths, so
they are reproducible and still fail for a wrong model.

Hand-computed engine timelines use α = 10 ms, β = 0.1 ms/token, γ = 0.001 ms/token², a prompt
of n = 100 and m = 10 output tokens. A request alone: prefill 10 + 0.1·100 + 0.001·100 =
20.1 ms; decode step k (k = 1..10) reads 100 + k cached tokens: 10 + 0.1 + 0.001·(100 + k).
TTFT = 20.1 + 10.201 = 30.301 ms (the first token comes out of the first decode step); E2E =
20.1 + 101 + 0.001·1055 = 122.155 ms.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import inferno
from inferno import QueueModel

# Same convention as test_properties.py: reproducible examples on CI.
HYPOTHESIS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow],
                  derandomize=os.environ.get("CI", "").lower() == "true")

HAND = dict(alpha=10, beta=0.1, gamma=0.001, in_tokens=100, out_tokens=10)
TTFT_1, E2E_1 = 30.301, 122.155            # a request alone (module docstring)
ITL_1 = (E2E_1 - 20.1) / 10                 # (finish - end of prefill) / m = 10.2055 ms
TIMES = ("arrival_ms", "start_ms", "first_token_ms", "finish_ms")


def hand_model(max_batch: int = 4, max_queue: int = 4, **changes) -> QueueModel:
    return QueueModel(**{**HAND, "max_batch": max_batch, "max_queue": max_queue, **changes})


def trace(*rows: tuple[float, float, float]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["time_s", "in_tokens", "out_tokens"])


def within(value: float, truth: float, half_width: float, k: float = 3.0, abs_tol: float = 0.0) -> bool:
    """|value - truth| <= k half-widths (or abs_tol); the half-width must be finite."""
    assert math.isfinite(half_width) and half_width >= 0, half_width
    return abs(value - truth) <= k * half_width + abs_tol


def assert_invariants(run: inferno.Simulation, model: QueueModel, *, kv: bool = False,
                      fixed_fleet: bool = True) -> None:
    """Conservation, ordering and capacity invariants of a run with ``keep_requests=True``.

    Every arrival is served or blocked; no request finishes before it starts; the batch of a
    replica never exceeds N (checked at every admission from the request times) and its system
    never exceeds N + Q; a replica admits FCFS; without a KV limit and with a fixed fleet an
    arrival is blocked exactly when its replica holds N + Q requests.
    """
    s, r = run.summary, run.requests
    n_cap, q_cap = model.max_batch, model.max_queue
    assert s["total_arrivals"] == s["total_completed"] + s["total_blocked"] + s["unfinished"]
    assert s["unfinished"] == 0  # arrivals stop at the duration, then the engine drains
    assert len(r) == s["total_arrivals"]
    assert int(r["blocked"].sum()) == s["total_blocked"]
    assert list(r["id"]) == list(range(len(r)))
    assert r["arrival_ms"].is_monotonic_increasing
    assert (r["arrival_ms"] >= 0).all()
    assert 1 <= s["max_batch_seen"] <= n_cap or s["total_completed"] == 0
    assert s["max_tokens_in_iteration"] <= model.spec["max_num_tokens"]
    blocked, served = r[r["blocked"]], r[~r["blocked"]]
    assert blocked[["start_ms", "first_token_ms", "finish_ms"]].isna().all().all()
    assert served[["start_ms", "finish_ms"]].notna().all().all()
    assert (served["start_ms"] >= served["arrival_ms"]).all()
    assert (served["finish_ms"] >= served["start_ms"]).all()
    if s["mode"] == "iteration":
        assert (served["first_token_ms"] > served["start_ms"]).all()  # at least one iteration
        assert (served["finish_ms"] >= served["first_token_ms"]).all()
    else:
        assert served["first_token_ms"].isna().all()
    assert (served["wait_ms"] >= 0).all() and (served["e2e_ms"] >= served["wait_ms"]).all()
    for replica, mine in r.groupby("replica"):
        ok = mine[~mine["blocked"]]
        assert ok["start_ms"].is_monotonic_increasing, f"replica {replica} is not FCFS"
        arrivals = ok["arrival_ms"].to_numpy()
        starts, finishes = np.sort(ok["start_ms"].to_numpy()), np.sort(ok["finish_ms"].to_numpy())
        # Batch right after the admissions at each start time (a finish at t has left by then).
        batch = np.searchsorted(starts, starts, "right") - np.searchsorted(finishes, starts, "right")
        assert batch.max(initial=0) <= n_cap, f"replica {replica}: batch {batch.max()} > N = {n_cap}"
        # Accepted requests in the system when each request arrives (departures at t first).
        t = mine["arrival_ms"].to_numpy()
        present = np.searchsorted(arrivals, t, "left") - np.searchsorted(finishes, t, "right")
        accepted = ~mine["blocked"].to_numpy()
        assert (present[accepted] < n_cap + q_cap).all()
        if not kv and fixed_fleet:
            assert (present[~accepted] == n_cap + q_cap).all()


# ----------------------------------------------------------------------------- hand-computed
def test_a_request_alone_follows_the_hand_computed_timeline():
    run = inferno.simulate(hand_model(), trace=trace((2.0, 100, 10)), duration_s=10)
    r = run.requests
    assert len(r) == 1 and not r["blocked"][0]
    assert r["arrival_ms"][0] == 2000 and r["start_ms"][0] == 2000
    assert r["ttft_ms"][0] == pytest.approx(TTFT_1, rel=1e-12)
    assert r["e2e_ms"][0] == pytest.approx(E2E_1, rel=1e-12)
    assert r["wait_ms"][0] == 0
    assert (r["in_tokens"][0], r["out_tokens"][0], r["replica"][0]) == (100, 10, 0)
    s = run.summary
    assert s["window_s"] == 9.0  # warm-up defaults to 10 % of the duration
    assert (s["arrivals"], s["completed"], s["blocked"]) == (1, 1, 0)
    assert s["ttft_ms_mean"] == pytest.approx(TTFT_1, rel=1e-12)
    assert s["e2e_ms_p99"] == pytest.approx(E2E_1, rel=1e-12)
    assert s["itl_ms_mean"] == pytest.approx(ITL_1, rel=1e-12)
    # The queue model's light-load ITL: α + β + γ(n + (m + 1)/2).
    assert ITL_1 == pytest.approx(10 + 0.1 + 0.001 * (100 + 5.5), rel=1e-12)
    assert (s["iterations"], s["max_batch_seen"], s["max_tokens_in_iteration"]) == (11, 1, 100)
    # Time averages over the 9 s window: one request in service for 122.155 ms.
    assert s["num_in_system"] == pytest.approx(0.122155 / 9, rel=1e-9)
    assert s["utilisation"] == pytest.approx(0.122155 / 9, rel=1e-9)
    assert s["queue_length"] == 0 and s["throughput_rps"] == pytest.approx(1 / 9)


def test_two_simultaneous_requests_share_iterations_as_computed_by_hand():
    # Both arrive at 1 s. The idle engine starts the first at once (prefill alone, 20.1 ms); the
    # second joins at the next boundary, where its prefill (100 tokens) runs with the first's
    # first decode step: 10 + 0.1·101 + 0.001·(101 + 100) = 20.301 ms -> first TTFT 40.401.
    # Then both decode: 10 + 0.2 + 0.001·(101 + 102) = 10.403 -> second TTFT 40.401 + 10.403.
    # Steps k = 2..10 (0-based; both decoding) read 199 + 2k: 9·10.2 + 0.001·1899 = 93.699;
    # first finishes at 20.1 + 20.301 + 93.699 = 134.1; the second's last step alone reads 110:
    # 10.1 + 0.11 = 10.21 -> 144.31. Twelve iterations in all.
    run = inferno.simulate(hand_model(), trace=trace((1.0, 100, 10), (1.0, 100, 10)), duration_s=5)
    r = run.requests
    assert r["start_ms"].tolist() == pytest.approx([1000, 1020.1], rel=1e-12)
    assert r["ttft_ms"].tolist() == pytest.approx([40.401, 50.804], rel=1e-12)
    assert r["e2e_ms"].tolist() == pytest.approx([134.1, 144.31], rel=1e-12)
    s = run.summary
    assert (s["iterations"], s["max_batch_seen"], s["max_tokens_in_iteration"]) == (12, 2, 101)
    # Mean ITL: (finish - end of prefill)/m = (134.1 - 20.1)/10 and (144.31 - 40.401)/10.
    assert s["itl_ms_mean"] == pytest.approx(((134.1 - 20.1) + (144.31 - 40.401)) / 20, rel=1e-12)


@pytest.mark.parametrize("router", inferno.sim.ROUTERS)
def test_two_replicas_serve_simultaneous_requests_each_alone(router):
    run = inferno.simulate(hand_model(), trace=trace((1.0, 100, 10), (1.0, 100, 10)), duration_s=5,
                           replicas=2, router=router)
    r = run.requests
    assert sorted(r["replica"]) == [0, 1]
    assert r["ttft_ms"].tolist() == pytest.approx([TTFT_1] * 2, rel=1e-12)
    assert r["e2e_ms"].tolist() == pytest.approx([E2E_1] * 2, rel=1e-12)
    assert run.summary["max_batch_seen"] == 1


def test_kv_capacity_admits_the_second_request_when_the_first_leaves():
    # 150 tokens hold one request of 100 + 10 tokens: the second waits for the first's finish.
    run = inferno.simulate(hand_model(), trace=trace((1.0, 100, 10), (1.0, 100, 10)), duration_s=5,
                           kv_capacity_tokens=150)
    r = run.requests
    assert r["start_ms"].tolist() == pytest.approx([1000, 1000 + E2E_1], rel=1e-12)
    assert r["wait_ms"].tolist() == pytest.approx([0, E2E_1], rel=1e-12)
    assert r["ttft_ms"].tolist() == pytest.approx([TTFT_1, E2E_1 + TTFT_1], rel=1e-12)
    assert r["e2e_ms"].tolist() == pytest.approx([E2E_1, 2 * E2E_1], rel=1e-12)
    assert run.summary["max_batch_seen"] == 1
    # A request that can never fit is blocked at once, not kept waiting.
    too_small = inferno.simulate(hand_model(), trace=trace((1.0, 100, 10)), duration_s=5, kv_capacity_tokens=109)
    assert too_small.requests["blocked"].tolist() == [True]
    assert too_small.summary["total_blocked"] == 1 and too_small.summary["blocking_prob"] == 1.0


def test_the_trace_supplies_token_counts_and_is_sorted():
    rows = [(3.0, 40, 2), (1.0, 100, 10), (2.0, 0, 1), (9.5, 7, 3), (10.0, 5, 5), (12.0, 5, 5)]
    as_frame = inferno.simulate(hand_model(max_batch=8), trace=trace(*rows), duration_s=10,
                                in_tokens=999, out_tokens=999)  # ignored for a trace
    as_tuples = inferno.simulate(hand_model(max_batch=8), trace=rows, duration_s=10)
    pd.testing.assert_frame_equal(as_frame.requests, as_tuples.requests)
    r = as_frame.requests
    # Sorted by time; rows at or after the duration are not replayed.
    assert r["arrival_ms"].tolist() == [1000, 2000, 3000, 9500]
    assert r["in_tokens"].tolist() == [100, 0, 40, 7]
    assert r["out_tokens"].tolist() == [10, 1, 2, 3]
    # n = 0, m = 1: the prefill iteration computes nothing (α = 10) and the only decode step
    # reads 1 token: 10 + 0.1 + 0.001 -> TTFT = E2E = 20.101 ms.
    assert r["ttft_ms"][1] == pytest.approx(20.101, rel=1e-12)
    assert r["e2e_ms"][1] == pytest.approx(20.101, rel=1e-12)
    assert r["e2e_ms"][0] == pytest.approx(E2E_1, rel=1e-12)


def test_iteration_noise_keeps_the_mean_and_spreads_the_times():
    rows = [(0.5 + k, 100, 10) for k in range(300)]  # lone requests, one a second
    quiet = inferno.simulate(hand_model(), trace=rows, duration_s=301, warmup_s=0)
    np.testing.assert_allclose(quiet.requests["e2e_ms"], E2E_1, rtol=1e-12)
    noisy = inferno.simulate(hand_model(), trace=rows, duration_s=301, warmup_s=0, iteration_noise_cv=0.3)
    e2e = noisy.requests["e2e_ms"]
    # Log-normal factors of mean 1 per iteration: E[E2E] = 122.155 ms; the sum of 11 factors
    # with CV 0.3 has a CV of about 0.3/sqrt(11) ~ 0.09 per request (and less, weighted).
    assert e2e.mean() == pytest.approx(E2E_1, rel=0.02)
    assert 0.03 < e2e.std() / e2e.mean() < 0.2


# ----------------------------------------------------------------------------- textbook queues
def test_md1_at_n1_matches_pollaczek_khinchine():
    # N = 1 with fixed tokens: every service takes exactly τ_1 = 122.155 ms (the model's τ_1
    # too), so a deep waiting room is M/D/1: Wq = ρτ/(2(1 - ρ)), L = ρ + ρ²/(2(1 - ρ)).
    model = hand_model(max_batch=1, max_queue=100_000)
    assert model.service_times_ms[0] == pytest.approx(E2E_1, rel=1e-12)
    rho = 0.75
    rate = rho / (E2E_1 / 1000)
    run = inferno.simulate(model, rate, duration_s=15_000, seed=4, sample_interval_s=0)
    s, served = run.summary, run.requests[~run.requests["blocked"]]
    np.testing.assert_allclose(served["e2e_ms"] - served["wait_ms"], E2E_1, rtol=1e-9)
    np.testing.assert_allclose(served["ttft_ms"] - served["wait_ms"], TTFT_1, rtol=1e-9)
    wq = rho * E2E_1 / (2 * (1 - rho))
    assert within(s["wait_ms_mean"], wq, s["wait_ms_half_width"])
    assert within(s["num_in_system"], rho + rho**2 / (2 * (1 - rho)), s["num_in_system_half_width"])
    assert s["utilisation"] == pytest.approx(rho, abs=0.02)
    assert s["blocked"] == 0


@pytest.mark.parametrize("rho, seed", [(0.7, 2), (1.5, 3)])
def test_mm1k_closed_form_at_n1(rho, seed):
    # Markov mode at N = 1, Q = 3 (K = 4): M/M/1/K with μ = μ_1 of the model; p_k ∝ ρ^k. The
    # token service model shows the Markov mode runs any service model.
    model = QueueModel(service_model="token", alpha=19, beta=1, tokens_per_request=1024, max_batch=1, max_queue=3)
    mu = model.completion_rates_rps[0]
    assert mu == pytest.approx(1000 / model.service_times_ms[0], rel=1e-12)
    k = 4
    p = np.array([rho**j for j in range(k + 1)])
    p /= p.sum()
    lam = rho * mu
    blocking = p[k]
    throughput = lam * (1 - blocking)
    l_sys = float(np.dot(np.arange(k + 1), p))
    l_queue = l_sys - (1 - p[0])
    run = inferno.simulate(model, lam, mode="markov", duration_s=60_000 / lam, seed=seed, sample_interval_s=0,
                           keep_requests=False)
    s = run.summary
    assert within(s["throughput_rps"], throughput, s["throughput_half_width"])
    assert within(s["num_in_system"], l_sys, s["num_in_system_half_width"])
    assert within(s["e2e_ms_mean"], 1000 * l_sys / throughput, s["e2e_ms_half_width"])
    assert within(s["wait_ms_mean"], 1000 * l_queue / throughput, s["wait_ms_half_width"])
    assert s["blocking_prob"] == pytest.approx(blocking, rel=0.05)
    assert s["queue_length"] == pytest.approx(l_queue, rel=0.05)
    assert s["utilisation"] == pytest.approx(1 - p[0], rel=0.03)
    # The analytical chain gives the same closed form.
    a = model.analyze(lam)
    assert a.num_in_system == pytest.approx(l_sys, rel=1e-9)
    assert a.blocking_prob == pytest.approx(blocking, rel=1e-9)


def test_mm1_means_and_percentiles():
    # Markov mode at N = 1 with a deep queue is M/M/1 (FCFS): the response time is exponential
    # with rate μ - λ, and P(Wq > t) = ρ·exp(-(μ - λ)t).
    model = hand_model(max_batch=1, max_queue=1_000_000)
    mu = model.completion_rates_rps[0]
    rho = 0.6
    lam = rho * mu
    run = inferno.simulate(model, lam, mode="markov", duration_s=300_000 / lam, seed=8, sample_interval_s=0,
                           keep_requests=False)
    s = run.summary
    scale_ms = 1000 / (mu - lam)
    assert within(s["e2e_ms_mean"], scale_ms, s["e2e_ms_half_width"])
    assert within(s["wait_ms_mean"], rho * scale_ms, s["wait_ms_half_width"])
    assert within(s["num_in_system"], rho / (1 - rho), s["num_in_system_half_width"])
    # Percentiles have no half-width here; 5 % is several standard errors at 270k requests.
    assert s["e2e_ms_p50"] == pytest.approx(math.log(2) * scale_ms, rel=0.05)
    assert s["e2e_ms_p95"] == pytest.approx(math.log(20) * scale_ms, rel=0.05)
    assert s["wait_ms_p50"] == pytest.approx(math.log(rho / 0.5) * scale_ms, rel=0.1)
    assert s["wait_ms_p90"] == pytest.approx(math.log(rho / 0.1) * scale_ms, rel=0.05)
    assert s["blocked"] == 0 and math.isnan(s["ttft_ms_mean"]) and s["ttft_ms_count"] == 0


# ----------------------------------------------------------------------------- Markov vs chain
@pytest.mark.parametrize("max_batch, max_queue, load", [(4, 4, 0.6), (16, 32, 0.9), (32, 16, 1.3)])
def test_markov_mode_agrees_with_the_analytical_chain(model_a, max_batch, max_queue, load):
    model = model_a.replace(max_batch=max_batch, max_queue=max_queue)
    lam = load * model.max_stable_rate_rps
    a = model.analyze(lam)
    run = inferno.simulate(model, lam, mode="markov", duration_s=200_000 / lam, seed=11, sample_interval_s=0,
                           keep_requests=False)
    s = run.summary
    assert s["completed"] > 100_000
    assert within(s["throughput_rps"], a.throughput_rps, s["throughput_half_width"])
    assert within(s["num_in_system"], a.num_in_system, s["num_in_system_half_width"])
    assert within(s["wait_ms_mean"], a.wait_ms, s["wait_ms_half_width"], abs_tol=1e-3 * a.response_ms)
    assert within(s["e2e_ms_mean"], a.response_ms, s["e2e_ms_half_width"])
    assert s["blocking_prob"] == pytest.approx(a.blocking_prob, rel=0.1, abs=0.002)
    assert s["num_in_service"] == pytest.approx(a.num_in_service, rel=0.03)
    assert s["num_in_system"] == pytest.approx(s["num_in_service"] + s["queue_length"], rel=1e-9)


def test_markov_wait_distribution_matches_wait_survival(model_a):
    # P(wait > t) of the accepted requests against the chain's exact wait distribution, each
    # fraction with a batch-means half-width (20 batches by arrival time, t quantile 2.093).
    model = model_a.replace(max_batch=8, max_queue=24)
    lam = 0.8 * model.max_stable_rate_rps
    duration = 60_000 / lam
    run = inferno.simulate(model, lam, mode="markov", duration_s=duration, seed=5, sample_interval_s=0)
    r = run.requests
    window = r[(r["arrival_ms"] >= 100 * duration) & ~r["blocked"]]
    assert len(window) == run.summary["completed"]
    batch = ((window["arrival_ms"] - 100 * duration) / (900 * duration) * 20).astype(int).clip(0, 19)
    mean_wait = model.analyze(lam).wait_ms
    assert window["wait_ms"].mean() == pytest.approx(run.summary["wait_ms_mean"], rel=1e-12)
    for t in (0.0, 0.5 * mean_wait, 2 * mean_wait, 5 * mean_wait):
        expected = float(model.wait_survival(lam, t))
        fractions = (window["wait_ms"] > t).groupby(batch).mean()
        half_width = 2.093 * fractions.std() / math.sqrt(len(fractions))
        assert within(float((window["wait_ms"] > t).mean()), expected, half_width, abs_tol=1e-3), t
    assert float(model.wait_survival(lam, 0.0)) == pytest.approx(model.analyze(lam).wait_prob, rel=1e-9)


# ----------------------------------------------------------------------------- conservation
def test_conservation_and_limits_under_overload():
    # Overloaded (blocking), chunked prefill (n up to ~1500 with a 256-token budget), random
    # token counts; every invariant of assert_invariants holds, and the budget binds.
    model = QueueModel(alpha=6, beta=0.02, gamma=0.0002, in_tokens=300, out_tokens=40, max_batch=8, max_queue=5,
                       max_num_tokens=256)
    run = inferno.simulate(model, 1.4 * model.max_stable_rate_rps, duration_s=120, seed=9,
                           in_tokens="geometric", out_tokens=("uniform", 1, 79))
    s = run.summary
    assert s["total_blocked"] > 0 and s["blocking_prob"] > 0
    assert s["max_batch_seen"] == 8
    assert s["max_tokens_in_iteration"] == 256
    assert s["utilisation"] > 0.95
    assert_invariants(run, model)
    assert s["num_in_system"] <= 8 + 5 and s["num_in_service"] <= 8


def test_kv_capacity_bounds_the_tokens_held_by_the_batch():
    # 1000 KV tokens with requests of 100 + (1..40) tokens: at most 9 fit although N = 16.
    model = hand_model(max_batch=16, max_queue=32)
    run = inferno.simulate(model, 60.0, duration_s=60, seed=2, kv_capacity_tokens=1000,
                           out_tokens=("uniform", 1, 40))
    assert_invariants(run, model, kv=True)
    r = run.requests[~run.requests["blocked"]]
    held = (r["in_tokens"] + r["out_tokens"]).to_numpy()
    start, finish = r["start_ms"].to_numpy(), r["finish_ms"].to_numpy()
    peak = max(held[(start <= t) & (finish > t)].sum() for t in start)
    assert 900 < peak <= 1000
    assert 7 <= run.summary["max_batch_seen"] <= 9


def test_the_summary_is_the_statistics_of_the_requests_frame(model_a):
    model = model_a.replace(max_batch=16, max_queue=8)
    run = inferno.simulate(model, 1.2 * model.max_stable_rate_rps, duration_s=300, warmup_s=50, seed=21,
                           out_tokens="geometric")
    s, r = run.summary, run.requests
    assert s["window_s"] == 250
    window = r[(r["arrival_ms"] >= 50_000) & (r["arrival_ms"] < 300_000)]
    served = window[~window["blocked"]]
    assert s["arrivals"] == len(window) and s["blocked"] == int(window["blocked"].sum()) > 0
    assert s["completed"] == len(served)
    assert s["offered_rps"] == pytest.approx(len(window) / 250, rel=1e-12)
    assert s["blocking_prob"] == pytest.approx(window["blocked"].mean(), rel=1e-12)
    done = r["finish_ms"].between(50_000, 300_000)
    assert s["throughput_rps"] == pytest.approx(done.sum() / 250, rel=1e-12)
    for metric in ("ttft_ms", "e2e_ms", "wait_ms"):
        values = served[metric].to_numpy()
        stat = run.stat(metric)
        assert stat["count"] == len(values) == s[f"{metric}_count"]
        assert stat["mean"] == pytest.approx(values.mean(), rel=1e-9)
        for p in (50, 90, 95, 99):
            assert stat[f"p{p}"] == pytest.approx(np.percentile(values, p), rel=1e-9, abs=1e-9)
            assert s[f"{metric}_p{p}"] == stat[f"p{p}"]
    assert run.stat("itl_ms")["count"] == len(served)


# ----------------------------------------------------------------------------- determinism
def test_same_seed_same_run_other_seed_other_run(model_a):
    kwargs = dict(duration_s=120, out_tokens="geometric", in_tokens=("uniform", 64, 192))
    a = inferno.simulate(model_a, 3.0, seed=42, **kwargs)
    b = inferno.simulate(model_a, 3.0, seed=42, **kwargs)
    c = inferno.simulate(model_a, 3.0, seed=43, **kwargs)
    pd.testing.assert_frame_equal(a.requests, b.requests)
    pd.testing.assert_frame_equal(a.series, b.series)
    assert a.to_dict() == b.to_dict()
    assert len(a.requests) != len(c.requests) or not a.requests["arrival_ms"].equals(c.requests["arrival_ms"])
    assert a.summary["e2e_ms_mean"] != c.summary["e2e_ms_mean"]


def test_records_and_series_do_not_change_the_outcome(model_a):
    full = inferno.simulate(model_a, 3.0, duration_s=120, seed=6)
    lean = inferno.simulate(model_a, 3.0, duration_s=120, seed=6, keep_requests=False, sample_interval_s=0)
    assert lean.requests.empty and lean.series.empty
    assert len(full.requests) == full.summary["total_arrivals"] and len(full.series) > 100
    for key, value in full.summary.items():
        if isinstance(value, float) and key in ("num_in_system", "num_in_service", "queue_length", "utilisation",
                                                "num_in_system_half_width", "mean_replicas"):
            # Sampling splits the time integrals at more points: equal up to rounding.
            assert lean.summary[key] == pytest.approx(value, rel=1e-12, abs=1e-12), key
        elif isinstance(value, float) and math.isnan(value):
            assert math.isnan(lean.summary[key]), key
        else:
            assert lean.summary[key] == value, key


def test_requests_columns_do_not_depend_on_the_number_of_rows():
    model = hand_model()
    some = inferno.simulate(model, trace=trace((1.0, 100, 10)), duration_s=5)
    none = inferno.simulate(model, trace=trace((6.0, 100, 10)), duration_s=5)  # after the duration
    assert none.requests.empty
    assert list(none.requests.columns) == list(some.requests.columns)


# ----------------------------------------------------------------------------- workloads
def test_a_step_schedule_with_a_silent_period():
    model = hand_model(max_batch=64, max_queue=64)
    run = inferno.simulate(model, schedule=[(0, 20), (30, 0), (50, 40)], duration_s=80, seed=3, rate_rps=1e6)
    t = run.requests["arrival_ms"] / 1000
    assert not t.between(30, 50, inclusive="left").any()  # rate 0 between 30 s and 50 s
    first, last = int((t < 30).sum()), int((t >= 50).sum())
    assert abs(first - 600) < 4 * math.sqrt(600)
    assert abs(last - 1200) < 4 * math.sqrt(1200)
    frame = pd.DataFrame({"time_s": [0, 30, 50], "rate_rps": [20, 0, 40]})
    again = inferno.simulate(model, schedule=frame, duration_s=80, seed=3)
    pd.testing.assert_frame_equal(run.requests, again.requests)


def test_a_linear_ramp_delivers_its_integrated_rate():
    # 0 -> 40 req/s over [0, 100] s: Λ(t) = 0.2 t², so a quarter of the 2000 arrivals by 50 s.
    model = hand_model(max_batch=64, max_queue=64)
    run = inferno.simulate(model, schedule=[(0, 0), (100, 40)], schedule_kind="linear", duration_s=100, seed=12)
    t = run.requests["arrival_ms"].to_numpy() / 1000
    assert abs(len(t) - 2000) < 4 * math.sqrt(2000)
    early = int((t < 50).sum())
    assert abs(early - 500) < 4 * math.sqrt(500)
    assert int((t < 10).sum()) < 45  # Λ(10) = 20
    step = inferno.simulate(model, schedule=[(0, 0), (100, 40)], duration_s=100, seed=12)
    assert step.requests.empty  # held at 0 until 100 s = the duration


@pytest.mark.parametrize("cv", [0.25, 3.0])
def test_gamma_arrivals_have_the_requested_cv(cv):
    model = hand_model(max_batch=64, max_queue=10_000)
    run = inferno.simulate(model, 50.0, arrivals="gamma", cv=cv, duration_s=400, seed=2, keep_requests=True,
                           sample_interval_s=0)
    gaps = np.diff(run.requests["arrival_ms"].to_numpy())
    assert gaps.mean() == pytest.approx(20.0, rel=0.03 * max(cv, 1))
    assert gaps.std() / gaps.mean() == pytest.approx(cv, rel=0.06)


def test_poisson_arrivals_are_exponential():
    run = inferno.simulate(hand_model(max_batch=64, max_queue=1000), 100.0, duration_s=200, seed=4,
                           sample_interval_s=0)
    gaps = np.diff(run.requests["arrival_ms"].to_numpy())
    assert gaps.mean() == pytest.approx(10.0, rel=0.02)
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, rel=0.03)
    assert np.mean(gaps > 10.0) == pytest.approx(math.exp(-1), abs=0.01)


def test_token_distributions():
    model = hand_model(max_batch=256, max_queue=10_000)

    def tokens(**kwargs) -> pd.DataFrame:
        run = inferno.simulate(model, 200.0, duration_s=40, seed=7, sample_interval_s=0, **kwargs)
        return run.requests

    fixed = tokens(in_tokens=37, out_tokens=("fixed", 3))
    assert set(fixed["in_tokens"]) == {37} and set(fixed["out_tokens"]) == {3}
    default = tokens()
    assert set(default["in_tokens"]) == {100} and set(default["out_tokens"]) == {10}
    uni = tokens(in_tokens=("uniform", 5, 15), out_tokens={"kind": "uniform", "low": 1, "high": 4})
    assert set(uni["in_tokens"]) == set(range(5, 16)) and set(uni["out_tokens"]) == {1, 2, 3, 4}
    assert uni["in_tokens"].mean() == pytest.approx(10, rel=0.02)
    counts = uni["out_tokens"].value_counts(normalize=True)
    assert counts.to_numpy() == pytest.approx(np.full(4, 0.25), abs=0.02)
    emp = tokens(out_tokens=("empirical", [1, 2, 3, 10]))
    assert set(emp["out_tokens"]) == {1, 2, 3, 10}
    assert emp["out_tokens"].mean() == pytest.approx(4.0, rel=0.03)
    geo = tokens(in_tokens="geometric", out_tokens="geometric")  # the model's means, 100 and 10
    assert geo["in_tokens"].min() == 0 and geo["out_tokens"].min() == 1
    assert geo["in_tokens"].mean() == pytest.approx(100, rel=0.03)
    assert geo["out_tokens"].mean() == pytest.approx(10, rel=0.03)
    # Geometric above the minimum: P(out = 1) = 1/(1 + (10 - 1)) = 0.1.
    assert np.mean(geo["out_tokens"] == 1) == pytest.approx(0.1, abs=0.01)
    expo = tokens(out_tokens=("exponential", 30))
    assert expo["out_tokens"].mean() == pytest.approx(30, rel=0.04)


def test_uniform_around_gives_the_benchmark_tools_lengths():
    assert inferno.sim.uniform_around(1000) == ("uniform", 500, 1500)
    assert inferno.sim.uniform_around(64, 0.25) == ("uniform", 48, 80)
    run = inferno.simulate(hand_model(max_batch=256, max_queue=10_000), 100.0, duration_s=40,
                           in_tokens=inferno.sim.uniform_around(100), out_tokens=inferno.sim.uniform_around(10))
    assert run.requests["in_tokens"].between(50, 150).all() and run.requests["out_tokens"].between(5, 15).all()
    assert run.requests["in_tokens"].mean() == pytest.approx(100, rel=0.02)
    for bad, match in (((1000, 1.5), "spread must be a number in \\[0, 1\\]"), ((-1,), "mean must be"),
                       ((float("nan"),), "mean must be")):
        with pytest.raises(ValueError, match=match):
            inferno.sim.uniform_around(*bad)


def test_constant_arrivals_are_evenly_spaced():
    run = inferno.simulate(hand_model(), 4.0, duration_s=10, warmup_s=0, arrivals="constant")
    assert run.requests["arrival_ms"].to_numpy() == pytest.approx(250.0 * np.arange(1, 40))
    # The same rate as Poisson: the same count on average, but no bunching, so less waiting.
    model = hand_model(max_batch=4, max_queue=1000)
    rate = 0.8 * model.max_stable_rate_rps
    even = inferno.simulate(model, rate, duration_s=2000, arrivals="constant", keep_requests=False)
    random = inferno.simulate(model, rate, duration_s=2000, keep_requests=False)
    assert even.summary["wait_ms_mean"] < 0.5 * random.summary["wait_ms_mean"]


def test_closed_loop_users_send_back_to_back():
    """One user: requests follow each other, each taking the lone request's 122.155 ms; four users
    with room for four keep exactly four present."""
    one = inferno.simulate(hand_model(), arrivals="closed", clients=1, duration_s=1, warmup_s=0)
    assert one.requests["arrival_ms"].to_numpy() == pytest.approx(122.155 * np.arange(9), rel=1e-12)
    paused = inferno.simulate(hand_model(), arrivals="closed", clients=1, think_time_s=0.1, duration_s=1, warmup_s=0)
    assert len(paused.requests) == 5
    four = inferno.simulate(hand_model(max_batch=2, max_queue=2), arrivals="closed", clients=4, duration_s=120)
    assert four.summary["num_in_system"] == pytest.approx(4, rel=1e-9)
    assert four.summary["throughput_rps"] * four.summary["e2e_ms_mean"] / 1000 == pytest.approx(4, rel=0.01)
    for kwargs, match in ((dict(clients=0), "clients"), (dict(clients=2.5), "clients must be an integer"),
                          (dict(clients=2, rate_rps=3.0), "paced by their clients"),
                          (dict(clients=2, think_time_s=-1), "think_time_s")):
        with pytest.raises(ValueError, match=match):
            inferno.simulate(hand_model(), arrivals="closed", duration_s=1, **kwargs)
    with pytest.raises(ValueError, match="closed arrivals only"):
        inferno.simulate(hand_model(), 1.0, clients=3, duration_s=1)


def test_on_demand_kv_preempts_the_latest_request_and_loses_none():
    """Hand timeline (as in cpp/tests/test_sim.cpp): α = 10, β = 1, γ = 0, two requests of 4 + 4
    tokens at t = 0 and a cache of 15 tokens. Reserving 8 each, the second waits for the first
    (done at 116 ms); on demand it starts at once, is preempted after two decode steps and
    recomputes 6 tokens (done at 102 ms)."""
    model = QueueModel(alpha=10, beta=1, gamma=0, in_tokens=4, out_tokens=4, max_batch=8, max_queue=8)
    trace = [(0.0, 4, 4), (0.0, 4, 4)]
    reserve = inferno.simulate(model, trace=trace, duration_s=1, warmup_s=0, kv_capacity_tokens=15)
    paged = inferno.simulate(model, trace=trace, duration_s=1, warmup_s=0, kv_capacity_tokens=15,
                             kv_policy="on-demand")
    assert reserve.requests["finish_ms"].tolist() == pytest.approx([58, 116])
    assert paged.requests["finish_ms"].tolist() == pytest.approx([64, 102])
    assert paged.requests["first_token_ms"].tolist() == pytest.approx([29, 41])
    assert (reserve.summary["preemptions"], paged.summary["preemptions"]) == (0, 1)
    # Under load: more in the batch than reservations allow, preemptions counted, nothing lost.
    busy = QueueModel(alpha=8, beta=0.03, gamma=0.0003, in_tokens=200, out_tokens=2000, max_batch=256,
                      max_queue=4096)
    runs = {policy: inferno.simulate(busy, 3.0, duration_s=300, kv_capacity_tokens=40_000, kv_policy=policy,
                                     keep_requests=False) for policy in inferno.sim.KV_POLICIES}
    assert runs["reserve"].summary["max_batch_seen"] == 18  # 40000 // 2200
    assert runs["on-demand"].summary["max_batch_seen"] > 18 and runs["on-demand"].summary["preemptions"] > 0
    s = runs["on-demand"].summary
    assert s["total_completed"] + s["unfinished"] + s["total_blocked"] == s["total_arrivals"]


def test_vllm_names_for_the_batch_cap_and_the_token_budget():
    model = hand_model(max_batch=64, max_queue=1000)
    run = inferno.simulate(model, 50.0, duration_s=60, max_num_seqs=3, max_num_batched_tokens=300)
    assert run.summary["max_batch_seen"] == 3 and run.summary["max_tokens_in_iteration"] <= 300
    same = inferno.simulate(model.replace(max_batch=3, max_num_tokens=300), 50.0, duration_s=60)
    assert same.to_dict() == run.to_dict()
    with pytest.raises(ValueError, match="max_num_seqs .*max_batch"):
        inferno.simulate(model, 1.0, max_num_seqs=0)
    with pytest.raises(ValueError, match="max_num_batched_tokens"):
        inferno.simulate(model, 1.0, max_num_batched_tokens=-5)


def test_the_vllm_service_model_runs_the_engine_loop_with_its_per_sequence_and_attention_costs():
    base = dict(alpha=10, beta=0.1, gamma=0.001, in_tokens=100, out_tokens=10, max_batch=8, max_queue=0)
    plain = inferno.simulate(QueueModel(**base), trace=[(1.0, 100, 10)], duration_s=10, warmup_s=0)
    vllm = inferno.simulate(QueueModel(service_model="vllm", delta=0.5, epsilon=0, **base), trace=[(1.0, 100, 10)],
                            duration_s=10, warmup_s=0)
    # 11 iterations of one sequence each: 0.5 ms more each (the C++ test's hand timeline).
    assert vllm.requests["e2e_ms"][0] == pytest.approx(plain.requests["e2e_ms"][0] + 11 * 0.5, rel=1e-12)
    # the prompt's 100²/2 token pairs of attention at epsilon = 1e-3 ms: 5 ms more to the first token
    attention = inferno.simulate(QueueModel(service_model="vllm", delta=0.5, epsilon=1e-3, **base),
                                 trace=[(1.0, 100, 10)], duration_s=10, warmup_s=0)
    gained = attention.requests[["ttft_ms", "e2e_ms"]].iloc[0] - vllm.requests[["ttft_ms", "e2e_ms"]].iloc[0]
    assert gained.tolist() == pytest.approx([5.0, 5.0], rel=1e-12)
    assert plain.requests["e2e_ms"][0] == pytest.approx(122.155, rel=1e-12)


def test_numpy_numbers_are_numbers_for_token_counts():
    run = inferno.simulate(hand_model(), 5.0, duration_s=20, in_tokens=np.int64(40), out_tokens=np.float32(3))
    assert set(run.requests["in_tokens"]) == {40} and set(run.requests["out_tokens"]) == {3}


# ----------------------------------------------------------------------------- fleets
def test_round_robin_assigns_request_i_to_replica_i_mod_r():
    model = hand_model(max_batch=8, max_queue=2)
    run = inferno.simulate(model, 40.0, duration_s=60, seed=1, replicas=3)
    r = run.requests
    assert (r["replica"] == r["id"] % 3).all()  # blocked ones too: the router picked them
    counts = r["replica"].value_counts()
    assert counts.max() - counts.min() <= 1
    assert run.summary["mean_replicas"] == pytest.approx(3.0, rel=1e-12)
    assert_invariants(run, model)


@pytest.mark.parametrize("router", ["jsq", "least-tokens"])
def test_load_aware_routers_balance_and_conserve(router):
    model = hand_model(max_batch=4, max_queue=4)
    lam = 2.5 * model.max_stable_rate_rps  # 3 replicas, overall load ~0.83
    run = inferno.simulate(model, lam, duration_s=100, seed=4, replicas=3, router=router, out_tokens="geometric")
    counts = run.requests["replica"].value_counts()
    assert len(counts) == 3 and counts.min() > 0.25 * len(run.requests)
    assert_invariants(run, model)


def test_scale_out_with_a_startup_delay_and_scale_in_show_in_the_series():
    model = QueueModel(alpha=8, beta=0.03, gamma=0.0003, in_tokens=256, out_tokens=64, max_batch=16, max_queue=32)
    run = inferno.simulate(model, 4.0, duration_s=100, warmup_s=0, seed=1, startup_delay_s=10,
                           scale_events=[(50, 1), (80, -1)])
    ser = run.series.set_index("time_s")["replicas"]
    assert (ser.loc[:59] == 1).all()  # added at 50 s, serving after the 10 s start-up
    assert (ser.loc[60:79] == 2).all()
    assert (ser.loc[80:] == 1).all()   # removed at 80 s: stops taking requests at once
    # Serving replicas averaged over [0, 100] s: (60·1 + 20·2 + 20·1)/100.
    assert run.summary["mean_replicas"] == pytest.approx(1.2, rel=1e-12)
    second = run.requests[run.requests["replica"] == 1]
    assert len(second) > 20
    assert second["arrival_ms"].between(60_000, 80_000, inclusive="left").all()
    assert_invariants(run, model, fixed_fleet=False)


# ----------------------------------------------------------------------------- API surface
def test_repr_to_dict_and_stat():
    run = inferno.simulate(hand_model(), trace=trace((2.0, 100, 10)), duration_s=10)
    text = repr(run)
    assert text.startswith("Simulation(1 requests measured over 9 s")
    assert "TTFT 30.3 ms" in text and "ITL 10.21 ms" in text and "blocking 0" in text
    d = run.to_dict()
    assert d == {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in run.summary.items()}
    assert d["mode"] == "iteration" and d["completed"] == 1
    assert d["ttft_ms_half_width"] is None  # one request: no confidence interval
    assert d["ttft_ms_mean"] == pytest.approx(TTFT_1)
    assert run.stat("ttft_ms") == run.stats["ttft_ms"]
    assert set(run.stat("e2e_ms")) == {"count", "mean", "p50", "p90", "p95", "p99", "half_width"}
    with pytest.raises(ValueError, match="ttft_ms, itl_ms, token_itl_ms, e2e_ms, wait_ms"):
        run.stat("latency")
    markov = inferno.simulate(hand_model(), 1.0, mode="markov", duration_s=60).to_dict()
    assert markov["mode"] == "markov" and markov["completed"] > 0
    assert markov["ttft_ms_mean"] is None and markov["itl_ms_p99"] is None and markov["ttft_ms_count"] == 0
    assert markov["iterations"] == 0 and markov["e2e_ms_mean"] > 0
    assert all(v is None or isinstance(v, (int, float, str)) for v in markov.values())


def test_a_dict_model_equals_the_queue_model():
    spec = {**HAND, "max_batch": 4, "max_queue": 4}
    a = inferno.simulate(spec, 2.0, duration_s=30, seed=3)
    b = inferno.simulate(QueueModel(**spec), 2.0, duration_s=30, seed=3)
    pd.testing.assert_frame_equal(a.requests, b.requests)


@pytest.mark.parametrize("kwargs, match", [
    (dict(mode="fluid"), r"unknown mode 'fluid'; allowed: 'iteration', 'markov'"),
    (dict(router="random"), r"'round-robin', 'jsq', 'least-tokens'"),
    (dict(arrivals="bursty"), r"unknown arrivals 'bursty'.*'poisson', 'gamma'"),
    (dict(rate_rps=-1.0), r"rate_rps"),
    (dict(rate_rps=0.0), r"rate_rps"),
    (dict(rate_rps=float("nan")), r"rate_rps"),
    (dict(rate_rps=None), r"rate_rps is required"),
    (dict(duration_s=10, warmup_s=10), r"warmup_s"),
    (dict(duration_s=0), r"duration_s"),
    (dict(seed=-1), r"seed"),
    (dict(schedule_kind="cubic", schedule=[(0, 1)]), r"schedule_kind"),
    (dict(schedule=[(0, 1), (0, 2)]), r"rate schedule time_s"),
    (dict(schedule=[(0, -1)]), r"rate schedule rate_rps"),
    (dict(trace=pd.DataFrame({"time_s": [1.0]})), r"trace: missing column"),
    (dict(trace=[(1.0, 2)]), r"trace: each entry"),
    (dict(trace=[(1.0, 10, 0)]), r"trace out_tokens"),
    (dict(out_tokens=0), r"out_tokens"),
    (dict(in_tokens=-1), r"in_tokens"),
    (dict(out_tokens="uniform"), r"out_tokens: 'uniform' needs parameters"),
    (dict(out_tokens=("uniform", 5, 2)), r"out_tokens high"),
    (dict(out_tokens=("empirical", [])), r"out_tokens values must not be empty"),
    (dict(out_tokens=("pareto", 2)), r"out_tokens: expected"),
    (dict(out_tokens={"kind": "pareto"}), r"unknown distribution 'pareto'"),
    (dict(arrivals="gamma", cv=0), r"cv"),
    (dict(kv_capacity_tokens=-1), r"kv_capacity_tokens"),
    (dict(kv_policy="lazy"), r"kv_policy 'lazy'; allowed: 'reserve', 'on-demand'"),
    (dict(arrivals="burst"), r"arrivals 'burst'; allowed: 'poisson', 'gamma', 'constant'"),
    (dict(iteration_noise_cv=-0.1), r"iteration_noise_cv"),
    (dict(sample_interval_s=-1), r"sample_interval_s"),
    (dict(ci_batches=1), r"ci_batches"),
    (dict(replicas=-1), r"replicas"),
    (dict(startup_delay_s=-1), r"startup_delay_s"),
    (dict(scale_events=[(-1, 1)]), r"scale event time_s"),
])
def test_bad_arguments_raise_value_errors_naming_them(kwargs, match):
    args = {"rate_rps": 1.0, "duration_s": 10, **kwargs}
    with pytest.raises(ValueError, match=match):
        inferno.simulate(hand_model(), **args)


def test_the_iteration_mode_needs_the_iteration_service_model():
    token = QueueModel(service_model="token", alpha=19, beta=1, tokens_per_request=1024, max_batch=4, max_queue=4)
    with pytest.raises(ValueError, match="markov"):
        inferno.simulate(token, 1.0, duration_s=10)
    assert inferno.simulate(token, 1.0, duration_s=10, mode="markov").summary["total_arrivals"] > 0
    with pytest.raises(ValueError, match="max_num_tokens"):  # a decode step needs N tokens
        inferno.simulate(hand_model(max_num_tokens=2), 1.0, duration_s=10)
    with pytest.raises(TypeError, match="QueueModel"):
        inferno.simulate("model", 1.0)


# ----------------------------------------------------------------------------- properties
@st.composite
def scenarios(draw) -> tuple[QueueModel, dict]:
    n_cap = draw(st.integers(1, 6))
    model = QueueModel(alpha=draw(st.floats(0.5, 20)), beta=draw(st.floats(0, 0.1)), gamma=draw(st.floats(0, 1e-3)),
                       in_tokens=draw(st.sampled_from([0, 20, 300, 1500])), out_tokens=draw(st.sampled_from([1, 5, 40])),
                       max_batch=n_cap, max_queue=draw(st.integers(0, 6)),
                       max_num_tokens=draw(st.sampled_from([n_cap, n_cap + 50, 512, 8192])))
    replicas = draw(st.integers(1, 3))
    rate = draw(st.floats(0.2, 2.0)) * replicas * model.max_stable_rate_rps
    kwargs = dict(mode=draw(st.sampled_from(inferno.sim.MODES)), replicas=replicas,
                  router=draw(st.sampled_from(inferno.sim.ROUTERS)), seed=draw(st.integers(0, 2**31)),
                  out_tokens=draw(st.sampled_from([None, "geometric", ("uniform", 1, 60)])),
                  in_tokens=draw(st.sampled_from([None, "geometric"])),
                  duration_s=300 / rate, rate_rps=rate, sample_interval_s=0)  # ~300 arrivals
    return model, kwargs


@settings(max_examples=25, **HYPOTHESIS)
@given(scenarios(), st.floats(0.3, 3.0), st.sampled_from(["poisson", "constant"]))
def test_on_demand_kv_loses_no_request_and_respects_its_limits(scenario, cache_scale, arrivals):
    """On-demand KV with preemption by recompute, random servers and caches from a third of a
    full batch's needs to three batches': every request completes or is blocked, none is lost to
    a preemption, the batch stays within N, and times stay ordered."""
    model, kwargs = scenario
    if kwargs["mode"] != "iteration":
        kwargs["mode"] = "iteration"
    n, m = model.spec["in_tokens"], model.spec["out_tokens"]
    capacity = max(n + m + 60, cache_scale * model.max_batch * (n + m))  # a lone request always fits
    run = inferno.simulate(model, **{**kwargs, "arrivals": arrivals, "kv_capacity_tokens": capacity,
                                     "kv_policy": "on-demand"})
    s, r = run.summary, run.requests
    assert s["total_arrivals"] == s["total_completed"] + s["total_blocked"] and s["unfinished"] == 0
    assert s["max_batch_seen"] <= model.max_batch and s["preemptions"] >= 0
    served = r[~r["blocked"]]
    assert (served["first_token_ms"] > served["start_ms"]).all()
    assert (served["finish_ms"] >= served["first_token_ms"]).all()
    assert served["start_ms"].is_monotonic_increasing or kwargs["replicas"] > 1


@settings(max_examples=25, **HYPOTHESIS)
@given(scenarios())
def test_conservation_and_ordering_hold_for_random_servers(scenario):
    model, kwargs = scenario
    run = inferno.simulate(model, **kwargs)
    assert_invariants(run, model)
    s = run.summary
    assert 0 <= s["utilisation"] <= 1 and 0 <= s["blocking_prob"] <= 1
    assert s["num_in_service"] <= model.max_batch * kwargs["replicas"] + 1e-9
    # (The iteration engine's queue also holds requests waiting for the next iteration
    # boundary, so only the system, N + Q per replica, is bounded.)
    assert s["num_in_system"] <= (model.max_batch + model.max_queue) * kwargs["replicas"] + 1e-9
    assert s["num_in_system"] == pytest.approx(s["num_in_service"] + s["queue_length"], rel=1e-9, abs=1e-12)


# ------------------------------------------------------------------------------------------ stepping
STEP_MODEL = dict(alpha=8, beta=0.02, gamma=5e-4, in_tokens=256, out_tokens=64, max_batch=16, max_queue=1000)


def test_stepping_with_scale_to_gives_what_simulate_gives_with_scale_events():
    from inferno.sim import Simulator
    model = QueueModel(**STEP_MODEL)
    whole = inferno.simulate(model, 6.0, duration_s=300, seed=5, out_tokens="geometric",
                             scale_events=[(40, 2), (200, -1)], startup_delay_s=25, router="jsq")
    s = Simulator(model, 6.0, duration_s=300, seed=5, out_tokens="geometric", router="jsq")
    s.advance_to(40)
    s.scale_to(3, startup_delay_s=25)
    s.advance_to(200)
    s.scale_to(2)
    stepped = s.finish()
    assert stepped.to_dict() == whole.to_dict()
    pd.testing.assert_frame_equal(stepped.requests, whole.requests)


def test_counters_over_a_window_are_the_requests_of_that_window():
    """Differences of the counters over [60, 120] s are what the per-request records say happened then."""
    from inferno.sim import Simulator
    s = Simulator(QueueModel(**STEP_MODEL), 5.0, duration_s=200, seed=2)
    s.advance_to(60)
    a = s.counters()
    s.advance_to(120)
    b = s.counters()
    req = s.finish().requests
    finished = req[(req.finish_ms > 60_000) & (req.finish_ms <= 120_000)]
    assert b["request_success"] - a["request_success"] == len(finished)
    assert b["generation_tokens"] - a["generation_tokens"] == finished.out_tokens.sum()
    assert math.isclose(b["e2e_sum_s"] - a["e2e_sum_s"], finished.e2e_ms.sum() / 1000, rel_tol=1e-9)
    first = req[(req.first_token_ms > 60_000) & (req.first_token_ms <= 120_000)]
    assert b["ttft_count"] - a["ttft_count"] == len(first)
    assert math.isclose(b["ttft_sum_s"] - a["ttft_sum_s"], first.ttft_ms.sum() / 1000, rel_tol=1e-9)
    arrived = req[(req.arrival_ms > 60_000) & (req.arrival_ms <= 120_000)]
    assert b["arrivals"] - a["arrivals"] == len(arrived)
    assert math.isclose(b["replica_seconds"] - a["replica_seconds"], 60.0, rel_tol=1e-12)


def test_a_stepped_simulation_refuses_bad_steps():
    from inferno.sim import Simulator
    s = Simulator(QueueModel(**STEP_MODEL), 2.0, duration_s=60)
    s.advance_to(10)
    with pytest.raises(ValueError, match=r"time_s must be a finite number in \[now_s, 1e8\]"):
        s.advance_to(5)
    with pytest.raises(ValueError, match=r"time_s must be a finite number"):
        s.advance_to(float("nan"))
    with pytest.raises(ValueError, match=r"replicas must be an integer in \[0, 1000\], got 2.5"):
        s.scale_to(2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="startup_delay_s"):
        s.scale_to(2, startup_delay_s=-1)
    with pytest.raises(ValueError, match="unknown option 'duration'; allowed: duration_s"):
        Simulator(QueueModel(**STEP_MODEL), 2.0, duration=60)
    assert s.now_s == 10 and "t=10 s" in repr(s)
    s.finish()
    with pytest.raises(ValueError, match="finished"):
        s.advance_to(20)
