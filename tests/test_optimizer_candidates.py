"""Candidate generation (docs/optimizer.md §3) checked against the queueing API directly."""

import math
from pathlib import Path

import pandas as pd
import pytest

import inferno

SAMPLES = Path(__file__).resolve().parent.parent / "samples"

ACCELERATORS = {"accelerators": [
    {"name": "A100", "type": "A100", "multiplicity": 1, "cost": 40},
    {"name": "2xA100", "type": "A100", "multiplicity": 2, "cost": 80}]}
MODELS = {"models": [
    {"name": "m", "acc": "A100", "accCount": 1, "maxBatchSize": 76, "atTokens": 512,
     "perfParms": {"alpha": 12, "beta": 0.05, "gamma": 0.0005}},
    {"name": "m", "acc": "2xA100", "accCount": 1, "maxBatchSize": 160, "atTokens": 512,
     "perfParms": {"alpha": 8, "beta": 0.03, "gamma": 0.0003}}]}
CLASSES = {"serviceClasses": [{"name": "Gold", "priority": 1,
                               "modelTargets": [{"model": "m", "slo-itl": 30, "slo-ttft": 500}]}]}


def system(*servers, **options):
    docs = [ACCELERATORS, MODELS, CLASSES, {"servers": list(servers)}]
    if options:
        docs.append({"optimizer": options})
    return inferno.System.from_documents(*docs)


def server(name="s", rpm=600.0, n=128, m=1024, **extra):
    return {"name": name, "class": "Gold", "model": "m",
            "currentAlloc": {"load": {"arrivalRate": rpm, "avgInTokens": n, "avgOutTokens": m}}, **extra}


def test_reference_batch_rule_matches_the_queueing_api():
    """N = max(floor(maxBatchSize·atTokens/m), 1) = 38 for 76 at 512 tokens and m = 1024."""
    c = system(server(), batchSizePolicy="reference").candidates().set_index("accelerator")
    row = c.loc["A100"]
    assert row.batch == 38 and row.queue == 380  # ratio policy: Q = 10·N
    model = inferno.QueueModel(alpha=12, beta=0.05, gamma=0.0005, in_tokens=128, out_tokens=1024,
                               max_batch=38, max_queue=380)
    sized = model.max_rate(ttft_ms=500, itl_ms=30)
    # The optimizer sizes with the joint search only (no per-constraint searches), which may end
    # on the other side of the 1e-10 refinement tolerance: the same root.
    assert row.rate_per_replica_rps == pytest.approx(sized.metrics.throughput_rps, rel=1e-9)
    demand = 600 / 60
    assert row.demand_rps == demand
    assert row.replicas == math.ceil(demand / sized.metrics.throughput_rps)
    assert row.cost == 40 * row.replicas and row.cards == row.replicas
    at_load = model.analyze(demand / row.replicas)
    assert (row.itl_ms, row.ttft_ms, row.blocking_prob) == (at_load.itl_ms, at_load.ttft_ms, at_load.blocking_prob)
    assert row.value == pytest.approx(1.1 * row.cost)  # no current allocation: value = 1.1·cost
    assert row.max_rpm == 60 * row.rate_per_replica_rps
    assert c.loc["2xA100"].cards == 2 * c.loc["2xA100"].replicas  # multiplicity counts cards


def _with_options(sample, **opts):
    return inferno.System.from_documents({"optimizer": opts}, base=SAMPLES / sample).candidates()


@pytest.mark.parametrize("sample", ["small", "large"])
def test_batch_policies_are_ordered_exhaustive_bisect_reference(sample):
    """Replicas: exhaustive (optimal on the grid) <= bisect (default, fast) <= reference rule."""
    key = ["server", "accelerator"]
    both = (_with_options(sample, batchSearch="bisect")
            .merge(_with_options(sample, batchSearch="exhaustive"), on=key, suffixes=("_b", "_e"))
            .merge(_with_options(sample, batchSizePolicy="reference"), on=key))
    assert (both.feasible_b == both.feasible_e).all()
    feasible = both[both.feasible]
    assert (feasible.feasible_b).all()
    assert (feasible.replicas_e <= feasible.replicas_b).all()
    assert (feasible.replicas_b <= feasible.replicas).all()
    assert (feasible.cost_b <= feasible.cost + 1e-9).all()  # cheapest never costs more
    # f(N) is not monotone on these sets (Q = 10·N couples queueing to N), so exhaustive can win.
    assert (feasible.replicas_e < feasible.replicas_b).any() or sample == "large"


def test_exhaustive_search_is_optimal_on_the_grid():
    """Independent check of one candidate where bisect is not optimal (small set, L4)."""
    base = inferno.System.from_dir(SAMPLES / "small")
    srv = base.servers.loc["Bronze-llama_13b"]
    perf = base.perf_records.set_index(["model", "accelerator"]).loc[(srv.model, "L4")]
    target = base.targets.set_index(["service_class", "model"]).loc[(srv.service_class, srv.model)]
    n_ref = max(perf.max_batch_size * perf.at_tokens // int(srv.out_tokens), 1)
    demand = srv.arrival_rate_rpm / 60
    best = None
    for n in range(1, n_ref + 1):
        model = inferno.QueueModel(alpha=perf.alpha_ms, beta=perf.beta_ms, gamma=perf.gamma_ms,
                                   in_tokens=srv.in_tokens, out_tokens=srv.out_tokens,
                                   max_batch=n, max_queue=10 * n)
        r = model.max_rate(ttft_ms=target.ttft_ms or None, itl_ms=target.itl_ms or None)
        if r.feasible:
            replicas = math.ceil(demand / r.metrics.throughput_rps - 1e-9)
            best = replicas if best is None else min(best, replicas)
    rows = _with_options("small", batchSearch="exhaustive")
    row = rows[(rows.server == "Bronze-llama_13b") & (rows.accelerator == "L4")].iloc[0]
    assert row.replicas == best


def test_results_do_not_depend_on_thread_count():
    s = inferno.System.from_dir(SAMPLES / "small")
    pd.testing.assert_frame_equal(s.candidates(threads=1), s.candidates(threads=2))


def test_queue_policies_and_overrides():
    c = system(server(maxQueueSize=7, maxBatchSize=20), server(name="t"), queueSizePolicy="zero").candidates()
    s_rows, t_rows = c[c.server == "s"], c[c.server == "t"]
    assert set(s_rows.queue) == {7} and set(s_rows.batch) == {20}  # explicit keys win
    assert set(t_rows.queue) == {0}                                # the policy otherwise
    assert (c.blocking_prob >= 0).all()


def test_zero_load_rules():
    c = system(server(name="idle", rpm=0, currentAlloc={"accelerator": "A100", "numReplicas": 2, "cost": 80,
                                                       "load": {"arrivalRate": 0, "avgInTokens": 128, "avgOutTokens": 1024}}),
               server(name="floor", rpm=0, minNumReplicas=2)).candidates()
    idle = c[c.server == "idle"]
    assert len(idle) == 1
    row = idle.iloc[0]
    assert (row.outcome, row.accelerator, row.replicas, row.cost, row.value) == ("scaledToZero", "A100", 0, 0, -80)
    floor = c[c.server == "floor"]
    assert len(floor) == 2 and set(floor.replicas) == {2} and set(floor.outcome) == {"full"}


def test_transition_values():
    current = {"accelerator": "A100", "numReplicas": 3, "cost": 120,
               "load": {"arrivalRate": 600, "avgInTokens": 128, "avgOutTokens": 1024}}
    c = system(server(currentAlloc=current), acceleratorChangePenalty=0.1).candidates().set_index("accelerator")
    a100, two = c.loc["A100"], c.loc["2xA100"]
    if a100.replicas == 3:
        assert a100.value == 0  # same profile, same replicas
    else:
        assert a100.value == pytest.approx(a100.cost - 120)
    assert two.value == pytest.approx(0.1 * (120 + two.cost) + (two.cost - 120))
    kept = system(server(currentAlloc=current, keepAccelerator=True)).candidates()
    assert list(kept.accelerator) == ["A100"]


def test_infeasible_rows_say_why():
    tight = inferno.System.from_documents(
        ACCELERATORS, MODELS,
        {"serviceClasses": [{"name": "Gold", "modelTargets": [{"model": "m", "slo-itl": 1},
                                                              {"model": "nothing", "slo-itl": 20}]}]},
        {"servers": [server(), server(name="lost", model="nothing"),
                     dict(server(name="classless"), **{"class": "Tin"})]})
    c = tight.candidates()
    assert set(c[c.server == "s"].reason) == {"slo"}
    assert not c[c.server == "s"].feasible.any()
    assert list(c[c.server == "lost"].reason) == ["noPerfData"]
    assert list(c[c.server == "classless"].reason) == ["unknownClass"]


def test_option_errors_are_clear():
    # The test system's accelerator has no power curve: a power objective cannot be priced.
    with pytest.raises(ValueError, match=r"accelerators \(A100\): objective 'power' needs a valid power curve"):
        system(server(), objective="power").candidates()
    with pytest.raises(ValueError, match="threads must be an integer >= 0"):
        system(server()).candidates(threads=-1)


@pytest.mark.parametrize("sample", ["small", "large"])
def test_unlimited_solution_is_the_best_candidate_of_each_server(sample):
    s = inferno.System.from_documents({"optimizer": {"unlimited": True}}, base=SAMPLES / sample)
    sol = s.optimize()
    cands = s.candidates()
    best = (cands[cands.feasible].sort_values(["value", "cost", "cards", "accelerator"], kind="stable")
            .groupby("server", sort=False).head(1).set_index("server"))
    chosen = sol.to_frame()
    assert set(chosen.index) == set(best.index)
    for name, row in chosen.iterrows():
        assert (row.accelerator, row.replicas, row.batch) == tuple(best.loc[name, ["accelerator", "replicas", "batch"]])
    assert sol.total_cost == pytest.approx(best.cost.sum(), rel=1e-12)
    by_type = sol.by_type
    used = best[best.replicas > 0].groupby("type").cards.sum()
    assert by_type.cards.to_dict() == used.to_dict()
    assert sol.status == ("ok" if sol.unallocated.empty else "partial")
    assert set(sol.diff.index) == set(s.servers.index)


def test_unallocated_servers_and_solver_choice():
    s = system(server(), server(name="lost", model="nothing"))
    sol = s.optimize("unlimited")
    assert sol.status == "partial"
    lost = sol.unallocated.set_index("server").loc["lost"]
    assert (lost.reason, lost.detail) == ("noCandidates", "noTarget")
    assert list(sol.allocations.index) == ["s"]
    assert "status='partial'" in repr(sol)
    with pytest.raises(ValueError, match=r"solver must be one of \"auto\", \"unlimited\", \"greedy\", \"milp\""):
        s.optimize("simplex")


def test_zero_output_tokens_is_zero_load_in_every_solver():
    """docs/optimizer.md §3: m = 0 is zero load. Without a replica floor the server scales to zero; with
    minNumReplicas = 2 it gets SLO-checked candidates of exactly 2 replicas at the unscaled
    maxBatchSize (sized as 1-token requests), and a diagnostic says so."""
    s = inferno.System.from_documents(
        ACCELERATORS, MODELS, CLASSES, {"count": [{"type": "A100", "count": 8}]},
        {"servers": [server("floor", m=0, minNumReplicas=2), server("gone", m=0)]},
        {"optimizer": {"batchSizePolicy": "reference"}})
    c = s.candidates().set_index(["server", "accelerator"])
    floor = c.loc["floor"]
    assert floor.feasible.all() and (floor.replicas == 2).all() and (floor.demand_rps == 0).all()
    assert floor.loc["A100", "batch"] == 76 and floor.loc["2xA100", "batch"] == 160
    assert list(c.loc["gone"].outcome) == ["scaledToZero"]
    messages = s.diagnostics.set_index("where").message
    assert messages["servers (floor)"].endswith("minNumReplicas = 2 replicas, sized as 1-token requests")
    assert messages["servers (gone)"].endswith("scaled to zero although its arrivalRate is > 0")
    for solver in ("unlimited", "greedy", "milp", "auto"):
        sol = s.optimize(solver)
        frame = sol.to_frame()
        assert frame.loc["floor", "replicas"] == 2 and frame.loc["floor", "outcome"] == "full"
        assert frame.loc["gone", "replicas"] == 0 and frame.loc["gone", "outcome"] == "scaledToZero"
        assert sol.status == "ok"


def test_a_demand_that_is_an_exact_multiple_of_the_replica_rate_needs_exactly_that_many_replicas():
    """r = ⌈R/rate*⌉ with a tolerance for rounding: 3 × rate* needs 3 replicas, not 4, and a hair
    more than that needs 4."""
    system = inferno.load(SAMPLES / "small")
    before = system.candidates()
    row = before[(before.server == "Premium-llama_13b") & (before.accelerator == "A100")].iloc[0]
    rate_rpm = row.rate_per_replica_rps * 60
    for factor, replicas in ((3.0, 3), (3.0 * (1 + 1e-6), 4), (2.0, 2)):
        after = system.with_arrival_rates({"Premium-llama_13b": factor * rate_rpm}).candidates()
        moved = after[(after.server == "Premium-llama_13b") & (after.accelerator == "A100")].iloc[0]
        assert moved.rate_per_replica_rps == row.rate_per_replica_rps  # the same replica, more load
        assert moved.required_replicas == replicas, (factor, moved.required_replicas)


def test_the_vllm_queue_model_sizes_with_the_records_delta_and_epsilon():
    """queueModel "vllm": the record's perfParms (with the optional delta and epsilon) through the
    vllm service model, checked against the queueing API; 0 for both still adds the iteration wait."""
    base = system(server(), batchSizePolicy="reference").candidates().set_index("accelerator").loc["A100"]
    records = [dict(r, perfParms={**r["perfParms"], "delta": 0.002, "epsilon": 1e-6}) for r in MODELS["models"]]
    docs = [ACCELERATORS, {"models": records}, CLASSES, {"servers": [server()]},
            {"optimizer": {"batchSizePolicy": "reference", "queueModel": "vllm"}}]
    row = inferno.System.from_documents(*docs).candidates().set_index("accelerator").loc["A100"]
    assert row.service_model == "vllm" and base.service_model == "iteration"
    model = inferno.QueueModel(service_model="vllm", alpha=12, beta=0.05, gamma=0.0005, delta=0.002, epsilon=1e-6,
                               in_tokens=128,
                               out_tokens=1024, max_batch=38, max_queue=380)
    sized = model.max_rate(ttft_ms=500, itl_ms=30)
    assert row.batch == 38
    assert row.rate_per_replica_rps == pytest.approx(sized.metrics.throughput_rps, rel=1e-9)
    assert row.rate_per_replica_rps < base.rate_per_replica_rps  # the per-sequence cost and the wait
    assert row.replicas == math.ceil(10 / sized.metrics.throughput_rps)
    # the record's epsilon is used: without it the same server is faster
    no_attention = [dict(r, perfParms={**r["perfParms"], "delta": 0.002}) for r in MODELS["models"]]
    faster = inferno.System.from_documents(ACCELERATORS, {"models": no_attention}, *docs[2:]).candidates()
    assert faster.set_index("accelerator").loc["A100"].rate_per_replica_rps > row.rate_per_replica_rps
    # Without "vllm", delta and epsilon are read and not used.
    docs[-1] = {"optimizer": {"batchSizePolicy": "reference"}}
    same = inferno.System.from_documents(*docs).candidates().set_index("accelerator").loc["A100"]
    assert same.rate_per_replica_rps == base.rate_per_replica_rps
    with pytest.raises(ValueError, match="delta must be >= 0"):
        bad = [dict(r, perfParms={**r["perfParms"], "delta": -1}) for r in MODELS["models"]]
        inferno.System.from_documents(ACCELERATORS, {"models": bad}, CLASSES, {"servers": [server()]})
    with pytest.raises(ValueError, match="epsilon must be >= 0"):
        bad = [dict(r, perfParms={**r["perfParms"], "epsilon": -1}) for r in MODELS["models"]]
        inferno.System.from_documents(ACCELERATORS, {"models": bad}, CLASSES, {"servers": [server()]})
