"""Tests of the ``inferno simulate`` command line (ProblemData JSON lines in, measured
AnalysisData-shaped lines / table / CSV out).

Input works as for ``inferno queue solve`` (stdin, --input, --problem plus flags, one problem per
--rate value); simulation settings come from keys of each line or from flags. The CLI is run as
a subprocess where the real exit code or stdin redirection matters, otherwise in-process through
``inferno.cli.main`` (as in test_cli.py). Results are compared with the Python API run with the
same settings (the simulator is deterministic for a seed).
"""

from __future__ import annotations

import io
import json
import math
import subprocess
from pathlib import Path

import pandas as pd
import pytest

import inferno

from cli_helpers import REPO, run_in_process, run_process, strict_json_lines

PROBLEM_FILE = REPO / "samples" / "queue" / "problem-data.json"
PROBLEM = json.loads(PROBLEM_FILE.read_text())  # input A: N = 48, Q = 128, RPS 3
# A small server for hand-computed cases (see test_sim.py): a lone request of 100 + 10 tokens
# has TTFT 30.301 ms and E2E 122.155 ms.
HAND = {"maxBatchSize": 4, "maxQueueSize": 4, "avgInputTokens": 100, "avgOutputTokens": 10, "alpha": 10,
        "beta": 0.1, "gamma": 0.001}
TTFT_1, E2E_1 = 30.301, 122.155

# The reference AnalysisData keys the simulation reports (measured), in their order.
ANALYSIS_KEYS = ["offeredRPS", "throughput", "avgRespTime", "avgWaitTime", "avgNumInServ", "avgTTFT", "avgITL"]
REQUIRED_KEYS = {*ANALYSIS_KEYS, "ttftP95", "avgTTFTHalfWidth", "completed", "mode", "rho", "lossProb",
                 "avgQueueLength", "avgNumInSystem", "avgNumInSystemHalfWidth", "throughputHalfWidth",
                 "measuredOfferedRPS", "blocked", "utilisation", "seed", "durationSeconds", "warmupSeconds",
                 "replicas", "itlP95", "respTimeP99", "waitTimeP90", "avgRespTimeHalfWidth", "avgWaitTimeHalfWidth",
                 "avgITLHalfWidth", "ttftP50", "ttftP90", "ttftP99"}
ERROR_KEYS = ["error", "message", "status"]


# ----------------------------------------------------------------------------- helpers
def run_cli(*args: str, stdin: str | None = None, stdin_file: Path | None = None) -> subprocess.CompletedProcess:
    """``inferno simulate ARGS`` as a separate process (fresh interpreter, real exit code)."""
    return run_process(["simulate", *args], stdin, stdin_file)


def run_main(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    """``inferno simulate ARGS`` in-process through ``inferno.cli.main`` (same result shape)."""
    return run_in_process(["simulate", *args], stdin)


parse_lines = strict_json_lines


def lines(*objs: dict | str) -> str:
    return "".join((o if isinstance(o, str) else json.dumps(o)) + "\n" for o in objs)


def assert_error(obj: dict, *names: str) -> None:
    assert list(obj) == ERROR_KEYS, obj
    assert obj["status"] == "invalid"
    assert obj["message"] == f"Simulate() failed: {obj['error']}"
    for name in names:
        assert name.lower() in obj["message"].lower(), (name, obj["message"])


def model_of(problem: dict) -> inferno.QueueModel:
    """The Python model of a ProblemData object of the iteration service model."""
    folded = {k.lower(): v for k, v in problem.items()}
    return inferno.QueueModel(alpha=folded["alpha"], beta=folded["beta"], gamma=folded["gamma"],
                              in_tokens=folded.get("avginputtokens", 0), out_tokens=folded["avgoutputtokens"],
                              max_batch=folded["maxbatchsize"], max_queue=folded["maxqueuesize"])


# ----------------------------------------------------------------------------- output shape
def test_problem_file_and_a_rate_list_give_one_measured_line_per_rate():
    proc = run_cli("--problem", "samples/queue/problem-data.json", "--rate", "1,3", "--duration", "120")
    assert proc.returncode == 0, proc.stderr
    out = parse_lines(proc.stdout)
    assert [o["offeredRPS"] for o in out] == [1.0, 3.0]
    for o in out:
        assert REQUIRED_KEYS <= set(o), REQUIRED_KEYS - set(o)
        assert list(o)[:len(ANALYSIS_KEYS)] == ANALYSIS_KEYS
        assert (o["mode"], o["seed"], o["replicas"]) == ("iteration", 1, 1)
        assert (o["durationSeconds"], o["warmupSeconds"]) == (120.0, 12.0)  # warm-up 10 %
        assert type(o["completed"]) is int and o["completed"] > 0 and o["blocked"] == 0
        assert o["lossProb"] == 0
        # Measured rates: 108 s window; no blocking, so throughput estimates the offered rate.
        assert o["measuredOfferedRPS"] * 108 == pytest.approx(round(o["measuredOfferedRPS"] * 108), abs=1e-9)
        assert abs(o["throughput"] - o["offeredRPS"]) <= 3 * o["throughputHalfWidth"]
        assert o["rho"] == pytest.approx(o["avgNumInServ"] / 48, rel=1e-12)
        assert o["avgNumInSystem"] == pytest.approx(o["avgNumInServ"] + o["avgQueueLength"], rel=1e-12)
        assert 0 <= o["avgWaitTime"] < o["avgTTFT"] < o["avgRespTime"]
        assert o["ttftP50"] <= o["ttftP90"] <= o["ttftP95"] <= o["ttftP99"]
        assert o["avgTTFTHalfWidth"] > 0 and 0 < o["utilisation"] <= 1
        # Little's law on the measured values (up to edge effects of a 2-minute run).
        assert o["avgNumInSystem"] == pytest.approx(o["throughput"] * o["avgRespTime"] / 1000, rel=0.2)
    assert out[1]["avgNumInServ"] > out[0]["avgNumInServ"]


def test_stdin_input_and_file_input_answer_like_the_problem_flag():
    by_flag = run_main("--problem", PROBLEM_FILE, "--rate", "3", "--duration", "120")
    redirected = run_cli("--duration", "120", stdin_file=PROBLEM_FILE)  # inferno simulate --duration 120 < file
    by_input = run_main("--input", PROBLEM_FILE, "--duration", "120")
    by_dash = run_main("--input", "-", "--duration", "120", stdin=PROBLEM_FILE.read_text())
    assert by_flag.returncode == redirected.returncode == by_input.returncode == by_dash.returncode == 0
    assert redirected.stdout == by_flag.stdout == by_input.stdout == by_dash.stdout
    assert len(parse_lines(redirected.stdout)) == 1


def test_bad_lines_get_an_error_object_in_place_and_exit_2():
    good = {**HAND, "RPS": 2, "durationSeconds": 30}
    text = lines(good, {**good, "RPS": -1}, "{not json", {**good, "mode": "markov"}, "[1, 2]",
                 {**good, "mode": "fluid"}, "", {**good, "RPS": 0}, {**good, "replicas": 0},
                 {**good, "durationSeconds": 10, "warmupSeconds": 10}, {**good, "outputTokens": "pareto"}, good)
    proc = run_cli(stdin=text)
    assert proc.returncode == 2
    out = parse_lines(proc.stdout)
    assert len(out) == 11  # one per non-blank line
    assert out[0] == out[10] and out[0]["mode"] == "iteration" and out[0]["completed"] > 0
    assert out[3]["mode"] == "markov" and out[3]["completed"] > 0
    assert_error(out[1], "RPS")
    assert_error(out[2], "malformed JSON")
    assert_error(out[4], "object")
    assert_error(out[5], "mode", "'iteration', 'markov'")
    assert_error(out[6], "RPS", "> 0")
    assert_error(out[7], "replicas")
    assert_error(out[8], "warmup")
    assert_error(out[9], "outputTokens", "geometric")
    # The same input as a table: errors go to stderr with their line numbers.
    table = run_main("--format", "table", stdin=text)
    assert table.returncode == 2
    assert "line 2: Simulate() failed: RPS" in table.stderr and "line 3: Simulate() failed: malformed" in table.stderr


def test_all_good_lines_exit_0_and_empty_input_prints_nothing():
    assert run_main(stdin=lines({**HAND, "RPS": 1, "durationSeconds": 10})).returncode == 0
    empty = run_main(stdin="\n\n")
    assert (empty.returncode, empty.stdout) == (0, "")


# ----------------------------------------------------------------------------- formats and modes
def test_table_and_csv_carry_the_json_values():
    args = ("--problem", PROBLEM_FILE, "--rate", "1,3", "--duration", "60")
    js = parse_lines(run_main(*args).stdout)
    csv = run_main(*args, "--format", "csv")
    assert csv.returncode == 0
    frame = pd.read_csv(io.StringIO(csv.stdout))
    assert list(frame.columns) == ["line", *js[0]]
    assert frame["line"].tolist() == [1, 2]
    for i, o in enumerate(js):
        for key, value in o.items():
            if value is None:
                assert pd.isna(frame[key][i]), key
            else:
                assert frame[key][i] == value, key  # CSV keeps every digit
    table = run_main(*args, "--format", "table")
    assert table.returncode == 0
    header, *rows = table.stdout.splitlines()
    names = header.split()
    assert names == ["line", "offeredRPS", "throughput", "avgTTFT", "ttftP95", "avgITL", "tokenITLP95", "avgWaitTime",
                     "avgRespTime", "avgNumInServ", "lossProb", "completed"]
    assert len(rows) == 2
    for row, o in zip(rows, js):
        cells = dict(zip(names, row.split()))
        assert int(cells["completed"]) == o["completed"]
        for key in ("offeredRPS", "throughput", "avgTTFT", "ttftP95", "avgRespTime"):
            assert float(cells[key]) == pytest.approx(o[key], rel=1e-5), key  # 6 significant digits
    wide = run_main(*args, "--format", "table", "--all-columns")
    assert set(js[0]) <= set(wide.stdout.splitlines()[0].split())


def test_markov_mode_reports_no_token_latencies():
    proc = run_main("--problem", PROBLEM_FILE, "--duration", "120", "--mode", "markov")
    assert proc.returncode == 0
    (o,) = parse_lines(proc.stdout)
    assert o["mode"] == "markov"
    for key in ("avgTTFT", "avgITL", "ttftP95", "itlP99", "avgTTFTHalfWidth", "avgITLHalfWidth"):
        assert o[key] is None, key
    assert o["avgRespTime"] > 0 and o["completed"] > 0 and o["avgNumInSystem"] > 0


# ----------------------------------------------------------------------------- against the Python API
@pytest.mark.parametrize("mode", ["iteration", "markov"])
def test_the_cli_equals_the_python_api_with_the_same_settings(mode):
    (o,) = parse_lines(run_main("--problem", PROBLEM_FILE, "--duration", "120", "--mode", mode).stdout)
    run = inferno.simulate(model_of(PROBLEM), 3.0, duration_s=120, seed=1, mode=mode).to_dict()
    pairs = {"throughput": "throughput_rps", "avgTTFT": "ttft_ms_mean", "avgITL": "itl_ms_mean",
             "avgRespTime": "e2e_ms_mean", "avgWaitTime": "wait_ms_mean", "completed": "completed",
             "blocked": "blocked", "ttftP95": "ttft_ms_p95", "itlP99": "itl_ms_p99", "respTimeP50": "e2e_ms_p50",
             "lossProb": "blocking_prob", "measuredOfferedRPS": "offered_rps", "throughputHalfWidth":
             "throughput_half_width", "avgTTFTHalfWidth": "ttft_ms_half_width", "utilisation": "utilisation"}
    for key, name in pairs.items():
        assert o[key] == run[name], key
    # Time integrals: the Python run samples a series, which splits them at more points.
    for key, name in {"avgNumInServ": "num_in_service", "avgNumInSystem": "num_in_system",
                      "avgQueueLength": "queue_length"}.items():
        assert o[key] == pytest.approx(run[name], rel=1e-12, abs=1e-15), key


def test_simulation_flags_map_to_the_python_arguments():
    flags = ("--duration", "120", "--warmup", "20", "--seed", "5", "--replicas", "2", "--router", "jsq",
             "--arrivals", "gamma", "--cv", "2", "--output-tokens", "geometric", "--kv-capacity", "20000",
             "--noise-cv", "0.2")
    proc = run_main("--problem", PROBLEM_FILE, "--rate", "6", *flags)
    assert proc.returncode == 0, proc.stdout
    (o,) = parse_lines(proc.stdout)
    run = inferno.simulate(model_of(PROBLEM), 6.0, duration_s=120, warmup_s=20, seed=5, replicas=2, router="jsq",
                           arrivals="gamma", cv=2, out_tokens="geometric", kv_capacity_tokens=20000,
                           iteration_noise_cv=0.2, sample_interval_s=0).to_dict()
    assert (o["seed"], o["replicas"], o["warmupSeconds"]) == (5, 2, 20.0)
    for key, name in {"throughput": "throughput_rps", "avgTTFT": "ttft_ms_mean", "avgITL": "itl_ms_mean",
                      "completed": "completed", "ttftP99": "ttft_ms_p99", "avgNumInServ": "num_in_service"}.items():
        assert o[key] == run[name], key
    assert o["rho"] == pytest.approx(o["avgNumInServ"] / (48 * 2), rel=1e-12)  # per replica
    # The flags change the run: the plain problem at 6 req/s gives other numbers.
    (plain,) = parse_lines(run_main("--problem", PROBLEM_FILE, "--rate", "6", "--duration", "120").stdout)
    assert plain["avgTTFT"] != o["avgTTFT"] and plain["completed"] != o["completed"]


def test_benchmark_shaped_workloads_and_the_vllm_kv_policy_map_to_the_python_arguments():
    """Constant arrivals, uniform lengths in ±spread of the means and on-demand KV, from flags and
    from line keys, equal the Python API's run."""
    flags = ("--duration", "120", "--arrivals", "constant", "--input-tokens", "uniform", "--output-tokens",
             "uniform", "--token-spread", "0.25", "--kv-capacity", "9000", "--kv-policy", "on-demand")
    (o,) = parse_lines(run_main("--problem", PROBLEM_FILE, "--rate", "6", *flags).stdout)
    model = model_of(PROBLEM)
    n, m = PROBLEM["AvgInputTokens"], PROBLEM["AvgOutputTokens"]
    run = inferno.simulate(model, 6.0, duration_s=120, arrivals="constant",
                           in_tokens=("uniform", round(0.75 * n), round(1.25 * n)),
                           out_tokens=("uniform", round(0.75 * m), round(1.25 * m)), kv_capacity_tokens=9000,
                           kv_policy="on-demand", sample_interval_s=0, keep_requests=False).to_dict()
    for key, name in {"throughput": "throughput_rps", "avgTTFT": "ttft_ms_mean", "ttftP95": "ttft_ms_p95",
                      "preemptions": "preemptions", "completed": "completed"}.items():
        assert o[key] == run[name], key
    assert o["preemptions"] > 0  # 9000 tokens hold fewer requests than the batch cap
    keys = {**PROBLEM, "RPS": 6, "durationSeconds": 120, "arrivals": "constant", "inputTokens": "uniform",
            "outputTokens": "uniform", "tokenSpread": 0.25, "kvCapacityTokens": 9000, "kvPolicy": "on-demand"}
    (k,) = parse_lines(run_main(stdin=lines(keys)).stdout)
    assert k["avgTTFT"] == o["avgTTFT"] and k["preemptions"] == o["preemptions"]
    (c,) = parse_lines(run_main("--problem", PROBLEM_FILE, "--arrivals", "closed", "--clients", "8", "--think-time",
                                "0.5", "--duration", "60").stdout)
    users = inferno.simulate(model, arrivals="closed", clients=8, think_time_s=0.5, duration_s=60,
                             sample_interval_s=0, keep_requests=False).to_dict()
    assert c["avgTTFT"] == users["ttft_ms_mean"] and c["offeredRPS"] == users["offered_rps"]
    (w,) = parse_lines(run_main(stdin=lines({**PROBLEM, "RPS": 6, "durationSeconds": 20, "tokenSpread": 0.1})).stdout)
    assert any("tokenSpread" in warning for warning in w["warnings"])
    for bad, names in (({"tokenSpread": 1.5}, ("tokenSpread", "[0, 1]")),
                       ({"kvPolicy": "lazy"}, ("kv_policy", "'reserve', 'on-demand'")),
                       ({"inputTokens": "geometric"}, ("inputTokens", '"fixed" or "uniform"')),
                       ({"arrivals": "burst"}, ("arrivals", '"constant"')),
                       ({"arrivals": "closed"}, ("clients", "[1, 1000000]")),
                       ({"arrivals": "closed", "clients": 2, "thinkTimeSeconds": -1}, ("thinkTimeSeconds",))):
        (e,) = parse_lines(run_main(stdin=lines({**PROBLEM, "RPS": 6, "durationSeconds": 20, **bad})).stdout)
        assert_error(e, *names)


def test_line_keys_set_the_simulation_and_flags_override_them():
    line = {**HAND, "RPS": 2, "DurationSeconds": 30, "seed": 7, "MODE": "markov", "replicas": 2}
    (o,) = parse_lines(run_main(stdin=lines(line)).stdout)
    assert (o["durationSeconds"], o["warmupSeconds"], o["seed"], o["mode"], o["replicas"]) == (30.0, 3.0, 7, "markov", 2)
    (p,) = parse_lines(run_main("--seed", "9", "--duration", "40", "--mode", "iteration", stdin=lines(line)).stdout)
    assert (p["durationSeconds"], p["seed"], p["mode"], p["replicas"]) == (40.0, 9, "iteration", 2)
    # Problem flags override server fields of the lines read with --input (without --input,
    # problem flags alone describe the problem, as for `inferno queue solve`).
    (q,) = parse_lines(run_main("--input", "-", "--max-batch", "1", stdin=lines(line)).stdout)
    assert q["rho"] == pytest.approx(q["avgNumInServ"] / 2, rel=1e-12)  # N = 1, 2 replicas
    assert q["avgNumInServ"] <= 2


def test_output_is_identical_for_one_and_two_threads():
    text = lines(*({**HAND, "RPS": rps, "durationSeconds": 60, "seed": seed, "outputTokens": "geometric"}
                   for rps, seed in ((2, 1), (5, 2), (8, 3), (11, 4), (14, 5), (17, 6))), PROBLEM)
    one = run_main("--threads", "1", "--duration", "60", stdin=text)
    two = run_main("--threads", "2", "--duration", "60", stdin=text)
    assert one.returncode == two.returncode == 0
    assert one.stdout == two.stdout
    out = parse_lines(one.stdout)
    assert len(out) == 7 and len({o["avgTTFT"] for o in out}) == 7


# ----------------------------------------------------------------------------- workloads
def test_a_trace_replays_the_hand_computed_request(tmp_path):
    path = tmp_path / "trace.csv"
    path.write_text("time_s,in_tokens,out_tokens\n2.0,100,10\n")
    by_file = run_main("--trace", path, "--duration", "10", stdin=lines({**HAND, "RPS": 5}))
    by_key = run_main(stdin=lines({**HAND, "durationSeconds": 10, "trace": [[2.0, 100, 10]]}))
    assert by_file.returncode == by_key.returncode == 0
    assert by_file.stdout == by_key.stdout
    (o,) = parse_lines(by_file.stdout)
    assert o["completed"] == 1 and o["blocked"] == 0
    assert o["avgTTFT"] == pytest.approx(TTFT_1, rel=1e-12)
    assert o["avgRespTime"] == pytest.approx(E2E_1, rel=1e-12)
    assert o["avgITL"] == pytest.approx((E2E_1 - 20.1) / 10, rel=1e-12)
    assert o["avgWaitTime"] == 0
    assert o["offeredRPS"] == o["measuredOfferedRPS"] == pytest.approx(1 / 9)  # the trace, not RPS 5
    assert o["avgTTFTHalfWidth"] is None  # one request: no interval
    bad = tmp_path / "bad.csv"
    bad.write_text("time_s,in_tokens\n2.0,100\n")
    proc = run_main("--trace", bad, stdin=lines({**HAND, "RPS": 5}))
    assert proc.returncode == 1 and "out_tokens" in proc.stderr


def test_a_schedule_replaces_the_rate():
    base = ("--problem", PROBLEM_FILE, "--duration", "120")
    (fixed,) = parse_lines(run_main(*base, "--rate", "3").stdout)
    (held,) = parse_lines(run_main(*base, "--schedule", "0:3").stdout)
    # The same Poisson stream: a one-piece schedule from t = 0 at 3 req/s is the rate 3.
    for key in ("throughput", "avgTTFT", "avgITL", "completed", "measuredOfferedRPS", "ttftP99"):
        assert held[key] == fixed[key], key
    assert held["offeredRPS"] == held["measuredOfferedRPS"]
    (silent,) = parse_lines(run_main(*base, "--schedule", "0:0,1000:5").stdout)
    assert (silent["completed"], silent["offeredRPS"], silent["throughput"]) == (0, 0.0, 0.0)
    assert silent["avgTTFT"] is None and silent["avgRespTime"] is None
    (ramp,) = parse_lines(run_main(*base, "--schedule", "0:0,120:6", "--schedule-kind", "linear").stdout)
    (step,) = parse_lines(run_main(*base, "--schedule", "0:0,60:6").stdout)
    # Both offer 360 requests over [0, 120] s (the ramp 0.025 t² by t); the window is [12, 120] s.
    assert ramp["measuredOfferedRPS"] * 108 == pytest.approx(360 - 0.025 * 144, abs=4 * math.sqrt(360))
    assert step["measuredOfferedRPS"] * 108 == pytest.approx(360, abs=4 * math.sqrt(360))
    assert run_main(*base, "--schedule", "0-3").returncode == 1  # argparse: expected T:R


def test_usage_errors_exit_1():
    assert run_main("--problem", PROBLEM_FILE, "--mode", "fluid").returncode == 1
    assert run_main("--problem", PROBLEM_FILE, "--router", "random").returncode == 1
    both = run_main("--input", PROBLEM_FILE, "--rate", "3")
    assert both.returncode == 1 and "--input" in both.stderr
    missing = run_main("--problem", REPO / "no-such-file.json")
    assert missing.returncode == 1 and "inferno: error:" in missing.stderr


def test_other_service_models_run_in_markov_mode_only():
    token = {"RPS": 0.5, "maxBatchSize": 48, "maxQueueSize": 200, "serviceModel": "token", "alpha": 19, "beta": 1,
             "avgNumTokens": 1024, "durationSeconds": 300}
    proc = run_main("--mode", "markov", stdin=lines(token, {**token, "mode": "iteration"}))
    assert proc.returncode == 0
    markov, overridden = parse_lines(proc.stdout)
    assert markov == overridden  # the flag beats the line's key
    assert markov["mode"] == "markov" and markov["completed"] > 100 and markov["avgTTFT"] is None
    # Same settings through the Python API.
    model = inferno.QueueModel(service_model="token", alpha=19, beta=1, tokens_per_request=1024, max_batch=48,
                               max_queue=200)
    run = inferno.simulate(model, 0.5, mode="markov", duration_s=300, seed=1).to_dict()
    assert (markov["throughput"], markov["avgRespTime"]) == (run["throughput_rps"], run["e2e_ms_mean"])
    (iteration,) = parse_lines(run_main(stdin=lines(token)).stdout)
    assert_error(iteration, "'iteration' and 'vllm' service models", "markov")
