"""The control loop: the stabilizer's rules and its "never"s, the predictors by hand, the simulated
sensor against the simulators' counters, scenario validation, and closed-loop runs (docs/control.md)."""

from __future__ import annotations

import json
import math
import re
from statistics import NormalDist
import subprocess
import sys
from pathlib import Path

import pytest

from inferno.control import (ClosedLoop, PredictionSettings, Predictor, ScenarioError, Stabilizer, StabilizerSettings,
                             compare, load_scenario, read_trace)
from inferno.control.fleet import ServerSetup, SimulatedActuator, SimulatedFleet, SimulatedSensor

REPO = Path(__file__).resolve().parents[1]
LARGE = REPO / "samples" / "large"
SERVER = "Premium-llama3_8b"


# ------------------------------------------------------------------------------------- stabilizer
def decide(st: Stabilizer, t: float, serving: int, desired: int | None, starting: int = 0, **kw):
    return st.decide(t, "s", serving=serving, starting=starting, desired=desired, **kw)


def test_scale_up_is_immediate_and_step_limited():
    st = Stabilizer()
    d = decide(st, 0, 2, 20)
    assert (d.target, d.reason) == (6, "scale up, step-limited")  # max(100 % of 2, 4 replicas)
    d = decide(st, 0, 10, 35)
    assert d.target == 20  # 100 % of 10 beats 4
    assert decide(st, 0, 10, 13).target == 13


def test_starting_replicas_count_as_supply():
    st = Stabilizer()
    d = decide(st, 0, 2, 5, starting=3)
    assert (d.current, d.target, d.reason) == (5, 5, "as desired")  # no cascade: nothing more is ordered


def test_scale_down_waits_for_the_window_then_goes_to_the_highest_desired_seen():
    st = Stabilizer(StabilizerSettings(scale_down_window_s=300))
    assert decide(st, 0, 10, 6).target == 10
    assert decide(st, 100, 10, 8).reason == "scale-down window"
    assert decide(st, 200, 10, 7).target == 10
    d = decide(st, 300, 10, 6)
    assert (d.target, d.reason) == (8, "scale down")  # the highest desired of the last 300 s
    # a desired count at or above the current one restarts the window
    st = Stabilizer()
    decide(st, 0, 10, 6)
    decide(st, 200, 10, 10)
    assert decide(st, 400, 10, 6).target == 10


def test_scale_down_is_step_limited_and_never_while_replicas_start():
    st = Stabilizer(StabilizerSettings(scale_down_window_s=0))
    d = decide(st, 0, 10, 1)
    assert (d.target, d.reason) == (5, "scale down, step-limited")  # at most 50 % a cycle
    st = Stabilizer(StabilizerSettings(scale_down_window_s=0))
    d = decide(st, 0, 4, 2, starting=1)
    assert (d.target, d.reason) == (5, "no scale-down while replicas start")


def test_tolerance_ignores_small_changes_unless_the_slo_is_breached():
    st = Stabilizer()
    assert decide(st, 0, 20, 21).reason == "within tolerance"  # 1 < 10 % of 20
    assert decide(st, 0, 20, 21, breach=True).target == 21
    assert decide(st, 0, 20, 22).target == 22  # 2 = 10 % of 20
    assert decide(st, 0, 3, 4).target == 4     # at least one replica always counts


def test_never_zero_for_a_missing_plan_stale_metrics_or_a_zero_desire():
    st = Stabilizer(StabilizerSettings(scale_down_window_s=0))
    assert decide(st, 0, 3, None).target == 3 and decide(st, 0, 3, None).hold
    d = decide(st, 0, 3, 0, fresh=False)
    assert (d.target, d.hold, d.reason) == (3, True, "hold: metrics stale or missing")
    assert decide(st, 0, 2, 0, offered_rps=1.0).target == 1  # desired 0 with load: one replica stays
    # zero only when configured, after the idle window without load
    st = Stabilizer(StabilizerSettings(scale_down_window_s=0, idle_window_s=600))
    assert decide(st, 0, 1, 0, offered_rps=0.0).target == 1
    assert decide(st, 599, 1, 0, offered_rps=0.0).target == 1
    assert decide(st, 600, 1, 0, offered_rps=0.0).target == 0


@pytest.mark.parametrize("settings, message", [
    (dict(tolerance=2), r"stabilizer.tolerance must be a number in \[0, 1\], got 2"),
    (dict(max_step_up_replicas=0), r"stabilizer.max_step_up_replicas must be an integer in \[1, 10000\], got 0"),
    (dict(scale_down_window_s=float("nan")), "scale_down_window_s must be a number"),
])
def test_bad_stabilizer_settings_are_named(settings, message):
    with pytest.raises(ValueError, match=message):
        StabilizerSettings(**settings)


# ------------------------------------------------------------------------------------- prediction
def test_predictors_by_hand():
    last = Predictor(PredictionSettings(predictor="last"))
    for r in (2.0, 4.0):
        last.observe(r, 60)
    assert last.forecast(120).mean_rps == 4.0
    ewma = Predictor(PredictionSettings(predictor="ewma", alpha=0.5))
    for r in (2.0, 4.0, 8.0):
        ewma.observe(r, 60)
    assert ewma.forecast(120).mean_rps == 5.5  # 2 -> 3 -> 5.5
    # Holt: level 1, 2, 3 ... with alpha = beta = 1 the trend is the last step per second.
    holt = Predictor(PredictionSettings(predictor="holt", alpha=1.0, beta=1.0, history_cycles=2, trend_damping=1.0))
    for r in (1.0, 2.0, 3.0):
        holt.observe(r, 60)
    f = holt.forecast(120)
    assert f.mean_rps == pytest.approx(3.0 + 2.0)  # 1 req/s per 60 s, two windows ahead
    assert f.upper_rps > f.mean_rps
    # damped: the second window ahead follows the trend 0.8 times as much as the first
    damped = Predictor(PredictionSettings(predictor="holt", alpha=1.0, beta=1.0, history_cycles=2, trend_damping=0.8))
    for r in (1.0, 2.0, 3.0):
        damped.observe(r, 60)
    assert damped.forecast(120).mean_rps == pytest.approx(3.0 + 0.8 + 0.8 ** 2)


def test_trends_wait_for_history_are_capped_and_kalman_follows_a_ramp():
    holt = Predictor(PredictionSettings(predictor="holt", alpha=1.0, beta=1.0, history_cycles=10))
    for r in (1.0, 2.0, 3.0):
        holt.observe(r, 60)
    assert holt.forecast(600).mean_rps == 3.0  # 3 of 10 cycles: no trend yet
    capped = Predictor(PredictionSettings(predictor="holt", alpha=1.0, beta=1.0, history_cycles=2, growth_cap=2.0,
                                          trend_damping=1.0))
    for r in (1.0, 4.0, 16.0):
        capped.observe(r, 60)
    assert capped.forecast(600).mean_rps == 32.0 and capped.forecast(600).upper_rps == 32.0  # 2 x the last rate
    kalman = Predictor(PredictionSettings(predictor="kalman", history_cycles=4))
    for k in range(30):
        kalman.observe(10.0 * 1.02 ** k, 60)  # +2 % a minute
    f = kalman.forecast(60)
    assert f.method == "kalman"
    assert f.mean_rps == pytest.approx(10.0 * 1.02 ** 30, rel=0.03)


def test_bad_prediction_input_is_named():
    with pytest.raises(ValueError, match="predictor must be one of 'last', 'ewma', 'holt', 'kalman', got 'arima'"):
        PredictionSettings(predictor="arima")
    p = Predictor(PredictionSettings())
    with pytest.raises(ValueError, match="rate_rps must be a finite number >= 0, got nan"):
        p.observe(math.nan, 60)
    with pytest.raises(ValueError, match="rate_rps must be a finite number >= 0, got -1"):
        p.observe(-1, 60)


def test_the_seasonal_floor_forecasts_the_usual_rate_at_the_horizons_time_of_day():
    # A 400 s "day" in four 100 s bins; one window per bin.
    settings = PredictionSettings(predictor="last", seasonal_floor=1.0, season_s=400, season_bin_s=100, prior_cv=0.0)
    p = Predictor(settings)
    for k, rate in enumerate([1.0, 2.0, 3.0, 4.0]):
        p.observe(rate, 100, end_s=100 * (k + 1))
        assert p.seasonal_floor(100) is None  # not before a full day has been seen
    p.observe(1.0, 100, end_s=500)  # day 2, bin 0: a day seen
    assert p.seasonal_floor(100) == 2.0  # the window ending at 600 s is bin 1 of day 1
    assert p.seasonal_floor(150) == 2.5  # halfway between the centres of bins 1 and 2
    f = p.forecast(100)
    assert (f.mean_rps, f.method) == (2.0, "last+seasonal")  # the floor beats last's 1.0
    # last's one-step errors 1, 1, 1, 3 smoothed (0.8 / 0.2): 0.2, 0.36, 0.488, 2.1904; Poisson 2 / 100
    assert f.upper_rps == pytest.approx(2.0 + NormalDist().inv_cdf(0.9) * math.sqrt(2.1904 + 2.0 / 100))
    assert Predictor(PredictionSettings(predictor="last")).seasonal_floor(100) is None  # off by default
    half = Predictor(PredictionSettings(predictor="last", seasonal_floor=0.5, season_s=400, season_bin_s=100))
    for k, rate in enumerate([1.0, 2.0, 3.0, 4.0, 1.0]):
        half.observe(rate, 100, end_s=100 * (k + 1))
    assert half.seasonal_floor(100) == 1.0
    # each bin blends its days, the newest with weight season_memory (0.5): bin 0 saw 1, then 3
    blend = Predictor(settings)
    for k, rate in enumerate([1.0, 2.0, 3.0, 4.0, 3.0, 2.0, 3.0, 4.0, 9.0]):
        blend.observe(rate, 100, end_s=100 * (k + 1))
    assert blend.seasonal_floor(400 - 50 + 50) == pytest.approx(0.5 * 1.0 + 0.5 * 3.0)  # bin 0 of day 3
    with pytest.raises(ValueError, match="prediction.season_bin_s must divide season_s into 2 to 100000 whole bins, "
                                         "got 300 s for a 400 s season"):
        PredictionSettings(seasonal_floor=1.0, season_s=400, season_bin_s=300)


def test_forecast_errors_by_hand():
    import numpy as np

    from inferno.control.prediction import forecast_errors, window_rates
    # Rates alternating 1 and 2 req/s over 60 s windows: 'last' is off by 1 every window one step
    # ahead, and exactly right two windows ahead.
    times = np.concatenate([k * 60 + np.arange(60 * (1 + k % 2)) / (1 + k % 2) for k in range(12)])
    assert list(window_rates(times, 60, 720)) == [1.0, 2.0] * 6
    frame = forecast_errors(times, 60, 120, {"last": PredictionSettings(predictor="last")}).set_index("predictor")
    # the trace ends inside window 12, which is dropped: 11 windows, mean rate 16 / 11
    assert frame.loc["last", "one_step_nrmse"] == pytest.approx(1 / (16 / 11))
    assert frame.loc["last", "horizon_nrmse"] == 0.0 and frame.loc["last", "under_10pct_share"] == 0.0
    assert frame.loc["last", "upper_coverage"] == 1.0
    everyone = forecast_errors(times, 60, 120).set_index("predictor")
    assert list(everyone.index) == ["last", "ewma", "holt", "kalman"]
    # an EWMA of 1, 2, 1, 2... settles between them: a smaller one-step error than last's
    assert everyone.loc["ewma", "one_step_vs_last"] < 1
    with pytest.raises(ValueError, match="horizon_s must be a whole number"):
        forecast_errors(times, 60, 90)
    with pytest.raises(ValueError, match="at least 5 are needed"):
        forecast_errors(times[:100], 60, 120)


def test_inferno_control_forecast_reports_every_predictor_on_a_trace(tmp_path):
    out = subprocess.run([sys.executable, "-m", "inferno", "control", "forecast", str(REPO / "samples/traces/azure2023_conv.csv"),
                          "--format", "json"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["windows"] == 58 and doc["horizon_s"] == 180
    rows = {r["predictor"]: r for r in doc["predictors"]}
    assert rows["last"]["one_step_vs_last"] == 1.0 and set(rows) == {"last", "ewma", "holt", "kalman"}
    assert 0.1 < rows["last"]["horizon_nrmse"] < 0.25  # the hump of the trace at 60 s windows: 0.179
    bad = subprocess.run([sys.executable, "-m", "inferno", "control", "forecast", str(REPO / "samples/traces/azure2023_conv.csv"),
                          "--horizon-s", "100"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "horizon_s must be a whole number (>= 1) of periods of 60 s, got 100.0" in bad.stderr


@pytest.mark.long_loop
def test_a_seasonal_floor_orders_the_daily_ramp_before_it_shows():
    """Four one-hour "days" of a 6x diurnal load: from the second day the floor knows the ramp."""
    doc = {**BASE, "duration_s": 4 * 3600, "startup_delay_s": 180, "policies": ["inferno"],
           "workload": {"kind": "diurnal", "peak_to_trough": 6, "period_s": 3600, "rate_scale": 2.0}}
    plain = compare(load_scenario(doc)).summary.iloc[0]
    seasonal = compare(load_scenario({**doc, "prediction": {"seasonal_floor": 1.0, "season_s": 3600,
                                                             "season_bin_s": 300}})).summary.iloc[0]
    assert plain.attainment < 1.0 and seasonal.attainment == 1.0  # measured: 99.95 % and 100 %
    assert seasonal.itl_p95_ms < plain.itl_p95_ms
    assert seasonal.cost <= 1.05 * plain.cost  # measured: +2.4 %


# ----------------------------------------------------------------------------------------- sensor
def one_server_fleet(rate_rps: float = 4.0, duration_s: float = 600.0, replicas: int = 2) -> SimulatedFleet:
    from inferno import QueueModel
    import pandas as pd
    import numpy as np
    model = QueueModel(alpha=8, beta=0.02, gamma=5e-4, in_tokens=256, out_tokens=64, max_batch=16, max_queue=1000)
    t = np.arange(0.5 / rate_rps, duration_s, 1.0 / rate_rps)  # off the window edges
    trace = pd.DataFrame({"time_s": t, "in_tokens": 256.0, "out_tokens": 64.0})
    setup = ServerSetup("s", model, "G2", 23.0, replicas, trace)
    return SimulatedFleet({"s": setup}, duration_s, seed=1)


def test_the_simulated_sensor_computes_window_aggregates_from_the_counters():
    fleet = one_server_fleet()
    sensor = SimulatedSensor(fleet)
    fleet.advance_to(60)
    a = fleet.counters()["s"]
    s1 = sensor.collect(60).servers["s"]
    assert s1.offered_rps == a["arrivals"] / 60 == 4.0  # 240 evenly spaced arrivals
    assert s1.throughput_rps == a["request_success"] / 60
    assert s1.ttft_ms == pytest.approx(1000 * a["ttft_sum_s"] / a["ttft_count"], rel=1e-12)
    assert s1.in_tokens == 256.0 and s1.out_tokens == 64.0
    fleet.advance_to(120)
    b = fleet.counters()["s"]
    s2 = sensor.collect(120).servers["s"]
    assert s2.throughput_rps == (b["request_success"] - a["request_success"]) / 60
    assert s2.itl_ms == pytest.approx(1000 * (b["itl_sum_s"] - a["itl_sum_s"]) / (b["itl_count"] - a["itl_count"]))
    assert s2.running == pytest.approx((b["running_seconds"] - a["running_seconds"]) / 60)


def test_an_outage_reads_nothing_and_the_next_window_spans_the_gap():
    fleet = one_server_fleet()
    sensor = SimulatedSensor(fleet, outages=[(100, 200)])
    fleet.advance_to(60)
    sensor.collect(60)
    fleet.advance_to(120)
    out = sensor.collect(120).servers["s"]
    assert out.state == "unavailable" and out.offered_rps is None and out.ttft_ms is None  # missing, not zero
    fleet.advance_to(240)
    back = sensor.collect(240)
    assert back.window_s == 180
    assert back.servers["s"].offered_rps == pytest.approx(4.0)  # no spike from a rate over the gap


def test_the_actuator_isolates_failures_and_never_applies_a_change_twice():
    fleet = one_server_fleet(replicas=2)
    act = SimulatedActuator(fleet, {"s": 30.0}, errors=[(0, 100, ["s"])])
    assert act.apply(50, {"s": 4}) == {"s": "actuator error (simulated)"}
    assert fleet.counters()["s"]["replicas_starting"] == 0
    assert act.apply(150, {"s": 4}) == {}
    assert fleet.counters()["s"]["replicas_starting"] == 2
    assert act.apply(160, {"s": 4}) == {}  # the same target again: nothing more starts
    assert fleet.counters()["s"]["replicas_starting"] == 2


# --------------------------------------------------------------------------------------- scenarios
BASE = {"fleet": str(LARGE), "servers": [SERVER], "duration_s": 1200, "period_s": 60,
        "workload": {"kind": "constant"}, "policies": ["inferno"]}


@pytest.mark.parametrize("change, message", [
    ({"perod_s": 60}, "unknown key 'perod_s'; allowed: duration_s, faults, fleet"),
    ({"workload": {"kind": "constant", "rate_scale": -1}}, r"workload.rate_scale must be a number in \[0, 1e\+06\], got -1"),
    ({"workload": {"kind": "weekly"}}, "workload.kind must be one of trace, diurnal, step, onoff, constant, got 'weekly'"),
    ({"workload": {"kind": "step", "peak_to_trough": 3}}, "workload.unknown key 'peak_to_trough'; allowed: at_s, factor"),
    ({"policies": ["inferno", "kpa"]}, "policies: unknown policy 'kpa'; allowed: inferno, reference"),
    ({"faults": [{"kind": "sensor_outage", "start_s": 10, "end_s": 5}]}, "faults[0].end_s must be after start_s"),
    ({"faults": [{"kind": "stale_pods", "start_s": 0, "end_s": 5, "servers": "a"}]},
     "faults[0].servers must be a list of server names, got 'a'"),
    ({"faults": [{"kind": "missing_demand", "start_s": 0, "end_s": 5, "server": ["a"]}]},
     "faults[0].unknown key 'server'; allowed: end_s, kind, servers, start_s"),
    ({"faults": [{"kind": "brownout"}]}, "faults[0].kind must be one of sensor_outage, actuator_errors, capacity, "
                                         "stale_pods, missing_demand, server_added, server_removed, got 'brownout'"),
    ({"stabilizer": {"disagreement_hold_s": -1}}, r"stabilizer.disagreement_hold_s must be a number in \[0, 604800\]"),
    ({"stabilizer": {"tolerance": 5}}, r"stabilizer.tolerance must be a number in \[0, 1\]"),
    ({"fleet": "nowhere"}, "fleet: no such directory or file"),
])
def test_bad_scenarios_are_named(change, message):
    with pytest.raises(ScenarioError, match=message.replace("[", r"\[").replace("]", r"\]")
                       if "\\" not in message else message):
        load_scenario({**BASE, **change})


def test_an_unknown_server_lists_the_known_ones():
    with pytest.raises(ScenarioError, match="servers: unknown server 'nope'; known: Premium-llama_7b"):
        ClosedLoop(load_scenario({**BASE, "servers": ["nope"]}))
    with pytest.raises(ScenarioError, match=f"faults: unknown server 'nope'; the scenario's servers are {SERVER}"):
        ClosedLoop(load_scenario({**BASE, "faults": [{"kind": "stale_pods", "start_s": 0, "end_s": 5, "servers": ["nope"]}]}))


def test_bad_traces_name_the_row_and_the_column(tmp_path):
    unsorted = tmp_path / "a.csv"
    unsorted.write_text("t_s,in_tokens,out_tokens\n0,10,5\n2,10,5\n1,10,5\n")
    with pytest.raises(ScenarioError, match="row 4, column t_s: times must be sorted, got 1 after 2"):
        read_trace(unsorted)
    negative = tmp_path / "b.csv"
    negative.write_text("t_s,in_tokens,out_tokens\n0,10,5\n1,-3,5\n")
    with pytest.raises(ScenarioError, match="row 3, column in_tokens: must be a finite number >= 0, got -3"):
        read_trace(negative)
    wrong = tmp_path / "c.csv"
    wrong.write_text("time,in,out\n0,1,1\n")
    with pytest.raises(ScenarioError, match="the columns must be t_s,in_tokens,out_tokens"):
        read_trace(wrong)
    assert len(read_trace(REPO / "samples" / "traces" / "azure2023_conv.csv")) == 19366


# ------------------------------------------------------------------------------------ closed loop
def test_a_flash_crowd_is_served_by_scaling_up_and_the_run_is_deterministic():
    doc = {**BASE, "duration_s": 1800, "workload": {"kind": "step", "factor": 5, "at_s": 600, "ramp_s": 60},
           "startup_delay_s": 60, "policies": ["inferno", "static-peak"]}
    first = compare(load_scenario(doc))
    again = compare(load_scenario(doc), workers=2)  # a sweep on two processes
    assert first.summary.equals(again.summary)  # same scenario, same numbers, wherever it ran
    assert first.runs["inferno"].timeline.equals(again.runs["inferno"].timeline)
    run = first.runs["inferno"].timeline
    before = run[run.time_s <= 600].target.max()
    after = run[run.time_s >= 900].target.max()
    assert after >= 3 * before  # x5 load: the loop scaled up
    assert first.summary.set_index("policy").loc["inferno", "blocked"] == 0


def test_no_scale_down_during_a_sensor_outage_and_recovery_without_a_spike():
    doc = {**BASE, "duration_s": 1800, "workload": {"kind": "step", "factor": 0.3, "at_s": 300, "ramp_s": 0},
           "faults": [{"kind": "sensor_outage", "start_s": 290, "end_s": 600}],
           "stabilizer": {"scale_down_window_s": 0}}
    t = compare(load_scenario(doc)).runs["inferno"].timeline
    during = t[(t.time_s >= 300) & (t.time_s < 600)]
    assert len(during) and (during.target == during.serving + during.starting).all() and during.hold.all()
    assert (during.reason == "hold: metrics stale or missing").all()
    after = t[t.time_s >= 600].iloc[0]
    assert after.state == "fresh" and after.offered_rps < 1.0 * t.iloc[0].offered_rps  # no spike over the gap


def test_pods_that_still_show_after_a_scale_down_cause_no_second_scale_down():
    """Spec scenario 4: after a scale-down, the deleted pods still show for 5 minutes (stale
    series). The server holds while what is seen disagrees with what was applied; the rest of the
    scale-down resumes once the count agrees, and nothing is undone."""
    doc = {**BASE, "duration_s": 2100, "workload": {"kind": "step", "factor": 0.3, "at_s": 900, "ramp_s": 60, "rate_scale": 3.0},
           "stabilizer": {"scale_down_window_s": 300},
           "faults": [{"kind": "stale_pods", "start_s": 1000, "end_s": 1500, "servers": [SERVER]}]}
    t = compare(load_scenario(doc)).runs["inferno"].timeline.set_index("time_s")
    first = t[(t.target < t.serving + t.starting) & (t.index >= 1000)].index[0]  # the first scale-down in the fault
    during = t[(t.index > first) & (t.index < 1500)]
    assert len(during) >= 3 and during.hold.all() and (during.target == during.serving + during.starting).all()
    assert during.reason.str.fullmatch(r"hold: (\d+) replicas seen, (\d+) expected").all()
    expected = int(t.loc[first, "target"])
    assert (during.reason == f"hold: {int(t.loc[first, 'serving'])} replicas seen, {expected} expected").all()
    after = t[t.index >= 1500]
    assert after.iloc[0].serving == expected  # the pods really were gone; nothing more was done meanwhile
    assert (after.serving + after.starting).min() >= after.desired.min()  # never below what is wanted


def test_a_count_that_disagrees_with_the_last_applied_is_held_then_adopted():
    from inferno.control import Controller
    from inferno.control.policies import Desire, ServerInfo
    from inferno.control.snapshot import FRESH, FleetSnapshot, ServerSnapshot

    class Seen:  # the sensor: reports whatever count the test sets
        count = 4

        def collect(self, now_s):
            return FleetSnapshot(now_s, 60, {"s": ServerSnapshot("s", FRESH, 0.0, 1.0, 1.0, 100.0, 10.0, 50.0, 10.0,
                                                                  1.0, 0.0, 0.0, self.count, 0)})

    class Wants:
        name, stabilized = "wants", True
        desired = 8

        def desire(self, snapshot, servers):
            return Desire({"s": self.desired})

    class Applied:
        def __init__(self):
            self.calls = []

        def apply(self, now_s, targets, moves=None):
            self.calls.append((now_s, dict(targets)))
            return {}
    sensor, policy, actuator = Seen(), Wants(), Applied()
    info = {"s": ServerInfo("G2", 32, 100.0, 10.0, 0.0, 0.0, 60.0)}
    c = Controller(sensor, policy, actuator, info, StabilizerSettings(disagreement_hold_s=180))
    assert c.cycle(0).decisions["s"].target == 8  # scale up 4 -> 8, applied
    sensor.count = 5  # only 5 show up: the others are not in the list (yet)
    for t in (60, 120, 180):
        d = c.cycle(t).decisions["s"]
        assert (d.target, d.hold, d.reason) == (5, True, "hold: 5 replicas seen, 8 expected")
    assert c.cycle(240).decisions["s"].target == 8  # 180 s of disagreement: 5 is adopted, and 8 ordered again
    assert [targets for _, targets in actuator.calls] == [{"s": 8}, {}, {}, {}, {"s": 8}]
    sensor.count = 8
    assert c.cycle(300).decisions["s"].reason == "as desired"


def test_a_move_is_made_only_when_cheaper_for_the_whole_window_never_in_a_breach_at_once_when_stuck():
    from inferno.control.planning import Move
    st = Stabilizer(StabilizerSettings(switch_saving=0.1, switch_window_s=300))
    cheaper = Move("G2", 40, 3, 0.25)
    assert st.decide_move(0, "s", cheaper) == (None, "move to G2, batch 40 pending: 25 % cheaper for 0 of 300 s")
    assert st.decide_move(200, "s", cheaper)[0] is None
    move, why = st.decide_move(300, "s", cheaper)
    assert move is cheaper and why == "move to G2, batch 40: 25 % cheaper for 300 s"
    # a saving below the threshold, or a different variant, restarts the window
    st.decide_move(400, "s", cheaper)
    assert st.decide_move(460, "s", Move("G2", 40, 3, 0.05)) == (None, "")
    st.decide_move(500, "s", cheaper)
    assert st.decide_move(700, "s", Move("H100", 32, 2, 0.3))[0] is None  # another variant: a new window
    assert st.decide_move(800, "s", cheaper)[0] is None  # and back: a new window again
    # never during a breach, and not while replicas start
    assert st.decide_move(2000, "s", cheaper, breach=True) == (None, "no move during an SLO breach")
    assert st.decide_move(2000, "s", cheaper, busy=True) == (None, "move waits: replicas are starting")
    # a variant that cannot serve the load at all: at once, breach or not
    stuck = Move("A100", 246, 1, 1.0)
    move, why = st.decide_move(3000, "t", stuck, breach=True)
    assert move is stuck and why == "move to A100, batch 246: the current variant cannot serve the load"
    with pytest.raises(ValueError, match=r"stabilizer.switch_saving must be a number in \[0, 1\]"):
        StabilizerSettings(switch_saving=2)


def test_the_fleet_moves_make_before_break_and_loses_no_request():
    import numpy as np
    import pandas as pd

    from inferno import QueueModel
    model = QueueModel(alpha=8, beta=0.02, gamma=5e-4, in_tokens=256, out_tokens=64, max_batch=16, max_queue=1000)
    t = np.arange(0.25, 600, 0.5)  # 2 req/s
    trace = pd.DataFrame({"time_s": t, "in_tokens": 256.0, "out_tokens": 64.0})
    fleet = SimulatedFleet({"s": ServerSetup("s", model, "G2", 36.0, 2, trace)}, 600, seed=1)
    fleet.advance_to(100)
    faster = ServerSetup("s", model.replace(alpha=4, max_batch=32, max_queue=320), "H100", 72.0, 0, trace)
    fleet.move("s", faster, 1, 30.0)
    assert fleet.moving("s") and fleet.variant("s") == ("H100", 32)
    fleet.advance_to(120)
    c = fleet.counters()["s"]
    assert (c["replicas_serving"], c["replicas_starting"]) == (2, 1)  # the old serve while the new start
    fleet.advance_to(200)
    c = fleet.counters()["s"]
    assert not fleet.moving("s") and c["replicas_serving"] == 1 and c["replicas_starting"] == 0
    # paid for: 2 G2 replicas until the hand-over at 130 s (then draining briefly) and the H100 one from 100 s
    assert c["cost"] == pytest.approx(2 * 130 * 36 / 3600 + 100 * 72 / 3600, rel=1e-3)
    results = fleet.finish()["s"]
    assert len(results) == 2
    old, new = (r.requests for r in results)
    assert old.arrival_ms.max() < 130_000 <= new.arrival_ms.min()  # arrivals before the hand-over stay
    assert len(old) + len(new) == len(trace) and not old.blocked.any() and not new.blocked.any()


def test_the_inventory_keeps_a_moving_servers_old_cards_until_its_new_replicas_serve():
    from inferno.control.inventory import Inventory, Placement
    inv = Inventory({"G2": 8, "H100": 4}, {"a": Placement("G2", 1, 1), "b": Placement("G2", 2, 2)})
    inv.move("a", Placement("H100", 1, 1), old_replicas=4, until_s=300)
    assert inv.needed({"a": 2, "b": 2}) == {"G2": 8, "H100": 2}  # a's 4 old G2 cards, b's 4, a's 2 new H100
    inv.release(299)
    assert inv.needed({"a": 2, "b": 2})["G2"] == 8
    inv.release(300)
    assert inv.needed({"a": 2, "b": 2}) == {"G2": 4, "H100": 2}
    # a move the actuator refused is undone: the server and its cards stay where they were
    inv.move("b", Placement("H100", 1, 2), old_replicas=2, until_s=900)
    inv.cancel_move("b")
    assert inv.placements["b"] == Placement("G2", 2, 2) and inv.needed({"b": 2}) == {"G2": 4}


def test_a_missing_demand_metric_while_pods_are_busy_never_scales_down():
    """Spec scenario 5: the demand metric cannot be read while the pods are busy; the load falls
    meanwhile. No scale-down until the metric is back."""
    doc = {**BASE, "duration_s": 1800, "workload": {"kind": "step", "factor": 0.3, "at_s": 360, "ramp_s": 0, "rate_scale": 3.0},
           "stabilizer": {"scale_down_window_s": 0},
           "faults": [{"kind": "missing_demand", "start_s": 300, "end_s": 900, "servers": [SERVER]}]}
    t = compare(load_scenario(doc)).runs["inferno"].timeline
    during = t[(t.time_s >= 300) & (t.time_s < 900)]
    assert len(during) == 10 and during.offered_rps.isna().all() and during.hold.all()
    assert (during.reason == "hold: demand metric missing").all()
    assert (during.serving + during.starting == t[t.time_s < 300].iloc[-1].target).all()
    after = t[t.time_s >= 900]
    assert after.iloc[0].target < after.iloc[0].serving  # the fall is acted on once it is measured


PRIOR = {"architecture": "mistralai/Mistral-7B-v0.1",
         "gpus": {"H100": "H100-SXM5-80GB", "A100": "A100-SXM4-80GB", "L4": "L4", "L40S": "L40S", "MI300X": "MI300X"}}
JOINER, LEAVER = "Premium-mistral_7b", SERVER


@pytest.mark.long_loop
def test_a_server_added_without_perf_data_is_planned_on_the_sizing_prior_and_one_removed_is_let_go():
    """Spec scenario 9: a server of a model nobody measured joins at 600 s, planned on the
    roofline prior (its truth is the prior x 1.2 / 1.1 / 1.3, which the tuner learns); another
    leaves at 1500 s. No stall, no zeroing."""
    from inferno import sizing
    doc = {**BASE, "servers": [LEAVER, JOINER], "duration_s": 2400, "startup_delay_s": 120,
           "workload": {"kind": "diurnal", "peak_to_trough": 3, "period_s": 2400},
           "truth": {"alpha": 1.2, "beta": 1.1, "gamma": 1.3}, "tuning": {"enabled": True},
           "faults": [{"kind": "server_added", "at_s": 600, "server": JOINER, "prior": PRIOR},
                      {"kind": "server_removed", "at_s": 1500, "server": LEAVER}]}
    loop = ClosedLoop(load_scenario(doc))
    # the controller's records for the new model are the prior's, not the documents'
    perf = loop.system.perf_records
    mine = perf[perf.model == "mistral_7b"].set_index("accelerator")
    assert set(mine.index) == {"L4", "L40S", "A100", "H100", "MI300X"}  # single-card profiles the prior maps
    h100 = sizing.derive(PRIOR["architecture"], "H100-SXM5-80GB", in_tokens=128, out_tokens=1024)
    assert mine.loc["H100", "alpha_ms"] == pytest.approx(h100.alpha_ms) and mine.loc["H100", "gamma_ms"] == pytest.approx(h100.gamma_ms)
    assert (loop.arrivals[JOINER].time_s >= 600).all() and (loop.arrivals[LEAVER].time_s < 1500).all()
    run = loop.run("inferno")
    t = run.timeline
    joiner, leaver = t[t.server == JOINER], t[t.server == LEAVER]
    assert joiner.time_s.min() == 600 and joiner.time_s.max() == 2400 and len(joiner) == 31  # managed every cycle
    assert joiner.desired.notna().all()  # planned from its first cycle: no stall
    assert joiner[joiner.hold].reason.str.startswith("hold: moving to").all()  # held only while it moves
    # the tuned plan finds the prior's L40S replicas dear: one move, make-before-break, to a variant
    # that needs far fewer replicas
    moved = joiner[joiner.move.notna()]
    assert len(moved) == 1 and moved.iloc[0].reason.startswith("move to ")
    before, after = joiner[joiner.time_s < moved.iloc[0].time_s], joiner[joiner.time_s >= moved.iloc[0].time_s]
    assert set(before.accelerator) == {"L40S"} and set(after.accelerator) == {moved.iloc[0].move.split(",")[0]}
    assert joiner.cost.is_monotonic_increasing and t.groupby("time_s").cost.sum().iloc[-1] <= run.summary["cost"]
    assert leaver.time_s.max() == 1440  # not managed once removed
    assert (t.target >= 1).all()  # nobody is zeroed
    late = joiner[joiner.time_s >= 1800]
    assert (late.itl_ms <= loop.info[JOINER].itl_slo_ms).all()  # the tuned plan meets the SLO the prior missed
    assert run.summary["requests"] == len(loop.arrivals[JOINER]) + len(loop.arrivals[LEAVER])
    # the removed server's replicas drain and cost nothing more: the same run without the removal
    # pays for the leaver's last 15 minutes (about 3 replicas of MI300X-class cards)
    kept = ClosedLoop(load_scenario({**doc, "faults": doc["faults"][:1]})).run("inferno")
    assert kept.summary["replica_hours"] - run.summary["replica_hours"] > 0.5


@pytest.mark.parametrize("fault, message", [
    ({"kind": "server_added", "at_s": 60}, "faults[0].server (the name of one of the fleet's servers) is required"),
    ({"kind": "server_added", "at_s": 60, "server": JOINER, "prior": {"architecture": "gpt-5", "gpus": {"H100": "H100-SXM5-80GB"}}},
     "faults[0].prior.architecture must be one of"),
    ({"kind": "server_added", "at_s": 60, "server": JOINER, "prior": {"architecture": PRIOR["architecture"], "gpus": {"H100": "H100"}}},
     "faults[0].prior.gpus.H100 must be one of A100-SXM4-40GB"),
    ({"kind": "server_added", "at_s": 60, "server": JOINER, "prior": {"architecture": PRIOR["architecture"]}},
     "faults[0].prior.gpus must map the fleet's card types to GPUs of the sizing catalog, got None"),
    ({"kind": "server_removed", "at_s": 60, "server": JOINER, "prior": PRIOR},
     "faults[0].unknown key 'prior'; allowed: at_s, kind, server"),
])
def test_bad_server_changes_are_named(fault, message):
    with pytest.raises(ScenarioError, match=re.escape(message)):
        load_scenario({**BASE, "servers": [LEAVER, JOINER], "faults": [fault]})
    twice = [{"kind": "server_removed", "at_s": 60, "server": JOINER}, {"kind": "server_removed", "at_s": 90, "server": JOINER}]
    with pytest.raises(ScenarioError, match="faults: 'Premium-mistral_7b' is removed twice"):
        load_scenario({**BASE, "faults": twice})
    early = [{"kind": "server_added", "at_s": 600, "server": JOINER}, {"kind": "server_removed", "at_s": 60, "server": JOINER}]
    with pytest.raises(ScenarioError, match="faults: 'Premium-mistral_7b' is removed at 60 s, before it is added"):
        load_scenario({**BASE, "faults": early})
    with pytest.raises(ScenarioError, match="faults: unknown server 'Premium-mistral_7b'; the scenario's servers are"):
        ClosedLoop(load_scenario({**BASE, "faults": [{"kind": "server_removed", "at_s": 60, "server": JOINER}]}))


def test_actuator_errors_are_reported_and_retried_next_cycle():
    doc = {**BASE, "duration_s": 900, "workload": {"kind": "step", "factor": 4, "at_s": 120, "ramp_s": 0},
           "faults": [{"kind": "actuator_errors", "start_s": 0, "end_s": 400}], "startup_delay_s": 30}
    t = compare(load_scenario(doc)).runs["inferno"].timeline
    failed = t[t.actuation_error.notna()]
    assert len(failed) >= 1 and (failed.time_s < 400).all()
    later = t[t.time_s >= 420]
    assert (later.serving + later.starting).max() > t.iloc[0].serving  # applied once the errors stop


def test_the_reference_policy_takes_throughput_as_load_and_the_oracle_knows_the_future():
    doc = {**BASE, "duration_s": 900, "workload": {"kind": "constant", "rate_scale": 2.0},
           "policies": ["reference", "oracle", "static-peak", "hpa-queue", "saturation"]}
    result = compare(load_scenario(doc))
    assert list(result.summary.policy) == doc["policies"]
    assert (result.summary.requests == result.summary.requests.iloc[0]).all()  # the same arrivals for all
    assert (result.summary.cost > 0).all() and result.summary.attainment.between(0, 1).all()


def test_cli_compares_policies_and_writes_timelines(tmp_path):
    scenario = tmp_path / "s.yaml"
    import yaml
    scenario.write_text(yaml.safe_dump({**BASE, "duration_s": 600, "policies": ["inferno", "static-peak"]}))
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "inferno", "control", "simulate", str(scenario), "--format", "json",
                           "--output-dir", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert [r["policy"] for r in rows] == ["inferno", "static-peak"]
    assert (out / "summary.csv").exists() and (out / "timeline-inferno.csv").exists()
    bad = subprocess.run([sys.executable, "-m", "inferno", "control", "simulate", str(scenario), "--policies", "kpa"],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1 and "unknown policy 'kpa'" in bad.stderr


def test_the_first_forecasts_use_the_prior_error_and_poisson_noise():
    from statistics import NormalDist
    p = Predictor(PredictionSettings(predictor="last", quantile=0.9, prior_cv=0.2))
    p.observe(10.0, 60)
    f = p.forecast(180)
    z = NormalDist().inv_cdf(0.9)
    assert f.mean_rps == 10.0
    assert f.upper_rps == pytest.approx(10.0 + z * math.sqrt((0.2 * 10.0) ** 2 + 10.0 / 60))


def test_planning_for_a_percentile_sizes_at_least_as_much_as_for_the_mean():
    import inferno
    system = inferno.System.from_dir(LARGE)
    p95 = system.with_target_percentile(95)
    assert (p95.targets.itl_percentile == 95).all() and (p95.targets.ttft_percentile == 95).all()
    assert (p95.targets.itl_ms == system.targets.itl_ms).all()
    assert system.with_target_percentile(0) is system
    assert p95.optimize().to_dict()["total_cost"] > system.optimize().to_dict()["total_cost"]  # tails cost more
    with pytest.raises(ValueError, match=r"percentile must be a number in \[0, 100\), got 100"):
        system.with_target_percentile(100)


# ----------------------------------------------------------------------------------------- tuning
def test_the_tuning_stage_feeds_fresh_windows_and_its_records_replace_the_documents_in_planning():
    from inferno.control.snapshot import FRESH, UNAVAILABLE, FleetSnapshot, ServerSnapshot
    from inferno.control.tuning import Tuning, TuningSettings
    start = [6.0, 0.02, 5e-4]
    # the online filter here: it has an estimate from its start, where the default window refit
    # waits for its first windows
    tuning = Tuning(TuningSettings(options={"mode": "ekf"}), {"a": ("llama3_8b", "G2"), "b": ("llama3_8b", "G2")}, {"a": 32, "b": 32},
                    {("llama3_8b", "G2"): start})

    def server(name, state=FRESH, ttft=60.0, rate=2.0, prompt=512.0):
        return ServerSnapshot(name, state, 0.0, rate, rate, prompt, 128.0, ttft, 12.0, 6.0, 0.0, 0.0, 2, 0)
    # one tuner per variant: both servers feed the same one, as two replicas of one cycle would
    tuning.observe(FleetSnapshot(60, 60, {"a": server("a"), "b": server("b", state=UNAVAILABLE)}))
    assert list(tuning.tuners) == [("llama3_8b", "G2")]
    tuner = tuning.tuners[("llama3_8b", "G2")]
    assert sum(tuner.outcome_counts.values()) == 1  # the unavailable one gave nothing
    tuning.observe(FleetSnapshot(120, 60, {"a": server("a", ttft=None), "b": server("b")}))
    assert sum(tuner.outcome_counts.values()) == 2  # no TTFT measured: no observation
    assert tuning.records() == []  # one operating point cannot pin three parameters: the documents stay
    for k, (rate, prompt) in enumerate([(1.0, 256.0), (4.0, 2048.0), (3.0, 128.0), (0.5, 1024.0)]):
        tuning.observe(FleetSnapshot(180 + 60 * k, 60, {"a": server("a", rate=rate, prompt=prompt, ttft=20 + prompt / 20)}))
    assert tuner.estimate.identifiable
    records = tuning.records()
    assert len(records) == 1 and records[0]["model"] == "llama3_8b" and records[0]["accelerator"] == "G2"
    assert all(records[0][f"{k}_ms"] > 0 for k in ("alpha", "beta", "gamma"))
    # a higher parameter quantile plans with larger parameters
    upper = Tuning(TuningSettings(parameter_quantile=0.9), tuning.variants, tuning.max_batch)
    upper.tuners = tuning.tuners
    assert upper.records()[0]["alpha_ms"] >= records[0]["alpha_ms"]
    with pytest.raises(ValueError, match=r"tuning.parameter_quantile must be a number in \[0.5, 1\), got 0.2"):
        TuningSettings(parameter_quantile=0.2)


def test_the_tuning_stage_models_the_iteration_wait_and_the_balancers_smoothing():
    from inferno.control.snapshot import FRESH, FleetSnapshot, ServerSnapshot
    from inferno.control.tuning import Tuning, TuningSettings
    variants, caps = {"a": ("llama3_8b", "G2")}, {"a": 32}
    for balancing, cov in (("even", 0.5), ("random", 1.0)):
        tuning = Tuning(TuningSettings(load_balancing=balancing), variants, caps, {variants["a"]: [6.0, 0.02, 5e-4]},
                        {variants["a"]: {"delta": 0.001}})
        snapshot = FleetSnapshot(60, 60, {"a": ServerSnapshot("a", FRESH, 0.0, 8.0, 8.0, 512.0, 128.0, 60.0, 12.0, 6.0,
                                                              0.0, 0.0, 4, 0)})
        tuning.observe(snapshot)
        tuner = tuning.tuners[variants["a"]]
        assert tuner.config["service_model"] == "vllm" and tuner.state_names == ["alpha", "beta", "gamma"]
        obs = tuning.last_observations[variants["a"]][0]
        assert obs["rate_rpm"] == 120.0 and obs["arrival_cov"] == cov  # 8 req/s over 4 replicas; 1/sqrt(4)
    with pytest.raises(ValueError, match="tuning.load_balancing must be one of even, random, got 'jsq'"):
        TuningSettings(load_balancing="jsq")
    with pytest.raises(ValueError, match="tuning.options cannot set service_model or fixed"):
        TuningSettings(options={"service_model": "iteration"})


@pytest.mark.long_loop
def test_with_the_true_parameters_the_tuning_model_predicts_the_loops_windows():
    """Measured in closed loop on the conversation trace (several replicas, varied shapes): the
    stage's model at the simulator's true parameters predicts the median window within 3 %. The
    plain iteration model with Poisson arrivals per replica is 8 % low on TTFT and 14 % high on
    ITL, and the tuner absorbed that into the parameters (docs/control.md, "Tuning in the loop")."""
    import numpy as np

    from inferno.control import tuning as tuning_module
    from inferno.queue import QueueModel
    doc = {**BASE, "duration_s": 3600, "workload": {"kind": "trace", "path": str(REPO / "samples/traces/azure2023_conv.csv"),
                                                    "rate_scale": 3.0}, "tuning": {"enabled": True}}
    loop = ClosedLoop(load_scenario(doc))
    windows: list[dict] = []
    original = tuning_module.Tuning.observe

    def observe(self, snapshot):
        original(self, snapshot)
        for observations in self.last_observations.values():
            windows.extend(observations)
    tuning_module.Tuning.observe = observe
    try:
        loop.run("inferno")
    finally:
        tuning_module.Tuning.observe = original
    assert len(windows) >= 55
    truth = {k: loop.setups[SERVER].model.spec[k] for k in ("alpha", "beta", "gamma")}

    def median_errors(service_model, even):
        ttft, itl = [], []
        for w in windows:
            extra = {"delta": 0.0, "epsilon": 0.0} if service_model == "vllm" else {}
            model = QueueModel(service_model=service_model, max_batch=w["max_batch"], max_queue=0, in_tokens=w["in_tokens"],
                               out_tokens=w["out_tokens"], arrival_cov=w["arrival_cov"] if even else 1.0, **truth, **extra)
            a = model.analyze(w["rate_rpm"] / 60)
            ttft.append(w["ttft_ms"] / a.ttft_ms - 1)
            itl.append(w["itl_ms"] / a.itl_ms - 1)
        return float(np.median(ttft)), float(np.median(itl))
    ttft, itl = median_errors("vllm", even=True)
    assert abs(ttft) <= 0.03 and abs(itl) <= 0.03  # measured: +1.6 %, +0.0 %
    ttft_plain, itl_plain = median_errors("iteration", even=False)
    assert ttft_plain > 0.05 and itl_plain < -0.08  # TTFT slower than it says (the wait), ITL faster (the balancer)


@pytest.mark.long_loop
def test_in_closed_loop_on_the_conversation_trace_the_tuner_ends_within_5_percent_of_the_truth():
    """The issue's check: true parameters x1.3, x0.8, x1.2 against the documents', 60 one-minute
    cycles of the conversation trace (its rate varies 3.1x minute to minute), the tuning stage with
    its defaults (the vllm model with the balancer's regularity, a refit of the last 60 windows).
    Measured: +1.1 %, -0.3 %, +1.0 % (docs/control.md, "Tuning in the loop")."""
    doc = {**BASE, "duration_s": 3600, "truth": {"alpha": 1.3, "beta": 0.8, "gamma": 1.2}, "tuning": {"enabled": True},
           "workload": {"kind": "trace", "path": str(REPO / "samples/traces/azure2023_conv.csv"), "rate_scale": 3.0}}
    loop = ClosedLoop(load_scenario(doc))
    loop.run("inferno")
    ((_, tuner),) = loop.last_tuning.tuners.items()
    truth = loop.setups[SERVER].model.spec
    for k in ("alpha", "beta", "gamma"):
        assert tuner.estimate.params[k] == pytest.approx(truth[k], rel=0.05), k


def test_a_closed_loop_with_tuning_starts_each_tuner_from_its_documented_record():
    doc = {**BASE, "duration_s": 900, "truth": {"alpha": 1.3}, "tuning": {"enabled": True}}
    loop = ClosedLoop(load_scenario(doc))
    loop.run("inferno")
    ((variant, tuner),) = loop.last_tuning.tuners.items()
    assert variant == ("llama3_8b", loop.info[SERVER].accelerator)
    assert tuner.config["mode"] == "sliding-window" and tuner.config["window_size"] == 60  # the stage's default
    assert tuner.estimate is not None and tuner.estimate.source == "swnm" and tuner.estimate.update_count >= 5
    assert tuner.estimate.params["alpha"] > 0


# ------------------------------------------------------------------------- acceptance scenarios
def _changes(timeline):
    t = timeline[timeline.target != timeline.serving + timeline.starting]
    return t[t.actuation_error.isna()]


def test_a_diurnal_ramp_is_served_within_the_slos_with_few_reversals():
    doc = {**BASE, "duration_s": 3600, "workload": {"kind": "diurnal", "peak_to_trough": 6, "period_s": 3600},
           "startup_delay_s": 120, "stabilizer": {"scale_down_window_s": 600}, "policies": ["inferno", "static-peak"]}
    summary = compare(load_scenario(doc)).summary.set_index("policy")
    assert summary.loc["inferno", "attainment"] >= 0.99
    assert summary.loc["inferno", "reversals_per_hour"] <= 2
    assert summary.loc["inferno", "cost"] < summary.loc["static-peak", "cost"]  # it follows the load down


def test_long_start_up_delays_cause_no_cascade():
    """A x3 step at 600 s (reached by 660 s) with start-up delays of 3 and 8 minutes: once the
    measured load has stopped rising, nothing more is ordered while replicas start (they count as
    supply), and the fleet never holds more than 1.5 x what the settled load needs."""
    for delay in (180, 480):
        doc = {**BASE, "duration_s": 2400, "startup_delay_s": delay,
               "workload": {"kind": "step", "factor": 3, "at_s": 600, "ramp_s": 60}}
        t = compare(load_scenario(doc)).runs["inferno"].timeline
        ups = _changes(t)
        ups = ups[ups.target > ups.serving + ups.starting]
        late = ups[(ups.time_s > 780) & (ups.starting > 0)]
        assert late.empty, (delay, late[["time_s", "serving", "starting", "desired", "target"]])
        settled = t[t.time_s >= 600 + 2 * delay].desired.dropna().max()
        assert t.target.max() <= 1.5 * settled, (delay, t.target.max(), settled)


def test_noisy_load_at_a_capacity_boundary_changes_the_fleet_rarely():
    doc = {**BASE, "duration_s": 2400, "workload": {"kind": "onoff", "on_s": 120, "off_s": 120, "off_factor": 0.8}}
    t = compare(load_scenario(doc)).runs["inferno"].timeline
    assert len(_changes(t)) <= 2400 / 600  # at most one change per 10 min


def test_a_capacity_shrink_is_met_by_priority_in_one_cycle_and_never_exceeded():
    doc = {**BASE, "servers": [SERVER, "Bronze-llama3_8b"], "duration_s": 1200,
           "workload": {"kind": "constant", "rate_scale": 2.0},
           "faults": [{"kind": "capacity", "at_s": 600, "type": "MI300X", "count": 8}]}
    loop = ClosedLoop(load_scenario(doc))
    assert {p.card_type for p in loop.placements.values()} == {"MI300X"}
    run = loop.run("inferno")
    t = run.timeline
    # attainment per class: the higher priority keeps its SLOs; the overall share lies between
    assert run.summary["attainment_Premium"] == 1.0
    assert run.summary["attainment_Bronze"] < run.summary["attainment"] < run.summary["attainment_Premium"]
    cards = t.groupby("time_s").target.sum()  # one card per replica here
    assert cards[cards.index < 600].max() > 8  # it had more before the shrink
    assert (cards[cards.index >= 600] <= 8).all()  # and never more after, from the first cycle on
    at = t[t.time_s == 600].set_index("server")
    assert at.loc["Bronze-llama3_8b", "reason"].startswith("inventory: MI300X has 8 cards")  # the lower priority gives way
    # short of cards, the plan is sized for the mean forecast: Premium gives up its headroom at
    # once (no scale-down window) and Bronze gets the cards it frees
    assert (at.loc[SERVER, "target"], at.loc[SERVER, "reason"]) == (3, "scale down now: MI300X is short for others")
    assert at.loc["Bronze-llama3_8b", "target"] == 5
    # what is short is reported per server, by how much, and the run goes on
    after = t[t.time_s >= 600]
    assert (after[after.server == SERVER].unserved_rps == 0).all()
    bronze = after[after.server == "Bronze-llama3_8b"]
    assert (bronze.unserved_rps > 0.1).all() and t.time_s.max() == 1200  # measured 0.14-1.2 req/s
    with pytest.raises(ScenarioError, match="faults: capacity of unknown card type 'B300'"):
        ClosedLoop(load_scenario({**doc, "faults": [{"kind": "capacity", "at_s": 60, "type": "B300", "count": 1}]}))


def test_the_inventory_guard_reduces_the_least_important_first_and_zero_last():
    from inferno.control.inventory import Inventory, Placement
    from inferno.control.stabilizer import Decision
    inv = Inventory({"G2": 10}, {"a": Placement("G2", 2, 1), "b": Placement("G2", 1, 3), "c": Placement("G2", 1, 2)})
    d = {n: Decision(n, t, t, t, "as desired") for n, t in (("a", 4), ("b", 3), ("c", 2))}  # 8 + 3 + 2 = 13 cards
    fitted = inv.fit(d)
    assert {n: x.target for n, x in fitted.items()} == {"a": 4, "b": 1, "c": 1}  # b (priority 3) first, then c
    inv.set("G2", 2)
    fitted = inv.fit(d)
    assert {n: x.target for n, x in fitted.items()} == {"a": 1, "b": 0, "c": 0}  # zero only when one each is too many
    assert sum(x.target * inv.placements[n].cards_per_replica for n, x in fitted.items()) <= 2


@pytest.mark.parametrize("text, message", [
    ("fleet: [unclosed", "malformed YAML"),
    ("- just a list", "scenario: expected a mapping"),
    ("fleet: ../large\nworkload: {kind: trace, path: missing.csv}\n", "no such trace file"),
])
def test_the_cli_names_what_is_wrong_with_a_scenario_file(tmp_path, text, message):
    scenario = tmp_path / "bad.yaml"
    scenario.write_text(text.replace("../large", str(LARGE)))
    proc = subprocess.run([sys.executable, "-m", "inferno", "control", "simulate", str(scenario)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and message in proc.stderr, proc.stderr


def test_a_replica_costs_what_the_optimizer_charges_for_it():
    """Multi-card profiles (2xG2) cost all their cards once: the price per replica-hour times the
    first plan's replicas is the first plan's cost, server by server."""
    import inferno
    servers = ["Premium-llama_7b", "Premium-llama_70b", "Premium-llama3_8b"]
    loop = ClosedLoop(load_scenario({**BASE, "servers": servers, "workload": {"kind": "constant"}}))
    plan = loop.first_plan.allocations
    for name in servers:
        assert loop.setups[name].price_per_replica_hour * plan.loc[name, "replicas"] == pytest.approx(plan.loc[name, "cost"])
    assert any(inferno.System.from_dir(LARGE).accelerators.loc[a, "multiplicity"] > 1 for a in plan.accelerator)


# ------------------------------------------------------------------------------------- state
@pytest.mark.parametrize("predictor", ["last", "ewma", "holt", "kalman"])
def test_a_restored_predictor_forecasts_exactly_as_the_one_that_kept_running(predictor):
    settings = PredictionSettings(predictor=predictor, seasonal_floor=0.8, season_s=600, season_bin_s=60)
    rates = [5 + 3 * math.sin(i / 4) + (i % 3) for i in range(40)]
    running = Predictor(settings)
    for i, r in enumerate(rates[:25]):
        running.observe(r, 30.0, end_s=30.0 * (i + 1))
    restored = Predictor(settings)
    restored.restore(json.loads(json.dumps(running.state())))  # through JSON, as the daemon persists it
    for i, r in enumerate(rates[25:], start=25):
        running.observe(r, 30.0, end_s=30.0 * (i + 1))
        restored.observe(r, 30.0, end_s=30.0 * (i + 1))
        assert restored.forecast(90.0) == running.forecast(90.0)


def test_a_restored_stabilizer_keeps_its_scale_down_window():
    settings = StabilizerSettings(scale_down_window_s=300)
    running = Stabilizer(settings)
    for t in (0, 60, 120):
        decide(running, t, serving=8, desired=4 + t // 60)
    restored = Stabilizer(settings)
    restored.restore(json.loads(json.dumps(running.state())))
    for t in (180, 240, 300, 360):
        a, b = decide(running, t, serving=8, desired=3), decide(restored, t, serving=8, desired=3)
        assert a == b
    assert a.target == 6 and a.reason == "scale down"  # the highest desired of the window, remembered


def test_a_scenario_fleet_can_be_one_system_data_file_with_chosen_servers():
    small = REPO / "samples" / "small"
    doc = {"fleet": str(small / "system-data.json"), "servers": ["Premium-llama_13b"], "duration_s": 300, "period_s": 60,
           "policies": ["inferno"]}
    loop = ClosedLoop(load_scenario(doc))
    assert loop.names == ["Premium-llama_13b"] and list(loop.system.servers.index) == ["Premium-llama_13b"]
    with pytest.raises(ScenarioError, match="servers: unknown server 'nope'"):
        ClosedLoop(load_scenario({**doc, "servers": ["nope"]}))


def test_each_prior_that_fits_nothing_is_named_even_after_one_that_fits():
    doc = {**BASE, "servers": [JOINER, "Premium-granite_13b"], "duration_s": 600,
           "faults": [{"kind": "server_added", "at_s": 60, "server": JOINER, "prior": PRIOR},
                      {"kind": "server_added", "at_s": 60, "server": "Premium-granite_13b",
                       "prior": {**PRIOR, "gpus": {"NoSuchCard": "L4"}}}]}
    with pytest.raises(ScenarioError, match="the prior of 'Premium-granite_13b' fits none"):
        ClosedLoop(load_scenario(doc))
