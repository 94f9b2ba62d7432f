"""Validation against measured vLLM sweeps (samples/real): the sweep reader's errors, and the
accuracy figures of the shipped model on the shared data, held as regression guards."""
import json
import math
import subprocess
from pathlib import Path

import pytest

from cli_helpers import cli_command
from inferno import validate as V

REPO = Path(__file__).resolve().parents[1]
SWEEPS = REPO / "samples" / "real" / "llama31-8b-h100-guidellm.csv"
HEADER = SWEEPS.read_text().splitlines()[0]
ROWS = SWEEPS.read_text().splitlines()[1:]


def write(tmp_path, lines):
    path = tmp_path / "sweeps.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def edit(row: str, column: str, value: str) -> str:
    names = HEADER.split(",")
    cells = row.split(",")
    cells[names.index(column)] = value
    return ",".join(cells)


@pytest.fixture(scope="module")
def pooled():
    return V.validate(SWEEPS)


def test_the_reader_keeps_every_benchmark_and_its_line(pooled):
    frame, excluded = V.read_sweeps(SWEEPS)
    assert len(frame) == 160 and not excluded
    assert frame["line"].tolist() == list(range(2, 162))
    assert (frame["strategy"].value_counts().to_dict() == {"constant": 128, "synchronous": 16, "throughput": 16})
    # the corrupt throughput row keeps its capacity, its empty TTFT mean is not needed
    row = frame[(frame.sweep == "i256-o256") & (frame.strategy == "throughput")].iloc[0]
    assert math.isnan(row.ttft_mean_ms) and row.throughput_rps == pytest.approx(43.95, abs=0.01)


def test_the_batch_cap_follows_the_kv_cache():
    limits = V.ServerLimits()
    # 447,936 / (64 + 4096/2) = 212.1: the KV cache binds; 447,936 / (64 + 32) > 512: the in-flight limit
    assert limits.batch_cap(64, 4096) == 212 and limits.queue_cap(64, 4096) == 300
    assert limits.batch_cap(64, 64) == 512 and limits.queue_cap(64, 64) == 0
    assert V.ServerLimits(max_num_seqs=256).batch_cap(64, 64) == 256
    with pytest.raises(ValueError, match="kv_cache_tokens must be a finite number >= 1, got 0"):
        V.ServerLimits(kv_cache_tokens=0)


def test_accuracy_of_the_iteration_model_on_the_shared_sweeps(pooled):
    """The figures of docs/validation.md, section 1, for the shipped `iteration` model with one pooled
    fit. They are guards: a change that makes any of them worse fails here."""
    s = pooled.summary()
    assert pooled.params.loc["pooled", "status"] == "ok" and pooled.params.loc["pooled", "points"] == 144
    assert s["ttft_mean_ms_mape_pct"] == pytest.approx(14.92, abs=0.05)
    assert s["itl_mean_ms_mape_pct"] == pytest.approx(6.93, abs=0.05)
    assert s["e2e_mean_ms_mape_pct"] == pytest.approx(6.76, abs=0.05)
    assert s["ttft_p95_ms_mape_pct"] == pytest.approx(20.22, abs=0.05)
    assert s["capacity_mape_pct"] == pytest.approx(16.51, abs=0.05)
    assert s["itl_p95_ms_mape_pct"] == pytest.approx(9.92, abs=0.05)  # TPOT (per request), as measured
    by_mix = pooled.errors("sweep")
    # the short prompts are the worst: TTFT biased low by a fifth and more
    assert by_mix.loc["i64-o4096", ("ttft_mean_ms", "bias_pct")] == pytest.approx(-27.5, abs=0.1)
    assert (by_mix.loc[["i64-o64", "i64-o256", "i64-o1024", "i64-o4096"], ("ttft_mean_ms", "bias_pct")] < -19).all()
    # with the prompts' spread (±50 %) alone, the iteration model's TTFT P95 is low in every band
    assert (pooled.errors("band").loc[["low", "middle", "top"], ("ttft_p95_ms", "bias_pct")] < -10).all()
    # counted over the benchmark's window, as GuideLLM counts, the iteration model still over-predicts
    # every burst: it has no per-sequence cost that grows with the batch
    capacity = pooled.capacity.set_index("sweep")["throughput_err"]
    assert capacity["i64-o4096"] == pytest.approx(0.224, abs=0.005) and (capacity > 0.06).all()


def test_the_bands_split_each_sweep_by_its_top_rate(pooled):
    counts = pooled.points["band"].value_counts().to_dict()
    assert counts == {"alone": 16, "low": 47, "middle": 49, "top": 32}
    assert set(pooled.points.loc[pooled.points.strategy == "synchronous", "band"]) == {"alone"}


def test_per_mix_fits_report_their_status(tmp_path):
    result = V.validate(SWEEPS, fit="per-mix")
    assert len(result.params) == 16
    assert set(result.params["status"]) <= {"ok", "ill_conditioned"}
    # a single mix cannot separate beta from gamma: such fits are flagged
    assert (result.params["status"] == "ill_conditioned").any()


def test_given_parameters_are_predicted_without_fitting():
    result = V.validate(SWEEPS, params={"alpha": 6.955, "beta": 0.02149, "gamma": 4.17e-5})
    assert result.params.loc["pooled", "status"] == "given"
    assert result.summary()["ttft_mean_ms_mape_pct"] == pytest.approx(15.1, abs=0.1)


@pytest.mark.parametrize("change, message", [
    (lambda lines: [HEADER.replace("ttft_mean_ms,", "")] + [",".join(r.split(",")[:10] + r.split(",")[11:]) for r in lines[1:]],
     "missing column(s) ttft_mean_ms; a sweep file needs sweep, strategy, rate_rps"),
    (lambda lines: [HEADER, edit(lines[3], "ttft_mean_ms", "-3")],
     "line 2: column ttft_mean_ms must be a finite number >= 0, got -3"),
    (lambda lines: [HEADER, edit(lines[3], "itl_mean_ms", "nan")],
     "line 2: column itl_mean_ms must be a finite number >= 0, got nan"),
    (lambda lines: [HEADER, edit(lines[3], "rate_rps", "fast")], "line 2: column rate_rps is not a number: 'fast'"),
    (lambda lines: [HEADER, edit(lines[3], "rate_rps", "")], "line 2: column rate_rps is empty; it needs a number"),
    (lambda lines: [HEADER, edit(lines[3], "ttft_p95_ms", "1.5")],
     "line 2: column ttft_p95_ms (1.5) is below ttft_mean_ms"),
    (lambda lines: [HEADER, edit(lines[3], "strategy", "sweep")], "line 2: column strategy must be one of"),
    (lambda lines: [HEADER, lines[3] + ",extra"], "line 2: 28 fields, the header has 27"),
    (lambda lines: [HEADER], "no rows to validate against"),
])
def test_a_bad_sweep_file_names_the_line_and_column(tmp_path, change, message):
    path = write(tmp_path, change([HEADER] + ROWS))
    with pytest.raises(ValueError) as info:
        V.read_sweeps(path)
    assert message in str(info.value)


def test_rows_marked_excluded_are_reported_not_dropped_silently(tmp_path):
    lines = [HEADER + ",exclude"] + [row + ("," + ("warm-up" if i == 4 else "")) for i, row in enumerate(ROWS)]
    frame, excluded = V.read_sweeps(write(tmp_path, lines))
    assert len(frame) == 159 and excluded == [(6, "marked excluded (warm-up)")]
    assert V.validate(write(tmp_path, lines)).excluded == [(6, "marked excluded (warm-up)")]


@pytest.mark.cli_repeat
def test_cli_prints_the_tables_and_json(tmp_path):
    proc = subprocess.run([*cli_command(), "validate", str(SWEEPS), "--format", "json", "--plots", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["summary"]["ttft_mean_ms_mape_pct"] == pytest.approx(14.92, abs=0.05)
    assert set(doc["by_mix"]) == {row.split(",")[2] for row in ROWS} and set(doc["by_band"]) == set(V.LOAD_BANDS)
    assert len(doc["capacity"]) == 16 and doc["excluded"] == []
    assert sorted(p.name for p in tmp_path.glob("*.png")) == [
        "residuals-e2e_mean_ms.png", "residuals-itl_mean_ms.png", "residuals-itl_p95_ms.png",
        "residuals-ttft_mean_ms.png", "residuals-ttft_p95_ms.png", "residuals-ttft_p99_ms.png"]
    table = subprocess.run([*cli_command(), "validate", str(SWEEPS)], capture_output=True, text=True, timeout=300)
    assert table.returncode == 0 and "by token mix, model: MAPE / bias (%)" in table.stdout
    assert "i64-o4096" in table.stdout and "capacity of the burst benchmarks" in table.stdout


def test_cli_bad_input_exits_1_naming_the_problem(tmp_path):
    path = write(tmp_path, [HEADER, edit(ROWS[3], "itl_mean_ms", "-1")])
    proc = subprocess.run([*cli_command(), "validate", str(path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "line 2: column itl_mean_ms must be a finite number >= 0, got -1" in proc.stderr
    proc = subprocess.run([*cli_command(), "validate", str(SWEEPS), "--params", "1,2"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 1 and "--params needs alpha,beta,gamma[,delta,epsilon] (three to five numbers)" in proc.stderr


@pytest.fixture(scope="module")
def engine():
    return V.validate(SWEEPS, service_model="vllm")


def test_the_vllm_model_is_closer_to_the_measurements_on_every_metric(pooled, engine):
    """The `vllm` service model (the iteration wait, delta*b^2 and the prefill's attention
    epsilon*n^2/2; docs/queueing-model.md §3.6) against `iteration`, both with one pooled fit
    (figures of docs/validation.md)."""
    # epsilon and beta both grow with the prompt, told apart by the prompts from 64 to 4096 tokens
    assert engine.params.loc["pooled", "status"] == "ok" and engine.params.loc["pooled", "kappa"] < 30
    assert engine.params.loc["pooled", "delta"] == pytest.approx(3.796e-5, rel=1e-3)
    # ~2x the roofline's attention per token pair on an H100 at the default efficiency (7.6e-7)
    assert engine.params.loc["pooled", "epsilon"] == pytest.approx(1.4794e-6, rel=1e-3)
    new, old = engine.summary(), pooled.summary()
    assert new["ttft_mean_ms_mape_pct"] == pytest.approx(7.76, abs=0.05)  # within the goal of 8 %
    assert new["itl_mean_ms_mape_pct"] == pytest.approx(5.40, abs=0.05)
    assert new["e2e_mean_ms_mape_pct"] == pytest.approx(5.35, abs=0.05)
    assert new["ttft_p95_ms_mape_pct"] == pytest.approx(9.27, abs=0.05)  # within the goal of 10 %
    assert new["capacity_mape_pct"] == pytest.approx(8.80, abs=0.05)  # within the goal of 10 %
    assert new["itl_p95_ms_mape_pct"] == pytest.approx(6.82, abs=0.05)  # within the goal of 10 %
    for key in ("itl_p95_ms_mape_pct", "ttft_mean_ms_mape_pct", "ttft_mean_ms_worst_mix_bias_pct", "itl_mean_ms_mape_pct",
                "e2e_mean_ms_mape_pct", "ttft_p95_ms_mape_pct", "capacity_mape_pct"):
        assert new[key] < old[key], key
    # the short prompts were the worst (below -19 %): now within 8 % for three of the four mixes;
    # the long prompts with short outputs, which mean-field collisions put 15-21 % high, within 7 %
    bias = engine.errors("sweep")[("ttft_mean_ms", "bias_pct")]
    assert abs(bias[["i64-o64", "i64-o256", "i64-o1024"]]).max() < 8
    assert abs(bias[["i1024-o64", "i1024-o256"]]).max() < 7
    assert new["ttft_mean_ms_worst_mix_bias_pct"] == pytest.approx(16.72, abs=0.05)
    # the long prompts, low by 10-13 % without the attention term, within 8 %
    assert abs(bias[["i4096-o64", "i4096-o256", "i4096-o1024", "i4096-o4096"]]).max() < 8


def test_the_tuner_tunes_the_extra_parameter_of_the_service_model():
    from inferno import tuner as T
    frame, _ = V.read_sweeps(SWEEPS)
    limits = V.ServerLimits()
    rows = frame[frame.strategy == "constant"]
    observations = [V._observation(row, limits) for _, row in rows.iterrows()]
    tuner = T.Tuner(service_model="vllm",
                    init={"alpha": 6.6, "beta": 0.0203, "gamma": 4.0e-5, "delta": 3.7e-5, "epsilon": 1.0e-6})
    assert tuner.state_names == ["alpha", "beta", "gamma", "delta", "epsilon"]
    for observation in observations[:40]:
        tuner.update(observation)
    estimate = tuner.estimate
    assert list(estimate.params) == ["alpha", "beta", "gamma", "delta", "epsilon"]
    assert all(value > 0 and math.isfinite(value) for value in estimate.params.values())
    # the optimizer's record carries delta and epsilon for its queueModel "vllm"
    assert estimate.perf_parms == estimate.params
    assert tuner.outcome_counts["accepted"] > 30


def vllm_result(row, **changes) -> dict:
    """A `vllm bench serve --save-result` document (its key names) carrying one measured point."""
    completed = 1000
    doc = {"date": "20261206-120000", "backend": "vllm", "model_id": "meta-llama/Llama-3.1-8B",
           "num_prompts": completed, "request_rate": row["rate_rps"], "burstiness": 1.0, "max_concurrency": None,
           "duration": completed / row["throughput_rps"], "completed": completed, "failed": 0,
           "total_input_tokens": int(round(row["in_tokens"] * completed)),
           "total_output_tokens": int(round(row["out_tokens"] * completed)),
           "request_throughput": row["throughput_rps"], "mean_ttft_ms": row["ttft_mean_ms"],
           "median_ttft_ms": row["ttft_p50_ms"], "p99_ttft_ms": row["ttft_p99_ms"], "mean_tpot_ms": row["itl_mean_ms"],
           "median_tpot_ms": row["itl_p50_ms"], "p99_tpot_ms": row["itl_p99_ms"], "mean_itl_ms": row["itl_mean_ms"],
           "mean_e2el_ms": 1000 * row["latency_mean_s"]}
    doc.update(changes)
    return doc


def write_results(tmp_path, docs) -> list[str]:
    paths = []
    for i, doc in enumerate(docs):
        path = tmp_path / f"result-{i}.json"
        path.write_text(json.dumps(doc))
        paths.append(str(path))
    return paths


def test_vllm_bench_results_become_sweep_rows(tmp_path):
    frame, _ = V.read_sweeps(SWEEPS)
    sweep = frame[(frame.sweep == "i1024-o256") & (frame.strategy == "constant")]
    docs = [vllm_result(row) for _, row in sweep.iterrows()]
    docs.append(vllm_result(sweep.iloc[0], request_rate="inf", max_concurrency=64))
    docs.append(vllm_result(sweep.iloc[0], request_rate="inf"))
    rows = V.read_vllm_bench(write_results(tmp_path, docs))
    assert rows["strategy"].tolist() == ["poisson"] * 8 + ["concurrent", "throughput"]
    assert rows["line"].tolist() == list(range(1, 11))
    assert set(rows["sweep"]) == {"i1000-o260"}  # two significant figures of 1023.9 and 255.9
    assert rows["in_tokens"].tolist() == pytest.approx(sweep["in_tokens"].tolist() + [sweep.iloc[0].in_tokens] * 2,
                                                       abs=5e-4)
    assert rows["ttft_mean_ms"].tolist()[:8] == sweep["ttft_mean_ms"].tolist()
    # a closed loop's offered rate is its throughput; Little's law gives the mean in flight
    assert rows.loc[8, "rate_rps"] == rows.loc[8, "throughput_rps"]
    assert rows.loc[0, "concurrency"] == pytest.approx(sweep.iloc[0].throughput_rps * sweep.iloc[0].latency_mean_s)
    named = V.read_vllm_bench(write_results(tmp_path, docs[:2]), mix="i1024-o256")
    assert set(named["sweep"]) == {"i1024-o256"}


@pytest.mark.parametrize("change, message", [
    ({"mean_e2el_ms": None}, "the mean end-to-end latency is missing (key mean_e2el_ms"),
    ({"completed": 0}, "key completed is 0: no request finished"),
    ({"mean_ttft_ms": -1.0}, "key mean_ttft_ms must be a finite number >= 0, got -1.0"),
    ({"request_throughput": "fast"}, "key request_throughput must be a finite number >= 0, got fast"),
    ({"p99_ttft_ms": 1.0}, "column ttft_p99_ms (1) is below ttft_mean_ms"),
])
def test_a_bad_vllm_result_names_the_file_and_key(tmp_path, change, message):
    frame, _ = V.read_sweeps(SWEEPS)
    doc = vllm_result(frame[frame.strategy == "constant"].iloc[3])
    doc.update(change)
    doc = {k: v for k, v in doc.items() if v is not None}
    with pytest.raises(ValueError) as info:
        V.read_vllm_bench(write_results(tmp_path, [doc]))
    assert message in str(info.value) and "result-0.json" in str(info.value)


@pytest.mark.cli_repeat
def test_cli_validates_vllm_results_and_converts_them(tmp_path):
    frame, _ = V.read_sweeps(SWEEPS)
    rate_points = frame[frame.strategy != "throughput"]
    docs = [vllm_result(row) for _, row in rate_points.iterrows()]
    paths = write_results(tmp_path, docs)
    out = tmp_path / "converted.csv"
    proc = subprocess.run([*cli_command(), "validate", *paths, "--format", "json", "--save-sweeps", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    converted, excluded = V.read_sweeps(out)
    assert len(converted) == 144 and not excluded
    # the converted file gives the same fit; vllm bench sends Poisson arrivals (arrival_cov 1)
    # where GuideLLM's were evenly spaced, so the fit is near, not equal to, the sweep file's
    doc = json.loads(proc.stdout)
    assert doc["params"][0]["alpha"] == pytest.approx(V.validate(out).params.loc["pooled", "alpha"], rel=1e-9)
    assert set(converted["strategy"]) == {"poisson"}
    assert doc["params"][0]["alpha"] == pytest.approx(V.validate(SWEEPS).params.loc["pooled", "alpha"], rel=0.05)


@pytest.fixture(scope="module")
def simulated():
    return V.validate(SWEEPS, service_model="vllm", simulate=True)


def test_the_simulator_given_the_benchmarks_shape_predicts_capacity_and_ttft_tails(simulated, engine):
    """The simulator as a second predictor, with the pooled vllm fit (figures of
    docs/validation.md): run as the benchmarks ran (evenly spaced arrivals, one user for the
    synchronous points, 512 closed-loop users for the bursts, lengths uniform within ±50 %, KV
    pages on demand) and counted as GuideLLM counts (requests completed within 360 s)."""
    sim, model = simulated.summary("simulator"), simulated.summary("model")
    assert model.equals(engine.summary())  # the model's figures do not depend on the simulator
    assert sim["capacity_mape_pct"] == pytest.approx(2.95, abs=0.05)
    assert sim["ttft_p95_ms_mape_pct"] == pytest.approx(9.48, abs=0.05)
    assert sim["ttft_mean_ms_mape_pct"] == pytest.approx(7.47, abs=0.05)
    assert sim["capacity_mape_pct"] < model["capacity_mape_pct"] / 2
    # the model follows its own engine loop: mean ITL within 0.3 points, TTFT P95 within 0.3
    assert abs(sim["itl_mean_ms_mape_pct"] - model["itl_mean_ms_mape_pct"]) < 0.3
    assert abs(sim["ttft_p95_ms_mape_pct"] - model["ttft_p95_ms_mape_pct"]) < 0.3
    # What the model's windowed count still misses on the longest outputs is the cold start's KV
    # dynamics (every request admitted at once, then preempted as pages run out): every o4096
    # burst is within 6.5 % for the simulator and 14-22 % high for the model.
    capacity = simulated.capacity.set_index("sweep")
    long_outputs = capacity.loc[[s for s in capacity.index if s.endswith("o4096")]]
    assert long_outputs["throughput_sim_err"].abs().max() < 0.065
    assert long_outputs["throughput_err"].min() > 0.14
    # Deterministic: the same seed gives the same numbers.
    again = V.validate(SWEEPS, service_model="vllm", simulate=True)
    assert again.points.equals(simulated.points) and again.capacity.equals(simulated.capacity)
    with pytest.raises(ValueError, match="without the simulator"):
        engine.summary("simulator")
    with pytest.raises(ValueError, match="predictor must be one of"):
        engine.errors("sweep", predictor="oracle")


def test_the_simulator_predictor_checks_its_inputs():
    with pytest.raises(ValueError, match="'iteration' and 'vllm' service models; got 'prefill-decode'"):
        V.validate(SWEEPS, service_model="prefill-decode", simulate=True)
    with pytest.raises(ValueError, match=r"token_spread must be a number in \[0, 1\]"):
        V.validate(SWEEPS, simulate=True, token_spread=2)


@pytest.mark.cli_repeat
def test_cli_simulate_adds_the_simulators_tables(tmp_path):
    proc = subprocess.run([*cli_command(), "validate", str(SWEEPS), "--service-model", "vllm", "--simulate",
                           "--format", "json"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["simulator"]["summary"]["capacity_mape_pct"] == pytest.approx(2.95, abs=0.05)
    assert set(doc["simulator"]["by_band"]) == set(V.LOAD_BANDS)
    assert all("throughput_sim" in row for row in doc["capacity"])
    table = subprocess.run([*cli_command(), "validate", str(SWEEPS), "--service-model", "vllm", "--simulate"],
                           capture_output=True, text=True, timeout=300)
    assert table.returncode == 0 and "by load band, simulator: MAPE / bias (%)" in table.stdout
    assert "sim_error_pct" in table.stdout


def guidellm_benchmark(row, legacy: bool = False) -> dict:
    """One benchmark of a GuideLLM report (JSON) holding a sweep row's measurements: the current
    layout (config.strategy, duration) or GuideLLM 0.3's (args.strategy, start/end times)."""
    def summary(mean, p50=None, p95=None, p99=None, count=None):
        if math.isnan(mean):  # not measured (a burst's corrupt TTFT): GuideLLM would have no summary
            return None
        out = {"mean": mean, "median": p50 if p50 is not None else mean, "count": count or int(row.n_ok),
               "percentiles": {"p50": p50 if p50 is not None else mean}}
        for key, value in (("p95", p95), ("p99", p99)):
            if value is not None and not math.isnan(value):
                out["percentiles"][key] = value
        return {"successful": out, "errored": None, "incomplete": None}

    strategy = {"type_": row.strategy}
    if row.strategy == "constant":
        strategy["rate"] = row.rate_rps
    metrics = {"time_to_first_token_ms": summary(row.ttft_mean_ms, row.ttft_p50_ms, row.ttft_p95_ms, row.ttft_p99_ms),
               "inter_token_latency_ms": summary(row.itl_mean_ms, row.itl_p50_ms, row.itl_p95_ms, row.itl_p99_ms),
               "request_latency": summary(row.latency_mean_s), "request_concurrency": summary(row.concurrency),
               "prompt_token_count": summary(row.in_tokens), "output_token_count": summary(row.out_tokens)}
    duration = row.n_ok / row.throughput_rps
    if legacy:
        return {"args": {"strategy": strategy}, "start_time": 1000.0, "end_time": 1000.0 + duration,
                "run_stats": {"requests_made": {"successful": int(row.n_ok)}}, "metrics": metrics}
    return {"config": {"strategy": strategy}, "duration": duration, "metrics": metrics}


def test_guidellm_reports_become_sweep_rows(tmp_path):
    frame, _ = V.read_sweeps(SWEEPS)
    sweep = frame[frame.sweep == "i1024-o256"]
    path = tmp_path / "benchmarks.json"
    path.write_text(json.dumps({"benchmarks": [guidellm_benchmark(row) for _, row in sweep.iterrows()]}))
    rows, excluded = V.read_benchmarks(path)  # auto: a .json with "benchmarks" is a GuideLLM report
    assert not excluded and len(rows) == 10
    assert rows["strategy"].tolist() == sweep["strategy"].tolist()
    assert set(rows["sweep"]) == {"i1000-o260"}
    for column in ("ttft_mean_ms", "ttft_p95_ms", "itl_mean_ms", "latency_mean_s", "concurrency", "in_tokens"):
        assert rows[column].tolist() == pytest.approx(sweep[column].tolist(), nan_ok=True), column
    assert rows["throughput_rps"].tolist() == pytest.approx(sweep["throughput_rps"].tolist(), rel=1e-9)
    constant = sweep.strategy == "constant"
    assert rows["rate_rps"][constant.to_numpy()].tolist() == pytest.approx(sweep["rate_rps"][constant].tolist())
    assert math.isnan(rows["rate_rps"].iloc[1])  # the burst
    legacy = tmp_path / "legacy.json"
    legacy.write_text(json.dumps({"benchmarks": [guidellm_benchmark(row, legacy=True) for _, row in sweep.iterrows()]}))
    old = V.read_guidellm(legacy, mix="i1024-o256")
    assert set(old["sweep"]) == {"i1024-o256"}
    assert old["throughput_rps"].tolist() == pytest.approx(rows["throughput_rps"].tolist(), rel=1e-9)


@pytest.mark.parametrize("change, message", [
    (lambda b: b["config"]["strategy"].update(type_="replay"), "config.strategy.type_ must be one of"),
    (lambda b: b["config"]["strategy"].pop("rate"), "config.strategy.rate must be a finite number > 0"),
    (lambda b: b["metrics"].pop("time_to_first_token_ms"), "metrics.time_to_first_token_ms.successful.mean is missing"),
    (lambda b: b["metrics"]["request_latency"]["successful"].update(mean=-2), "request_latency.successful.mean must be"),
    (lambda b: b.pop("duration"), "duration (key duration, or end_time - start_time) is missing"),
])
def test_a_bad_guidellm_report_names_the_file_benchmark_and_key(tmp_path, change, message):
    frame, _ = V.read_sweeps(SWEEPS)
    bench = guidellm_benchmark(frame[frame.strategy == "constant"].iloc[3])
    change(bench)
    path = tmp_path / "report.json"
    path.write_text(json.dumps({"benchmarks": [bench]}))
    with pytest.raises(ValueError) as info:
        V.read_guidellm(path)
    assert message in str(info.value) and "report.json: benchmarks[0]" in str(info.value)
    path.write_text(json.dumps({"benchmarks": []}))
    with pytest.raises(ValueError, match="key benchmarks is missing or empty"):
        V.read_guidellm(path)


def test_cli_validates_a_guidellm_report(tmp_path):
    frame, _ = V.read_sweeps(SWEEPS)
    path = tmp_path / "benchmarks.json"
    path.write_text(json.dumps({"benchmarks": [guidellm_benchmark(row) for _, row in frame.iterrows()]}))
    proc = subprocess.run([*cli_command(), "validate", str(path), "--format", "json"], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    # one file is one sweep: every mix pooled under one name, the fit is the shared file's
    doc = json.loads(proc.stdout)
    assert doc["params"][0]["alpha"] == pytest.approx(V.validate(SWEEPS).params.loc["pooled", "alpha"], rel=1e-6)
    mixed = subprocess.run([*cli_command(), "validate", str(path), str(SWEEPS)], capture_output=True, text=True,
                           timeout=300)
    assert mixed.returncode == 1 and "the files mix formats (guidellm, sweeps)" in mixed.stderr


def test_tune_and_size_calibrate_read_the_same_benchmark_files(tmp_path):
    """One command from a benchmark run to parameters: inferno tune takes the rate points as
    observations, inferno size calibrate the closed-loop points (here the 16 synchronous ones)."""
    tuned = subprocess.run([*cli_command(), "tune", str(SWEEPS), "--format", "json"], capture_output=True, text=True,
                           timeout=300)
    assert tuned.returncode == 0, tuned.stderr
    doc = json.loads(tuned.stdout)
    assert doc["observations"] == 144
    frame, _ = V.read_sweeps(SWEEPS)
    expected = V.observations(frame)
    limits = V.ServerLimits()
    assert len(expected) == 144 and expected["max_batch"].max() == 512
    assert expected["max_batch"].tolist() == [limits.batch_cap(n, m) for n, m in
                                              zip(expected["in_tokens"], expected["out_tokens"])]
    # The same rows from a GuideLLM report give the same estimate.
    report = tmp_path / "benchmarks.json"
    report.write_text(json.dumps({"benchmarks": [guidellm_benchmark(row) for _, row in frame.iterrows()]}))
    again = subprocess.run([*cli_command(), "tune", str(report), "--format", "json"], capture_output=True, text=True,
                           timeout=300)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["estimate"]["params"] == pytest.approx(doc["estimate"]["params"], rel=1e-6)

    cal = subprocess.run([*cli_command(), "size", "calibrate", "--model", "meta-llama/Meta-Llama-3-8B", "--points",
                          str(SWEEPS), "--accelerator", "H100-SXM5-80GB", "--mode", "theta", "--format", "json"],
                         capture_output=True, text=True, timeout=300)
    assert cal.returncode == 0, cal.stderr
    assert "128 row(s) left out" in cal.stderr and "constant is not a closed-loop benchmark" in cal.stderr
    fit = json.loads(cal.stdout)
    assert fit["accepted"] and fit["relRms"] < 0.08
    # Alone, TPOT = alpha + beta + gamma (n + (m+1)/2): alpha + beta near the 6.5-7 ms measured.
    assert 6.0 < fit["perfParms"]["alpha"] + fit["perfParms"]["beta"] < 7.5
    points, skipped = V.profiling_points(frame, "H100-SXM5-80GB")
    assert len(points) == 16 and len(skipped) == 144 and {p["concurrency"] for p in points} == {1}
    with pytest.raises(ValueError, match="the accelerator is not known"):
        V.profiling_points(frame[frame.strategy == "synchronous"].drop(columns="accelerator", errors="ignore"))
    missing = subprocess.run([*cli_command(), "size", "calibrate", "--model", "meta-llama/Meta-Llama-3-8B",
                              "--points", str(SWEEPS)], capture_output=True, text=True, timeout=300)
    assert missing.returncode == 1 and "unknown GPU type" in missing.stderr  # the sweep's free-text column


def test_with_no_fit_the_roofline_predicts_end_to_end_within_the_goal():
    """sizing.derive alone (α, β, γ and the KV cache of Llama-3-8B on an H100 from the roofline,
    docs/sizing.md): end-to-end latency within 10 % (the issue's goal for no fit at all)."""
    proc = subprocess.run([*cli_command(), "validate", str(SWEEPS), "--derive", "meta-llama/Meta-Llama-3-8B",
                           "--accelerator", "H100-SXM5-80GB", "--format", "json"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["params"][0]["status"] == "given"
    assert doc["summary"]["e2e_mean_ms_mape_pct"] == pytest.approx(7.34, abs=0.05)
    assert doc["summary"]["e2e_mean_ms_mape_pct"] < 10 and doc["summary"]["itl_mean_ms_mape_pct"] < 8
    from inferno import sizing
    derived = sizing.derive("meta-llama/Meta-Llama-3-8B", "H100-SXM5-80GB")
    assert doc["params"][0]["alpha"] == pytest.approx(derived.alpha_ms, rel=1e-9)  # JSON keeps 10 decimals
    # The roofline's KV cache is within 1.2 % of the 447,936 tokens vLLM logged.
    assert derived.kv_capacity_tokens == pytest.approx(447_936, rel=0.012)
    bad = subprocess.run([*cli_command(), "validate", str(SWEEPS), "--derive", "meta-llama/Meta-Llama-3-8B"],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1 and "--derive needs --accelerator" in bad.stderr


def test_the_fit_is_robust_to_the_knee(engine):
    """The top point of each sweep sits at the knee, where a few per cent of capacity is an order
    of magnitude in TTFT. Tripling the measured TTFT of those 16 points (the worst a noisy knee
    does) barely moves the fit: alpha and beta within 5 %, and the TTFT and end-to-end errors on
    the other 128 points within one point of the clean fit's."""
    frame, _ = V.read_sweeps(SWEEPS)
    rate = frame[frame["strategy"].isin(V.RATE_STRATEGIES)]
    top = rate["rate_rps"] == rate.groupby("sweep")["rate_rps"].transform("max")
    noisy = frame.copy()
    noisy.loc[top[top].index, "ttft_mean_ms"] *= 3
    corrupted = V.validate(noisy, service_model="vllm")
    clean = engine.params.loc["pooled"]
    for name in ("alpha", "beta"):
        assert corrupted.params.loc["pooled", name] == pytest.approx(clean[name], rel=0.05), name
    refit = V.validate(SWEEPS, service_model="vllm", params={k: corrupted.params.loc["pooled", k]
                                                             for k in ("alpha", "beta", "gamma", "delta", "epsilon")})
    below = lambda v: v.points[v.points["band"] != "top"]["ttft_mean_ms_err"].abs().mean() * 100  # noqa: E731
    assert abs(below(refit) - below(engine)) < 1.0
    assert refit.summary()["e2e_mean_ms_mape_pct"] < engine.summary()["e2e_mean_ms_mape_pct"] + 1.0


def test_a_fit_that_cannot_run_says_why_and_what_data_would_fix_it(tmp_path):
    one = write(tmp_path, [HEADER, ROWS[3]])
    proc = subprocess.run([*cli_command(), "validate", str(one)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "the pooled fit cannot run: 1 rate point; a fit needs at least 2" in proc.stderr
    assert "add benchmarks at other rates" in proc.stderr
    same = write(tmp_path, [HEADER, ROWS[3], ROWS[3], ROWS[3]])
    with pytest.raises(ValueError, match="all 3 rate points are one operating point .* add benchmarks at other rates "
                                         "and token mixes"):
        V.validate(same)
    # Per mix, a mix without the data is reported with its rows and the others go on.
    frame, _ = V.read_sweeps(SWEEPS)
    lonely = frame[(frame.sweep != "i64-o64") | (frame.strategy == "synchronous")]
    result = V.validate(lonely, fit="per-mix")
    assert result.params.loc["i64-o64", "status"] == "not_fitted"
    assert "1 rate point" in result.params.loc["i64-o64", "weak_direction"]
    assert [line for line, reason in result.excluded if reason.startswith("i64-o64: not fitted")] == [2]
    assert "i64-o64" not in set(result.points["sweep"]) and len(result.points) == 144 - 9
    # An ill-conditioned per-mix fit is named with what it cannot pin down.
    table = subprocess.run([*cli_command(), "validate", str(SWEEPS), "--fit", "per-mix"], capture_output=True,
                           text=True, timeout=300)
    assert table.returncode == 0
    assert "note: the i64-o64 fit is ill-conditioned" in table.stdout and "cannot pin down gamma" in table.stdout


def test_cli_csv_is_every_point_with_its_prediction():
    """--format csv writes the data behind the tables: one row per rate point, the measured value,
    the model's prediction and the relative error, which give back the tables' MAPE."""
    import io

    import pandas as pd
    proc = subprocess.run([*cli_command(), "validate", str(SWEEPS), "--format", "csv"], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    frame = pd.read_csv(io.StringIO(proc.stdout))
    result = V.validate(V.read_benchmarks([SWEEPS])[0])
    assert len(frame) == len(result.points)
    assert {"sweep", "ttft_mean_ms", "ttft_mean_ms_pred", "ttft_mean_ms_err"} <= set(frame.columns)
    assert 100 * frame["ttft_mean_ms_err"].abs().mean() == pytest.approx(result.summary()["ttft_mean_ms_mape_pct"],
                                                                         rel=1e-8)
