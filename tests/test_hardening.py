"""Hostile input through the CLI and the Python API: each test is a reproducer of a crash, a
traceback, a NaN or a lost batch that once happened, and asserts the clear error that replaced it
while every valid line around the bad one is still answered, in order."""

from __future__ import annotations

import io
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import inferno
from cli_helpers import cli_command

REPO = Path(__file__).resolve().parents[1]
PROBLEM = json.loads((REPO / "samples/queue/problem-data.json").read_text())
GOOD = json.dumps(PROBLEM).encode()


def run_lines(*args: str, lines: list[bytes]) -> tuple[int, list[dict]]:
    proc = subprocess.run([*cli_command(), *args], input=b"\n".join(lines) + b"\n", capture_output=True,
                          timeout=120)
    assert proc.returncode in (0, 2), proc.stderr.decode(errors="replace")
    return proc.returncode, [json.loads(line) for line in proc.stdout.decode().splitlines()]


def assert_answered_around(outputs: list[dict], bad: int, total: int, *fragments: str) -> None:
    assert len(outputs) == total
    for i, out in enumerate(outputs):
        if i == bad:
            assert out["status"] in ("invalid", "error") and set(out) == {"error", "message", "status"}
            for fragment in fragments:
                assert fragment in out["error"], (fragment, out["error"])
            assert out["error"].isascii() and out["error"].isprintable()
        else:
            assert "error" not in out and out["offeredRPS"] == PROBLEM["RPS"], out


@pytest.mark.parametrize("command", [("queue", "solve"), ("simulate",)])
def test_a_non_ascii_byte_in_a_malformed_line_is_that_lines_error(command):
    code, outputs = run_lines(*command, lines=[GOOD, '{"RPS": é}'.encode(), GOOD])
    assert code == 2
    assert_answered_around(outputs, 1, 3, "malformed JSON", "invalid literal")


def test_invalid_utf8_on_stdin_and_in_an_input_file_is_that_lines_error(tmp_path):
    bad = b'{"RPS": 3, "x": "\xff"}'
    code, outputs = run_lines("queue", "solve", lines=[GOOD, bad, GOOD])
    assert code == 2
    assert_answered_around(outputs, 1, 3, "ill-formed UTF-8", "\\xff")
    path = tmp_path / "lines.jsonl"
    path.write_bytes(GOOD + b"\n" + bad + b"\n" + GOOD + b"\n")
    proc = subprocess.run([*cli_command(), "queue", "solve", "--input", str(path), "--format", "table"],
                          capture_output=True, timeout=120)
    assert proc.returncode == 2
    assert b"inferno: line 2: binding error: malformed JSON" in proc.stderr
    table = proc.stdout.decode().splitlines()
    assert [row.split()[0] for row in table[1:]] == ["1", "2", "3"]


def test_nesting_100000_deep_is_rejected_while_parsing():
    deep = b'{"RPS": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    code, outputs = run_lines("queue", "solve", lines=[GOOD, deep, GOOD])
    assert code == 2
    assert_answered_around(outputs, 1, 3, "nesting deeper than 64 levels")


def test_a_rate_of_1e300_is_an_error_for_its_line_not_a_crash():
    huge = json.dumps({**PROBLEM, "RPS": 1e300}).encode()
    lines = [GOOD] * 150 + [huge] + [GOOD] * 150
    code, outputs = run_lines("queue", "solve", lines=lines)
    assert code == 2
    assert_answered_around(outputs, 150, 301, "RPS must be a finite number in [0, 1e+09], got 1e+300")


def test_a_throughput_target_beyond_its_range_is_named():
    line = json.dumps({**PROBLEM, "targetTPS": 1e100}).encode()
    code, outputs = run_lines("queue", "target", lines=[line])
    assert code == 2
    assert outputs[0]["error"] == "targetTPS must be a finite number in [0, 1e+12] (0 = none), got 1e+100"


def model(**overrides) -> inferno.QueueModel:
    kwargs = dict(alpha=12, beta=0.05, gamma=0.0005, in_tokens=128, out_tokens=512, max_batch=48, max_queue=128)
    kwargs.update(overrides)
    return inferno.QueueModel(**kwargs)


@pytest.mark.parametrize(("overrides", "message"), [
    (dict(alpha=1e200), "alpha must be a finite number in [0, 1e+06], got 1e+200"),
    (dict(gamma=1e100), "gamma must be a finite number in [0, 1e+06], got 1e+100"),
    (dict(arrival_cov=1e200), "arrival_cov must be a finite number in [0, 100], got 1e+200"),
    (dict(out_tokens=1e9), "out_tokens must be a finite number in [1, 1e+08], got 1e+09"),
])
def test_model_inputs_beyond_their_ranges_are_named_with_the_range(overrides, message):
    with pytest.raises(ValueError) as err:
        model(**overrides)
    assert str(err.value) == message


def test_the_api_rejects_what_it_cannot_compute():
    m = model()
    with pytest.raises(ValueError, match=r"rate_rps must be a finite number in \(0, 1e\+09\], got 1e\+300"):
        m.analyze(1e300)
    with pytest.raises(ValueError, match="rate_rps must be numbers, got a boolean"):
        m.analyze([True])
    with pytest.raises(ValueError, match="rate_rps must be a number"):
        m.analyze(True)
    with pytest.raises(ValueError, match="rate_rps must be numbers, got str"):
        m.analyze(["3"])
    with pytest.raises(ValueError, match="percentiles must be at most 1000 values, got 1001"):
        m.analyze(1.0, percentiles=np.linspace(1, 99, 1001))
    assert len(m.analyze([1.0, 2.0])) == 2


# Corners and insides of every documented range: the result is finite, or the input is rejected
# with its name (never a crash, a NaN or an infinity).
finite_at = lambda lo, hi: st.one_of(st.sampled_from([lo, hi]), st.floats(lo, hi))  # noqa: E731


@settings(max_examples=150, deadline=None)
@given(rate=finite_at(1e-12, 1e9), alpha=finite_at(0, 1e6), beta=finite_at(0, 1e6), gamma=finite_at(0, 1e6),
       in_tokens=finite_at(0, 1e8), out_tokens=finite_at(1, 1e8), cov=finite_at(0, 100),
       max_batch=st.sampled_from([1, 2, 7, 64]), max_queue=st.sampled_from([0, 1, 100, 10**9]))
@example(rate=1.0, alpha=0, beta=0, gamma=5e-324, in_tokens=0, out_tokens=1, cov=0, max_batch=7, max_queue=0)
def test_every_input_inside_the_ranges_gives_finite_metrics(rate, alpha, beta, gamma, in_tokens, out_tokens, cov,
                                                            max_batch, max_queue):
    try:
        m = model(alpha=alpha, beta=beta, gamma=gamma, in_tokens=in_tokens, out_tokens=out_tokens,
                  max_batch=max_batch, max_queue=max_queue, arrival_cov=cov)
        a = m.analyze(rate, percentiles=[50, 99])
    except ValueError as exc:  # only a model whose iterations take (next to) no time at all
        message = str(exc)
        # (a subnormal parameter times a small token count can round the service time to 0)
        assert (message == "alpha, beta and gamma must not all be 0 (the service time would be 0)"
                or re.fullmatch(r"service time tau\(\d+\) = \S+ ms is too small to model; check the parameters",
                                message)
                or re.fullmatch(r"service time tau\(\d+\) must be finite and > 0 ms; check the service-model parameters",
                                message)), message
        assert alpha + beta + gamma < 1e-6
        return
    for key, value in a.to_dict().items():
        if isinstance(value, float):
            assert math.isfinite(value), (key, value)


@settings(max_examples=80, deadline=None)
@given(rate=finite_at(1e-9, 1e6), alpha=finite_at(1e-3, 1e4), beta=finite_at(0, 10), gamma=finite_at(0, 1),
       delta=finite_at(0, 100), epsilon=finite_at(0, 1e-3), in_tokens=finite_at(0, 1e5), out_tokens=finite_at(1, 1e5),
       cov=finite_at(0, 100), spread=finite_at(0, 1), max_batch=st.sampled_from([1, 2, 7, 64]),
       max_queue=st.sampled_from([0, 1, 100]))
# found by this test: arrivals far burstier than random once extrapolated the decode window's ITL below 0
@example(rate=1e6, alpha=1e-3, beta=0, gamma=0, delta=0, epsilon=1e-3, in_tokens=1e5, out_tokens=1e5, cov=100,
         spread=0, max_batch=2, max_queue=0)
def test_the_vllm_model_with_its_arrival_pattern_and_spread_gives_finite_ordered_percentiles(
        rate, alpha, beta, gamma, delta, epsilon, in_tokens, out_tokens, cov, spread, max_batch, max_queue):
    """The vllm split (collisions for any arrival SCV) and the TTFT percentiles with a prompt spread
    (docs/queueing-model.md §3.6, §6.4, §6.6): finite everywhere in range, and ordered."""
    m = inferno.QueueModel(service_model="vllm", alpha=alpha, beta=beta, gamma=gamma, delta=delta, epsilon=epsilon,
                           in_tokens=in_tokens,
                           out_tokens=out_tokens, max_batch=max_batch, max_queue=max_queue, arrival_cov=cov,
                           in_tokens_spread=spread)
    a = m.analyze(rate, percentiles=[5, 50, 95, 99])
    for key, value in a.to_dict().items():
        if isinstance(value, float):
            assert math.isfinite(value), (key, value)
    for metric in ("ttft", "itl", "tpot", "wait"):
        values = [a.percentiles[f"{metric}_p{p}_ms"] for p in (5, 50, 95, 99)]
        assert values == sorted(values), (metric, values)
    assert a.ttft_ms > 0 and a.response_ms >= a.ttft_ms * (1 - 1e-12)  # equal for one output token


# ----------------------------------------------------------------------------- documents and CLI
def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*cli_command(), *args], capture_output=True, text=True, timeout=120)


def test_a_fleet_directory_without_its_servers_is_an_error_not_an_empty_fleet(tmp_path):
    for name in ("accelerator-data.json", "capacity-data.json", "model-data.json", "serviceclass-data.json"):
        (tmp_path / name).write_text((REPO / "samples/small" / name).read_text())
    proc = run("optimize", str(tmp_path))
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.strip() == f"inferno optimize: error: {tmp_path}: missing server-data.json (the servers to optimise)"
    # Layered directories supply the documents between them.
    servers = tmp_path / "servers"
    servers.mkdir()
    (servers / "server-data.json").write_text((REPO / "samples/small/server-data.json").read_text())
    assert inferno.System.from_dir(tmp_path, servers).optimize().total_cost == 30619


@pytest.mark.parametrize("count", [-5, -1, 1025])
def test_an_accelerator_count_out_of_range_is_named_not_replaced_by_one(count):
    models = json.loads((REPO / "samples/small/model-data.json").read_text())
    models["models"][0]["accCount"] = count
    with pytest.raises(ValueError, match=rf"accCount must be an integer in \[0, 1024\], got {count}"):
        inferno.System.from_documents(models, base=REPO / "samples/small")


def test_an_accelerator_count_of_zero_is_taken_as_one_with_a_warning():
    models = json.loads((REPO / "samples/small/model-data.json").read_text())
    models["models"][0]["accCount"] = 0
    system = inferno.System.from_documents(models, base=REPO / "samples/small")
    name = f"{models['models'][0]['name']} on {models['models'][0]['acc']}"
    lines = (system.diagnostics["where"] + ": " + system.diagnostics["message"]).tolist()
    assert any(line.endswith(f"models[0] ({name}): accCount missing or 0: taken as 1") for line in lines), lines


@pytest.mark.parametrize(("model", "message"), [
    ("", "model: must not be empty; known: "),
    (".", "model: '.' is a directory; give a model's config.json or one of: "),
])
def test_an_empty_or_directory_model_name_is_explained(model, message):
    proc = run("size", "derive", "--model", model, "--gpu", "A100-SXM4-80GB")
    assert proc.returncode == 1
    assert proc.stderr.startswith("inferno: error: " + message) and "Meta-Llama-3-8B" in proc.stderr


@pytest.mark.parametrize("fmt", ["table", "json", "csv"])
def test_calibrating_on_too_few_points_exits_4_without_a_traceback(tmp_path, fmt):
    points = json.loads((REPO / "samples/sizing/points.json").read_text())
    points["points"] = points["points"][:2]
    path = tmp_path / "points.json"
    path.write_text(json.dumps(points))
    proc = run("size", "calibrate", "--model", "Meta-Llama-3-8B", "--points", str(path), "--format", fmt)
    assert proc.returncode == 4 and proc.stderr == ""
    if fmt == "table":
        assert proc.stdout == ("mode family: NOT accepted (tooFewPoints): fewer measured points than parameters "
                               "to fit (3), nothing fitted\n")
    elif fmt == "json":
        doc = json.loads(proc.stdout)
        assert (doc["accepted"], doc["reason"], doc["kappa"], doc["relRms"], doc["rows"]) == \
            (False, "tooFewPoints", None, None, [])
    else:
        assert proc.stdout.splitlines()[0] == "point,measured,metric,predicted,rel_error"


# ----------------------------------------------------------------------------- bounded work
def test_the_survival_function_at_an_astronomical_time_returns_at_once():
    # t = 1e30 ms made the Poisson window's bounds overflow an integer cast and loop for ever:
    # in a subprocess, so that a regression fails instead of hanging the suite.
    code = ("import inferno; m = inferno.QueueModel(alpha=12, beta=0.05, gamma=0.0005, in_tokens=128, "
            "out_tokens=512, max_batch=48, max_queue=10**12); "
            "print(m.wait_survival(448.5, [1e30])[0], m.wait_survival(3.8, 1e300), m.wait_survival(3.8, 1e3))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    huge, astronomical, ordinary = map(float, proc.stdout.split())
    assert huge == 0.0 and astronomical == 0.0 and 0 < ordinary < 1


@pytest.mark.parametrize(("extra", "message"), [
    ({"durationSeconds": 1e7}, "the run would generate about 1.536e+10 output tokens (rate x duration_s x mean "
                               "out_tokens); at most 5e8 per run: shorten duration_s or lower the load"),
    ({"replicas": 10000}, "replicas must be an integer in [1, 1000], got 10000"),
    ({"trace": [[0, 1e12, 10]]}, "trace in_tokens must be a finite number in [0, 1e8], got 1e+12"),
])
def test_a_simulation_beyond_its_limits_is_refused_before_it_starts(extra, message):
    line = json.dumps({**PROBLEM, **extra}).encode()
    code, outputs = run_lines("simulate", lines=[GOOD, line, GOOD])
    assert code == 2
    assert outputs[1]["error"] == message
    assert [o.get("offeredRPS") for o in (outputs[0], outputs[2])] == [PROBLEM["RPS"]] * 2


# ----------------------------------------------------------------------------- inferno tune
TUNE_HEADER = "rate_rpm,in_tokens,out_tokens,max_batch,ttft_ms,itl_ms\n"


def tune_rows(count: int) -> list[str]:
    from inferno import tuner as T
    rows = []
    for k in range(count):
        obs = {"rate_rpm": 20.0 + 5 * k, "in_tokens": [500, 1500, 2500][k % 3], "out_tokens": [400, 1000, 300][k % 3],
               "max_batch": 128, "max_queue": 1024}
        obs.update(T.predict(obs, (8.0, 0.016, 0.0005)))
        rows.append(f"{obs['rate_rpm']},{obs['in_tokens']},{obs['out_tokens']},128,{obs['ttft_ms']},{obs['itl_ms']}\n")
    return rows


def test_a_huge_or_undecodable_csv_line_is_skipped_with_its_number(tmp_path):
    rows = tune_rows(8)
    path = tmp_path / "obs.csv"
    path.write_bytes((TUNE_HEADER + "".join(rows[:3])).encode() + b"60,512,256,64,26.2," + b"9" * 200_000 + b"\n"
                     + rows[3].encode() + b"60,512,256,64,2\xff6.2,9.2\n" + "".join(rows[4:]).encode())
    proc = run("tune", str(path), "--format", "json")
    assert proc.returncode == 2  # an estimate, with rows skipped
    assert proc.stderr.splitlines() == [
        f"inferno tune: {path}:5: line of 200020 bytes, longer than 10000 (row skipped)",
        f"inferno tune: {path}:7: not valid UTF-8 (byte 16) (row skipped)"]
    doc = json.loads(proc.stdout)
    assert doc["observations"] == 8
    assert doc["skippedRows"] == [{"line": 5, "reason": "line of 200020 bytes, longer than 10000"},
                                  {"line": 7, "reason": "not valid UTF-8 (byte 16)"}]


def test_without_history_the_tuner_keeps_only_the_latest_cycle(tmp_path):
    from inferno import tuner as T
    frame = pd.read_csv(io.StringIO(TUNE_HEADER + "".join(tune_rows(12))))
    full, lean = T.Tuner().fit(frame), T.Tuner(keep_history=False).fit(frame)
    assert len(full.history) == 12 and len(lean.history) == 1
    assert lean.history.iloc[0].to_dict() == full.history.iloc[-1].to_dict()
    assert lean.estimate.params == full.estimate.params
    with pytest.raises(ValueError, match="keep_history must be True or False, got 'no'"):
        T.Tuner(keep_history="no")
    path = tmp_path / "obs.csv"
    path.write_text(TUNE_HEADER + "".join(tune_rows(12)))
    plain, detailed = run("tune", str(path), "--format", "json"), run("tune", str(path), "--format", "json", "--history")
    assert json.loads(plain.stdout)["estimate"] == json.loads(detailed.stdout)["estimate"]
    assert "history" not in json.loads(plain.stdout) and len(json.loads(detailed.stdout)["history"]) == 12


# ----------------------------------------------------------------------------- hostile values, generated
HYPOTHESIS = dict(deadline=None, derandomize=os.environ.get("CI", "").lower() == "true")
extreme = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([1e308, -1e308, 5e-324, -0.0]),
                    st.integers(-(10**30), 10**30), st.booleans(), st.text(max_size=5), st.none())


@settings(max_examples=300, **HYPOTHESIS)
@given(key=st.sampled_from(["alpha", "beta", "gamma", "in_tokens", "out_tokens", "max_batch", "max_queue",
                            "arrival_cov", "service_cov", "max_num_tokens"]), value=extreme, rate=extreme)
def test_the_api_answers_any_value_with_numbers_or_a_value_error(key, value, rate):
    kwargs = dict(alpha=12, beta=0.05, gamma=0.0005, in_tokens=128, out_tokens=512, max_batch=48, max_queue=128)
    kwargs[key] = value
    try:
        result = inferno.QueueModel(**kwargs).analyze(rate, percentiles=[99])
    except ValueError as exc:
        assert str(exc) and len(str(exc)) < 400
        return
    for name, number in result.to_dict().items():
        if isinstance(number, float):
            assert math.isfinite(number), (name, number)


def json_values(depth: int = 3) -> st.SearchStrategy:
    leaves = st.one_of(st.none(), st.booleans(), st.integers(-(10**20), 10**20),
                       st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8))
    return st.recursive(leaves, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                                             max_size=3), max_leaves=8)


# 25 CLI runs (each a process start): the batch reader itself is fuzzed in C++ (scripts/fuzz.sh).
@settings(max_examples=25, **HYPOTHESIS)
@given(edits=st.dictionaries(st.sampled_from(["RPS", "maxBatchSize", "alpha", "avgInputTokens", "percentiles",
                                              "targetTTFT", "serviceModel", "maxQueueSize", "arrivalCOV"]),
                             json_values(), min_size=1, max_size=3),
       garbage=st.binary(max_size=40), depth=st.integers(0, 200))
def test_a_batch_answers_every_line_whatever_the_bad_ones_hold(edits, garbage, depth):
    bad_json = json.dumps({**PROBLEM, **edits}).encode()
    nested = b'{"RPS": ' + b"[" * depth + b"]" * depth + b"}"
    lines = [GOOD, bad_json, GOOD, garbage.replace(b"\n", b" "), GOOD, nested, GOOD]
    proc = subprocess.run([*cli_command(), "queue", "solve"], input=b"\n".join(lines) + b"\n", capture_output=True,
                          timeout=120)
    assert proc.returncode in (0, 2) and proc.stderr == b"", proc.stderr
    outputs = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    answered = [line for line in lines if line.strip(b" \t\r\n")]  # what the core counts as blank
    assert len(outputs) == len(answered)
    for line, out in zip(answered, outputs):
        if line == GOOD:
            assert out["offeredRPS"] == PROBLEM["RPS"]
        else:
            assert "error" in out or all(math.isfinite(v) for v in out.values() if isinstance(v, float))


@settings(max_examples=100, **HYPOTHESIS)
@given(body=st.lists(st.binary(max_size=60), max_size=6))
def test_the_observation_csv_reader_reports_any_bytes_as_skipped_rows_or_one_value_error(tmp_path_factory, body):
    from inferno import tuner as T
    path = tmp_path_factory.mktemp("csv") / "obs.csv"
    path.write_bytes(TUNE_HEADER.encode() + b"\n".join(body))
    try:
        frame, skipped = T.read_observations(path)
    except ValueError as exc:
        assert str(path) in str(exc)
        return
    lines = b"\n".join(body).split(b"\n")
    assert all(isinstance(line, int) and 2 <= line <= len(lines) + 1 and reason for line, reason in skipped)
    assert len(frame) + len(skipped) <= len(lines)


def test_a_sizing_grid_beyond_1000_points_is_refused_before_the_search():
    # 239,241 points once made `queue optimize` run for minutes.
    line = json.dumps({**PROBLEM, "sizeGridPoints": 239_241}).encode()
    code, outputs = run_lines("queue", "optimize", lines=[line])
    assert code == 2
    assert outputs[0]["error"] == "sizeGridPoints must be an integer in [1, 1000], got 239241"
    with pytest.raises(ValueError, match=r"grid_points must be an integer in \[1, 1000\]"):
        model().max_rate(ttft_ms=60, grid_points=1001)


# ----------------------------------------------------------------------------- one validation rule
@pytest.mark.parametrize(("command", "extra", "message"), [
    (("queue", "solve"), {"avgNumTokens": -5}, "avgNumTokens must be a finite number in (0, 1e+06], got -5"),
    (("queue", "solve"), {"decodeParms": "x"}, "decodeParms must be an object"),
    (("queue", "target"), {"targetTTFT_p-5": 3}, 'percentile target key "targetttft_p-5" must end in a percentile'),
    (("queue", "solve"), {"bogus": 1}, 'unknown key "bogus"; allowed (any letter case): RPS, maxBatchSize'),
    (("simulate",), {"cv": 0}, "cv must be a finite number in (0.01, 100], got 0"),
    (("simulate",), {"trace": []}, "trace must hold at least one row (or be left out)"),
    (("simulate",), {"schedule": []}, "schedule must hold at least one row (or be left out)"),
])
def test_every_known_key_is_validated_and_unknown_keys_are_errors(command, extra, message):
    code, outputs = run_lines(*command, lines=[json.dumps({**PROBLEM, **extra}).encode(), GOOD])
    assert code == 2
    assert outputs[0]["error"].startswith(message), outputs[0]["error"]
    assert "error" not in outputs[1]


@pytest.mark.parametrize(("command", "extra", "warning"), [
    (("queue", "solve"), {"avgNumTokens": 5}, "avgNumTokens is not used by serviceModel 'iteration': ignored"),
    (("queue", "solve"), {"decodeParms": {"alpha": 1, "beta": 2}},
     "decodeParms is not used by serviceModel 'iteration': ignored"),
    (("queue", "solve"), {"durationSeconds": 60}, "durationSeconds is used by inferno simulate only: ignored"),
    (("queue", "solve"), {"targetWait": 2}, "targetWait (seconds, the 2024 API) is not read: use targetWaitTime (ms)"),
    (("simulate",), {"cv": 2}, "cv is used by gamma arrivals only: ignored"),
])
def test_keys_the_line_does_not_use_are_answered_with_a_warning(command, extra, warning):
    code, outputs = run_lines(*command, lines=[json.dumps({**PROBLEM, **extra}).encode()])
    assert code == 0
    assert [w for w in outputs[0]["warnings"] if w.startswith(warning)], outputs[0]["warnings"]
    assert outputs[0]["offeredRPS"] == PROBLEM["RPS"]
    table = subprocess.run([*cli_command(), *command, "--format", "table"],
                           input=json.dumps({**PROBLEM, **extra}) + "\n", capture_output=True, text=True, timeout=120)
    assert table.returncode == 0 and f"inferno: line 1: warning: {warning}" in table.stderr
    assert "warnings" not in table.stdout


def test_a_line_longer_than_the_limit_is_that_lines_error_and_is_never_held_whole(tmp_path):
    from inferno import _core
    limit = _core.io.max_json_bytes
    assert limit == 64 << 20
    padded = b'{"RPS": 3' + b" " * (limit + 1000) + b"}"  # valid JSON but for its length
    path = tmp_path / "lines.jsonl"
    path.write_bytes(GOOD + b"\n" + padded + b"\n" + GOOD + b"\n")
    proc = subprocess.run([*cli_command(), "queue", "solve", "--input", str(path)], capture_output=True, timeout=300)
    assert proc.returncode == 2
    outputs = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert_answered_around(outputs, 1, 3, f"a text of more than {limit} bytes, the longest accepted")


def test_error_messages_quote_short_excerpts_of_what_was_given():
    from inferno._text import excerpt
    assert excerpt("abc") == "'abc'"
    assert excerpt("x" * 1000) == "'" + "x" * 56 + "..."
    assert excerpt(list(range(10**6))) == "a list of 1000000 items"

    class Broken:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    assert excerpt(Broken()) == "<Broken>"
    with pytest.raises(ValueError) as err:
        model(service_model="x" * 100_000)
    assert len(str(err.value)) < 300 and str(err.value).startswith("unknown service_model 'xxxx")
    with pytest.raises(ValueError) as err:
        inferno.simulate(model(), 1.0, router=list(range(1000)))
    assert "a list of 1000 items" in str(err.value)


@pytest.mark.parametrize(("option", "value", "message"), [
    ("hold_back", -1e9, "hold_back must be True or False, got -1000000000.0"),
    ("seeded_guess", 1, "seeded_guess must be True or False, got 1"),
    ("rate_ratio", 2, "rate_ratio must be a finite number in (0, 1], got 2"),
    ("throughput_ratio", 0, "throughput_ratio must be a finite number in (0, 1], got 0"),
])
def test_tuner_options_are_not_read_loosely(option, value, message):
    from inferno import tuner as T
    with pytest.raises(ValueError) as err:
        T.Tuner(**{option: value})
    assert str(err.value) == message
    T.Tuner(**{option: np.bool_(True) if "ratio" not in option else 0.5})  # a valid value is taken


@pytest.mark.parametrize("command", [("queue", "solve"), ("queue", "target"), ("queue", "optimize"), ("simulate",)])
def test_every_line_is_answered_in_order_single_and_multi_threaded_on_stdin_and_from_a_file(command, tmp_path):
    """The per-line guard is structural: the same batch of good and bad lines gives byte-identical
    output with 1 and 4 threads, from stdin and from --input, one answer per line, in order."""
    bad_lines = [b'{"RPS": 3, "x": "\xff"}',                    # invalid UTF-8
                 b'{"RPS": ' + b"[" * 5000 + b"]" * 5000 + b"}",  # deep nesting
                 json.dumps({**PROBLEM, "RPS": 1e300}).encode(),  # beyond the rate range
                 b'{"RPS": \xc3\xa9}',                            # non-ASCII in malformed JSON
                 json.dumps({**PROBLEM, "alpha": -1}).encode(),   # out of range
                 b"\x00\x01garbage"]
    # more lines than one parallel batch, bad lines spread over batch boundaries
    lines = []
    for i in range(300):
        lines.append(bad_lines[i % len(bad_lines)] if i % 50 in (0, 49) else GOOD)
    body = b"\n".join(lines) + b"\n"
    path = tmp_path / "batch.jsonl"
    path.write_bytes(body)
    outputs = []
    for threads in ("1", "4"):
        for source in ("stdin", "file"):
            args = [*cli_command(), *command, "--threads", threads]
            if source == "file":
                args += ["--input", str(path)]
            proc = subprocess.run(args, input=body if source == "stdin" else None, capture_output=True, timeout=600)
            assert proc.returncode == 2, proc.stderr.decode(errors="replace")[-2000:]
            outputs.append(proc.stdout)
    assert all(out == outputs[0] for out in outputs[1:])
    answers = [json.loads(line) for line in outputs[0].decode().splitlines()]
    assert len(answers) == len(lines)
    for line, answer in zip(lines, answers):
        assert ("error" in answer) == (line != GOOD), (line[:60], answer)


@pytest.mark.parametrize("argument, highest", [("iteration_noise_cv", 10.0), ("kv_capacity_tokens", 1e15),
                                               ("startup_delay_s", 1e8), ("sample_interval_s", 1e8)])
def test_simulator_arguments_end_where_their_documented_range_ends(argument, highest):
    """docs/simulator.md lists the range of every argument. At the top of each the run gives finite
    numbers (an iteration-noise CV of 1e200 used to give NaN latencies); just above it, the
    argument is named with its range."""
    model = inferno.QueueModel(alpha=8, beta=0.016, gamma=0.0005, max_batch=64, max_queue=256, in_tokens=512,
                               out_tokens=256)
    run = inferno.simulate(model, rate_rps=2, duration_s=60, keep_requests=False, **{argument: highest})
    numbers = [v for v in run.summary.to_numpy() if isinstance(v, float)]
    assert numbers and all(math.isfinite(v) for v in numbers if v == v)  # NaN: not measured in this mode
    if argument != "startup_delay_s":  # with a start-up of 1e8 s nothing is served in 60 s
        assert run.summary["throughput_rps"] > 0 and math.isfinite(run.summary["ttft_ms_mean"])
    with pytest.raises(ValueError, match=argument):
        inferno.simulate(model, rate_rps=2, duration_s=60, **{argument: highest * (1 + 1e-9)})
