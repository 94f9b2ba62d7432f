"""Autoscaling policies, all run by the same controller (docs/control.md, "Policies").

A policy turns a snapshot into a desired replica count per server; the controller then passes it
through the stabilizer when the policy uses one, and to the actuator.

- ``inferno``: prediction (Holt by default) of each server's offered rate over the horizon
  (period + start-up delay), planning with the optimizer at the forecast's upper quantile plus
  the rate that clears the requests already waiting within the horizon, the stabilizer.
- ``reference``: the llm-inferno loop's semantics: the last measured *throughput* taken as the
  load, the optimizer, no stabilizer, and a server missing from the solution scaled to zero.
- ``hpa-queue``: HPA on vLLM's waiting requests (the production stack's KEDA default): desired =
  ceil(replicas x waiting per replica / target), with HPA's behaviour (10 % tolerance, scale-up
  by max(100 %, 4 pods), a 300 s scale-down window), whatever the scenario's stabilizer settings.
- ``saturation``: WVA's V1 rules, +1 replica when a replica's queue exceeds 5 requests or its
  KV cache 80 %, -1 when the load would fit on one replica fewer below those marks; one step a
  cycle. A simulated server with an unlimited KV cache reports its batch fill instead.
- ``static-peak``: the optimizer once, at each server's peak rate and true mean request shape,
  never changed.
- ``oracle``: the optimizer each cycle at the true peak rate of the coming horizon and the true
  mean request shape (it knows the future arrivals), plus the backlog, no stabilizer: what
  perfect foresight costs with the same model of a server.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from .planning import Move, Plan, Planner
from .prediction import Forecast, PredictionSettings, Predictor
from .snapshot import FleetSnapshot, ServerSnapshot
from .stabilizer import StabilizerSettings
from .tuning import Tuning

POLICIES = ("inferno", "reference", "hpa-queue", "saturation", "static-peak", "oracle")


@dataclass
class ServerInfo:
    """What a policy knows of a server besides the snapshot: where it runs and its documents."""

    accelerator: str
    max_batch: int
    in_tokens: float
    out_tokens: float
    ttft_slo_ms: float
    itl_slo_ms: float
    startup_delay_s: float


@dataclass
class Desire:
    desired: dict[str, int | None]
    forecasts: dict[str, Forecast] = field(default_factory=dict)
    breach: dict[str, bool] = field(default_factory=dict)
    moves: dict[str, Move] = field(default_factory=dict)  # variants the plan prefers (inferno only)
    # The rate planned for and what one replica serves within the SLOs (inferno only): what a
    # target leaves unserved when capacity is short (docs/control.md, "The cycle record").
    planned_rps: dict[str, float] = field(default_factory=dict)
    per_replica_rps: dict[str, float] = field(default_factory=dict)


class Policy(Protocol):
    name: str
    stabilized: bool

    def desire(self, snapshot: FleetSnapshot, servers: dict[str, ServerInfo]) -> Desire: ...


def _current(s: ServerSnapshot) -> int:
    return s.replicas_serving + s.replicas_starting


def _breach(s: ServerSnapshot, info: ServerInfo) -> bool:
    return bool((info.ttft_slo_ms > 0 and s.ttft_ms is not None and s.ttft_ms > info.ttft_slo_ms) or
                (info.itl_slo_ms > 0 and s.itl_ms is not None and s.itl_ms > info.itl_slo_ms))


def _planned(planner: Planner, rates: dict[str, float], snapshot: FleetSnapshot, servers: dict[str, ServerInfo],
             tokens: dict[str, tuple[float, float]] | None = None) -> dict[str, int | None]:
    """The optimizer's replicas at these rates, with each server's request shape: ``tokens`` when
    given, else the window's means, else the documents'."""
    return _plan(planner, rates, snapshot, servers, tokens).desired


def _plan(planner: Planner, rates: dict[str, float], snapshot: FleetSnapshot, servers: dict[str, ServerInfo],
          tokens: dict[str, tuple[float, float]] | None = None, moves: bool = False) -> Plan:
    loads, current = {}, {}
    for name, info in servers.items():
        s = snapshot.servers[name]
        if tokens is not None and name in tokens:
            n, m = tokens[name]
        else:
            n = s.in_tokens if s.in_tokens is not None else info.in_tokens
            m = s.out_tokens if s.out_tokens is not None else info.out_tokens
        loads[name] = {"rate_rps": max(0.0, rates[name]), "in_tokens": n, "out_tokens": m}
        current[name] = {"accelerator": info.accelerator, "replicas": _current(s), "max_batch": info.max_batch}
    return planner.plan(loads, current, moves=moves)


class InfernoPolicy:
    name = "inferno"
    stabilized = True

    def __init__(self, planner: Planner, prediction: PredictionSettings | None = None,
                 shape_smoothing: float = 0.2, tuning: Tuning | None = None) -> None:
        self.planner = planner
        self.prediction = prediction or PredictionSettings()
        self.shape_smoothing = shape_smoothing
        self.tuning = tuning
        self._predictors: dict[str, Predictor] = {}
        self._tokens: dict[str, tuple[float, float]] = {}

    def _shape(self, name: str, s: ServerSnapshot, info: ServerInfo) -> tuple[float, float]:
        """The request shape, smoothed over cycles: it changes slowly, while one window's mean
        prompt length swings with a few long requests."""
        n0, m0 = self._tokens.get(name, (info.in_tokens, info.out_tokens))
        a = self.shape_smoothing
        n = n0 if s.in_tokens is None else n0 + a * (s.in_tokens - n0)
        m = m0 if s.out_tokens is None else m0 + a * (s.out_tokens - m0)
        self._tokens[name] = (n, m)
        return n, m

    def state(self) -> dict[str, Any]:
        """Each server's predictor and request shape, and the tuners' estimates, JSON-ready (the
        live controller persists them). A restored tuner starts again from its estimate."""
        out: dict[str, Any] = {"predictors": {n: p.state() for n, p in self._predictors.items()},
                               "tokens": {n: list(t) for n, t in self._tokens.items()}}
        if self.tuning is not None:
            out["tuners"] = [{"model": r["model"], "accelerator": r["accelerator"],
                              "init": [r["alpha_ms"], r["beta_ms"], r["gamma_ms"]]} for r in self.tuning.estimates()]
        return out

    def restore(self, state: dict[str, Any]) -> None:
        for name, st in state.get("predictors", {}).items():
            self._predictors.setdefault(name, Predictor(self.prediction)).restore(st)
        self._tokens = {n: (float(t[0]), float(t[1])) for n, t in state.get("tokens", {}).items()}
        if self.tuning is not None:
            for t in state.get("tuners", []):
                self.tuning.starts[(t["model"], t["accelerator"])] = [float(v) for v in t["init"]]

    def desire(self, snapshot: FleetSnapshot, servers: dict[str, ServerInfo]) -> Desire:
        forecasts: dict[str, Forecast] = {}
        rates: dict[str, float] = {}
        backlogs: dict[str, float] = {}
        fresh = {n for n, s in snapshot.servers.items() if s.fresh and s.offered_rps is not None}
        for name, info in servers.items():
            p = self._predictors.setdefault(name, Predictor(self.prediction))
            s = snapshot.servers[name]
            if name in fresh:
                assert s.offered_rps is not None
                p.observe(s.offered_rps, snapshot.window_s, end_s=snapshot.time_s)
            horizon_s = snapshot.window_s + info.startup_delay_s
            forecasts[name] = p.forecast(horizon_s)
            # Requests already waiting must be served too: their backlog, cleared within the horizon,
            # unless replicas are starting: they are the supply that will clear it (no cascade).
            backlogs[name] = (s.waiting or 0.0) / horizon_s if name in fresh and s.replicas_starting == 0 else 0.0
            rates[name] = forecasts[name].upper_rps + backlogs[name]
        tokens = {n: self._shape(n, snapshot.servers[n], i) for n, i in servers.items() if n in fresh}
        planner = self.planner
        if self.tuning is not None:  # the tuned parameters replace the documents' where they exist
            for name, info in servers.items():
                if name in self.tuning.variants:
                    self.tuning.follow(name, info.accelerator, info.max_batch)
            self.tuning.observe(snapshot)
            records = self.tuning.records()
            if records:
                planner = Planner(self.planner.system.with_perf(records), self.planner.settings, percentile_applied=True)
        plan = _plan(planner, rates, snapshot, servers, tokens, moves=planner.settings.moves) if fresh else None
        moves = {n: m for n, m in plan.moves.items() if n in fresh} if plan is not None else {}
        if plan is not None and _short(plan, rates, fresh):
            # Capacity is short: the forecast's headroom is the first thing to give up. Sized for
            # the mean forecast, the higher priorities no longer take what the lower ones need
            # for their mean (docs/control.md, "Planning").
            rates = {n: forecasts[n].mean_rps + backlogs[n] for n in servers}
            plan = _plan(planner, rates, snapshot, servers, tokens)
        desired = {n: (plan.desired.get(n) if plan is not None and n in fresh else None) for n in servers}
        breach = {n: _breach(snapshot.servers[n], i) for n, i in servers.items()}
        planned = {n: rates[n] for n in servers if n in fresh}
        return Desire(desired, forecasts, breach, moves, planned, dict(plan.per_replica_rps) if plan is not None else {})


def _short(plan: Plan, rates: dict[str, float], fresh: set[str]) -> bool:
    """Whether the plan leaves a fresh server without an allocation, or with fewer replicas than
    its rate needs within the SLOs (a best-effort allocation under short capacity)."""
    for name in fresh:
        if name not in plan.desired:
            continue
        replicas, per_replica = plan.desired[name], plan.per_replica_rps.get(name)
        if replicas is None or (per_replica is not None and replicas * per_replica < rates[name] * (1 - 1e-9)):
            return True
    return False


class ReferencePolicy:
    name = "reference"
    stabilized = False

    def __init__(self, planner: Planner) -> None:
        self.planner = planner

    def desire(self, snapshot: FleetSnapshot, servers: dict[str, ServerInfo]) -> Desire:
        if not all(s.fresh for s in snapshot.servers.values()):
            return Desire({n: None for n in servers})  # its collector fails the cycle: nothing changes
        rates = {n: snapshot.servers[n].throughput_rps or 0.0 for n in servers}  # ArrivalRate := Throughput
        desired = _planned(self.planner, rates, snapshot, servers)
        return Desire({n: (0 if d is None else d) for n, d in desired.items()})  # missing: scaled to zero


class HpaQueuePolicy:
    name = "hpa-queue"
    stabilized = True
    stabilizer_settings = StabilizerSettings(scale_down_window_s=300.0)  # HPA's behaviour, whatever the scenario's

    def __init__(self, target_waiting_per_replica: float = 5.0, max_replicas: int = 1000) -> None:
        self.target = target_waiting_per_replica
        self.max_replicas = max_replicas

    def desire(self, snapshot: FleetSnapshot, servers: dict[str, ServerInfo]) -> Desire:
        desired: dict[str, int | None] = {}
        for name in servers:
            s = snapshot.servers[name]
            if not s.fresh or s.waiting is None:
                desired[name] = None
                continue
            n = max(1, s.replicas_serving)
            desired[name] = min(self.max_replicas, max(1, math.ceil(n * (s.waiting / n) / self.target)))
        return Desire(desired)


class SaturationPolicy:
    name = "saturation"
    stabilized = False

    def __init__(self, kv_threshold: float = 0.8, queue_threshold: float = 5.0) -> None:
        self.kv = kv_threshold
        self.queue = queue_threshold

    def desire(self, snapshot: FleetSnapshot, servers: dict[str, ServerInfo]) -> Desire:
        desired: dict[str, int | None] = {}
        for name, info in servers.items():
            s = snapshot.servers[name]
            if not s.fresh or s.waiting is None or s.running is None:
                desired[name] = None  # WVA keeps the last decision when metrics fail
                continue
            n = max(1, s.replicas_serving)
            usage = s.kv_cache_usage if s.kv_cache_usage else s.running / (n * info.max_batch)
            if s.replicas_starting > 0:
                desired[name] = _current(s)  # WVA skips scale-up while pods are pending
            elif usage > self.kv or s.waiting / n > self.queue:
                desired[name] = _current(s) + 1
            elif n > 1 and s.waiting / (n - 1) <= self.queue and usage * n / (n - 1) <= self.kv:
                desired[name] = _current(s) - 1
            else:
                desired[name] = _current(s)
        return Desire(desired)


class StaticPeakPolicy:
    name = "static-peak"
    stabilized = False

    def __init__(self, planner: Planner, peak_rps: dict[str, float], tokens: dict[str, tuple[float, float]]) -> None:
        self.planner = planner
        self.peak_rps = peak_rps
        self.tokens = tokens
        self._fixed: dict[str, int | None] | None = None

    def desire(self, snapshot: FleetSnapshot, servers: dict[str, ServerInfo]) -> Desire:
        if self._fixed is None or any(n not in self._fixed for n in servers):  # planned again when one joins
            self._fixed = _planned(self.planner, {n: self.peak_rps[n] for n in servers}, snapshot, servers, self.tokens)
        return Desire({n: self._fixed.get(n) for n in servers})


class OraclePolicy:
    name = "oracle"
    stabilized = False

    def __init__(self, planner: Planner, peak_ahead: Callable[[str, float, float], float],
                 tokens: dict[str, tuple[float, float]]) -> None:
        """``peak_ahead(server, from_s, to_s)``: the true peak rate (req/s) in that interval;
        ``tokens``: each server's true mean request shape."""
        self.planner = planner
        self.peak_ahead = peak_ahead
        self.tokens = tokens

    def desire(self, snapshot: FleetSnapshot, servers: dict[str, ServerInfo]) -> Desire:
        t = snapshot.time_s
        rates = {}
        for n, i in servers.items():
            horizon_s = snapshot.window_s + i.startup_delay_s
            waiting = snapshot.servers[n].waiting or 0.0  # the backlog too, as inferno plans it
            rates[n] = self.peak_ahead(n, t, t + horizon_s) + waiting / horizon_s
        return Desire(_planned(self.planner, rates, snapshot, servers, self.tokens))


def make_policy(name: str, **context: Any) -> Policy:
    """A policy by name, given what it needs: ``planner``, ``prediction``, ``peak_rps``,
    ``peak_ahead`` and ``tokens`` (the closed-loop simulator provides them)."""
    if name == "inferno":
        return InfernoPolicy(context["planner"], context.get("prediction"), tuning=context.get("tuning"))
    if name == "reference":
        return ReferencePolicy(context["planner"])
    if name == "hpa-queue":
        return HpaQueuePolicy()
    if name == "saturation":
        return SaturationPolicy()
    if name == "static-peak":
        return StaticPeakPolicy(context["planner"], context["peak_rps"], context["tokens"])
    if name == "oracle":
        return OraclePolicy(context["planner"], context["peak_ahead"], context["tokens"])
    raise ValueError(f"unknown policy {name!r}; allowed: {', '.join(POLICIES)}")
