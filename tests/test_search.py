"""inferno.search: the spec, the analytical screen's table, the simulator's confirmation, the
optimizer's documents, the SLO sweep, the CLI and bad input."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import inferno
from inferno import config_search as cs

SMALL = {
    "models": ["meta-llama/Llama-3.1-8B"],
    "workload": {"rate_rps": 20, "in_tokens": 512, "out_tokens": 128},
    "slo": {"ttft_ms": 800, "ttft_percentile": 95, "itl_ms": 40},
    "hardware": {"gpus": ["A100-SXM4-80GB", "H100-SXM5-80GB"], "slices": True, "tensor_parallel": [1, 2]},
    "engine": {"max_num_seqs": [32, 128], "max_num_batched_tokens": [2048, 8192]},
    "confirm": {"seeds": 2, "duration_s": 120, "warmup_s": 20, "top": 2, "max_configs": 4},
}


def spec(**changes):
    doc = json.loads(json.dumps(SMALL))
    for key, value in changes.items():
        section, _, field = key.partition("__")
        if field:
            doc[section][field] = value
        else:
            doc[section] = value
    return doc


def test_the_screen_has_one_row_per_configuration_and_consistent_figures():
    s = cs.load_spec(SMALL)
    table = cs.screen(s)
    # 2 GPUs × 2 degrees + their MIG slices at degree 1, × 2 batch caps × 2 chunk sizes.
    slices = [a for a in s.accelerators if ":" in a]
    assert len(table) == s.size == (2 * 2 + len(slices)) * 2 * 2
    assert (table[table.accelerator.str.contains(":")].tp == 1).all()
    ok = table[table.feasible]
    assert len(ok) > 0
    # Identities: replicas carry the load, cost is per replica × replicas, efficiencies are ratios.
    assert (np.ceil(20 / ok.rate_per_replica_rps - 1e-9) == ok.replicas).all()
    assert np.allclose(ok.cost, ok.cost_per_replica * ok.replicas)
    assert np.allclose(ok.qps_per_dollar, ok.rate_per_replica_rps / ok.cost_per_replica)
    assert np.allclose(ok.qps_per_gpu, ok.rate_per_replica_rps / ok.gpus_per_replica)
    assert np.allclose(ok.qps_per_watt, ok.rate_per_replica_rps / ok.power_w)
    # Whole GPUs cost their catalog price × tp; the default slice rule prices compute slices.
    h100 = ok[(ok.accelerator == "H100-SXM5-80GB")]
    assert set(h100.cost_per_replica / h100.tp) == {75.0}
    # Every feasible row meets the SLOs at its operating point; the binding target is named.
    assert (ok.ttft_pct_ms <= 800 * (1 + 1e-6)).all() and (ok.itl_ms <= 40 * (1 + 1e-6)).all()
    assert set(ok.binding) <= {"TTFT_p95", "ITL", "stability"}
    # No number is NaN; infeasible rows carry a reason and no rate.
    assert not table.select_dtypes("number").isna().any().any()
    bad = table[~table.feasible]
    assert (bad.reason != "").all() and (bad.rate_per_replica_rps == 0).all()


def test_the_pareto_flag_is_exactly_the_non_dominated_feasible_set():
    table = cs.screen(cs.load_spec(SMALL))
    ok = table[table.feasible]
    points = ok[["cost", "ttft_pct_ms", "itl_pct_ms"]].to_numpy()
    for index, p in zip(ok.index, points):
        dominated = any((q <= p).all() and (q < p).any() for q in points)
        assert table.at[index, "pareto"] == (not dominated), table.loc[index]
    assert not table[~table.feasible].pareto.any()
    assert inferno._core.search.pareto([1, 2, 1], [5, 1, 5], [1, 1, 2]) == [True, True, False]
    with pytest.raises(ValueError, match="not a finite number"):
        inferno._core.search.pareto([math.nan], [1], [1])


def test_tensor_parallelism_the_gpu_cannot_host_is_a_row_with_the_reason():
    table = cs.screen(spec(hardware={"gpus": ["L40S", "H100-SXM5-80GB"], "tensor_parallel": [3, 16]}))
    assert not table.feasible.any()
    assert table[table.tp == 3].reason.str.contains("does not divide the model's 32 attention heads").all()
    assert table[table.tp == 16].reason.str.contains("nodeGpus").all()
    pcie = cs.screen(spec(hardware={"gpus": ["L40S", "H100-SXM5-80GB"], "tensor_parallel": [2]}))
    assert dict(zip(pcie.accelerator, pcie.link)) == {"L40S": "pcie", "H100-SXM5-80GB": "nvlink"}


def test_an_slo_below_the_fastest_achievable_says_so():
    result = inferno.search(spec(slo={"itl_ms": 1.0}), simulate=False)
    assert not result.table.feasible.any()
    assert result.best is None
    assert set(result.table[result.table.reason == "slo"].binding) == {"ITL"}
    assert "no configuration meets the SLOs" in result.summary() and "slo" in result.why_none()


def test_the_simulator_confirms_with_intervals_and_says_when_it_disagrees():
    result = inferno.search(SMALL, workers=2)
    sim = result.table[result.table.confirmed.notna()]
    assert 1 <= len(sim) <= 4
    assert (sim.sim_ttft_pct_hw_ms >= 0).all() and (sim.sim_itl_pct_hw_ms >= 0).all()
    assert sim.sim_ttft_pct_ms.notna().all()
    # agrees means the screen's percentiles at λ* lie within the simulator's interval.
    within = ((sim.screen_ttft_pct_at_rate_ms - sim.sim_ttft_pct_ms).abs() <= sim.sim_ttft_pct_hw_ms) & \
             ((sim.screen_itl_pct_at_rate_ms - sim.sim_itl_pct_ms).abs() <= sim.sim_itl_pct_hw_ms)
    assert (sim.agrees.astype(bool) == within).all()
    # The simulated throughput at λ* is λ* within a few per cent (nothing is lost at that rate).
    assert np.allclose(sim.sim_throughput_rps, sim.rate_per_replica_rps, rtol=0.1)
    # Deterministic: the same spec gives the same table.
    again = inferno.search(SMALL, workers=1)
    pd.testing.assert_frame_equal(again.table, result.table)


def test_the_best_configuration_becomes_the_optimizers_documents(tmp_path):
    result = inferno.search(spec(hardware={"gpus": ["H100-SXM5-80GB"], "tensor_parallel": [1, 2]}), simulate=False)
    best = result.best
    written = result.write_optimizer_documents(tmp_path)
    assert {p.name for p in written} >= {"accelerator-data.json", "model-data.json", "server-data.json"}
    models = json.loads((tmp_path / "model-data.json").read_text())["models"]
    entry = next(m for m in models if m["acc"] == best.accelerator)
    assert entry["accCount"] == best.tp * best.pp
    system = inferno.load(tmp_path)
    solution = inferno.optimize(system)
    frame = solution.to_frame()
    assert len(frame) == 1 and frame.iloc[0]["accelerator"] == best.accelerator


def test_an_slo_sweep_costs_never_less_as_the_target_tightens():
    table = cs.slo_sweep(SMALL, "itl", [15, 20, 30, 40, 60])
    assert table.attrs["metric"] == "itl"
    costs = table.cost.to_numpy()
    feasible = table.feasible.to_numpy()
    # Looser targets keep every configuration a tighter one allowed: cost non-increasing.
    finite = costs[feasible]
    assert (np.diff(finite) <= 1e-9).all()
    assert feasible[-1]


@pytest.mark.parametrize("changes, message", [
    ({"bogus": 1}, "bogus: unknown key"),
    ({"workload__rate_rps": -3}, "workload.rate_rps must be a number in (0"),
    ({"workload__rate_rps": float("nan")}, "workload.rate_rps"),
    ({"models": ["gpt-9"]}, "models: model: unknown 'gpt-9'"),
    ({"hardware": {"gpus": ["B900"]}}, "hardware.gpus"),
    ({"hardware": {"accelerators": ["H100-SXM5-80GB:9g.99gb"]}}, "hardware.accelerators"),
    ({"engine__max_num_seqs": []}, "engine.max_num_seqs is empty"),
    ({"hardware": {"gpus": ["H100-SXM5-80GB"], "tensor_parallel": [0]}}, "hardware.tensor_parallel must be integers"),
    ({"slo": {}}, "slo needs at least one target"),
    ({"slo": {"itl_percentile": 95}}, "slo.itl_percentile needs slo.itl_ms"),
    ({"slo": {"e2e_ms": 5000, "e2e_percentile": 95}}, "slo.e2e_percentile: unknown key"),
    ({"engine__serving": {"maxNumSeqs": 5}}, "engine.serving.maxNumSeqs: the search varies it"),
    ({"confirm__warmup_s": 500}, "confirm.warmup_s must be below confirm.duration_s"),
    ({"workload__in_tokens": {"mean": 100, "distribution": "zipf"}}, "workload.in_tokens.distribution"),
])
def test_bad_specs_name_the_key(changes, message):
    with pytest.raises(cs.SearchError) as info:
        cs.load_spec(spec(**changes))
    assert message in str(info.value)


def test_a_trace_gives_the_rate_token_means_and_burstiness(tmp_path):
    trace = tmp_path / "trace.csv"
    times = np.arange(0, 101) * 0.5  # every 0.5 s: 2 req/s, evenly spaced
    pd.DataFrame({"t_s": times, "in_tokens": 300, "out_tokens": 100}).to_csv(trace, index=False)
    doc = spec(workload={"trace": str(trace)})
    s = cs.load_spec(doc)
    assert s.rate_rps == pytest.approx(2.0) and s.in_tokens.mean == 300 and s.out_tokens.mean == 100
    assert s.arrival_cov == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(cs.SearchError, match="workload.rate_rps: the trace gives it"):
        cs.load_spec(spec(workload={"trace": str(trace), "rate_rps": 3}))


def test_cli_writes_the_table_and_exits_3_when_nothing_fits(tmp_path):
    import yaml

    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(yaml.safe_dump(SMALL))
    bad.write_text(yaml.safe_dump(spec(slo={"itl_ms": 1.0})))
    out = tmp_path / "table.csv"
    run = subprocess.run([sys.executable, "-m", "inferno", "search", str(good), "--no-simulate", "--out", str(out),
                          "--emit-dir", str(tmp_path / "docs")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "configurations screened" in run.stdout and "best:" in run.stdout
    assert len(pd.read_csv(out)) == cs.load_spec(SMALL).size
    assert (tmp_path / "docs" / "model-data.json").exists()
    none = subprocess.run([sys.executable, "-m", "inferno", "search", str(bad), "--no-simulate"], capture_output=True,
                          text=True)
    assert none.returncode == 3 and "no configuration meets the SLOs" in none.stdout
    broken = subprocess.run([sys.executable, "-m", "inferno", "search", str(tmp_path / "missing.yaml")],
                            capture_output=True, text=True)
    assert broken.returncode == 1 and "no such search spec file" in broken.stderr


@pytest.mark.dask
def test_search_through_dask_gives_the_local_pools_table(tmp_path):
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None, silence_logs=40)
    try:
        with distributed.Client(cluster) as client:
            remote = inferno.search(SMALL, client=client)
    finally:
        cluster.close()
    local = inferno.search(SMALL, workers=2)
    pd.testing.assert_frame_equal(remote.table, local.table)
