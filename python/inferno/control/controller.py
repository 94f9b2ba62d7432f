"""The controller: one cycle at a time, sensor -> policy (prediction and planning) ->
stabilizer -> actuator, and one record per cycle (docs/control.md, "The cycle record")."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from .inventory import Inventory, Placement
from .policies import Policy, ServerInfo
from .snapshot import FleetSnapshot
from .stabilizer import Decision, Stabilizer, StabilizerSettings


class Sensor(Protocol):
    def collect(self, now_s: float) -> FleetSnapshot: ...


class Actuator(Protocol):
    def apply(self, now_s: float, targets: dict[str, int],
              moves: dict[str, tuple[str, int]] | None = None) -> dict[str, str]: ...


@dataclass
class CycleRecord:
    time_s: float
    snapshot: FleetSnapshot
    decisions: dict[str, Decision]
    failures: dict[str, str] = field(default_factory=dict)
    forecasts: dict[str, Any] = field(default_factory=dict)
    unserved_rps: dict[str, float] = field(default_factory=dict)  # planned load the targets cannot serve
    timings_ms: dict[str, float] = field(default_factory=dict)  # per stage: sensor, policy, stabilizer, actuator

    def rows(self) -> list[dict[str, Any]]:
        """One row per server: what was seen, wanted and done."""
        out = []
        for name, d in self.decisions.items():
            s = self.snapshot.servers[name]
            f = self.forecasts.get(name)
            out.append({"time_s": self.time_s, "server": name, "state": s.state, "offered_rps": s.offered_rps,
                        "throughput_rps": s.throughput_rps, "ttft_ms": s.ttft_ms, "itl_ms": s.itl_ms,
                        "waiting": s.waiting, "serving": s.replicas_serving, "starting": s.replicas_starting,
                        "forecast_rps": None if f is None else f.mean_rps,
                        "forecast_upper_rps": None if f is None else f.upper_rps,
                        "desired": d.desired, "target": d.target, "reason": d.reason, "hold": d.hold,
                        "move": None if d.move is None else f"{d.move[0]}, batch {d.move[1]}",
                        "unserved_rps": self.unserved_rps.get(name),
                        "actuation_error": self.failures.get(name)})
        return out


class Controller:
    def __init__(self, sensor: Sensor, policy: Policy, actuator: Actuator, servers: dict[str, ServerInfo],
                 stabilizer: StabilizerSettings | None = None, inventory: Inventory | None = None,
                 advisory: bool = False) -> None:
        """``advisory``: decisions are made and handed to the actuator (a log, a server-side dry
        run) but count as not applied: the next cycle starts from what the fleet really runs."""
        self.sensor = sensor
        self.policy = policy
        self.actuator = actuator
        self.servers = servers
        self.inventory = inventory
        self.advisory = advisory
        # A policy that brings its own stabilizer behaviour (hpa-queue: HPA's) keeps it.
        own = getattr(policy, "stabilizer_settings", None)
        self.stabilizer = Stabilizer(own or stabilizer) if policy.stabilized else None
        self._expected: dict[str, int] = {}      # the count last applied, per server
        self._disagreeing: dict[str, float] = {}  # since when the seen count has differed from it
        self._moving_until: dict[str, float] = {}  # a make-before-break move in progress, until then

    def cycle(self, now_s: float) -> CycleRecord:
        clock = [time.perf_counter()]

        def lap() -> float:
            clock.append(time.perf_counter())
            return 1000 * (clock[-1] - clock[-2])

        timings: dict[str, float] = {}
        snapshot = self.sensor.collect(now_s)
        timings["sensor"] = lap()
        want = self.policy.desire(snapshot, self.servers)
        timings["policy"] = lap()
        decisions: dict[str, Decision] = {}
        for name in self.servers:
            s = snapshot.servers[name]
            desired = want.desired.get(name)
            current = s.replicas_serving + s.replicas_starting
            expected = self._expected.get(name)
            if now_s < self._moving_until.get(name, -math.inf):
                decisions[name] = Decision(name, current, desired, current,
                                           f"hold: moving to {self.servers[name].accelerator}", hold=True)
                continue
            if self.stabilizer is not None and s.fresh and expected is not None and current != expected:
                since = self._disagreeing.setdefault(name, now_s)
                if now_s - since < self.stabilizer.settings.disagreement_hold_s:
                    decisions[name] = Decision(name, current, desired, current,
                                               f"hold: {current} replicas seen, {expected} expected", hold=True)
                    continue
                self._expected[name] = current  # it lasted: someone else set it, or it is real
            self._disagreeing.pop(name, None)
            if self.stabilizer is not None and s.fresh and s.offered_rps is None:
                decisions[name] = Decision(name, current, desired, current, "hold: demand metric missing", hold=True)
            elif self.stabilizer is not None:
                breach = want.breach.get(name, False)
                d = self.stabilizer.decide(now_s, name, serving=s.replicas_serving, starting=s.replicas_starting,
                                           desired=desired, fresh=s.fresh, breach=breach, offered_rps=s.offered_rps)
                move, why = (self.stabilizer.decide_move(now_s, name, want.moves.get(name), breach=breach,
                                                         busy=s.replicas_starting > 0) if s.fresh else (None, ""))
                if move is not None:
                    d = Decision(name, current, desired, move.replicas, why, move=(move.accelerator, move.max_batch))
                    if self.inventory is not None:
                        self.inventory.move(name, Placement(move.card_type, move.cards_per_replica,
                                                            self.inventory.placements[name].priority), current,
                                            now_s + self.servers[name].startup_delay_s + snapshot.window_s)
                elif why and not d.hold:
                    d = replace(d, reason=f"{d.reason}; {why}")
                decisions[name] = d
            elif desired is None:
                decisions[name] = Decision(name, current, None, current, "hold: no decision", hold=True)
            else:
                decisions[name] = Decision(name, current, desired, desired, "policy")
        if self.inventory is not None:  # never more cards than there are, even for one cycle
            self.inventory.release(now_s)
            fitted = self.inventory.fit(decisions)
            released = self._release_for_the_short(decisions, fitted)
            decisions = self.inventory.fit(released) if released is not decisions else fitted
        timings["stabilizer"] = lap()
        moves = {n: d.move for n, d in decisions.items() if d.move is not None}
        targets = {n: d.target for n, d in decisions.items() if d.target != d.current or n in moves}
        failures = self.actuator.apply(now_s, targets, moves)
        timings["actuator"] = lap()
        if self.advisory:
            if self.inventory is not None:
                for name in moves:
                    self.inventory.cancel_move(name)
            return CycleRecord(now_s, snapshot, decisions, failures, want.forecasts, self._unserved(want, decisions), timings)
        for name, target in targets.items():
            if name not in failures:
                self._expected[name] = target
        for name, (accelerator, max_batch) in moves.items():
            if name in failures:  # refused: it stays where it is, and so do its cards
                if self.inventory is not None:
                    self.inventory.cancel_move(name)
                continue
            info = self.servers[name]  # from now on the server runs there
            self.servers[name] = replace(info, accelerator=accelerator, max_batch=max_batch)
            self._moving_until[name] = now_s + info.startup_delay_s + snapshot.window_s
        return CycleRecord(now_s, snapshot, decisions, failures, want.forecasts, self._unserved(want, decisions), timings)

    def state(self) -> dict[str, Any]:
        """All the controller remembers between cycles, JSON-ready: the counts last applied, the
        holds and moves under way, the stabilizer's windows and the policy's predictors and
        tuners (the live controller persists it after every cycle)."""
        out: dict[str, Any] = {"expected": dict(self._expected), "disagreeing": dict(self._disagreeing),
                               "moving_until": dict(self._moving_until)}
        if self.stabilizer is not None:
            out["stabilizer"] = self.stabilizer.state()
        if hasattr(self.policy, "state"):
            out["policy"] = self.policy.state()
        return out

    def restore(self, state: dict[str, Any]) -> None:
        self._expected = {str(k): int(v) for k, v in state.get("expected", {}).items()}
        self._disagreeing = {str(k): float(v) for k, v in state.get("disagreeing", {}).items()}
        self._moving_until = {str(k): float(v) for k, v in state.get("moving_until", {}).items()}
        if self.stabilizer is not None and "stabilizer" in state:
            self.stabilizer.restore(state["stabilizer"])
        if hasattr(self.policy, "restore") and "policy" in state:
            self.policy.restore(state["policy"])

    def _release_for_the_short(self, decisions: dict[str, Decision], fitted: dict[str, Decision]) -> dict[str, Decision]:
        """When the inventory cut a server's target, the replicas that others keep above their plan
        (a scale-down window, the tolerance) are what it is short of: they go now, to what the
        plan wants, so that the cut server gets the cards. Without a cut: the decisions as they are."""
        assert self.inventory is not None
        placements = self.inventory.placements
        short = {placements[n].card_type for n, d in fitted.items() if d.target < decisions[n].target}
        if not short:
            return decisions
        out = dict(decisions)
        for name, d in decisions.items():
            if (placements[name].card_type in short and not d.hold and d.move is None and d.desired is not None
                    and d.desired < d.target and fitted[name].target >= d.target):
                out[name] = replace(d, target=max(d.desired, 1),
                                    reason=f"scale down now: {placements[name].card_type} is short for others")
        return out

    @staticmethod
    def _unserved(want: Any, decisions: dict[str, Decision]) -> dict[str, float]:
        """Per server the policy planned a rate for: the part of it that its target cannot serve
        within the SLOs (no allocation: all of it). Never a reason to stop: it is reported."""
        out: dict[str, float] = {}
        for name, rate in want.planned_rps.items():
            d = decisions.get(name)
            if d is None or d.move is not None:
                continue
            per_replica = want.per_replica_rps.get(name)
            served = d.target * per_replica if per_replica is not None else 0.0
            out[name] = max(0.0, rate - served)
        return out
