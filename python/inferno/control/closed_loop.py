"""The closed-loop simulator: a scenario's fleet run under each policy through the same controller,
and what each policy cost and achieved (docs/control.md, "Closed-loop simulation").

>>> import inferno
>>> from inferno.control import compare, load_scenario
>>> scenario = load_scenario({"fleet": str(inferno.samples_path() / "large"), "servers": ["Premium-llama3_8b"],
...                           "duration_s": 600, "workload": {"kind": "step", "factor": 3, "at_s": 300},
...                           "policies": ["inferno", "static-peak"]})
>>> result = compare(scenario)
>>> list(result.summary.policy), int(result.summary.requests[0])
(['inferno', 'static-peak'], 2281)
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from .._lazy import np, pd

from ..optimizer import System, load
from .controller import Controller
from .fleet import ServerSetup, SimulatedActuator, SimulatedFleet, SimulatedSensor, price_of, request_outcomes
from .inventory import Inventory, Placement
from .planning import Planner, sizing_prior
from .policies import ServerInfo, make_policy
from .scenario import Scenario, ScenarioError, read_trace
from .tuning import Tuning

SUMMARY_COLUMNS = ("policy", "cost", "attainment", "ttft_p95_ms", "itl_p95_ms", "actions", "reversals_per_hour",
                   "blocked", "requests", "replica_hours")


@dataclass(frozen=True)
class PolicyRun:
    """One policy's run: a row per (cycle, server) and the summary."""

    policy: str
    timeline: pd.DataFrame
    summary: dict[str, Any]


@dataclass(frozen=True)
class Comparison:
    runs: dict[str, PolicyRun]
    summary: pd.DataFrame = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"summary": json.loads(self.summary.to_json(orient="records"))}

    def plot_cost_vs_attainment(self, ax: Any = None) -> Any:
        """Cost against SLO attainment, one marker per policy (colour-blind-safe palette)."""
        import matplotlib.pyplot as plt
        from .._style import MARKERS, PALETTE
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        for i, row in enumerate(self.summary.itertuples()):
            ax.scatter(row.cost, 100 * row.attainment, color=PALETTE[i % len(PALETTE)], marker=MARKERS[i % len(MARKERS)],
                       s=70, label=row.policy)
        ax.set_xlabel("GPU cost over the run (cost units)")
        ax.set_ylabel("requests meeting their SLOs (%)")
        ax.legend(loc="best", fontsize="small")
        ax.grid(alpha=0.3)
        return ax

    def plot_timeline(self, server: str, axes: Any = None) -> Any:
        """Offered load, replicas and TTFT of one server under each policy."""
        import matplotlib.pyplot as plt
        from .._style import MARKERS, PALETTE
        if axes is None:
            _, axes = plt.subplots(3, 1, figsize=(8, 7), sharex=True)
        first = True
        for i, (name, run) in enumerate(self.runs.items()):
            t = run.timeline[run.timeline.server == server]
            style = dict(color=PALETTE[i % len(PALETTE)], marker=MARKERS[i % len(MARKERS)], markevery=max(1, len(t) // 12),
                         label=name)
            if first:
                axes[0].plot(t.time_s / 60, t.offered_rps, color="black", label="offered")
                first = False
            axes[1].plot(t.time_s / 60, t.serving + t.starting, **style)
            axes[2].plot(t.time_s / 60, t.ttft_ms, **style)
        axes[0].set_ylabel("offered (req/s)")
        axes[1].set_ylabel("replicas")
        axes[2].set_ylabel("mean TTFT (ms)")
        axes[2].set_xlabel("time (min)")
        axes[1].legend(loc="best", fontsize="small")
        return axes


class ClosedLoop:
    """A scenario made ready to run: the fleet's documents, the first plan, each server's
    arrivals, true queue model and price."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.system = _load_system(scenario)
        self.last_tuning: Tuning | None = None  # the tuners of the last run, to inspect
        names = list(self.system.servers.index)
        if scenario.servers is not None:
            unknown = [s for s in scenario.servers if s not in names]
            if unknown:
                raise ScenarioError(f"servers: unknown server {unknown[0]!r}; known: {', '.join(names)}")
            names = list(scenario.servers)
        for key in list(scenario.per_server) + list(scenario.per_server_startup_s):
            if key not in names:
                raise ScenarioError(f"per_server: unknown server {key!r}; known: {', '.join(names)}")
        self.names = names
        self.joins = {server: at_s for at_s, kind, server, _ in scenario.server_changes if kind == "server_added"}
        self.leaves = {server: at_s for at_s, kind, server, _ in scenario.server_changes if kind == "server_removed"}
        for server in [*self.joins, *self.leaves]:
            if server not in names:
                raise ScenarioError(f"faults: unknown server {server!r}; the scenario's servers are {', '.join(names)}")
        priors = {server: prior for _, kind, server, prior in scenario.server_changes if prior is not None}
        if priors:  # a new model nobody has measured: the controller knows only the sizing prior
            self.system = self._with_priors(priors)
        for faulty in [n for _, _, n in scenario.actuator_errors] + [n for _, _, _, n in scenario.sensor_faults]:
            for name in faulty or ():
                if name not in names:
                    raise ScenarioError(f"faults: unknown server {name!r}; the scenario's servers are {', '.join(names)}")
        for _, card_type, _ in scenario.capacity_changes:
            if card_type not in self.system.capacity:
                raise ScenarioError(f"faults: capacity of unknown card type {card_type!r}; the fleet has "
                                    f"{', '.join(self.system.capacity)}")
        servers = self.system.servers.loc[names]
        self.base_rps = {n: float(servers.loc[n, "arrival_rate_rpm"]) / 60 for n in names}
        self.arrivals = {n: self._arrivals(i, n) for i, n in enumerate(names)}
        # The first deployment, the same for every policy: planned for the peak rate of the first
        # horizon (a replica ordered at the first cycle serves only after the start-up delay) and
        # the requests' mean sizes.
        self.tokens = {n: (float(self.arrivals[n].in_tokens.mean()) if len(self.arrivals[n]) else float(servers.loc[n, "in_tokens"]),
                           float(self.arrivals[n].out_tokens.mean()) if len(self.arrivals[n]) else float(servers.loc[n, "out_tokens"]))
                       for n in names}
        def first_loads(at_s: float, who: list[str]) -> dict[str, dict[str, float]]:
            return {n: {"rate_rps": self.peak_between(n, at_s, at_s + scenario.period_s + scenario.startup_of(n))
                        if n in who else 0.0, "in_tokens": self.tokens[n][0], "out_tokens": self.tokens[n][1]}
                    for n in names}
        base = Planner(self.system, scenario.planning).system
        first = base.with_loads(first_loads(0.0, [n for n in names if n not in self.joins])).optimize(
            solver=scenario.planning.solver)
        self.first_plan = first
        models = first.queue_models()
        allocations = first.allocations
        # A server that joins later is deployed then, planned alone for its first horizon.
        joined_plans = {n: base.with_loads(first_loads(at_s, [n])).optimize(solver=scenario.planning.solver)
                        for n, at_s in self.joins.items()}
        for n, plan in joined_plans.items():
            plan_models = plan.queue_models()
            if n in plan_models:
                models[n] = plan_models[n]
        missing = [n for n in names if n not in models]
        if missing:
            raise ScenarioError(f"the first plan leaves {missing[0]!r} without an allocation: give the fleet capacity "
                                f"or a smaller load")
        accelerators, perf = self.system.accelerators, self.system.perf_records
        targets = self.system.targets.set_index(["service_class", "model"])
        self.info: dict[str, ServerInfo] = {}
        self.setups: dict[str, ServerSetup] = {}
        self.placements: dict[str, Placement] = {}
        self.join_replicas: dict[str, int] = {}  # what a joining server is deployed with
        self.classes = {n: str(servers.loc[n, "service_class"]) for n in names}
        for n in names:
            row = joined_plans[n].allocations.loc[n] if n in joined_plans else allocations.loc[n]
            model = models[n]
            # A model with a prior is new: nothing but the roofline knows it, and the truth is the
            # roofline's parameters times the scenario's truth factors.
            spec = model.spec
            true_model = model.replace(**{k: spec[k] * scenario.truth[k] for k in ("alpha", "beta", "gamma") if k in spec})
            klass, model_name = servers.loc[n, "service_class"], servers.loc[n, "model"]
            slo = targets.loc[(klass, model_name)] if (klass, model_name) in targets.index else None
            self.info[n] = ServerInfo(accelerator=str(row["accelerator"]), max_batch=int(row["batch"]),
                                      in_tokens=self.tokens[n][0], out_tokens=self.tokens[n][1],
                                      ttft_slo_ms=0.0 if slo is None else float(slo["ttft_ms"]),
                                      itl_slo_ms=0.0 if slo is None else float(slo["itl_ms"]),
                                      startup_delay_s=scenario.startup_of(n))
            self.placements[n] = Placement(card_type=str(row["type"]),
                                           cards_per_replica=max(1, int(row["cards"]) // max(1, int(row["replicas"]))),
                                           priority=1 if slo is None else int(slo["priority"]))
            self.setups[n] = ServerSetup(name=n, model=true_model, accelerator=str(row["accelerator"]),
                                         price_per_replica_hour=price_of(accelerators, perf, model_name, str(row["accelerator"])),
                                         replicas=0 if n in self.joins else int(row["replicas"]), trace=self.arrivals[n])
            self.join_replicas[n] = int(row["replicas"])

    def variant_setup(self, server: str, accelerator: str, max_batch: int) -> ServerSetup:
        """The server on another accelerator profile or batch cap: the performance record there
        (the documents', or the sizing prior's) times the scenario's truth factors, and its price."""
        model_name = str(self.system.servers.loc[server, "model"])
        perf = self.system.perf_records
        record = perf[(perf.model == model_name) & (perf.accelerator == accelerator)]
        if record.empty:
            raise ScenarioError(f"{server}: no performance record of {model_name} on {accelerator}")
        truth = self.scenario.truth
        rec = record.iloc[0]
        model = self.setups[server].model.replace(
            max_batch=int(max_batch), max_queue=10 * int(max_batch),
            alpha=float(rec["alpha_ms"]) * truth["alpha"], beta=float(rec["beta_ms"]) * truth["beta"],
            gamma=float(rec["gamma_ms"]) * truth["gamma"])
        base = self.setups[server]
        return ServerSetup(name=server, model=model, accelerator=accelerator,
                           price_per_replica_hour=price_of(self.system.accelerators, perf, model_name, accelerator),
                           replicas=0, trace=base.trace)

    # -------------------------------------------------------------------- workloads
    def _arrivals(self, index: int, name: str) -> pd.DataFrame:
        """The server's requests while it is in the fleet (from when it is added, until it is removed)."""
        arrivals = self._all_arrivals(index, name)
        start, end = self.joins.get(name, 0.0), self.leaves.get(name, math.inf)
        if start > 0 or end < math.inf:
            arrivals = arrivals[(arrivals.time_s >= start) & (arrivals.time_s < end)].reset_index(drop=True)
        return arrivals

    def _with_priors(self, priors: dict[str, dict[str, Any]]) -> System:
        """The system without the performance records of the added servers' models, and with the
        sizing prior of each instead."""
        servers = self.system.servers
        models = {str(servers.loc[n, "model"]) for n in priors}
        shared = [n for n in servers.index if str(servers.loc[n, "model"]) in models and n not in priors]
        if shared:
            raise ScenarioError(f"faults: {shared[0]!r} runs a model given a prior ({servers.loc[shared[0], 'model']}): a "
                                f"model with a prior must be new to the fleet")
        records = []
        for n, prior in priors.items():
            own = sizing_prior(str(servers.loc[n, "model"]), prior["architecture"], self.system.accelerators,
                               prior["gpus"], float(servers.loc[n, "in_tokens"]), float(servers.loc[n, "out_tokens"]))
            records += own
            if not own:  # this server's prior, not all so far: a second one that fits nothing is named
                raise ScenarioError(f"faults: the prior of {n!r} fits none of the fleet's single-card accelerators mapped in "
                                    f"prior.gpus")
        return _load_system(self.scenario, drop_models=models).with_perf(records)

    def _all_arrivals(self, index: int, name: str) -> pd.DataFrame:
        """The server's requests over the run: a trace compressed to its documented rate and
        shifted, or Poisson arrivals of a rate profile (drawn with the scenario's seed)."""
        s = self.scenario
        w = s.workload_of(name)
        target_rps = self.base_rps[name] * w.rate_scale
        servers = self.system.servers
        if w.kind == "trace":
            assert w.path is not None
            trace = read_trace(s.base_dir / w.path)
            span = float(trace.t_s.iloc[-1]) + 1e-3
            k = target_rps / (len(trace) / span)  # time compression that gives the target mean rate
            if k <= 0:
                return trace.iloc[0:0].rename(columns={"t_s": "time_s"})
            times = trace.t_s.to_numpy() / k
            length = span / k
            reps = int(math.ceil((s.duration_s + w.shift_s * index) / length)) + 1
            t = np.concatenate([times + r * length for r in range(reps)]) - w.shift_s * index
            ins = np.tile(trace.in_tokens.to_numpy(), reps)
            outs = np.tile(trace.out_tokens.to_numpy(), reps)
            keep = (t >= 0) & (t < s.duration_s)
            return pd.DataFrame({"time_s": t[keep], "in_tokens": ins[keep], "out_tokens": outs[keep]})
        rng = np.random.default_rng([s.seed, index])
        peak = target_rps * float(np.max(w.shape(np.linspace(0, s.duration_s, 20001))))
        if peak <= 0:
            return pd.DataFrame({"time_s": [], "in_tokens": [], "out_tokens": []})
        # A Poisson process of the profile's rate by thinning one of its peak rate.
        n = rng.poisson(peak * s.duration_s)
        t = np.sort(rng.uniform(0, s.duration_s, n))
        t = t[rng.uniform(0, 1, n) < target_rps * w.shape(t) / peak]
        return pd.DataFrame({"time_s": t, "in_tokens": np.full(t.size, float(servers.loc[name, "in_tokens"])),
                             "out_tokens": np.full(t.size, float(servers.loc[name, "out_tokens"]))})

    def rate_between(self, server: str, start_s: float, end_s: float) -> float:
        """Mean arrival rate of the server's true arrivals in [start_s, end_s) (req/s)."""
        t = self.arrivals[server].time_s.to_numpy()
        width = max(end_s - start_s, 1e-9)
        return float(np.count_nonzero((t >= start_s) & (t < end_s))) / width

    def peak_between(self, server: str, start_s: float, end_s: float, bin_s: float | None = None) -> float:
        """Highest rate over bins of the period (req/s) in [start_s, end_s): the oracle's load."""
        bin_s = bin_s or self.scenario.period_s
        t = self.arrivals[server].time_s.to_numpy()
        edges = np.arange(start_s, max(end_s, start_s + bin_s) + bin_s / 2, bin_s)
        counts, _ = np.histogram(t, bins=edges)
        return float(counts.max()) / bin_s if counts.size else 0.0

    # -------------------------------------------------------------------- runs
    def run(self, policy_name: str) -> PolicyRun:
        s = self.scenario
        fleet = SimulatedFleet(self.setups, s.duration_s, s.seed)
        sensor = SimulatedSensor(fleet, list(s.sensor_outages), list(s.sensor_faults))
        actuator = SimulatedActuator(fleet, {n: s.startup_of(n) for n in self.names},
                                     [(a, b, None if names is None else list(names)) for a, b, names in s.actuator_errors],
                                     variant=self.variant_setup)
        planner = Planner(self.system.with_loads({n: {"rate_rps": 0.0} for n in self.system.servers.index
                                                  if n not in self.names or n in self.joins}), s.planning)
        tuning = None
        if s.tuning.enabled:  # each tuner starts from its variant's documented record
            perf = self.system.perf_records.set_index(["model", "accelerator"])
            variants = {n: (str(self.system.servers.loc[n, "model"]), self.info[n].accelerator) for n in self.names}
            starts = {v: [float(perf.loc[v, k]) for k in ("alpha_ms", "beta_ms", "gamma_ms")] for v in set(variants.values())}
            held = {v: {k: float(perf.loc[v, f"{k}_ms"]) for k in ("delta", "epsilon")
                        if math.isfinite(float(perf.loc[v, f"{k}_ms"]))} for v in set(variants.values())}
            tuning = Tuning(s.tuning, variants, {n: self.info[n].max_batch for n in self.names}, starts, held)
        self.last_tuning = tuning
        policy = make_policy(policy_name, planner=planner, prediction=s.prediction, tuning=tuning,
                             peak_rps={n: self.peak_between(n, 0, s.duration_s) for n in self.names},
                             peak_ahead=self.peak_between, tokens=self.tokens)
        inventory = Inventory(self.system.capacity, self.placements)
        present = {n: i for n, i in self.info.items() if n not in self.joins}
        controller = Controller(sensor, policy, actuator, present, s.stabilizer, inventory)
        changes = list(s.capacity_changes)
        joins_and_leaves = list(s.server_changes)
        rows: list[dict[str, Any]] = []
        steps = int(math.floor(s.duration_s / s.period_s + 1e-9))
        for k in range(1, steps + 1):
            t = k * s.period_s
            while joins_and_leaves and joins_and_leaves[0][0] <= t:
                at_s, kind, server, _ = joins_and_leaves.pop(0)
                # Just before at_s, so that the replicas are there for the first arrival.
                fleet.advance_to(max(fleet.now_s, at_s - 1e-6))
                if kind == "server_added":  # deployed by whoever added it, then the loop's to manage
                    fleet.scale(server, self.join_replicas[server], 0.0)
                    controller.servers[server] = self.info[server]
                else:  # deleted: its replicas drain, and nothing plans for it any more
                    fleet.scale(server, 0, 0.0)
                    controller.servers.pop(server, None)
                    planner.forget(server)
            fleet.advance_to(t)
            while changes and changes[0][0] <= t:  # the inventory changed since the last cycle
                _, card_type, count = changes.pop(0)
                planner.set_capacity(card_type, count)
                inventory.set(card_type, count)
            cycle_rows = controller.cycle(t).rows()
            costs = fleet.counters()
            for row in cycle_rows:  # where each server runs after the cycle, and what it has cost so far
                info = controller.servers[row["server"]]
                row["accelerator"], row["max_batch"] = info.accelerator, info.max_batch
                row["cost"] = costs[row["server"]]["cost"]
            rows.extend(cycle_rows)
        fleet.advance_to(s.duration_s)
        counters = fleet.counters()
        results = fleet.finish()
        timeline = pd.DataFrame(rows)
        return PolicyRun(policy_name, timeline, self._summary(policy_name, timeline, counters, results))

    def _summary(self, policy: str, timeline: pd.DataFrame, counters: dict, results: dict) -> dict[str, Any]:
        s = self.scenario
        cost = sum(counters[n]["cost"] for n in self.names)
        outcomes = [request_outcomes(run, self.info[n].ttft_slo_ms, self.info[n].itl_slo_ms)
                    .assign(service_class=self.classes[n]) for n in self.names for run in results[n]]
        every = pd.concat(outcomes, ignore_index=True) if outcomes else pd.DataFrame()
        done = every[every.done] if len(every) else every
        # Direction reversals: a server's applied changes that go the other way from its previous one.
        reversals, actions = 0, 0
        if len(timeline):
            for _, t in timeline.groupby("server", sort=False):
                changes = (t.target - (t.serving + t.starting)).to_numpy()
                failed = t.actuation_error.notna().to_numpy()
                signs = [int(np.sign(c)) for c, f in zip(changes, failed) if c != 0 and not f]
                actions += len(signs)
                reversals += sum(1 for a, b in zip(signs, signs[1:]) if a != b)
        hours = s.duration_s / 3600
        # Attainment per service class too: under short capacity the priorities decide who is served.
        by_class = {f"attainment_{c}": float(g.met.mean()) for c, g in every.groupby("service_class", sort=False)} \
            if len(every) else {}
        return {**by_class, "policy": policy, "cost": cost,
                "attainment": float(every.met.mean()) if len(every) else math.nan,
                "ttft_p95_ms": float(np.percentile(done.ttft_ms, 95)) if len(done) else math.nan,
                "itl_p95_ms": float(np.percentile(done.itl_ms, 95)) if len(done) else math.nan,
                "actions": actions, "reversals_per_hour": reversals / max(hours, 1e-9) / max(len(self.names), 1),
                "blocked": int(sum(int(r.summary["total_blocked"]) for runs in results.values() for r in runs)),
                "requests": int(len(every)),
                "replica_hours": sum(counters[n]["replica_seconds"] for n in self.names) / 3600}


def _load_system(scenario: Scenario, drop_models: set[str] | None = None) -> System:
    """The fleet's documents (a directory, or one system-data.json), with only the scenario's
    servers and without the performance records of ``drop_models``."""
    if scenario.servers is None and not drop_models:
        return load(scenario.fleet)
    if scenario.fleet.is_dir():
        docs = [json.loads(path.read_text(encoding="utf-8")) for path in sorted(scenario.fleet.glob("*.json"))
                if path.name not in ("solution-data.json", "system-data.json")]
    else:
        try:
            members = json.loads(scenario.fleet.read_text(encoding="utf-8")).get("system")
        except (ValueError, AttributeError) as error:
            raise ScenarioError(f"fleet: {scenario.fleet} is not a system-data.json document ({error})") from None
        if not isinstance(members, dict):
            raise ScenarioError(f"fleet: {scenario.fleet} has no member 'system' (a system-data.json document)")
        docs = [d for d in members.values() if isinstance(d, dict)]
    out = []
    for doc in docs:
        if isinstance(doc.get("servers"), list) and scenario.servers is not None:
            known = [s.get("name") for s in doc["servers"]]
            for name in scenario.servers:
                if name not in known:
                    raise ScenarioError(f"servers: unknown server {name!r}; known: {', '.join(map(str, known))}")
            doc = {"servers": [s for s in doc["servers"] if s.get("name") in scenario.servers]}
        if isinstance(doc.get("models"), list) and drop_models:
            doc = {**doc, "models": [m for m in doc["models"] if m.get("name") not in drop_models]}
        out.append(doc)
    return System.from_documents(*out)


def _run_policy(scenario: Scenario, policy: str) -> PolicyRun:
    """One policy's closed loop (module level: a sweep runs it in a worker)."""
    return ClosedLoop(scenario).run(policy)


def compare(scenario: Scenario, policies: tuple[str, ...] | None = None, *, workers: int | None = 1,
            client: Any = None, progress: bool | None = False) -> Comparison:
    """Runs every policy of the scenario (or those given) and summarises them side by side. The runs
    are a sweep (:func:`inferno.experiments.sweep`): in this process by default, on ``workers``
    local processes, or on a Dask ``client``; the result does not depend on where they ran."""
    from functools import partial

    from ..experiments import sweep

    names = list(policies or scenario.policies)
    table = sweep(partial(_run_policy, scenario), {"policy": names}, workers=None if client is not None else workers,
                  client=client, progress=progress, desc="policies")
    if "error" in table and table.error.notna().any():
        failed = table[table.error.notna()]
        raise RuntimeError("closed loop: " + "; ".join(f"policy {p}: {e}" for p, e in zip(failed.policy, failed.error)))
    runs = dict(zip(table.policy, table.result))
    rows = [r.summary for r in runs.values()]
    classes = sorted({k for row in rows for k in row if k.startswith("attainment_")})
    summary = pd.DataFrame(rows, columns=[*SUMMARY_COLUMNS, *classes])
    return Comparison(runs, summary)
