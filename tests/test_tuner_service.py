"""Per-variant service pieces of the tuner: ServerSpec documents to observations (docs/tuner.md §5,
vectors S13/S14) and calibration from a sweep (docs/tuner.md §3.5, C1/C2)."""

import pytest

import inferno
from inferno import tuner

TRUTH = {"alpha": 12.0, "beta": 0.04, "gamma": 0.00006}


def spec(name, model, acc, rate, ttft, itl, n, m, max_batch, max_queue, **alloc_extra):
    return {"name": name, "model": model, "maxQueueSize": max_queue,
            "currentAlloc": {"accelerator": acc, "maxBatch": max_batch, "itlAverage": itl, "ttftAverage": ttft,
                             "load": {"arrivalRate": rate, "avgInTokens": n, "avgOutTokens": m}, **alloc_extra}}


def test_s13_s14_server_specs_become_observations_with_their_queue():
    groups, skipped = tuner.observations_from_server_specs([
        spec("chat/pod-1", "granite_8b", "H100", 60, 45.0, 8.5, 2048, 1024, 64, 128),
        spec("chat/pod-2", "llama_13b", "H100", 30, 60.0, 12.0, 768, 768, 64, 0),
    ])
    assert skipped == []
    assert groups[("granite_8b", "H100")] == [{"rate_rpm": 60.0, "in_tokens": 2048.0, "out_tokens": 1024.0,
                                               "max_batch": 64, "max_queue": 128, "ttft_ms": 45.0, "itl_ms": 8.5}]
    assert groups[("llama_13b", "H100")][0]["max_queue"] == 0


def test_server_specs_case_insensitive_grouping_order_and_skips():
    docs = [
        {"Name": "b/pod-2", "Model": "m", "MaxBatchSize": 32,
         "CurrentAlloc": {"Accelerator": "A100", "MaxBatch": 64, "ITLAverage": 10, "TTFTAverage": 50,
                          "Load": {"ArrivalRate": 20, "AvgInTokens": 100, "AvgOutTokens": 200, "Throughput": 19}}},
        spec("b/pod-1", "m", "A100", 10, 40, 9, 100, 200, 64, 0, avgConcurrency=12.5),
        spec("idle", "m", "A100", 0, 40, 9, 100, 200, 64, 0),
        {"name": "starved", "model": "m", "currentAlloc": {"accelerator": "A100", "itlAverage": 9, "ttftAverage": 40,
                                                           "load": {"arrivalRate": 5, "avgInTokens": 1, "avgOutTokens": 1}}},
    ]
    groups, skipped = tuner.observations_from_server_specs(docs)
    obs = groups[("m", "A100")]
    assert [o["rate_rpm"] for o in obs] == [10.0, 20.0]  # replica-name order
    assert obs[1]["max_batch"] == 32  # maxBatchSize overrides currentAlloc.maxBatch
    assert obs[1]["throughput_rpm"] == 19.0 and obs[0]["avg_concurrency"] == 12.5
    assert skipped == [("starved", "not usable: maxBatchSize/maxBatch must be > 0")]


def sweep_point(rate, n, m):
    o = {"rate_rpm": rate, "in_tokens": n, "out_tokens": m, "max_batch": 128, "max_queue": 0}
    p = tuner.predict(o, TRUTH)
    return {**o, "ttft_ms": p["ttft_ms"], "itl_ms": p["itl_ms"]}


def test_c1_calibration_recovers_and_graduates():
    t = inferno.Tuner(profile="reference", warm_up_cycles=3, init_obs=3, hold_back=False, seeded_guess=False)
    sweep = [sweep_point(r, 512, 256) for r in (30, 60, 90, 120, 150)] + [sweep_point(60, 1024, 128),
                                                                          sweep_point(60, 256, 512)]
    result = t.calibrate(sweep)
    assert result.status == "ok" and result.identifiable
    for name, value in TRUTH.items():  # noise-free sweep: the fit is essentially exact
        assert result.params[name] == pytest.approx(value, rel=1e-4)
    est = t.estimate
    assert est.source == "calibration" and est.update_count == 3 and not t.warming_up and t.calibrated
    hold_out = {"rate_rpm": 75, "in_tokens": 768, "out_tokens": 192, "max_batch": 128, "max_queue": 0}
    at_fit, at_truth = tuner.predict(hold_out, est.params), tuner.predict(hold_out, TRUTH)
    assert at_fit["ttft_ms"] == pytest.approx(at_truth["ttft_ms"], rel=0.2)
    assert at_fit["itl_ms"] == pytest.approx(at_truth["itl_ms"], rel=0.2)


def test_c2_identical_points_do_not_calibrate():
    t = inferno.Tuner(profile="reference", warm_up_cycles=3, init_obs=3, hold_back=False, seeded_guess=False)
    result = t.calibrate([sweep_point(60, 512, 256)] * 3)
    assert result.status != "ok" and not result.identifiable
    assert t.estimate is None and not t.calibrated
    with pytest.raises(ValueError, match="at least 2 valid operating points"):
        t.calibrate([sweep_point(60, 512, 256)])
