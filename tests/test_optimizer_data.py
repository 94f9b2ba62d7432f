"""The optimizer's input System: reading, validating and viewing the reference documents."""

import json
from pathlib import Path

import pandas as pd
import pytest

import inferno

REPO = Path(__file__).resolve().parents[1]

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def test_small_sample_set():
    s = inferno.System.from_dir(SAMPLES / "small")
    assert repr(s) == ("System(6 accelerators, 4 capacity types, 30 performance records, "
                       "15 targets, 15 servers, 0 diagnostics)")
    assert s.capacity == {"A100": 768, "AIU2": 1024, "G2": 512, "L4": 1024}
    acc = s.accelerators
    assert acc.loc["L4", "cost_per_hour"] == 6.0 and acc.loc["L4", "power_full_w"] == 75
    models = s.perf_records.set_index(["model", "accelerator"])
    rec = models.loc[("granite_13b", "A100")]
    assert (rec.alpha_ms, rec.beta_ms, rec.gamma_ms) == (20.58, 0.041, 0.00128125)
    assert (rec.max_batch_size, rec.at_tokens, rec.acc_count, rec.format) == (64, 512, 1, "perfParms")
    servers = s.servers
    assert servers.loc["Premium-llama_13b", "arrival_rate_rpm"] == 60
    assert servers.loc["Premium-llama_13b", "out_tokens"] == 1024  # from "AvgOutTokens"
    targets = s.targets.set_index(["service_class", "model"])
    assert set(targets["priority"]) == {1, 2, 3}
    assert s.options["saturation_policy"] == "RoundRobin"
    assert s.options["batch_size_policy"] == "cheapest"  # inferno default for an absent key
    assert s.diagnostics.empty


def test_large_set_and_system_data_file(tmp_path):
    large = inferno.System.from_dir(SAMPLES / "large")
    assert (len(large.accelerators), len(large.perf_records), len(large.servers)) == (21, 189, 27)
    # A directory holding only system-data.json gives the same system as the six files.
    (tmp_path / "system-data.json").write_text((SAMPLES / "small" / "system-data.json").read_text())
    whole = inferno.System.from_dir(tmp_path)
    files = inferno.System.from_dir(SAMPLES / "small")
    pd.testing.assert_frame_equal(whole.servers, files.servers)
    pd.testing.assert_frame_equal(whole.perf_records, files.perf_records)


def test_documents_override_a_base_directory():
    s = inferno.System.from_documents(
        {"servers": [{"name": "Premium-llama_13b", "class": "Premium", "model": "llama_13b",
                      "maxQueueSize": 0, "currentAlloc": {"accelerator": "A100", "numReplicas": 2,
                      "cost": 80, "load": {"arrivalRate": 30, "avgInTokens": 64, "avgOutTokens": 256}}}]},
        json.dumps({"optimizer": {"unlimited": True, "solver": "milp"}}),
        base=SAMPLES / "small")
    row = s.servers.loc["Premium-llama_13b"]
    assert (row.arrival_rate_rpm, row.in_tokens, row.out_tokens) == (30, 64, 256)
    assert (row.max_queue, row.current_accelerator, row.current_cost) == (0, "A100", 80)
    assert len(s.servers) == 15  # replaced in place, not added
    assert s.options["unlimited"] and s.options["solver"] == "milp"
    assert s.options["saturation_policy"] == "RoundRobin"  # untouched keys keep their values
    assert "duplicate server" in " ".join(s.diagnostics["message"])


@pytest.mark.parametrize("document, message", [
    ("{bad", r"document\[0\]: malformed JSON"),
    ({"servers": [{"name": "a", "model": "m", "currentAlloc": {"load": {"arrivalRate": -5}}}]},
     r"servers\[0\] \(a\)\.currentAlloc\.load: arrivalRate must be >= 0, got -5"),
    ({"servers": [{"name": "a", "model": "m", "minNumReplicas": 1.5}]},
     r"minNumReplicas must be an integer, got 1.5"),
    ({"optimizer": {"objective": "cheap"}},
     r'objective must be one of "cost", "power", "weighted" \(case-sensitive\), got "cheap"'),
    ({"serviceClasses": [{"name": "c", "modelTargets": [{"model": "m", "slo-ttft": -1}]}]},
     r"serviceClasses\[0\] \(c\)\.modelTargets\[0\] \(m\): slo-ttft must be >= 0"),
    ({"count": [{"type": "A100", "count": -1}]}, r"count\[0\] \(A100\): count must be an integer in \[0,"),
    ({"weather": "sunny"}, "not an inferno system document"),
])
def test_bad_documents_name_the_place(document, message):
    with pytest.raises(ValueError, match=message):
        inferno.System.from_documents(document)


def test_missing_directory_and_files(tmp_path):
    with pytest.raises(ValueError, match="not a directory"):
        inferno.System.from_dir(tmp_path / "nope")
    with pytest.raises(ValueError, match="no system data"):
        inferno.System.from_dir(tmp_path)


def test_lenient_inputs_are_reported():
    s = inferno.System.from_documents(
        {"accelerators": [{"name": "A", "type": "A", "cost": 5}]},
        {"serviceClasses": [{"name": "Gold", "priority": 0, "modelTargets": [{"model": "m"}]}]},
        {"models": [{"name": "m", "acc": "A", "perfParms": {"alpha": 1}}]},
        {"servers": [{"name": "s1", "class": "Gold", "model": "m"},
                     {"name": "s2", "class": "Tin", "model": "m"}]})
    text = "\n".join(s.diagnostics["where"] + ": " + s.diagnostics["message"])
    assert "multiplicity missing or 0: taken as 1" in text
    assert "serviceClasses[0] (Gold): priority 0 is outside [1, 100]: taken as 100" in text
    assert "servers (s2): unknownClass: service class 'Tin' is not defined" in text
    assert s.accelerators.loc["A", "multiplicity"] == 1
    recomputed = inferno.System.from_documents(
        {"accelerators": [{"name": "A", "type": "A", "cost": 5}]},
        {"models": [{"name": "m", "acc": "A", "accCount": 2, "perfParms": {"alpha": 1}}]},
        {"servers": [{"name": "s", "model": "m", "currentAlloc": {"accelerator": "A", "numReplicas": 3}}]})
    assert "currentAlloc.cost is absent: recomputed as 30" in " ".join(recomputed.diagnostics["message"])


def test_entities_from_a_dataframe_with_dotted_columns():
    frame = pd.DataFrame({
        "name": ["a", "b"], "class": ["Premium", "Free"], "model": ["llama_13b", "llama_13b"],
        "currentAlloc.load.arrivalRate": [60, 120.0], "currentAlloc.load.avgInTokens": [128, 128],
        "currentAlloc.load.avgOutTokens": [1024, 1024], "minNumReplicas": [None, 2]})
    s = inferno.System.from_documents({"servers": frame}, base=SAMPLES / "small")
    servers = s.servers
    assert servers.loc["a", "arrival_rate_rpm"] == 60 and servers.loc["b", "arrival_rate_rpm"] == 120
    assert (servers.loc["a", "min_replicas"], servers.loc["b", "min_replicas"]) == (0, 2)  # NaN = absent
    assert servers.loc["b", "out_tokens"] == 1024
    assert len(servers) == 17  # the 15 sample servers plus two
    bad = frame.assign(minNumReplicas=[None, 2.5])
    with pytest.raises(ValueError, match="minNumReplicas"):
        inferno.System.from_documents({"servers": bad}, base=SAMPLES / "small")


def test_load_accepts_a_directory_or_a_system_data_file():
    from_dir = inferno.load(SAMPLES / "small")
    from_file = inferno.load(SAMPLES / "small" / "system-data.json")
    assert list(from_file.servers.index) == list(from_dir.servers.index)
    assert from_file.capacity == from_dir.capacity
    assert from_file.options["saturation_policy"] == "PriorityRoundRobin"  # the bundle's own options
    assert inferno.candidates(from_file).equals(from_file.candidates())


def test_performance_records_have_one_name_and_the_old_one_warns():
    """"model" names an LLM; a row of model-data.json is a performance record (docs/development.md)."""
    s = inferno.load(SAMPLES / "small")
    with pytest.warns(DeprecationWarning, match="System.models is deprecated: use perf_records"):
        old = s.models
    pd.testing.assert_frame_equal(old, s.perf_records)
    assert len(s.perf_records) > 0 and {"model", "accelerator", "alpha_ms"} <= set(s.perf_records.columns)


# ------------------------------------------------------------------------------------- live state
def test_live_state_round_trips_and_the_bridge_gives_the_optimizers_numbers():
    system = inferno.System.from_dir(REPO / "samples" / "large")
    solution = system.optimize()
    # The queue model of each allocation predicts what the optimizer predicted, number for number.
    models = solution.queue_models()
    allocated = solution.allocations[solution.allocations.replicas > 0]
    assert sorted(models) == sorted(allocated.index)
    for name, row in allocated.iterrows():
        m = models[name].analyze(row["demand_rps"] / row["replicas"])
        assert m.itl_ms == row["itl_ms"] and m.ttft_ms == row["ttft_ms"], name
    # Deployed as current, resized but kept on its accelerator.
    deployed = system.with_current(solution.allocations, keep_accelerator=True)
    servers = deployed.servers
    assert (servers.current_accelerator == solution.allocations.accelerator).all()
    assert (servers.current_replicas == solution.allocations.replicas).all()
    assert servers.keep_accelerator.all()
    busier = deployed.with_loads({"Premium-llama_7b": {"rate_rps": 10.0}})
    assert busier.servers.loc["Premium-llama_7b", "arrival_rate_rpm"] == 600.0
    assert busier.servers.loc["Premium-llama_7b", "in_tokens"] == 128.0  # the rest of the load stays
    again = busier.optimize().allocations.loc["Premium-llama_7b"]
    assert again.accelerator == "2xG2" and again.replicas > 2
    # sized at the batch cap it runs with when it cannot change it
    small = system.with_current({"Premium-llama_7b": {"accelerator": "2xG2", "replicas": 2, "max_batch": 16}},
                                keep_accelerator=True, keep_batch=True)
    row = small.with_loads({"Premium-llama_7b": {"rate_rps": 10.0}}).optimize().allocations.loc["Premium-llama_7b"]
    assert (row.accelerator, row.batch) == ("2xG2", 16) and row.replicas > again.replicas
    # perf records round-trip; a tuned record replaces its pair only
    assert system.with_perf(system.perf_records).perf_records.equals(system.perf_records)
    tuned = system.with_perf([{"model": "llama_7b", "accelerator": "G2", "alpha_ms": 12.5}])
    row = tuned.perf_records.query("model == 'llama_7b' and accelerator == 'G2'").iloc[0]
    assert (row.alpha_ms, row.beta_ms) == (12.5, 0.053)
    assert len(tuned.perf_records) == len(system.perf_records)


@pytest.mark.parametrize("call, message", [
    (lambda s: s.with_loads({"nope": {"rate_rps": 1}}), "with_loads: unknown server 'nope'"),
    (lambda s: s.with_loads({"Premium-llama_7b": {"rate_rps": -1}}), "arrival_rate_rpm must be a finite number in [0, 6e10]"),
    (lambda s: s.with_loads({"Premium-llama_7b": {"rate": 1}}), "unknown key 'rate'; allowed: rate_rps, in_tokens"),
    (lambda s: s.with_loads({"Premium-llama_7b": {"rate_rps": "1"}}), "rate_rps must be a number, got '1'"),
    (lambda s: s.with_current({"Premium-llama_7b": {"accelerator": "B300", "replicas": 1}}), "unknown accelerator 'B300'"),
    (lambda s: s.with_current({"Premium-llama_7b": {"replicas": 2}}), "replicas without an accelerator"),
    (lambda s: s.with_current({"Premium-llama_7b": {"accelerator": "G2", "replicas": 1.5}}), "replicas must be an integer"),
    (lambda s: s.with_perf([{"model": "llama_7b", "accelerator": "G2", "beta_ms": float("nan")}]),
     "beta must be a finite number in [0, 1e6]"),
    (lambda s: s.with_perf([{"accelerator": "G2"}]), "model (a name) is required"),
])
def test_bad_live_state_is_named(call, message):
    system = inferno.System.from_dir(REPO / "samples" / "large")
    with pytest.raises(ValueError) as err:
        call(system)
    assert message in str(err.value)
