"""inferno.sizing: Python results against the golden values of docs/sizing.md §14 (the same numbers the Catch2
suite checks in C++), properties of packing, the optimizer emission, and the `inferno size` CLI."""

from __future__ import annotations

import functools

import json
import math

import pytest
from hypothesis import given, settings, strategies as st

import inferno
from inferno import sizing

from cli_helpers import REPO, run_in_process

CAT = sizing.Catalog.builtin()
LLAMA = "meta-llama/Meta-Llama-3-8B"


def close(a: float, b: float, rel: float = 1e-4) -> bool:
    return abs(a - b) <= rel * abs(b)


def test_builtin_models_and_counts():
    reg = sizing.models()
    assert {"meta-llama/Meta-Llama-3-8B", "facebook/opt-1.3b", "mistralai/Mixtral-8x7B-v0.1"} <= set(reg)
    mixtral = reg["mistralai/Mixtral-8x7B-v0.1"].to_dict()
    assert mixtral["paramsTotal"] == 46_702_792_704
    assert mixtral["paramsActive"] == 12_879_925_248
    assert reg["facebook/opt-1.3b"].to_dict()["paramsTotal"] == 1_315_758_080


def test_derive_golden_values_match_the_spec():
    e = sizing.derive(LLAMA, "H100-SXM5-80GB:3g.40gb", CAT, in_tokens=1024, out_tokens=128)
    assert close(e.alpha_ms, 12.485) and close(e.beta_ms, 0.04768) and close(e.gamma_ms, 9.9480e-05)
    assert (e.kv_capacity_tokens, e.n_mem, e.n_max) == (160_496, 139, 139)
    whole = sizing.derive(LLAMA, "A100-SXM4-80GB", CAT)
    assert close(whole.alpha_ms, 10.346) and whole.kv_capacity_tokens == 452_832 and whole.n_max == 256
    # The knee is α/δ of the iteration model (docs/sizing.md §3).
    delta = (e.beta_ms * 1152 + e.gamma_ms * (1024 + 128 * (1024 + 64.5))) / 129
    assert e.knee_batch == pytest.approx(e.alpha_ms / delta, rel=1e-12)


def test_derive_is_deterministic_and_matches_the_dataframe():
    df = sizing.derive_all(LLAMA, CAT, gpus=["A100-SXM4-80GB"])
    one = sizing.derive(LLAMA, "A100-SXM4-80GB:4g.40gb", CAT)
    assert df.loc["A100-SXM4-80GB:4g.40gb", "alpha_ms"] == one.alpha_ms  # bit for bit
    assert list(df.index) == CAT.candidates(["A100-SXM4-80GB"])
    assert not df.loc["A100-SXM4-80GB:1g.10gb", "feasible"]
    assert df.loc["A100-SXM4-80GB:1g.10gb", "reason"] == "weightsDoNotFit"


def test_serving_options_change_memory_as_expected():
    granite = "ibm-granite/granite-3.1-8b-instruct"
    assert sizing.derive(granite, "H100-SXM5-80GB:1g.20gb", CAT).reason == "contextDoesNotFit"
    short = sizing.derive(granite, "H100-SXM5-80GB:1g.20gb", CAT, serving={"maxModelLen": 8192})
    assert short.feasible and short.kv_capacity_tokens == 9424
    # An fp8 KV cache halves the bytes per token: twice the tokens (up to block rounding).
    base = sizing.derive(LLAMA, "A100-SXM4-80GB", CAT)
    fp8 = sizing.derive(LLAMA, "A100-SXM4-80GB", CAT, serving={"kvCacheDtype": "fp8"})
    assert abs(fp8.kv_capacity_tokens - 2 * base.kv_capacity_tokens) <= 32


@pytest.mark.parametrize("serving, message", [
    ({"gpuMemoryUtilization": 1.5}, "gpuMemoryUtilization must be in (0, 1]"),
    ({"dtype": "int3"}, "unknown dtype \"int3\""),
    ({"maxModelLen": -1}, "maxModelLen must be >= 0"),
    ({"tensorParallelSize": 2}, "no peer-to-peer"),
    ({"gpuMemoryUtilisation": 0.9}, "unknown key \"gpuMemoryUtilisation\""),
])
def test_bad_serving_options_are_named(serving, message):
    with pytest.raises(ValueError, match=".*" + message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[").replace("]", r"\]")):
        sizing.derive(LLAMA, "A100-SXM4-80GB:3g.40gb", CAT, serving=serving)


def test_unknown_names_list_the_known_ones():
    with pytest.raises(ValueError, match="unknown GPU type \"B300\"; known: A100-SXM4-40GB"):
        sizing.derive(LLAMA, "B300", CAT)
    with pytest.raises(ValueError, match="unknown MIG profile \"5g.50gb\""):
        sizing.derive(LLAMA, "A100-SXM4-80GB:5g.50gb", CAT)
    with pytest.raises(ValueError, match="unknown 'nope'"):
        sizing.derive("nope", "A100-SXM4-80GB", CAT)


def recommend_one(model: str, gpu: str, concurrency: int) -> dict:
    req = {"servers": [{"name": "s", "model": model,
                        "load": {"concurrency": concurrency, "avgInTokens": 1024, "avgOutTokens": 128},
                        "slo": {"itl": 50}}],
           "menu": {"gpuTypes": [gpu]}}
    return sizing.recommend(req, CAT).document["servers"][0]


@pytest.mark.parametrize("concurrency, choice, flagged, tpot", [
    (1, "A100-SXM4-80GB:1g.20gb", False, 40.78),
    (8, "A100-SXM4-80GB:3g.40gb", False, 32.87),
    (16, "A100-SXM4-80GB:3g.40gb", False, 46.95),
    (64, "A100-SXM4-80GB", True, 54.84),
])
def test_talk_example_llama3_8b_on_a100(concurrency, choice, flagged, tpot):
    """The KubeCon AutoFit example (TPOT 50 ms, A100-80GB) under Meta-Llama-3-8B, n=1024, m=128."""
    rec = recommend_one(LLAMA, "A100-SXM4-80GB", concurrency)
    assert rec["choice"] == choice and rec["sloUnattainable"] is flagged
    chosen = next(o for o in rec["options"] if o["accelerator"] == choice)
    assert round(chosen["itl"], 2) == tpot


def test_open_loop_recommendation_agrees_with_the_optimizer_on_emitted_data(tmp_path):
    request = json.loads((REPO / "samples/sizing/request.json").read_text())
    rec = sizing.recommend(request, CAT)
    data = sizing.emit_optimizer_data(request, CAT)
    assert "premium-llama3-8b" in data["notes"][0]  # closed-loop server: not an optimizer server
    sizing.write_optimizer_dir(data, tmp_path)
    solution = inferno.optimize(inferno.load(tmp_path))
    chosen = {row.Index: row for row in solution.allocations.itertuples()}
    for server in ("bronze-granite", "chat-opt"):
        # One sizer (the optimizer's): the same accelerator, replicas and batch cap.
        assert chosen[server].accelerator == rec.choices.loc[server, "choice"]
        assert chosen[server].replicas == rec.choices.loc[server, "replicas"]
        assert chosen[server].batch == next(o for o in rec.servers if o.server == server).chosen.batch
    # Slices are accelerators of their GPU type. A card of G = 7 compute and S = 8 memory slices is
    # G·S = 56 units; a slice takes max(g·S, m·G): 3g.40gb uses 3 of 7 compute and 4 of 8 memory
    # slices, so max(24, 28) = 28 units, and two fit a card, as on the hardware.
    acc = {a["name"]: a for a in data["accelerators"]}
    assert acc["A100-SXM4-80GB:3g.40gb"]["multiplicity"] == 28
    assert acc["A100-SXM4-80GB:1g.10gb"]["multiplicity"] == 8  # max(1·8, 1·7): seven fit a card
    assert acc["A100-SXM4-80GB:3g.40gb"]["cost"] == pytest.approx(40 * 3 / 7)
    assert acc["A100-SXM4-80GB"]["multiplicity"] == 56
    capacity = {c["type"]: (c["count"], c["unitsPerCard"]) for c in data["count"]}
    assert capacity == {"A100-SXM4-80GB": (8, 56), "H100-SXM5-80GB": (16, 56)}
    # The optimizer reports physical cards, as the recommendation's capacity use does.
    # chat-opt is the only H100 server: one 1g.20gb, max(1·8, 2·7) = 14 of 56 units = 1/4 card.
    # bronze-granite takes one A100 4g.40gb, max(4·8, 4·7) = 32 units = 4/7 card (the request's
    # closed-loop server also counts in the recommendation's A100 figure, not in the optimizer's).
    by_type = solution.by_type
    assert by_type.loc["H100-SXM5-80GB", "cards"] == pytest.approx(0.25)
    assert by_type.loc["H100-SXM5-80GB", "cards"] == pytest.approx(rec.capacity.loc["H100-SXM5-80GB", "needed_gpus"])
    assert by_type.loc["A100-SXM4-80GB", "cards"] == pytest.approx(4 / 7)
    assert by_type.slices.to_dict() == {"A100-SXM4-80GB": 1, "H100-SXM5-80GB": 1}
    assert by_type["limit"].to_dict() == {"A100-SXM4-80GB": 8, "H100-SXM5-80GB": 16}


def test_open_loop_percentile_slo_is_stricter_than_the_mean():
    def rate(itl_percentile: float) -> float:
        req = {"servers": [{"name": "s", "model": LLAMA,
                            "load": {"arrivalRate": 5.0, "avgInTokens": 512, "avgOutTokens": 256},
                            "slo": {"itl": 40, "itlPercentile": itl_percentile}}],
               "menu": {"gpuTypes": ["H100-SXM5-80GB"], "includeSlices": False}}
        option = sizing.recommend(req, CAT).document["servers"][0]["options"][0]
        assert option["feasible"], option
        return option["ratePerReplica"]
    # The P99 ITL is at least the mean ITL at every rate, so its largest feasible rate is lower.
    assert rate(99) < rate(0)
    with pytest.raises(ValueError, match=r"slo.itlPercentile must be in \[0, 100\)"):
        rate(100)


def test_calibration_recovers_efficiency_and_seeds_the_tuner():
    points = json.loads((REPO / "samples/sizing/points.json").read_text())
    cal = sizing.calibrate(LLAMA, points, CAT, mode="family")
    assert cal.accepted, cal.reason
    eff = cal.to_dict()["efficiency"]
    # The sample points were generated with t0 0.9 ms, η_B 0.7, η_F 0.55 and rounded to 0.1 µs.
    assert eff["etaBw"] == pytest.approx(0.7, rel=1e-4)
    assert eff["etaFlops"] == pytest.approx(0.55, rel=1e-4)
    assert eff["t0Ms"] == pytest.approx(0.9, rel=1e-3)
    seed = cal.tuner_seed("H100-SXM5-80GB:3g.40gb", CAT)
    theta = cal.theta("H100-SXM5-80GB:3g.40gb", CAT)
    assert seed["init_state"] == list(theta)
    assert seed["min_state"] == [t / 10 for t in theta] and seed["max_state"] == [t * 10 for t in theta]
    assert seed["percent_change"] == [0.1, 0.1, 0.1]
    inferno.Tuner(**seed)  # the seed is a valid tuner configuration


def test_calibration_rejects_one_mix_in_theta_mode():
    pts = [{"accelerator": "H100-SXM5-80GB", "concurrency": c, "n": 1024, "m": 128, "tpot_ms": t}
           for c, t in ((1, 6.5659), (8, 8.3126), (32, 14.3015))]
    cal = sizing.calibrate("meta-llama/Llama-3.1-8B", pts, CAT, mode="theta")
    assert not cal.accepted and cal.reason == "illConditioned"
    with pytest.raises(ValueError, match="only closed-loop points"):
        sizing.calibrate(LLAMA, [{"accelerator": "H100-SXM5-80GB", "mode": "open", "n": 1, "m": 1}], CAT)


def test_packing_golden_and_mig_parted():
    p = sizing.pack("A100-SXM4-80GB", "3g.40gb=3,2g.20gb=2,1g.10gb=5", CAT)
    assert (p.gpus_used, p.lower_bound, p.optimal) == (3, 3, True)
    assert p.mig_parted().splitlines()[3:6] == ["    - devices: [0]", "      mig-enabled: true",
                                                '      mig-devices: {"3g.40gb": 2}']
    assert sizing.pack("A100-SXM4-80GB", {"1g.20gb": 5}, CAT).gpus_used == 2


def valid_layout(gpu: dict, geometry: dict) -> bool:
    profiles = {p["name"]: p for p in geometry["profiles"]}
    used: set[int] = set()
    compute = 0
    for s in gpu["slices"]:
        p = profiles[s["profile"]]
        if s["start"] not in p["starts"] or s["size"] != p["memSlices"]:
            return False
        cells = set(range(s["start"], s["start"] + s["size"]))
        if cells & used:
            return False
        used |= cells
        compute += p["g"]
    return compute <= geometry["computeSlices"]


@settings(max_examples=60, deadline=None)
@given(gpu=st.sampled_from(["A100-SXM4-80GB", "H100-SXM5-80GB", "A30"]),
       counts=st.lists(st.integers(0, 6), min_size=6, max_size=6),
       exact=st.booleans())
def test_every_packing_honours_the_placement_rules(gpu, counts, exact):
    geometry = CAT.geometry(gpu)
    names = [p["name"] for p in geometry["profiles"] if not p["media"]]
    demand = {name: c for name, c in zip(names, counts)}
    p = sizing.pack(gpu, demand, CAT, exact=exact)
    raw = p.document
    for layout in raw["gpus"]:
        assert valid_layout(layout, geometry)
    placed: dict[str, int] = {}
    for layout in raw["gpus"]:
        for s in layout["slices"]:
            placed[s["profile"]] = placed.get(s["profile"], 0) + 1
    assert placed == {k: v for k, v in demand.items() if v}  # nothing lost, nothing invented
    assert raw["gpusUsed"] >= raw["lowerBound"]


def single_gpu_loads(geometry: dict) -> set[tuple[int, ...]]:
    """Every multiset of (non-media) profiles that fits on one GPU, as counts per profile, found by
    trying every placement (independent of the packer)."""
    profiles = [p for p in geometry["profiles"] if not p["media"]]
    found: set[tuple[int, ...]] = set()

    def place(first: int, slices: list[dict], counts: list[int]) -> None:
        found.add(tuple(counts))
        for i in range(first, len(profiles)):
            for start in profiles[i]["starts"]:
                candidate = slices + [{"profile": profiles[i]["name"], "start": start, "size": profiles[i]["memSlices"]}]
                if valid_layout({"slices": candidate}, geometry):
                    counts[i] += 1
                    place(i, candidate, counts)
                    counts[i] -= 1

    place(0, [], [0] * len(profiles))
    return found


@functools.lru_cache(maxsize=None)
def loads_of(gpu: str) -> frozenset[tuple[int, ...]]:
    return frozenset(single_gpu_loads(CAT.geometry(gpu)))


def fewest_gpus(demand: tuple[int, ...], loads: set[tuple[int, ...]]) -> int:
    """Brute-force minimum number of GPUs covering `demand` (dynamic programming over demands)."""
    @functools.lru_cache(maxsize=None)
    def best(d: tuple[int, ...]) -> int:
        if not any(d):
            return 0
        return 1 + min(best(tuple(max(0, x - y) for x, y in zip(d, load))) for load in loads if any(
            x and y for x, y in zip(d, load)))
    return best(demand)


@settings(max_examples=40, deadline=None)
@given(gpu=st.sampled_from(["A100-SXM4-80GB", "H100-SXM5-80GB", "A30"]), data=st.data())
def test_exact_packing_reaches_the_brute_force_minimum(gpu, data):
    geometry = CAT.geometry(gpu)
    names = [p["name"] for p in geometry["profiles"] if not p["media"]]
    counts = tuple(data.draw(st.lists(st.integers(0, 2), min_size=len(names), max_size=len(names))))
    packing = sizing.pack(gpu, {n: c for n, c in zip(names, counts) if c}, CAT, exact=True)
    assert packing.optimal
    assert packing.gpus_used == fewest_gpus(counts, loads_of(gpu))


def test_discover_round_trips_the_nvidia_smi_capture():
    lgip = "\n".join([
        "|   0  MIG 1g.10gb       19     7/7        9.50       No     14     0     0   |",
        "|   0  MIG 1g.20gb       15     4/4        19.50      No     14     1     0   |",
        "|   0  MIG 2g.20gb       14     3/3        19.50      No     28     1     0   |",
        "|   0  MIG 3g.40gb        9     2/2        39.25      No     42     2     0   |",
        "|   0  MIG 4g.40gb        5     1/1        39.25      No     56     2     0   |",
        "|   0  MIG 7g.80gb        0     1/1        79.00      No     98     5     0   |"])
    lgipp = "\n".join(["GPU  0 Profile ID 19 Placements: {0,1,2,3,4,5,6}:1", "GPU  0 Profile ID 15 Placements: {0,2,4,6}:2",
                       "GPU  0 Profile ID 14 Placements: {0,2,4}:2", "GPU  0 Profile ID  9 Placements: {0,4}:4",
                       "GPU  0 Profile ID  5 Placement : {0}:4", "GPU  0 Profile ID  0 Placement : {0}:8"])
    override = sizing.discover("A100-SXM4-80GB", lgip, lgipp, "lab-a100")
    cat = sizing.Catalog.builtin().merge(override)
    assert cat.geometry("A100-SXM4-80GB")["profiles"][1]["starts"] == [0, 2, 4, 6]
    assert sizing.derive(LLAMA, "A100-SXM4-80GB:3g.40gb", cat).alpha_ms == sizing.derive(
        LLAMA, "A100-SXM4-80GB:3g.40gb", CAT).alpha_ms


# ---- CLI ---------------------------------------------------------------------------------------

def test_cli_derive_json_equals_the_api():
    r = run_in_process(["size", "derive", "--model", "Meta-Llama-3-8B", "--gpu", "H100-SXM5-80GB",
                        "--profile", "3g.40gb", "--format", "json"])
    assert r.returncode == 0, r.stderr
    row = json.loads(r.stdout)[0]
    api = sizing.derive(LLAMA, "H100-SXM5-80GB:3g.40gb", CAT)
    assert row["alpha"] == api.alpha_ms and row["nMax"] == api.n_max


def test_cli_recommend_table_csv_and_exit_codes(tmp_path):
    r = run_in_process(["size", "recommend", "--input", REPO / "samples/sizing/request.json"])
    assert r.returncode == 0, r.stderr
    assert "A100-SXM4-80GB:3g.40gb" in r.stdout
    r = run_in_process(["size", "recommend", "--input", REPO / "samples/sizing/request.json", "--format", "csv",
                        "--options"])
    assert r.stdout.splitlines()[0].startswith("server,accelerator,")
    hard = {"servers": [{"name": "x", "model": LLAMA, "load": {"concurrency": 64, "avgInTokens": 1024,
                                                               "avgOutTokens": 128}, "slo": {"itl": 5}}]}
    path = tmp_path / "hard.json"
    path.write_text(json.dumps(hard))
    r = run_in_process(["size", "recommend", "--input", path])
    assert r.returncode == 3 and "no accelerator meets the SLOs of: x" in r.stderr
    # Two servers that each fit the one owned A100 but not together: the choices stand, the
    # shortfall is said, and the status is 3.
    server = {"model": LLAMA, "load": {"concurrency": 16, "avgInTokens": 1024, "avgOutTokens": 128}, "slo": {"itl": 50}}
    owned = {"servers": [{"name": "a", **server}, {"name": "b", **server}], "capacity": {"A100-SXM4-80GB": 1},
             "menu": {"gpuTypes": ["A100-SXM4-80GB"], "includeSlices": False}}
    path.write_text(json.dumps(owned))
    r = run_in_process(["size", "recommend", "--input", path])
    assert r.returncode == 3
    assert "the choices together need at least 2 A100-SXM4-80GB GPUs, 1 owned" in r.stderr
    assert "needed_gpus" in r.stdout
    rec = sizing.recommend(owned)
    assert rec.capacity.loc["A100-SXM4-80GB"].tolist() == [2.0, 1, True]
    # One that alone needs more than owned is not a candidate: reason "capacity".
    owned["servers"] = [{"name": "c", **server, "load": {**server["load"], "concurrency": 64}}]
    owned["menu"]["maxReplicas"] = 4
    options = sizing.recommend(owned).options
    assert "capacity" in set(options["reason"])
    assert set(options.loc[options["replicas"] > 1, "reason"]) == {"capacity"}
    path.write_text("{not json")
    r = run_in_process(["size", "recommend", "--input", path])
    assert r.returncode == 1 and "malformed JSON" in r.stderr
    path.write_text(json.dumps({"servers": [{"name": "y", "model": LLAMA, "load": {"concurrency": 4,
                                             "arrivalRate": 1, "avgInTokens": 1, "avgOutTokens": 1}}]}))
    r = run_in_process(["size", "recommend", "--input", path])
    assert r.returncode == 1 and "give exactly one of concurrency" in r.stderr


def test_cli_calibrate_and_pack(tmp_path):
    r = run_in_process(["size", "calibrate", "--model", "Meta-Llama-3-8B", "--points", REPO / "samples/sizing/points.json"])
    assert r.returncode == 0 and "accepted" in r.stdout
    plan = tmp_path / "plan.yaml"
    r = run_in_process(["size", "pack", "--gpu", "A100-SXM4-80GB", "--demand", "3g.40gb=3,2g.20gb=2,1g.10gb=5",
                        "--mig-parted", plan, "--format", "json"])
    assert r.returncode == 0
    assert json.loads(r.stdout)["gpusUsed"] == 3
    assert plan.read_text().startswith("version: v1\nmig-configs:\n  inferno-plan:\n")
    r = run_in_process(["size", "pack", "--gpu", "A100-SXM4-80GB", "--demand", "3g.40gb=x"])
    assert r.returncode == 1 and "expected PROFILE=COUNT" in r.stderr
    r = run_in_process(["size", "pack", "--gpu", "L4", "--demand", "1g.10gb=1"])
    assert r.returncode == 1 and "has no MIG profiles" in r.stderr


def test_results_are_finite():
    rec = sizing.recommend(REPO / "samples/sizing/request.json", CAT).document
    for s in rec["servers"]:
        for o in s["options"]:
            for k, v in o.items():
                if isinstance(v, float):
                    assert math.isfinite(v), (s["server"], o["accelerator"], k)


def test_cli_recommend_one_server_from_flags(tmp_path):
    """`size recommend --model --rate --ttft --itl`: the request of one server without a file,
    the same answer as the equivalent request, led by a summary line."""
    flags = ["size", "recommend", "--model", LLAMA, "--gpu", "A100-SXM4-80GB", "--rate", "20", "--in", "512", "--out",
             "256", "--ttft", "1000", "--itl", "40"]
    r = run_in_process(flags)
    assert r.returncode == 0, r.stderr
    request = {"servers": [{"name": "server", "model": LLAMA,
                            "load": {"arrivalRate": 20, "avgInTokens": 512, "avgOutTokens": 256},
                            "slo": {"itl": 40, "ttft": 1000}}], "menu": {"gpuTypes": ["A100-SXM4-80GB"]}}
    rec = sizing.recommend(request)
    chosen = rec.choices.loc["server"]
    option = rec.options.loc[("server", chosen["choice"])]
    summary = r.stdout.splitlines()[0]
    assert summary.startswith(f"server: {int(option['replicas'])} x {chosen['choice']} ")
    assert f"{option['rate_per_replica_rps']:.4g} req/s per replica" in summary
    used = 20 / (option["replicas"] * option["rate_per_replica_rps"])
    assert f"{100 * used:.0f} % of that capacity used" in summary and 0 < used <= 1
    assert "roofline estimate, not calibrated" in summary
    # Calibrated from the shared sweeps' synchronous benchmarks: the summary says so.
    cal = run_in_process([*flags[:5], "H100-SXM5-80GB", *flags[6:], "--calibrate", REPO / "samples/real/llama31-8b-h100-guidellm.csv",
                          "--accelerator", "H100-SXM5-80GB"])
    assert cal.returncode == 0, cal.stderr
    assert cal.stdout.splitlines()[0].endswith("; calibrated") and "row(s) left out" in cal.stderr
    # Capacity and bad flags
    short = run_in_process([*flags, "--no-slices", "--capacity", "A100-SXM4-80GB=0"])
    assert short.returncode == 3 and "no accelerator meets the SLOs" in short.stdout
    for bad, message in ((["--capacity", "A100-SXM4-80GB=x"], "--capacity expects GPU=N"),
                         (["--input", str(REPO / "samples/sizing/request.json")], "not both"),
                         (["--calibrate", str(REPO / "samples/real/llama31-8b-h100-guidellm.csv")], "--calibrate needs --accelerator")):
        r = run_in_process([*flags, *bad])
        assert r.returncode == 1 and message in r.stderr, (bad, r.stderr)
    r = run_in_process(["size", "recommend", "--rate", "3"])
    assert r.returncode == 1 and "needs --input FILE, or --model with --rate RPS or --concurrency C" in r.stderr


def test_cli_recommend_takes_a_registry_name_by_its_last_part_or_a_config_file(tmp_path):
    """--model says "registry name (or its last part) or a config.json path": all three give the
    same answer, and an unknown name lists the known ones."""
    base = ["size", "recommend", "--gpu", "A100-SXM4-80GB", "--rate", "5", "--ttft", "1000", "--itl", "50", "--format", "json"]
    full = run_in_process([*base, "--model", LLAMA])
    assert full.returncode == 0, full.stderr
    short = run_in_process([*base, "--model", LLAMA.split("/")[-1]])
    assert short.returncode == 0, short.stderr
    assert json.loads(short.stdout)["servers"][0]["choice"] == json.loads(full.stdout)["servers"][0]["choice"]
    config = tmp_path / "config.json"
    config.write_text((REPO / "python/inferno/data/models/Meta-Llama-3-8B.json").read_text())
    from_file = run_in_process([*base, "--model", str(config)])
    assert from_file.returncode == 0, from_file.stderr
    assert json.loads(from_file.stdout)["servers"][0] == json.loads(full.stdout)["servers"][0]
    bad = run_in_process([*base, "--model", "no-such-model"])
    assert bad.returncode == 1 and "unknown" in bad.stderr and LLAMA in bad.stderr


def test_percentile_targets_report_the_percentiles_they_were_checked_against():
    """slo.itlPercentile/ttftPercentile: the options carry the predicted percentiles (the values
    the targets were checked against), not only the means; mean targets leave them unset."""
    def request(percentile, concurrency=None):
        load = {"avgInTokens": 512, "avgOutTokens": 256, **({"concurrency": concurrency} if concurrency else {"arrivalRate": 5})}
        slo = {"itl": 50, "ttft": 1000, **({"itlPercentile": percentile, "ttftPercentile": percentile} if percentile else {})}
        return {"servers": [{"name": "s", "model": LLAMA, "load": load, "slo": slo}], "menu": {"gpuTypes": ["A100-SXM4-80GB"]}}
    mean, p95 = sizing.recommend(request(0)), sizing.recommend(request(95))
    assert mean.choices[["itl_at_percentile_ms", "ttft_at_percentile_ms"]].isna().all().all()
    chosen = p95.choices.loc["s"]
    assert chosen["itl_at_percentile_ms"] <= 50 and chosen["ttft_at_percentile_ms"] <= 1000
    assert chosen["itl_at_percentile_ms"] > chosen["itl_ms"]  # the ITL's tail is above its mean
    feasible = p95.options[p95.options.feasible]
    assert (feasible.itl_at_percentile_ms <= 50).all() and (feasible.itl_at_percentile_ms >= feasible.itl_ms).all()
    # A P95 target is harder to meet than the same mean target: each option serves less per replica.
    both = mean.options.merge(p95.options, left_index=True, right_index=True, suffixes=("", "_p95"))
    both = both[both.feasible & both.feasible_p95]
    assert len(both) > 0 and (both.rate_per_replica_rps_p95 <= both.rate_per_replica_rps * (1 + 1e-9)).all()
    # Closed loop: the token time is deterministic, so each percentile is the mean.
    closed = sizing.recommend(request(95, concurrency=8)).options.dropna(subset=["itl_ms"])
    assert len(closed) > 0
    assert (closed.itl_at_percentile_ms == closed.itl_ms).all() and (closed.ttft_at_percentile_ms == closed.ttft_ms).all()


def test_token_counts_are_named_in_tokens_and_out_tokens():
    """derive(n=, m=) named tokens with the letters the batch cap and queue take elsewhere: the new
    names give the same estimate, and the old ones still do for one release, with a warning."""
    new = sizing.derive(LLAMA, "A100-SXM4-80GB", CAT, in_tokens=2048, out_tokens=64)
    with pytest.warns(DeprecationWarning, match="use in_tokens= and out_tokens="):
        old = sizing.derive(LLAMA, "A100-SXM4-80GB", CAT, n=2048, m=64)
    assert new == old and new != sizing.derive(LLAMA, "A100-SXM4-80GB", CAT)
    with pytest.raises(TypeError, match="unexpected keyword argument 'k'"):
        sizing.derive(LLAMA, "A100-SXM4-80GB", CAT, k=3)


def test_the_open_loop_rate_carries_its_unit_and_the_old_key_still_reads():
    """load.arrivalRateRps (req/s) beside server-data.json's arrivalRate (req/min): the new key
    and the old one give the same recommendation, and both at once is an error naming them."""
    def request(load):
        return {"servers": [{"name": "s", "model": LLAMA, "load": {**load, "avgInTokens": 512, "avgOutTokens": 256},
                             "slo": {"itl": 50, "ttft": 1000}}], "menu": {"gpuTypes": ["A100-SXM4-80GB"]}}
    new = sizing.recommend(request({"arrivalRateRps": 6.0}))
    old = sizing.recommend(request({"arrivalRate": 6.0}))
    assert new.to_dict() == old.to_dict() and new.servers[0].chosen.replicas >= 1
    emitted = sizing.emit_optimizer_data(request({"arrivalRateRps": 6.0}))
    assert emitted["servers"][0]["currentAlloc"]["load"]["arrivalRate"] == 360.0  # req/min in server-data.json
    with pytest.raises(ValueError, match="give arrivalRateRps .req/s., not also its old name arrivalRate"):
        sizing.recommend(request({"arrivalRateRps": 6.0, "arrivalRate": 6.0}))


@pytest.mark.parametrize("variant", ["percentiles", "vllm", "waiting-room"])
def test_the_recommendation_and_the_optimizer_size_with_one_sizer(tmp_path, variant):
    """Percentile targets, the vllm service model and the waiting room travel in the emitted
    documents, so the optimizer sizes each open-loop server exactly as the recommendation did."""
    request = json.loads((REPO / "samples/sizing/request.json").read_text())
    request["servers"] = [s for s in request["servers"] if "arrivalRateRps" in s["load"]]
    if variant == "percentiles":
        for s in request["servers"]:
            s["slo"].update({"itlPercentile": 95, "ttftPercentile": 90})
    elif variant == "vllm":
        request.update({"serviceModel": "vllm", "perSequenceMs": 0.002})
    else:
        request["queueToBatchRatio"] = 2
    rec = sizing.recommend(request, CAT)
    data = sizing.emit_optimizer_data(request, CAT)
    system = inferno.System.from_documents(*({k: v} for k, v in data.items() if k != "notes"))
    candidates = system.candidates().set_index(["server", "accelerator"])
    compared = 0
    for server in rec.servers:  # every accelerator the recommendation sized, not only its choice
        for option in server.options:
            if option.batch == 0:  # memory or SLO ruled it out before sizing
                continue
            row = candidates.loc[(server.server, option.accelerator)]
            assert (row.batch, row.replicas) == (option.batch, option.replicas), (variant, server.server, option.accelerator)
            assert row.rate_per_replica_rps == pytest.approx(option.rate_per_replica_rps, rel=1e-12)
            compared += 1
    assert compared >= 10
    if variant == "percentiles":  # the chosen option meets the tail targets at its load
        slo = {srv["name"]: srv["slo"] for srv in request["servers"]}
        for server in rec.servers:
            tail = server.chosen
            assert tail.itl_at_percentile_ms <= slo[server.server]["itl"] * (1 + 1e-9)
            assert tail.ttft_at_percentile_ms <= slo[server.server]["ttft"] * (1 + 1e-9)
            assert tail.itl_at_percentile_ms > tail.itl_ms  # a tail above its mean: percentiles were sized on


@pytest.mark.parametrize("extra, message", [
    ({"costs": {"A100-SXM4-80GB": None}}, "costs.A100-SXM4-80GB must be a number, got null"),
    ({"capacity": {"A100-SXM4-80GB": -1}}, "capacity.A100-SXM4-80GB must be an integer >= 0, got -1"),
    ({"capacity": {"A100-SXM4-80GB": 2**40}}, "capacity.A100-SXM4-80GB must be an integer in [-2147483648, 2147483647]"),
    ({"menu": {"gpuTypes": ["A100-SXM4-80GB", 3]}}, "menu.gpuTypes must be an array of GPU type names, got 3"),
    ({"serviceModel": "token"}, 'serviceModel: unknown "token"; allowed: iteration, vllm'),
])
def test_bad_request_members_are_named_by_their_path(extra, message):
    req = {"servers": [{"name": "s", "model": "facebook/opt-1.3b",
                        "load": {"arrivalRateRps": 1, "avgInTokens": 100, "avgOutTokens": 50}}], **extra}
    with pytest.raises(ValueError) as err:
        sizing.recommend(req, CAT)
    assert str(err.value).startswith(message)
