"""Tests of the ``inferno queue`` command line (JSON lines in, JSON lines / table / CSV out).

Reference numbers are the reference project's published numbers, with their tolerances
(docs/queueing-model.md §9.3). The CLI is run as a subprocess and, where convenient,
in-process through ``inferno.cli.main``.
"""

from __future__ import annotations

import io
import json
import math
import subprocess
import sys

import pandas as pd
import pytest

import inferno
from inferno import QueueModel
from inferno.cli import main

from cli_helpers import REPO, run_in_process, run_process, strict_json, strict_json_lines

PROBLEM_FILE = REPO / "samples" / "queue" / "problem-data.json"

# Input A of docs/queueing-model.md §9.3 (examples/problem-data.json, capitalised keys as in the reference file).
A = {"RPS": 3.0, "maxBatchSize": 48, "AvgInputTokens": 128, "AvgOutputTokens": 512, "alpha": 12,
     "beta": 0.05, "gamma": 0.0005, "maxQueueSize": 128, "targetTTFT": 60.0, "targetITL": 20.0}
# The same server without targets and with lower-camel keys, for building variants by text.
SERVER = ('"maxBatchSize": 48, "avgOutputTokens": 512, "alpha": 12, "beta": 0.05, '
          '"gamma": 0.0005, "maxQueueSize": 128')
# Legacy token model of docs/queueing-model.md §9.3 (2024 README; N = 48, Q = 200, alpha 19, beta 1, K_tok 1024).
TOKEN = {"serviceModel": "token", "alpha": 19, "beta": 1, "avgNumTokens": 1024,
         "maxBatchSize": 48, "maxQueueSize": 200}

REFERENCE_ANALYSIS_KEYS = ["offeredRPS", "throughput", "avgRespTime", "avgWaitTime", "avgNumInServ",
                           "avgTTFT", "avgITL", "maxRPS", "RPSTargetTTFT", "RPSTargetITL"]
ANALYSIS_EXTENSIONS = ["avgPrefillTime", "rho", "lossProb", "droppedRPS", "busyProb",
                       "avgQueueLength", "avgNumInSystem", "probWait", "tokensPerSec", "peakRPS",
                       "peakBatch"]
TARGET_EXTENSIONS = ["sizeStatus", "bindingConstraint", "RPSTargetTPS", "RPSTargetWaitTime",
                     "RPSTargetLossProb", "tpsMet", "replicasForTPS"]
REFERENCE_OPTIMIZE_KEYS = ["concurrency", "throughput", "avgRespTime", "avgWaitTime",
                           "avgNumInServ", "avgTTFT", "avgITL", "maxRPS", "M_ITL", "M_TPF",
                           "oracleCalls", "feasible"]
OPTIMIZE_EXTENSIONS = ["anchorThroughput", "probes", "converged", "bracketLo", "bracketHi"]

ERROR_PREFIXES = ("binding error:", "data error: invalid input data:",
                  "NewLLMQueueAnalyzer() failed:", "Analyze() failed:", "Size() failed:",
                  "OptimalConcurrency() failed:")

REL = 5e-4  # docs/queueing-model.md §9.3: "everything else"


# ----------------------------------------------------------------------------- helpers
def run_cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    """The CLI as a separate process (fresh interpreter, real exit code)."""
    return run_process(args, stdin)


def run_main(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    """The CLI in-process through ``inferno.cli.main`` (same result shape as run_cli)."""
    return run_in_process(args, stdin)


def parse_line(line: str) -> dict:
    """Strict JSON: NaN, Infinity and -Infinity are rejected."""
    obj = strict_json(line)
    assert isinstance(obj, dict), line
    return obj


parse_lines = strict_json_lines


def run_json(op: str, *objs: dict | str, extra: tuple[str, ...] = (),
             subprocess_: bool = False) -> tuple[list[dict], int]:
    """Feed JSON lines to ``inferno queue OP``; in-process unless subprocess_ is set."""
    text = "".join((o if isinstance(o, str) else json.dumps(o)) + "\n" for o in objs)
    runner = run_cli if subprocess_ else run_main
    proc = runner("queue", op, *extra, stdin=text)
    out = parse_lines(proc.stdout)
    return out, proc.returncode


def one(op: str, obj: dict | str, subprocess_: bool = False) -> dict:
    out, rc = run_json(op, obj, subprocess_=subprocess_)
    assert rc == 0, out
    assert len(out) == 1
    return out[0]


def close(actual: float, expected: float, rel: float = REL) -> bool:
    return abs(actual - expected) <= rel * abs(expected)


def close_wait(actual: float, expected: float, resp_ref: float) -> bool:
    """docs/queueing-model.md §9.3 tolerance for avgWaitTime / avgTTFT (single-precision T - S in the reference)."""
    return abs(actual - expected) <= REL * abs(expected) + 1e-6 * resp_ref


def assert_error(obj: dict, prefix: str, *names: str, status: str = "invalid") -> None:
    assert list(obj) == ["error", "message", "status"], obj
    assert obj["status"] == status
    assert obj["message"].startswith(prefix + " "), obj["message"]
    assert obj["message"] == f"{prefix} {obj['error']}"
    folded = obj["message"].lower().replace(" ", "")
    for name in names:
        assert name.lower().replace(" ", "") in folded, (name, obj["message"])


# ----------------------------------------------------------------------------- invocation
def test_cli_invocation_and_version():
    proc = run_cli("--version")
    assert proc.returncode == 0
    highs = inferno.optimizer.highs_versions()
    # The library the wheel carries is the one the headers describe.
    assert highs["linked"] == highs["compiled"], highs
    major, minor, _patch = (int(part) for part in highs["linked"].split("."))
    assert (1, 13) <= (major, minor) < (2, 0), highs
    assert proc.stdout == f"inferno {inferno.__version__} (HiGHS {highs['linked']})\n"


def test_queue_requires_an_operation():
    proc = run_cli("queue")
    assert proc.returncode == 1
    assert "OPERATION" in proc.stderr or "required" in proc.stderr


# ----------------------------------------------------------------------------- public vectors
def test_solve_vector_A():
    out = one("solve", A, subprocess_=True)
    assert out["offeredRPS"] == 3.0
    assert close(out["throughput"], 3)
    resp = 10348.367
    assert close(out["avgRespTime"], resp)
    assert close_wait(out["avgWaitTime"], 21.405273, resp)
    assert close(out["avgNumInServ"], 30.980886)
    assert close_wait(out["avgTTFT"], 67.614647, resp)
    assert close(out["avgITL"], 20.118889)
    assert close(out["maxRPS"], 3.8609295)
    assert close(out["avgPrefillTime"], 26.090485)
    assert close(out["rho"], 0.6454352)
    assert out["RPSTargetTTFT"] == 0 and out["RPSTargetITL"] == 0  # solve reports 0 (docs/cli.md §5-6)
    # Identity of docs/queueing-model.md §4 (to 1e-12 relative) and derived outputs.
    assert math.isclose(out["avgRespTime"], out["avgTTFT"] + 511 * out["avgITL"], rel_tol=1e-12)
    assert math.isclose(out["rho"], out["avgNumInServ"] / 48, rel_tol=1e-12)
    assert math.isclose(out["tokensPerSec"], 1000 * out["throughput"] * 512 / 1000, rel_tol=1e-12)
    assert math.isclose(out["droppedRPS"], 3.0 - out["throughput"], abs_tol=1e-12)
    # maxRPS = 0.999 * mu_N and peakRPS = mu_48 = 3.864794 (docs/queueing-model.md §9.3(a); nc = 1, mu monotone).
    assert math.isclose(out["maxRPS"], 0.999 * out["peakRPS"], rel_tol=1e-12)
    assert close(out["peakRPS"], 3.864794, 1e-6) and out["peakBatch"] == 48


def test_solve_matches_python_api_bit_for_bit():
    """JSON output carries the full double (shortest round-trip), equal to the Python API."""
    out = one("solve", A)
    a = QueueModel(alpha=12, beta=0.05, gamma=0.0005, in_tokens=128, out_tokens=512,
                   max_batch=48, max_queue=128).analyze(3.0)
    pairs = {"throughput": a.throughput_rps, "avgRespTime": a.response_ms,
             "avgWaitTime": a.wait_ms, "avgNumInServ": a.num_in_service, "avgTTFT": a.ttft_ms,
             "avgITL": a.itl_ms, "avgPrefillTime": a.prefill_ms, "lossProb": a.blocking_prob,
             "avgNumInSystem": a.num_in_system, "probWait": a.wait_prob}
    for key, value in pairs.items():
        assert out[key] == value, key


def test_target_vector_A():
    out = one("target", A, subprocess_=True)
    assert close(out["RPSTargetTTFT"], 2.9494622)
    assert close(out["RPSTargetITL"], 2.971982)
    assert out["bindingConstraint"] == "TTFT"
    assert out["sizeStatus"] == "ok"
    assert out["avgTTFT"] <= 60.0  # feasible side (docs/queueing-model.md §5.2), unlike the reference's 60.000584
    assert out["avgITL"] <= 20.0
    # lambda* = min of the per-constraint rates (docs/queueing-model.md §5.2), and the sized throughput.
    assert math.isclose(out["offeredRPS"], min(out["RPSTargetTTFT"], out["RPSTargetITL"]),
                        rel_tol=1e-9)
    assert close(out["throughput"], 2.9494622)
    assert close(out["maxRPS"], 3.8609295)
    # No TPS demand: RPSTargetTPS = 0.9 * maxRPS and unconstrained targets report maxRPS.
    assert math.isclose(out["RPSTargetTPS"], 0.9 * out["maxRPS"], rel_tol=1e-12)
    assert out["RPSTargetWaitTime"] == out["maxRPS"] == out["RPSTargetLossProb"]


def test_target_is_tight_for_the_binding_target():
    """Just above the sized rate the binding TTFT target is violated."""
    out = one("target", A)
    above = one("solve", {**A, "RPS": out["offeredRPS"] * (1 + 1e-6)})
    assert above["avgTTFT"] > 60.0


OPTIMIZE_VECTORS = {
    48: dict(concurrency=48, M_ITL=31, M_TPF=48, oracleCalls=6, probes=[48, 39, 44, 46, 47, 48],
             throughput=2.9494622, avgRespTime=10231.625, avgWaitTime=14.219727,
             avgNumInServ=30.135853, avgTTFT=60.000584, avgITL=19.90533, maxRPS=3.8609295,
             anchorThroughput=2.9494622),
    256: dict(concurrency=49, M_ITL=31, M_TPF=164, oracleCalls=8,
              probes=[256, 143, 87, 59, 45, 52, 49, 49], throughput=2.9715836,
              avgRespTime=10277.985, avgWaitTime=12.017578, avgNumInServ=30.50618,
              avgTTFT=57.9873, avgITL=19.999996, maxRPS=3.9003835, anchorThroughput=2.9704919),
}


@pytest.mark.parametrize("max_batch", [48, 256])
def test_optimize_vectors(max_batch):
    ref = OPTIMIZE_VECTORS[max_batch]
    out = one("optimize", {**A, "maxBatchSize": max_batch}, subprocess_=True)
    for key in ("concurrency", "M_ITL", "M_TPF", "oracleCalls", "probes"):  # exact (docs/queueing-model.md §9.3)
        assert out[key] == ref[key], key
    assert out["feasible"] is True
    for key in ("throughput", "avgRespTime", "avgNumInServ", "avgITL", "maxRPS",
                "anchorThroughput"):
        assert close(out[key], ref[key]), key
    for key in ("avgWaitTime", "avgTTFT"):
        assert close_wait(out[key], ref[key], ref["avgRespTime"]), key
    assert out["avgTTFT"] <= 60.0 and out["avgITL"] <= 20.0
    assert out["bracketLo"] <= out["concurrency"] <= out["bracketHi"]
    assert out["probes"][0] == max_batch


def test_optimize_A_equals_target_A():
    """docs/queueing-model.md §9.3: the optimize(A) metrics are those of target(A) at N = 48."""
    opt = one("optimize", A)
    tgt = one("target", A)
    for key in ("throughput", "avgRespTime", "avgWaitTime", "avgNumInServ", "avgTTFT", "avgITL",
                "maxRPS"):
        assert math.isclose(opt[key], tgt[key], rel_tol=1e-12), key


def test_legacy_token_model_solve():
    out = one("solve", {**TOKEN, "RPS": 0.5}, subprocess_=True)  # 30 req/min
    assert close(out["throughput"] * 60, 29.999998)
    resp = 41968.81
    assert close(out["avgRespTime"], resp)
    assert close(out["avgNumInServ"], 20.983025)
    assert close(out["avgITL"], 40.98247)  # avgTokenTime
    assert close(out["maxRPS"] * 60, 41.93564)
    assert close_wait(out["avgWaitTime"], 2.7617188, resp)
    assert close(out["avgWaitTime"], 2.7588)  # the exact value quoted in docs/queueing-model.md §9.3
    # Token model: TTFT = W + ITL, no prefill, T = TTFT + (K_tok - 1) ITL.
    assert out["avgPrefillTime"] == 0
    assert math.isclose(out["avgTTFT"], out["avgWaitTime"] + out["avgITL"], rel_tol=1e-12)
    assert math.isclose(out["avgRespTime"], out["avgTTFT"] + 1023 * out["avgITL"], rel_tol=1e-12)


def test_legacy_token_model_target():
    out = one("target", {**TOKEN, "targetWaitTime": 1000, "targetITL": 50}, subprocess_=True)
    assert close(out["throughput"] * 60, 35.200314)
    assert close(out["RPSTargetITL"] * 60, 35.200314)
    assert close(out["RPSTargetWaitTime"] * 60, 36.61307)  # RMPTargetWait (sic)
    assert out["bindingConstraint"] == "ITL"
    assert out["RPSTargetITL"] < out["RPSTargetWaitTime"]
    resp = 51532.883
    assert close(out["avgRespTime"], resp)
    assert close_wait(out["avgWaitTime"], 332.88673, resp)
    assert close(out["avgNumInServ"], 30.037598)
    assert close(out["avgITL"], 49.999996) and out["avgITL"] <= 50
    assert out["avgWaitTime"] <= 1000


MAPPING_CASES = [
    ({"serviceModel": "prefill-decode", "decodeParms": {"alpha": 8, "beta": 0.3},
      "prefillParms": {"gamma": 20, "delta": 0.002}, "avgInputTokens": 1024,
      "avgOutputTokens": 256, "maxBatchSize": 64, "maxQueueSize": 100},
     dict(service_model="prefill-decode", decode_alpha=8, decode_beta=0.3, prefill_gamma=20,
          prefill_delta=0.002, in_tokens=1024, out_tokens=256, max_batch=64, max_queue=100)),
    ({"alpha": 8, "beta": 0.033, "gamma": 0.000333, "avgInputTokens": 4096, "avgOutputTokens": 64,
      "maxBatchSize": 200, "maxQueueSize": 50, "maxNumTokens": 2048},
     dict(alpha=8, beta=0.033, gamma=0.000333, in_tokens=4096, out_tokens=64, max_batch=200,
          max_queue=50, max_num_tokens=2048)),
    ({**TOKEN, "itlWeighting": "time"},
     dict(service_model="token", alpha=19, beta=1, tokens_per_request=1024, max_batch=48,
          max_queue=200, itl_weighting="time")),
]


@pytest.mark.parametrize("problem,kwargs", MAPPING_CASES,
                         ids=["prefill-decode", "chunked", "token-time"])
def test_problem_data_maps_to_the_python_model(problem, kwargs):
    """Every ProblemData field (nested decodeParms/prefillParms, maxNumTokens, avgNumTokens,
    itlWeighting) reaches the same model as the Python API: outputs are bit-identical.
    (Not vacuous: maxNumTokens 2048 vs the default 8192 changes maxRPS from 2.09 to 3.89 req/s
    here, and time weighting moves itl_p50 of the token case from 46 to 48 ms.)"""
    model = QueueModel(**kwargs)
    rate = 0.8 * model.max_stable_rate_rps
    out = one("solve", {**problem, "RPS": rate, "percentiles": [50, 99]})
    a = model.analyze(rate, percentiles=[50, 99])
    assert out["maxRPS"] == model.max_stable_rate_rps
    assert out["peakRPS"] == model.peak_rate_rps and out["peakBatch"] == model.peak_batch
    pairs = {"avgTTFT": a.ttft_ms, "avgITL": a.itl_ms, "avgWaitTime": a.wait_ms,
             "avgRespTime": a.response_ms, "avgPrefillTime": a.prefill_ms,
             "throughput": a.throughput_rps, "ttft_p99": a.ttft_p99_ms, "itl_p50": a.itl_p50_ms,
             "itl_p99": a.itl_p99_ms, "waitTime_p99": a.wait_p99_ms}
    for key, value in pairs.items():
        assert out[key] == value, key
    # The parameters matter: dropping one changes the answer or is rejected.
    first = next(k for k in problem if k not in ("serviceModel",))
    changed, rc = run_json("solve", {**{k: v for k, v in problem.items() if k != first},
                                     "RPS": rate})
    assert rc == 2 or changed[0]["avgRespTime"] != out["avgRespTime"]


# ----------------------------------------------------------------------------- output format
def test_solve_key_order():
    out = one("solve", A)
    assert list(out) == REFERENCE_ANALYSIS_KEYS + ANALYSIS_EXTENSIONS


def test_target_key_order():
    out = one("target", {**A, "targetTTFT_p95": 500})
    keys = list(out)
    assert keys[:10] == REFERENCE_ANALYSIS_KEYS
    assert keys[10:21] == ANALYSIS_EXTENSIONS
    rest = keys[21:]
    assert set(TARGET_EXTENSIONS) <= set(rest)
    assert "ttft_p95" in rest and "RPSTargetTTFT_p95" in rest
    # Extensions in the order of docs/cli.md §5-6: percentiles, then the sizing fields.
    assert rest.index("ttft_p95") < rest.index("sizeStatus") < rest.index("RPSTargetTTFT_p95")


def test_optimize_key_order():
    out = one("optimize", A)
    assert list(out) == REFERENCE_OPTIMIZE_KEYS + OPTIMIZE_EXTENSIONS


def test_integers_written_without_decimal_point():
    proc = run_main("queue", "optimize", stdin=json.dumps(A) + "\n")
    assert '"concurrency":48,' in proc.stdout and '"M_ITL":31,' in proc.stdout
    assert '"oracleCalls":6,' in proc.stdout and '"probes":[48,39,44,46,47,48]' in proc.stdout
    proc = run_main("queue", "solve", stdin=json.dumps(A) + "\n")
    assert '"peakBatch":48' in proc.stdout


# ----------------------------------------------------------------------------- input rules
def _text(rps: float = 3.0, extra: str = ', "avgInputTokens": 128') -> str:
    return f'{{"RPS": {rps}, {SERVER}{extra}}}'


def test_keys_are_case_insensitive():
    proc = run_main("queue", "solve", stdin="\n".join([
        _text(extra=', "avgInputTokens": 128'),
        _text(extra=', "AVGINPUTTOKENS": 128'),
        _text(extra=', "avginputtokens": 128'),
        _text(extra=', "AvgInputTokens": 128'),
        _text(extra=', "avgInputTokens": 4000'),
        '{"rps": 3, "MAXBATCHSIZE": 48, "AVGOUTPUTTOKENS": 512, "ALPHA": 12, "Beta": 0.05, '
        '"GAMMA": 0.0005, "MaxQueueSize": 128, "AvgInputTokens": 128}',
    ]) + "\n")
    assert proc.returncode == 0
    lines = proc.stdout.splitlines()
    assert len(lines) == 6
    assert lines[0] == lines[1] == lines[2] == lines[3] == lines[5]
    assert lines[4] != lines[0]  # the key is really read: another value changes the result
    assert close(parse_line(lines[0])["avgTTFT"], 67.614647)


def test_last_duplicate_key_wins_up_to_case():
    proc = run_main("queue", "solve", stdin="\n".join([
        _text(extra=', "avgInputTokens": 128'),
        _text(extra=', "avgInputTokens": 4000, "AVGINPUTTOKENS": 128'),
        _text(extra=', "AVGINPUTTOKENS": 4000, "avginputtokens": 128'),
        _text(extra=', "avgInputTokens": 4000'),
        _text(extra=', "AVGINPUTTOKENS": 128, "avgInputTokens": 4000'),
    ]) + "\n")
    assert proc.returncode == 0
    lines = proc.stdout.splitlines()
    assert lines[0] == lines[1] == lines[2]
    assert lines[3] == lines[4] != lines[0]


def test_null_means_absent():
    base = {**A}
    del base["targetTTFT"]
    out, rc = run_json("target", base, {**A, "targetTTFT": None}, A)
    assert rc == 0
    assert out[0] == out[1]
    assert out[0] != out[2]  # the target really matters
    assert out[0]["bindingConstraint"] == "ITL" and out[2]["bindingConstraint"] == "TTFT"
    # null gamma is the same as no gamma, i.e. gamma = 0 in the REST decoder.
    no_gamma = _text(extra=', "avgInputTokens": 128').replace('"gamma": 0.0005, ', "")
    assert '"gamma"' not in no_gamma
    out, rc = run_json("solve", _text().replace('"gamma": 0.0005', '"gamma": null'), no_gamma,
                       _text().replace('"gamma": 0.0005', '"gamma": 0'), _text())
    assert rc == 0
    assert out[0] == out[1] == out[2] != out[3]
    # null percentiles = none requested
    out, rc = run_json("solve", {**A, "percentiles": None}, A)
    assert rc == 0 and out[0] == out[1]


def test_integer_fields_accept_integral_floats_only():
    out, rc = run_json("solve", _text().replace('"maxBatchSize": 48', '"maxBatchSize": 48.0'),
                       _text(), _text().replace('"maxBatchSize": 48', '"maxBatchSize": 48.5'),
                       _text().replace('"maxQueueSize": 128', '"maxQueueSize": 128.0'))
    assert rc == 2
    assert out[0] == out[1] == out[3]
    assert_error(out[2], "data error: invalid input data:", "maxBatchSize", "48.5")


# ----------------------------------------------------------------------------- errors
BAD_LINES = [
    # (line, operation, prefix, names that the message must contain)
    ("{bad json", "solve", "binding error:", ["JSON"]),
    ('["not", "an", "object"]', "solve", "binding error:", ["object"]),
    (_text(rps=-1), "solve", "data error: invalid input data:", ["RPS"]),
    (_text(extra=', "avgInputTokens": 128, "serviceModel": "quantum"'), "solve",
     "data error: invalid input data:", ["service model", "quantum"]),
    (_text().replace('"maxBatchSize": 48', '"maxBatchSize": 0'), "solve",
     "data error: invalid input data:", ["maxBatchSize"]),
    (_text().replace('"maxQueueSize": 128', '"maxQueueSize": -1'), "solve",
     "data error: invalid input data:", ["maxQueueSize"]),
    (_text().replace('"avgOutputTokens": 512', '"avgOutputTokens": 0'), "solve",
     "data error: invalid input data:", ["avgOutputTokens"]),
    (_text().replace('"alpha": 12, "beta": 0.05, "gamma": 0.0005',
                     '"alpha": 0, "beta": 0, "gamma": 0'), "solve",
     "NewLLMQueueAnalyzer() failed:", ["alpha", "beta", "gamma"]),
    (_text(extra=', "avgInputTokens": -3'), "solve", "data error: invalid input data:",
     ["avgInputTokens"]),
    (_text().replace('"RPS": 3.0, ', ""), "solve", "Analyze() failed:", ["RPS"]),
    (_text(extra=', "avgInputTokens": 128, "targetTTFT": -5'), "target",
     "data error: invalid input data:", ["targetTTFT"]),
    (_text(extra=', "avgInputTokens": 128, "percentiles": [50, 100]'), "solve",
     "data error: invalid input data:", ["percentiles"]),
    (_text(extra=', "avgInputTokens": 128, "itlWeighting": "bytes"'), "solve",
     "data error: invalid input data:", ["itlWeighting"]),
]


@pytest.mark.parametrize("line,op,prefix,names", BAD_LINES,
                         ids=[f"{i}-{b[0][:25]}" for i, b in enumerate(BAD_LINES)])
def test_bad_line_gives_error_object_and_processing_continues(line, op, prefix, names):
    good = {**A, "RPS": 2.0}
    proc = run_main("queue", op, stdin="\n".join([json.dumps(good), line, json.dumps(A)]) + "\n")
    assert proc.returncode == 2
    out = parse_lines(proc.stdout)
    assert len(out) == 3
    assert "error" not in out[0] and "error" not in out[2]
    assert out[2]["offeredRPS"] == (3.0 if op == "solve" else out[0]["offeredRPS"])
    assert_error(out[1], prefix, *names)
    assert prefix.startswith(ERROR_PREFIXES)


def test_many_errors_interleaved_one_output_per_line():
    lines = [json.dumps(A)] + [b[0] for b in BAD_LINES if b[1] == "solve"] + [json.dumps(A)]
    proc = run_cli("queue", "solve", stdin="\n".join(lines) + "\n")
    assert proc.returncode == 2
    out = parse_lines(proc.stdout)
    assert len(out) == len(lines)
    assert ["error" in o for o in out] == [False] + [True] * (len(lines) - 2) + [False]
    assert out[0] == out[-1]


def test_sizing_without_a_waiting_room_says_what_it_turns_away():
    """maxQueueSize 0 (the reference's default when absent): the sized rate blocks requests, and
    the answer says how many instead of hiding it in the throughput."""
    no_room = {k: v for k, v in A.items() if k != "maxQueueSize"}
    out, rc = run_json("target", {**no_room, "targetTTFT": 60, "targetITL": 20})
    assert rc == 0
    loss = out[0]["lossProb"]
    assert 0.001 < loss < 0.01 and out[0]["throughput"] == pytest.approx(out[0]["offeredRPS"] * (1 - loss), rel=1e-9)
    assert out[0]["warnings"] == [f"maxQueueSize is 0 (no waiting room): at this rate {100 * loss:.3g} % of requests "
                                  f"are turned away; give maxQueueSize, or bound the loss with targetLossProb"]
    roomy, _ = run_json("target", {**A, "targetTTFT": 60, "targetITL": 20})
    assert "warnings" not in roomy[0]
    bounded, _ = run_json("target", {**no_room, "targetTTFT": 60, "targetITL": 20, "targetLossProb": 1e-7})
    assert bounded[0]["lossProb"] <= 1e-7 and "warnings" not in bounded[0]


def test_infeasible_target_is_a_size_error():
    out, rc = run_json("target", {**A, "targetTTFT": 1.0}, A)
    assert rc == 2
    assert_error(out[0], "Size() failed:", "TTFT", "zero load", status="infeasible")
    assert out[1]["bindingConstraint"] == "TTFT"


def test_infeasible_optimize_reports_zeros():
    out = one("optimize", {**A, "targetTTFT": 1.0})
    assert out["feasible"] is False
    assert out["throughput"] == 0
    for key in ("avgRespTime", "avgWaitTime", "avgNumInServ", "avgTTFT", "avgITL", "maxRPS"):
        assert out[key] == 0, key


def test_all_good_input_exits_zero_and_blank_lines_are_skipped():
    text = ("\n" + json.dumps(A) + "\n   \n\t\n" + json.dumps({**A, "RPS": 1.0}) + "\r\n\n"
            + json.dumps({**A, "RPS": 2.0}) + "\n\n")
    proc = run_cli("queue", "solve", stdin=text)
    assert proc.returncode == 0, proc.stderr
    out = parse_lines(proc.stdout)
    assert [o["offeredRPS"] for o in out] == [3.0, 1.0, 2.0]
    assert proc.stderr == ""


def test_empty_input_gives_no_output():
    proc = run_main("queue", "solve", stdin="\n\n")
    assert proc.returncode == 0 and proc.stdout == ""


def test_outputs_are_finite_json_at_extremes():
    server = {k: v for k, v in A.items() if k != "RPS"}
    lines = [
        {**server, "RPS": 1e-9},                            # vanishing load
        {**server, "RPS": 1000},                            # heavy overload: blocking
        {**server, "RPS": 1000, "maxQueueSize": 0},         # no waiting room
        {**server, "RPS": 1e6, "maxBatchSize": 1, "maxQueueSize": 0},  # K = 1
        {**server, "RPS": 3.86, "maxQueueSize": 100000, "percentiles": [50, 99.99]},
        {**TOKEN, "RPS": 50, "percentiles": [1, 99]},
        {**server, "RPS": 1e-300},
    ]
    out, rc = run_json("solve", *lines)
    assert rc == 0, out
    assert len(out) == len(lines)
    for obj, line in zip(out, lines):
        for key, value in obj.items():
            if isinstance(value, float):
                assert math.isfinite(value), (key, line)
        assert 0 <= obj["lossProb"] <= 1
        assert obj["throughput"] <= obj["offeredRPS"] * (1 + 1e-12)
    # Overload (docs/queueing-model.md §4): throughput -> mu_N, loss -> 1, W -> Q/mu_N.
    heavy = out[1]
    assert math.isclose(heavy["throughput"], heavy["peakRPS"], rel_tol=1e-9)
    assert heavy["lossProb"] > 0.99
    assert close(heavy["avgWaitTime"], 128 / heavy["peakRPS"] * 1000, 1e-3)
    assert out[2]["avgWaitTime"] == 0  # Q = 0: no waiting
    # K = 1 (docs/queueing-model.md §2.4): X = lambda mu / (lambda + mu), T = S = 1/mu_1, W = 0.
    k1 = out[3]
    mu1 = k1["peakRPS"]
    assert math.isclose(k1["throughput"], 1e6 * mu1 / (1e6 + mu1), rel_tol=1e-12)
    assert math.isclose(k1["avgRespTime"], 1000 / mu1, rel_tol=1e-12)
    assert k1["avgWaitTime"] == 0


def test_overflowing_number_is_an_error_not_a_crash():
    out, rc = run_json("solve", _text(rps="1e400"), A)
    assert rc == 2
    assert out[0]["status"] in ("invalid", "error")
    assert out[0]["message"].startswith(ERROR_PREFIXES)
    assert "error" not in out[1]


# ----------------------------------------------------------------------------- flags mode
def test_problem_file_is_input_A():
    assert json.loads(PROBLEM_FILE.read_text()) == A


def test_flags_mode_rates():
    proc = run_cli("queue", "solve", "--problem", str(PROBLEM_FILE.relative_to(REPO)),
                   "--rate", "1,2,3")
    assert proc.returncode == 0, proc.stderr
    out = parse_lines(proc.stdout)
    assert [o["offeredRPS"] for o in out] == [1.0, 2.0, 3.0]
    assert out[2] == one("solve", A)
    ttft = [o["avgTTFT"] for o in out]
    assert ttft[0] < ttft[1] < ttft[2]
    assert close_wait(out[2]["avgTTFT"], 67.614647, 10348.367)


def test_flags_override_problem_fields():
    proc = run_main("queue", "solve", "--problem", str(PROBLEM_FILE), "--rate", "3",
                    "--max-batch", "49")
    out = parse_lines(proc.stdout)
    assert proc.returncode == 0 and len(out) == 1
    assert close(out[0]["maxRPS"], 3.9003835)  # docs/queueing-model.md §9.3: maxRPS at N = M* = 49
    proc = run_main("queue", "solve", "--problem", str(PROBLEM_FILE), "--rate", "3",
                    "--max-batch", "256", "--max-queue", "7")
    (out,) = parse_lines(proc.stdout)
    model = QueueModel(alpha=12, beta=0.05, gamma=0.0005, in_tokens=128, out_tokens=512,
                       max_batch=256, max_queue=7)
    assert out["maxRPS"] == model.max_stable_rate_rps
    assert out["avgNumInSystem"] == model.analyze(3.0).num_in_system
    proc = run_main("queue", "optimize", "--problem", str(PROBLEM_FILE), "--max-batch", "256")
    out = parse_lines(proc.stdout)
    assert out[0]["probes"] == [256, 143, 87, 59, 45, 52, 49, 49]


def test_flags_only_problem():
    proc = run_main("queue", "target", "--service-model", "token", "--alpha", "19", "--beta", "1",
                    "--tokens-per-request", "1024", "--max-batch", "48", "--max-queue", "200",
                    "--wait", "1000", "--itl", "50")
    assert proc.returncode == 0, proc.stderr
    (out,) = parse_lines(proc.stdout)
    assert close(out["throughput"] * 60, 35.200314)


def test_input_cannot_be_combined_with_problem_or_rate(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps(A) + "\n")
    proc = run_main("queue", "solve", "--input", str(path), "--rate", "1")
    assert proc.returncode == 1
    assert "cannot be combined with --problem or --rate" in proc.stderr


def test_flags_override_every_input_line(tmp_path):
    """With --input, problem flags replace the matching fields (any case) of every line."""
    lines = [dict(A, RPS=1.0), dict(A, RPS=2.0, maxbatchsize=64)]
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    proc = run_main("queue", "solve", "--input", str(path), "--max-batch", "16")
    assert proc.returncode == 0
    got = [json.loads(x) for x in proc.stdout.splitlines()]
    expected = [inferno.QueueModel(alpha=12, beta=0.05, gamma=0.0005, in_tokens=128, out_tokens=512,
                                   max_batch=16, max_queue=128).analyze(r) for r in (1.0, 2.0)]
    assert [g["avgTTFT"] for g in got] == [e.ttft_ms for e in expected]
    # '-' reads stdin the same way.
    piped = run_main("queue", "solve", "--input", "-", "--max-batch", "16", stdin=path.read_text())
    assert piped.stdout == proc.stdout


@pytest.mark.parametrize("spelling", ["ttft_p95=150", "ttft_p95_ms=150", "TTFT_p95=150"])
def test_target_flag_spellings(spelling):
    proc = run_main("queue", "target", "--problem", str(PROBLEM_FILE), "--ttft", "0", "--itl", "0",
                    "--target", spelling)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["bindingConstraint"] == "TTFT_p95" and out["ttft_p95"] <= 150


@pytest.mark.parametrize("bad", ["wait_p90", "latency_p90=5", "ttft_p95=abc"])
def test_bad_target_flag_is_a_usage_error(bad):
    proc = run_main("queue", "target", "--problem", str(PROBLEM_FILE), "--target", bad)
    assert proc.returncode == 1
    assert "--target" in proc.stderr


def test_python_dash_m_runs_the_cli():
    proc = subprocess.run([sys.executable, "-m", "inferno", "queue", "models", "--format", "json"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert {m["service_model"] for m in json.loads(proc.stdout)} == {
        "iteration", "prefill-decode", "token", "iteration-v2", "vllm"}


def test_iteration_v2_through_json_lines():
    """The README's /target example was produced by the v2 model (docs/queueing-model.md §9.3)."""
    proc = run_main("queue", "target", stdin=json.dumps(dict(A, serviceModel="iteration-v2")) + "\n")
    assert proc.returncode == 0
    out = json.loads(proc.stdout)
    assert close(out["throughput"], 2.8741095) and close(out["maxRPS"], 3.8208232)
    assert close(out["RPSTargetTTFT"], 2.910594) and close(out["RPSTargetITL"], 2.8741095)
    assert out["bindingConstraint"] == "ITL" and out["avgITL"] <= 20


def test_format_table():
    proc = run_cli("queue", "solve", "--problem", str(PROBLEM_FILE), "--rate", "1,2,3",
                   "--format", "table")
    assert proc.returncode == 0
    rows = [line.split() for line in proc.stdout.strip().splitlines()]
    header, body = rows[0], rows[1:]
    assert header[:3] == ["line", "offeredRPS", "throughput"]
    assert "avgTTFT" in header and "avgITL" in header
    assert len(body) == 3
    assert [int(r[0]) for r in body] == [1, 2, 3]
    third = dict(zip(header, body[2]))
    assert close(float(third["avgTTFT"]), 67.614647)  # printed to 6 significant digits
    assert close(float(third["avgITL"]), 20.118889)
    assert close(float(third["rho"]), 0.6454352)


def test_format_table_all_columns_and_errors():
    text = json.dumps(A) + "\n{bad json\n"
    proc = run_main("queue", "target", "--format", "table", "--all-columns", stdin=text)
    assert proc.returncode == 2
    assert "line 2" in proc.stderr and "binding error:" in proc.stderr
    header = proc.stdout.splitlines()[0].split()
    assert "RPSTargetTPS" in header and "peakBatch" in header and "error" in header


def test_format_csv():
    proc = run_cli("queue", "solve", "--problem", str(PROBLEM_FILE), "--rate", "1,2,3",
                   "--format", "csv", "--percentiles", "50,95")
    assert proc.returncode == 0
    frame = pd.read_csv(io.StringIO(proc.stdout))
    assert list(frame.columns[:11]) == ["line"] + REFERENCE_ANALYSIS_KEYS
    assert frame["line"].tolist() == [1, 2, 3]
    assert frame["offeredRPS"].tolist() == [1.0, 2.0, 3.0]
    assert close(frame["avgTTFT"].iloc[2], 67.614647)
    assert close(frame["avgRespTime"].iloc[2], 10348.367)
    # CSV carries full precision: identical to the JSON output.
    json_out = parse_lines(run_main("queue", "solve", "--problem", str(PROBLEM_FILE), "--rate",
                                    "3", "--percentiles", "50,95").stdout)[0]
    for key in ("avgTTFT", "avgITL", "ttft_p95", "itl_p50"):
        assert frame[key].iloc[2] == json_out[key]


def test_format_csv_optimize_probes():
    proc = run_main("queue", "optimize", "--format", "csv", stdin=json.dumps(A) + "\n")
    frame = pd.read_csv(io.StringIO(proc.stdout))
    assert frame["probes"].iloc[0] == "48 39 44 46 47 48"
    assert frame["concurrency"].iloc[0] == 48


def test_table_and_csv_line_numbers_count_blank_lines():
    text = json.dumps(A) + "\n\n" + json.dumps({**A, "RPS": 1.0}) + "\n{bad json\n"
    proc = run_main("queue", "solve", "--format", "csv", stdin=text)
    assert proc.returncode == 2
    frame = pd.read_csv(io.StringIO(proc.stdout))
    assert frame["line"].tolist() == [1, 3, 4]
    assert frame["offeredRPS"].iloc[:2].tolist() == [3.0, 1.0]
    assert frame["error"].isna().tolist() == [True, True, False]
    assert "line 4:" in proc.stderr


def test_long_input_crosses_batches_in_order():
    """More lines than one parallel batch (256): order and one line per input line are kept."""
    server = {k: v for k, v in A.items() if k != "RPS"}
    lines = []
    for i in range(600):
        lines.append(json.dumps({**server, "RPS": 0.01 * (i + 1)}) if i % 97 != 50 else "")
    lines[255] = "{bad json"
    proc = run_cli("queue", "solve", "--threads", "2", stdin="\n".join(lines) + "\n")
    assert proc.returncode == 2
    out = parse_lines(proc.stdout)
    expected = [i for i, line in enumerate(lines) if line]
    assert len(out) == len(expected)
    for i, obj in zip(expected, out):
        if i == 255:
            assert_error(obj, "binding error:", "JSON")
        else:
            assert obj["offeredRPS"] == pytest.approx(0.01 * (i + 1), rel=1e-15)


def test_allen_cunneen_fields():
    exact = one("solve", A)
    out = one("solve", {**A, "arrivalCOV": 2.0, "serviceCOV": 1.0})
    assert out["approximation"] == "allen-cunneen"
    assert out["kappa"] == 2.5
    assert math.isclose(out["avgWaitTime"], 2.5 * exact["avgWaitTime"], rel_tol=1e-12)
    assert out["throughput"] == exact["throughput"]
    assert "approximation" not in exact and "kappa" not in exact
    assert list(out)[:10] == REFERENCE_ANALYSIS_KEYS


# ----------------------------------------------------------------------------- percentiles
def test_percentile_outputs():
    out = one("solve", {**A, "percentiles": [50, 95, 99]})
    for metric in ("ttft", "itl", "waitTime"):
        values = [out[f"{metric}_p{p}"] for p in (50, 95, 99)]
        assert values == sorted(values), metric
    assert list(out)[-12:] == [f"{m}_p{p}" for m in ("ttft", "itl", "waitTime", "tpot")
                               for p in (50, 95, 99)]
    # Each request's mean ITL (TPOT) is tighter than the individual intervals, about the mean.
    assert out["itl_p50"] <= out["tpot_p95"] < out["itl_p99"] and out["tpot_p50"] == pytest.approx(out["avgITL"], rel=0.02)
    # probWait = 0.0185 at A: at most 5 % of accepted requests wait, more than 1 % do (docs/queueing-model.md §6.3).
    assert 0.01 < out["probWait"] < 0.05
    assert out["waitTime_p50"] == 0 and out["waitTime_p95"] == 0
    assert out["waitTime_p99"] > 0
    # TTFT percentile = wait percentile + (avgTTFT - avgWaitTime) (docs/queueing-model.md §6.4).
    s = out["avgTTFT"] - out["avgWaitTime"]
    for p in (50, 95, 99):
        assert math.isclose(out[f"ttft_p{p}"], out[f"waitTime_p{p}"] + s, rel_tol=1e-12)
    # ITL percentiles lie between the ITL at batch 1 and at the full batch (12.24 .. 24.20 ms).
    itl = QueueModel(alpha=12, beta=0.05, gamma=0.0005, in_tokens=128, out_tokens=512,
                     max_batch=48, max_queue=128).itl_by_batch_ms
    for p in (50, 95, 99):
        assert min(itl) <= out[f"itl_p{p}"] <= max(itl)
        assert min(abs(out[f"itl_p{p}"] - v) for v in itl) <= 1e-9 * out[f"itl_p{p}"]


def test_decimal_percentile_label():
    out = one("solve", {**A, "percentiles": [99.9]})
    assert "ttft_p99.9" in out and "itl_p99.9" in out and "waitTime_p99.9" in out
    assert out["waitTime_p99.9"] > 0


def test_percentile_target():
    obj = {k: v for k, v in A.items() if not k.startswith("target")}
    out = one("target", {**obj, "targetTTFT_p95": 100})
    assert "RPSTargetTTFT_p95" in out
    assert out["ttft_p95"] <= 100
    assert out["ttft_p95"] > 99  # binds, not far below
    assert out["bindingConstraint"] == "TTFT_p95" and out["sizeStatus"] == "ok"
    assert math.isclose(out["offeredRPS"], out["RPSTargetTTFT_p95"], rel_tol=1e-12)
    # no mean targets: their rates are maxRPS
    assert out["RPSTargetTTFT"] == out["RPSTargetITL"] == out["maxRPS"]
    above = one("solve", {**obj, "RPS": out["offeredRPS"] * (1 + 1e-6), "percentiles": [95]})
    assert above["ttft_p95"] > 100


def test_percentile_target_from_flag_and_mixed_targets():
    proc = run_main("queue", "target", "--problem", str(PROBLEM_FILE), "--target", "ttft_p95=45",
                    "--percentiles", "50")
    (out,) = parse_lines(proc.stdout)
    assert proc.returncode == 0
    assert out["ttft_p95"] <= 45 and out["avgTTFT"] <= 60 and out["avgITL"] <= 20
    assert "ttft_p50" in out
    assert out["offeredRPS"] <= min(out["RPSTargetTTFT"], out["RPSTargetITL"],
                                    out["RPSTargetTTFT_p95"]) * (1 + 1e-9)
    assert out["bindingConstraint"] == "TTFT_p95"


def test_wait_percentile_target():
    obj = {k: v for k, v in A.items() if not k.startswith("target")}
    out = one("target", {**obj, "targetWaitTime_p99": 200})
    assert out["waitTime_p99"] <= 200
    assert "RPSTargetWaitTime_p99" in out


# ----------------------------------------------------------------------------- models
def test_models_table():
    proc = run_cli("queue", "models")
    assert proc.returncode == 0
    for word in ("iteration", "prefill-decode", "token", "alpha", "gamma", "decode_alpha",
                 "prefill_delta", "tokens_per_request"):
        assert word in proc.stdout


def test_models_json():
    proc = run_main("queue", "models", "--format", "json")
    assert proc.returncode == 0
    records = json.loads(proc.stdout)
    pairs = {(r["service_model"], r["parameter"]) for r in records}
    assert pairs == {("iteration", "alpha"), ("iteration", "beta"), ("iteration", "gamma"),
                     ("prefill-decode", "decode_alpha"), ("prefill-decode", "decode_beta"),
                     ("prefill-decode", "prefill_gamma"), ("prefill-decode", "prefill_delta"),
                     ("token", "alpha"), ("token", "beta"), ("token", "tokens_per_request"),
                     ("iteration-v2", "alpha"), ("iteration-v2", "beta"), ("iteration-v2", "gamma"),
                     ("vllm", "alpha"), ("vllm", "beta"), ("vllm", "gamma"), ("vllm", "delta"),
                     ("vllm", "epsilon")}
    assert len(records) == 18
    assert {r["allowed"] for r in records if r["parameter"] == "tokens_per_request"} == {"> 0"}


def test_models_csv():
    proc = run_main("queue", "models", "--format", "csv")
    frame = pd.read_csv(io.StringIO(proc.stdout))
    assert list(frame.columns) == ["service_model", "parameter", "unit", "allowed", "description"]
    assert len(frame) == 18


# ----------------------------------------------------------------------------- determinism
def _many_lines() -> str:
    server = {k: v for k, v in A.items() if k != "RPS"}
    lines = []
    for i in range(40):
        rate = 0.1 + 0.1 * i
        lines.append(json.dumps({**server, "RPS": rate, "percentiles": [50, 99],
                                 "maxBatchSize": 16 + 8 * (i % 5)}))
        if i % 7 == 3:
            lines.append("{bad json")
        if i % 11 == 5:
            lines.append("")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("op", ["solve", "target"])
def test_deterministic_across_runs_and_threads(op):
    text = _many_lines()
    results = [run_cli("queue", op, "--threads", str(t), stdin=text) for t in (1, 1, 2, 2)]
    outputs = {r.stdout for r in results}
    assert len(outputs) == 1
    assert {r.returncode for r in results} == {2}
    out = parse_lines(results[0].stdout)
    assert len(out) == sum(1 for line in text.splitlines() if line.strip())


def test_optimize_deterministic_across_threads():
    text = "\n".join(json.dumps({**A, "maxBatchSize": n}) for n in (8, 48, 100, 256)) + "\n"
    a = run_cli("queue", "optimize", "--threads", "1", stdin=text)
    b = run_cli("queue", "optimize", "--threads", "2", stdin=text)
    assert a.returncode == b.returncode == 0
    assert a.stdout == b.stdout


# ----------------------------------------------------------------------------- in-process
def test_in_process_main_matches_subprocess(tmp_path, capsys):
    path = tmp_path / "in.jsonl"
    text = json.dumps(A) + "\n\n" + json.dumps({**A, "RPS": 1.5}) + "\n"
    path.write_text(text)
    rc = main(["queue", "solve", "--input", str(path), "--threads", "1"])
    captured = capsys.readouterr()
    assert rc == 0
    assert captured.out == run_cli("queue", "solve", stdin=text).stdout
    assert len(captured.out.splitlines()) == 2


def test_in_process_stdin_and_failure_code(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(A) + "\n{bad json\n"))
    rc = main(["queue", "target"])
    captured = capsys.readouterr()
    assert rc == 2
    out = parse_lines(captured.out)
    assert close(out[0]["RPSTargetTTFT"], 2.9494622)
    assert_error(out[1], "binding error:", "JSON")


def test_in_process_missing_problem_file(capsys):
    rc = main(["queue", "solve", "--problem", "/nonexistent/problem.json", "--rate", "1"])
    assert rc == 1
    assert "inferno: error:" in capsys.readouterr().err


def test_in_process_bad_rate_flag(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["queue", "solve", "--rate", "1,x"])
    assert exc.value.code == 1
    assert "comma-separated numbers" in capsys.readouterr().err
