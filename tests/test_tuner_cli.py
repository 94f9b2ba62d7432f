"""Tests of the ``inferno tune`` command line (CSV of observations in; table, JSON or CSV out).

Design: docs/tuner.md §6 (tuner-exp13.csv and its reference replay). Exit
status: 0 estimate from every row, 2 rows skipped or no estimate yet, 1 input error. The CLI is
run as a subprocess where the real exit code matters, otherwise in-process through
``inferno.cli.main`` (as in test_cli.py).
"""

from __future__ import annotations

import io
import json
import math
import subprocess
import warnings
from pathlib import Path

import pandas as pd
import pytest

from inferno import tuner as T

from cli_helpers import REPO, run_in_process, run_process, strict_json

EXP13 = REPO / "samples" / "tuner" / "tuner-exp13.csv"
TRUTH = (8.0, 0.016, 0.0005)
POINTS = [(20, 500, 400), (30, 1500, 1000), (40, 2500, 300), (50, 500, 400), (25, 1500, 1000),
          (60, 2500, 300), (35, 500, 400), (40, 1500, 1000), (70, 2500, 300), (80, 500, 400)]


# ----------------------------------------------------------------------------- helpers
def run_cli(*args: str) -> subprocess.CompletedProcess:
    """A separate process: fresh interpreter, real exit code."""
    return run_process(["tune", *args])


def run_main(*args: str) -> subprocess.CompletedProcess:
    """In-process through ``inferno.cli.main`` (same result shape as run_cli)."""
    return run_in_process(["tune", *args])


parse_json = strict_json


@pytest.fixture(scope="module")
def api_estimate() -> T.Estimate:
    """What the Python API gives for the default CLI run of exp13 (decode, inferno profile)."""
    frame, _ = T.read_observations(EXP13)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", T.IdentifiabilityWarning)
        return T.Tuner("decode").fit(frame).estimate


def synthetic_csv(tmp_path: Path, replicas: int = 2, cycles: int = 10) -> Path:
    """Noise-free observations at TRUTH in the inferno layout, `replicas` rows per cycle."""
    rows = []
    for k in range(replicas * cycles):
        rate, n, m = POINTS[k % len(POINTS)]
        obs = {"rate_rpm": rate, "in_tokens": n, "out_tokens": m, "max_batch": 128, "max_queue": 1024}
        obs.update(T.predict(obs, TRUTH))
        rows.append({"cycle": k // replicas, "replica": f"pod-{k % replicas}", **obs})
    path = tmp_path / "synthetic.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


# ----------------------------------------------------------------------------- exp13
def test_default_run_prints_the_estimate(api_estimate):
    proc = run_cli(EXP13)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == f"{EXP13}: 86 observations, decode, profile inferno"
    table = [line.split()[0] for line in lines[2:6]]
    assert "alpha" in table and "beta" in table
    assert "outcomes: accepted 77, skipped_saturated 5, collected 4" in lines
    perf = next(line for line in lines if line.startswith("perfParms "))
    parms = json.loads(perf[len("perfParms "):])
    assert parms == {"alpha": api_estimate.params["alpha"], "beta": api_estimate.params["beta"], "gamma": 0.0}


def test_replay_json_matches_the_reference_comparison_point():
    proc = run_cli(EXP13, "--replay", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    doc = parse_json(proc.stdout)
    params = doc["estimate"]["params"]
    assert params["alpha"] == pytest.approx(2.854, rel=0.01)
    assert params["beta"] == pytest.approx(0.00936, rel=0.01)
    assert doc["estimate"]["perf_parms"]["gamma"] == 0.0
    assert doc["estimate"]["update_count"] == 85
    assert doc["outcomes"]["accepted"] == 85 and sum(doc["outcomes"].values()) == 85
    assert doc["replay"] is True and doc["profile"] == "reference" and doc["config"] == "decode"
    assert doc["observations"] == 86 and doc["skippedRows"] == []
    filt, _ = T.replay_reference(T.read_observations(EXP13)[0])
    assert params == filt.params  # the CLI is the API


def test_json_output_of_the_default_run(api_estimate):
    proc = run_main(EXP13, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    doc = parse_json(proc.stdout)
    est = doc["estimate"]
    assert est["params"] == api_estimate.params
    assert est["covariance"] == api_estimate.covariance.to_numpy().tolist()
    assert est["source"] == "ekf" and est["phase"] == "normal" and est["update_count"] == 77
    assert doc["outcomes"]["skipped_saturated"] == 5
    assert doc["profile"] == "inferno" and doc["replay"] is False


def test_csv_output_parses_with_pandas(api_estimate):
    proc = run_main(EXP13, "--format", "csv")
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(io.StringIO(proc.stdout), index_col="parameter")
    assert table.index.tolist() == ["alpha", "beta"]
    assert table.columns.tolist() == ["value", "stddev", "rel_stddev", "lower95", "upper95", "at_bound"]
    for name in ("alpha", "beta"):
        assert table.loc[name, "value"] == api_estimate.params[name]
        assert table.loc[name, "lower95"] < table.loc[name, "value"] < table.loc[name, "upper95"]


def test_history_csv_has_one_row_per_observation():
    proc = run_main(EXP13, "--history", "--format", "csv")
    assert proc.returncode == 0, proc.stderr
    history = pd.read_csv(io.StringIO(proc.stdout))
    assert len(history) == 86
    assert history["cycle"].tolist() == list(range(1, 87))
    assert history["outcome"].value_counts().to_dict() == {"accepted": 77, "skipped_saturated": 5, "collected": 4}
    accepted = history[history["accepted"]]
    assert (accepted["innovation_itl_ms"] == accepted["observed_itl_ms"] - accepted["predicted_itl_ms"]).all()


def test_history_json_is_finite_json():
    proc = run_main(EXP13, "--history", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    doc = parse_json(proc.stdout)  # NaN of the collection rows must come out as null
    assert len(doc["history"]) == 86
    first = doc["history"][0]
    assert first["outcome"] == "collected" and first["predicted_itl_ms"] is None and first["alpha"] is None


def test_replay_history_csv_starts_at_row_2():
    proc = run_main(EXP13, "--replay", "--history", "--format", "csv")
    assert proc.returncode == 0, proc.stderr
    history = pd.read_csv(io.StringIO(proc.stdout))
    assert history["cycle"].tolist() == list(range(2, 87))
    assert history["alpha"].iloc[-1] == pytest.approx(2.854, rel=0.01)


def test_table_history_lists_the_steps():
    proc = run_main(EXP13, "--history")
    assert proc.returncode == 0, proc.stderr
    assert "skipped_saturated" in proc.stdout and "observed_itl_ms" in proc.stdout
    assert all(line == line.rstrip() for line in proc.stdout.splitlines())


# ----------------------------------------------------------------------------- errors and partial results
def test_malformed_row_exits_2_and_names_the_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(EXP13.read_bytes() + b"\r\n700,1000,30,64,abc,3.0\r\n")  # line 88
    proc = run_cli(path)
    assert proc.returncode == 2
    assert f"{path}:88:" in proc.stderr and "avgWait" in proc.stderr and "row skipped" in proc.stderr
    assert "perfParms" in proc.stdout  # the other 86 rows still give an estimate
    doc = parse_json(run_main(path, "--format", "json").stdout)
    assert doc["skippedRows"] == [{"line": 88, "reason": "column avgWait: 'abc' is not a number"}]
    assert doc["observations"] == 86


def test_nonexistent_file_exits_1(tmp_path):
    proc = run_cli(tmp_path / "missing.csv")
    assert proc.returncode == 1
    assert "missing.csv" in proc.stderr and proc.stdout == ""


@pytest.mark.parametrize("args, message", [
    (("--init", "1,2,3,4"), "--init"),
    (("--init", "1,-2"), "--init"),
    (("--seed", "a,b"), "--seed"),
    (("--init-state", "a,b"), "--init-state"),
    (("--warm-up", "-1"), "--warm-up"),
    (("--init-obs", "0"), "--init-obs"),
    (("--gate", "1.5"), "gate_probability"),
    (("--replay", "--init", "2,0.01"), "--replay"),
    (("--layout", "inferno"), "missing column"),
    (("--config", "decode", "--init", "1,0.01,0.001"), "start must have 2 entries"),
])
def test_input_errors_exit_1(args, message):
    proc = run_main(EXP13, *args)
    assert proc.returncode == 1
    assert message in proc.stderr
    assert proc.stdout == ""


def test_init_with_four_numbers_exits_1_in_a_real_process():
    proc = run_cli(EXP13, "--init", "1,2,3,4")
    assert proc.returncode == 1
    assert "expected 2 or 3 numbers" in proc.stderr


def test_prefill_decode_on_exp13_has_no_usable_row():
    """exp13 has no prompt tokens and no TTFT: every row is invalid for prefill-decode, so there is
    no estimate, which is exit status 2 ("no estimate yet"), not a crash."""
    proc = run_main(EXP13, "--config", "prefill-decode", "--format", "json")
    assert proc.returncode == 2
    doc = parse_json(proc.stdout)
    assert doc["estimate"] is None and doc["config"] == "prefill-decode"
    assert doc["outcomes"]["skipped_invalid"] == 86 and sum(doc["outcomes"].values()) == 86
    table = run_main(EXP13, "--config", "prefill-decode")
    assert table.returncode == 2
    assert "no estimate: no row was usable" in table.stdout and "outcomes: skipped_invalid 86" in table.stdout
    assert run_main(EXP13, "--config", "prefill-decode", "--format", "csv").stdout == ""


def test_too_few_rows_for_the_cold_start_exit_2(tmp_path):
    path = synthetic_csv(tmp_path, replicas=1, cycles=3)  # the cold start needs 5 observations
    proc = run_main(path)
    assert proc.returncode == 2
    assert "no estimate yet: still collecting observations for the cold start" in proc.stdout
    assert "outcomes: collected 3" in proc.stdout
    assert run_main(path, "--init-obs", "3").returncode == 0


def test_header_only_file_exits_1(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("rate_rpm,in_tokens,out_tokens,max_batch,ttft_ms,itl_ms\n")
    proc = run_main(path)
    assert proc.returncode == 1 and "no valid observation rows" in proc.stderr


# ----------------------------------------------------------------------------- inferno layout
def test_inferno_layout_with_cycles_recovers_the_truth(tmp_path):
    path = synthetic_csv(tmp_path)
    proc = run_main(path, "--format", "json", "--history")
    assert proc.returncode == 0, proc.stderr
    doc = parse_json(proc.stdout)
    assert doc["config"] == "prefill-decode" and doc["observations"] == 20
    for name, truth in zip(("alpha", "beta", "gamma"), TRUTH):
        assert doc["estimate"]["params"][name] == pytest.approx(truth, rel=1e-3)
    assert [row["cycle"] for row in doc["history"]] == [k // 2 + 1 for k in range(20)]
    assert doc["estimate"]["observation_count"] == 20 and doc["estimate"]["cycle"] == 10


def test_init_obs_and_warm_up_flags_reach_the_tuner(tmp_path):
    path = synthetic_csv(tmp_path, replicas=1, cycles=12)
    proc = run_main(path, "--init-obs", "3", "--warm-up", "3", "--history", "--format", "csv")
    assert proc.returncode == 0, proc.stderr
    history = pd.read_csv(io.StringIO(proc.stdout))
    assert history.loc[history["outcome"] == "collected", "cycle"].tolist() == [1, 2]
    assert history.loc[history["gate_skipped"], "cycle"].tolist() == [3, 4, 5]
    assert history.loc[history["warming_up"], "cycle"].tolist() == [1, 2, 3, 4]


def test_known_start_skips_the_cold_start(tmp_path):
    path = synthetic_csv(tmp_path, replicas=1, cycles=3)
    proc = run_main(path, "--init", "8,0.016,0.0005", "--format", "json", "--history")
    assert proc.returncode == 0, proc.stderr
    doc = parse_json(proc.stdout)
    assert [row["outcome"] for row in doc["history"]] == ["accepted"] * 3
    assert doc["estimate"]["params"]["alpha"] == pytest.approx(8.0, rel=1e-9)
    assert math.isclose(doc["estimate"]["params"]["gamma"], 0.0005, rel_tol=1e-9)


def test_the_initial_state_flag_and_its_deprecated_name_agree():
    """--init-state is the configured initial state; --seed, its old name, gives the same answer
    for one release, with a warning (a seed is a random seed in the other commands)."""
    base = [str(EXP13), "--format", "json"]
    new = run_main(*base, "--init-state", "6,0.04")
    old = run_main(*base, "--seed", "6,0.04")
    assert new.returncode == old.returncode == 0, (new.stderr, old.stderr)
    assert parse_json(new.stdout) == parse_json(old.stdout)
    assert "--seed is deprecated: use --init-state" in old.stderr and "deprecated" not in new.stderr
    assert parse_json(new.stdout) != parse_json(run_main(*base).stdout)  # the flag is used
    both = run_main(*base, "--init-state", "6,0.04", "--seed", "6,0.04")
    assert both.returncode == 1 and "not also its deprecated name --seed" in both.stderr


def test_the_python_initial_state_and_its_deprecated_name_agree():
    frame, _ = T.read_observations(EXP13)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", T.IdentifiabilityWarning)
        new = T.Tuner("decode", init_state=[6, 0.04]).fit(frame).estimate
        with pytest.warns(DeprecationWarning, match="use init_state="):
            old = T.Tuner("decode", seed=[6, 0.04]).fit(frame).estimate
        with pytest.warns(DeprecationWarning):
            old_fit = T.fit(frame, "decode", seed=[6, 0.04])
        new_fit = T.fit(frame, "decode", init_state=[6, 0.04])
    assert new.params == old.params
    assert new_fit.params == old_fit.params
    with pytest.raises(ValueError, match="not also its deprecated name seed"):
        T.Tuner(init_state=[5, 0.05, 5e-5], seed=[5, 0.05, 5e-5])
