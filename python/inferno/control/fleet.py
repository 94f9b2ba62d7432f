"""The simulated fleet and its sensor and actuator: the backends the closed-loop simulator plugs
into the same controller that runs live (docs/control.md, "Closed-loop simulation").

Each server is one :class:`inferno.sim.Simulator` (a server's replicas share its requests;
servers share nothing), started with the queue configuration its first plan chose and the true
parameters of the scenario, which may differ from the documents' so that the tuner has work. A
move to another accelerator or batch cap adds a second simulator for the new variant, which takes
the requests from the hand-over on, while the first finishes what it holds (make-before-break).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

from .._lazy import np, pd

from ..queue import QueueModel
from ..sim import Simulation, Simulator
from .snapshot import FRESH, UNAVAILABLE, FleetSnapshot, ServerSnapshot


@dataclass(frozen=True)
class ServerSetup:
    """One simulated server: its true queue model, where it runs, what it costs and its load."""

    name: str
    model: QueueModel              # the truth: the planned N and Q with the scenario's parameters
    accelerator: str               # the accelerator profile (e.g. 2xG2)
    price_per_replica_hour: float  # the profile's cost x profiles per replica (as the optimizer counts)
    replicas: int                  # at the start
    trace: pd.DataFrame            # time_s, in_tokens, out_tokens: the arrivals


@dataclass
class _Generation:
    """One variant of a server: its simulator and what it runs on. A move to another accelerator or
    batch cap starts a new generation; the old one serves until the new one is ready, then drains."""

    sim: Simulator
    setup: ServerSetup


_SUMMED = ("arrivals", "request_success", "blocked", "prompt_tokens", "generation_tokens", "ttft_sum_s", "itl_sum_s",
           "e2e_sum_s", "ttft_count", "itl_count", "running_seconds", "waiting_seconds", "replica_seconds", "running",
           "waiting", "replicas_serving", "replicas_starting", "replicas_draining")


class SimulatedFleet:
    """The servers of a scenario, stepped together."""

    def __init__(self, setups: dict[str, ServerSetup], duration_s: float, seed: int) -> None:
        self.setups = setups
        self.duration_s = float(duration_s)
        self.seed = seed
        self._index = {name: i for i, name in enumerate(setups)}
        self._gens = {name: [_Generation(self._simulator(s, s.trace, s.replicas, seed + i), s)]
                      for i, (name, s) in enumerate(setups.items())}
        self._handovers: list[tuple[float, str, _Generation]] = []  # (when, server, the generation that drains)
        # The sensor, the actuator and the cost column read the counters in the same cycle: one
        # read of every simulator serves them all until the fleet advances or changes.
        self._counters: dict[str, dict[str, float]] | None = None

    def _simulator(self, setup: ServerSetup, trace: pd.DataFrame, replicas: int, seed: int) -> Simulator:
        return Simulator(setup.model, trace=trace, duration_s=self.duration_s, warmup_s=0.0, seed=seed,
                         replicas=replicas, router="jsq", sample_interval_s=0.0)

    @property
    def now_s(self) -> float:
        return next(iter(self._gens.values()))[-1].sim.now_s if self._gens else 0.0

    def _all(self) -> list[Simulator]:
        return [g.sim for gens in self._gens.values() for g in gens]

    def advance_to(self, time_s: float) -> None:
        self._counters = None
        while self._handovers and self._handovers[0][0] <= time_s:
            at_s, _, old = self._handovers.pop(0)
            for sim in self._all():
                sim.advance_to(max(sim.now_s, at_s))
            old.sim.scale_to(0, 0.0)  # the new generation serves from now: the old one drains
        for sim in self._all():
            sim.advance_to(time_s)

    def counters(self) -> dict[str, dict[str, float]]:
        """Per server, its generations' counters added up (a server's metrics cover all its pods),
        and its cost so far (``cost``: each generation's replica-seconds at its price). The same
        dicts until the fleet advances or changes: callers must not modify them."""
        if self._counters is not None:
            return self._counters
        out: dict[str, dict[str, float]] = {}
        for name, gens in self._gens.items():
            parts = [g.sim.counters() for g in gens]
            c = dict(parts[-1]) if len(parts) == 1 else {**parts[-1], **{k: sum(p[k] for p in parts) for k in _SUMMED}}
            if len(parts) > 1:  # the KV gauge: the mean over the replicas that hold a cache
                holders = [p["replicas_serving"] + p["replicas_draining"] for p in parts]
                c["kv_cache_usage"] = (sum(p["kv_cache_usage"] * h for p, h in zip(parts, holders)) / sum(holders)
                                       if sum(holders) else 0.0)
            c["cost"] = sum(p["replica_seconds"] * g.setup.price_per_replica_hour / 3600 for p, g in zip(parts, gens))
            out[name] = c
        self._counters = out
        return out

    def scale(self, server: str, replicas: int, startup_delay_s: float) -> None:
        self._counters = None
        self._gens[server][-1].sim.scale_to(int(replicas), float(startup_delay_s))

    def variant(self, server: str) -> tuple[str, int]:
        """The accelerator profile and batch cap the server's newest generation runs."""
        setup = self._gens[server][-1].setup
        return setup.accelerator, int(setup.model.max_batch)

    def moving(self, server: str) -> bool:
        return any(name == server for _, name, _ in self._handovers)

    def move(self, server: str, setup: ServerSetup, replicas: int, startup_delay_s: float) -> None:
        """Make-before-break: ``replicas`` of the new variant start now and serve the requests
        arriving from when they are ready; the current ones serve until then, then drain."""
        self._counters = None
        now = self.now_s
        at_s = now + float(startup_delay_s)
        gens = self._gens[server]
        old = gens[-1]
        old.sim.stop_arrivals_at(at_s)
        trace = setup.trace[setup.trace.time_s >= at_s].reset_index(drop=True)
        sim = self._simulator(setup, trace, 0, self.seed + self._index[server] + 7919 * len(gens))
        sim.advance_to(now)
        sim.scale_to(int(replicas), float(startup_delay_s))
        gens.append(_Generation(sim, setup))
        self._handovers.append((at_s, server, old))
        self._handovers.sort(key=lambda h: h[0])

    def finish(self) -> dict[str, list[Simulation]]:
        """Each server's runs, one per generation, oldest first."""
        return {name: [g.sim.finish() for g in gens] for name, gens in self._gens.items()}


class SimulatedSensor:
    """Window aggregates from the simulators' counters, as the Prometheus sensor computes them
    from vLLM's counters: differences over the window, divided by its length or by the matching
    count. Offered load is the arrivals counter (the gateway-arrivals option of the live sensor).
    During an outage every server is unavailable."""

    def __init__(self, fleet: SimulatedFleet, outages: list[tuple[float, float]] | None = None,
                 faults: list[tuple[str, float, float, tuple[str, ...] | None]] | None = None) -> None:
        """``faults``: (kind, start_s, end_s, servers or None for all) with kind ``stale_pods`` (the
        series of deleted pods still appear: the replicas reported are the most seen since the
        fault began) or ``missing_demand`` (the arrivals counter cannot be read: no offered rate)."""
        self.fleet = fleet
        self.outages = list(outages or [])
        self.faults = list(faults or [])
        self._previous: dict[str, dict[str, float]] | None = None
        self._last_read_s: float | None = None
        self._most_seen: dict[str, int] = {}

    def _out(self, now_s: float) -> bool:
        return any(start <= now_s < end for start, end in self.outages)

    def collect(self, now_s: float) -> FleetSnapshot:
        now = self.fleet.counters()
        window = now_s - (self._last_read_s if self._last_read_s is not None else 0.0)
        if self._out(now_s):  # nothing read: the previous counters stay the base of the next window
            return FleetSnapshot(now_s, window, {
                name: ServerSnapshot(name, UNAVAILABLE, now_s - (self._last_read_s or 0.0), None, None, None, None,
                                     None, None, None, None, None, int(c["replicas_serving"]),
                                     int(c["replicas_starting"])) for name, c in now.items()})
        base = self._previous or {name: _zero_counters() for name in now}
        servers = {name: self._faulty(now_s, _aggregate(name, base[name], c, window)) for name, c in now.items()}
        self._previous, self._last_read_s = now, now_s
        return FleetSnapshot(now_s, window, servers)

    def _active(self, kind: str, now_s: float, server: str) -> bool:
        return any(k == kind and start <= now_s < end and (names is None or server in names)
                   for k, start, end, names in self.faults)

    def _faulty(self, now_s: float, s: ServerSnapshot) -> ServerSnapshot:
        if self._active("stale_pods", now_s, s.name):
            most = self._most_seen[s.name] = max(self._most_seen.get(s.name, 0), s.replicas_serving)
            s = replace(s, replicas_serving=most)
        else:
            self._most_seen.pop(s.name, None)
        if self._active("missing_demand", now_s, s.name):
            s = replace(s, offered_rps=None)
        return s


def _zero_counters() -> dict[str, float]:
    return {k: 0.0 for k in ("arrivals", "request_success", "prompt_tokens", "generation_tokens", "ttft_sum_s",
                             "ttft_count", "itl_sum_s", "itl_count", "running_seconds", "waiting_seconds")}


def _ratio(num: float, den: float) -> float | None:
    return num / den if den > 0 else None


def _aggregate(name: str, a: dict[str, float], b: dict[str, float], window_s: float) -> ServerSnapshot:
    d = {k: b[k] - a[k] for k in a}
    ttft = _ratio(d["ttft_sum_s"], d["ttft_count"])
    itl = _ratio(d["itl_sum_s"], d["itl_count"])
    return ServerSnapshot(
        name=name, state=FRESH, age_s=0.0,
        offered_rps=d["arrivals"] / window_s if window_s > 0 else None,
        throughput_rps=d["request_success"] / window_s if window_s > 0 else None,
        in_tokens=_ratio(d["prompt_tokens"], d["ttft_count"]),
        out_tokens=_ratio(d["generation_tokens"], d["request_success"]),
        ttft_ms=None if ttft is None else 1000 * ttft, itl_ms=None if itl is None else 1000 * itl,
        running=_ratio(d["running_seconds"], window_s), waiting=_ratio(d["waiting_seconds"], window_s),
        kv_cache_usage=float(b["kv_cache_usage"]),
        replicas_serving=int(b["replicas_serving"]), replicas_starting=int(b["replicas_starting"]))


class SimulatedActuator:
    """Applies targets to the simulated fleet with each server's start-up delay. Scheduled
    failures (``errors``: (start_s, end_s, servers or None for all)) refuse the change, as an API
    error would; the failure is reported per server and the others go on."""

    def __init__(self, fleet: SimulatedFleet, startup_delay_s: dict[str, float],
                 errors: list[tuple[float, float, list[str] | None]] | None = None,
                 variant: Callable[[str, str, int], ServerSetup] | None = None) -> None:
        """``variant(server, accelerator, max_batch)``: the server's setup on another variant
        (its true model and price there), for moves."""
        self.fleet = fleet
        self.startup_delay_s = startup_delay_s
        self.errors = list(errors or [])
        self.variant = variant

    def apply(self, now_s: float, targets: dict[str, int], moves: dict[str, tuple[str, int]] | None = None) -> dict[str, str]:
        """Sets each server's replicas, on the variant of ``moves`` ({server: (accelerator,
        max_batch)}) for those that move; returns {server: error} for the changes that failed."""
        failed: dict[str, str] = {}
        counters = self.fleet.counters()
        moves = moves or {}
        for server, target in targets.items():
            c = counters[server]
            move = moves.get(server)
            if move is not None and move == self.fleet.variant(server):
                move = None  # already there: idempotent
            if move is None and int(c["replicas_serving"]) + int(c["replicas_starting"]) == target:
                continue  # idempotent: the same change is never applied twice
            if any(start <= now_s < end and (names is None or server in names) for start, end, names in self.errors):
                failed[server] = "actuator error (simulated)"
                continue
            startup = self.startup_delay_s.get(server, 0.0)
            if move is None:
                self.fleet.scale(server, target, startup)
            elif self.variant is None or self.fleet.moving(server):
                failed[server] = "cannot move: " + ("a move is in progress" if self.variant else "no variants known")
            else:
                self.fleet.move(server, self.variant(server, *move), target, startup)
        return failed


def price_of(accelerators: pd.DataFrame, perf: pd.DataFrame, model: str, accelerator: str) -> float:
    """Cost per replica-hour of a model on an accelerator profile, as the optimizer counts it: the
    profile's cost (all its cards: 2xG2 costs two G2) times the profiles one replica takes
    (the record's acc_count)."""
    record = perf[(perf.model == model) & (perf.accelerator == accelerator)]
    count = int(record.acc_count.iloc[0]) if len(record) else 1
    return float(accelerators.loc[accelerator, "cost_per_hour"]) * count


def request_outcomes(sim: Simulation, ttft_slo_ms: float, itl_slo_ms: float, from_s: float = 0.0) -> pd.DataFrame:
    """Per request of a finished run (arrived at or after ``from_s``): TTFT, ITL (its mean decode
    interval after the first token) and whether it met both targets (0 = none); a request turned
    away or unfinished met nothing."""
    r = sim.requests
    r = r[r.arrival_ms >= 1000 * from_s]
    out = r.out_tokens.to_numpy(dtype=float)
    itl = np.where(out > 1, (r.finish_ms - r.first_token_ms).to_numpy() / np.maximum(out - 1, 1), 0.0)
    ttft = r.ttft_ms.to_numpy()
    done = ~r.blocked.to_numpy() & np.isfinite(r.finish_ms.to_numpy())
    ok = done.copy()
    if ttft_slo_ms > 0:
        ok &= np.nan_to_num(ttft, nan=math.inf) <= ttft_slo_ms
    if itl_slo_ms > 0:
        ok &= np.nan_to_num(itl, nan=math.inf) <= itl_slo_ms
    return pd.DataFrame({"arrival_s": r.arrival_ms.to_numpy() / 1000, "ttft_ms": ttft, "itl_ms": itl,
                         "done": done, "met": ok})
