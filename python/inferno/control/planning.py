"""Planning: the optimizer on the live state (docs/control.md, "Planning").

Each cycle the static system (the documents) gets the measured or forecast loads and the
allocations running now (``System.with_loads`` / ``with_current``), and the optimizer sizes every
server. The plan is a replica count per server on the accelerator and at the batch cap it runs
with; asked for moves, the planner also solves free to move servers and reports, per server it
would move, the variant and the saving, which the stabilizer weighs (docs/control.md, "The
stabilizer's rules", rule 4). A server the optimizer leaves without an allocation (no capacity
left for it, or no parameters) has no desired count: the stabilizer then holds it, never zeroes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .._lazy import pd

from .._text import excerpt as _excerpt
from ..optimizer import Solution, System

SOLVERS = ("auto", "greedy", "milp", "unlimited")


@dataclass(frozen=True)
class PlanningSettings:
    solver: str = "auto"
    slo_percentile: float = 0.0  # > 0: size for this percentile of TTFT and ITL (0: the documents' targets)
    moves: bool = True           # also plan free to move servers to another accelerator or batch cap

    def __post_init__(self) -> None:
        if self.solver not in SOLVERS:
            raise ValueError(f"planning.solver must be one of {', '.join(map(repr, SOLVERS))}, got {_excerpt(self.solver)}")
        if not isinstance(self.moves, bool):
            raise ValueError(f"planning.moves must be true or false, got {_excerpt(self.moves)}")
        p = self.slo_percentile
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p < 100:
            raise ValueError(f"planning.slo_percentile must be a number in [0, 100), got {_excerpt(p)}")


@dataclass(frozen=True)
class Move:
    """A variant the optimizer prefers to the one a server runs: what it would take there."""

    accelerator: str   # accelerator profile
    max_batch: int
    replicas: int
    saving: float      # 1 - cost there / cost here; 1.0 when the current variant cannot serve the load
    card_type: str = ""
    cards_per_replica: int = 1


@dataclass(frozen=True)
class Plan:
    desired: dict[str, int | None]   # replicas per server on its current variant (None: no allocation)
    solution: Solution
    moves: dict[str, Move] = field(default_factory=dict)  # only when asked for
    per_replica_rps: dict[str, float] = field(default_factory=dict)  # what one replica serves within the SLOs


class Planner:
    def __init__(self, system: System, settings: PlanningSettings | None = None, *,
                 percentile_applied: bool = False) -> None:
        self.settings = settings or PlanningSettings()
        self.system = system if percentile_applied else system.with_target_percentile(self.settings.slo_percentile)

    def set_capacity(self, card_type: str, count: int) -> None:
        """The inventory changed: from now on ``card_type`` has ``count`` cards (a shrink at peak,
        nodes added); the next plan fits within it, by priority."""
        if card_type not in self.system.capacity:
            raise ValueError(f"unknown card type {card_type!r}; the capacity has {', '.join(self.system.capacity)}")
        capacity = {**self.system.capacity, card_type: int(count)}
        self.system = self.system.with_capacity(capacity)

    def forget(self, server: str) -> None:
        """The server left the fleet: no load from now on, so it is given nothing."""
        self.system = self.system.with_loads({server: {"rate_rps": 0.0}})

    def plan(self, loads: dict[str, dict[str, float]], current: dict[str, dict[str, Any]], moves: bool = False) -> Plan:
        """``loads``: {server: {rate_rps, in_tokens, out_tokens}}; ``current``: {server:
        {accelerator, replicas, max_batch}} (the allocation running now, kept on its accelerator at
        its batch cap). With ``moves``, also the plan free to move servers, and for each server it
        would move, what it would take there and how much cheaper it would be."""
        loaded = self.system.with_loads(loads)
        system = loaded.with_current(current, keep_accelerator=True, keep_batch=True)
        solution = system.optimize(solver=self.settings.solver)
        kept = solution.allocation_rows()  # plain dicts: a frame costs more than the solve here
        desired: dict[str, int | None] = {}
        per_replica: dict[str, float] = {}
        for name in loads:
            row = kept.get(name)
            if row is None or not row["accelerator"]:
                desired[name] = None
                continue
            desired[name] = int(row["replicas"])
            if desired[name]:
                per_replica[name] = float(row["rate_per_replica_rps"])
        if not moves:
            return Plan(desired, solution, per_replica_rps=per_replica)
        free = loaded.with_current(current).optimize(solver=self.settings.solver).allocation_rows()
        found: dict[str, Move] = {}
        for name in loads:
            there = free.get(name)
            if there is None or not there["accelerator"] or int(there["replicas"]) < 1:
                continue
            now = current.get(name, {})
            if (there["accelerator"], int(there["batch"])) == (now.get("accelerator"), int(now.get("max_batch") or 0)):
                continue
            here_cost = float(kept[name]["cost"]) if desired[name] else 0.0
            saving = 1.0 if here_cost <= 0 else 1.0 - float(there["cost"]) / here_cost
            found[name] = Move(str(there["accelerator"]), int(there["batch"]), int(there["replicas"]), saving,
                               str(there["type"]), max(1, int(there["cards"]) // int(there["replicas"])))
        return Plan(desired, solution, found, per_replica)


def sizing_prior(model: str, architecture: str, accelerators: pd.DataFrame, gpus: dict[str, str],
                 in_tokens: float, out_tokens: float) -> list[dict[str, Any]]:
    """Performance records for a model nobody has measured: the roofline estimate of its
    ``architecture`` (a model of :func:`inferno.sizing.models`) on each single-card accelerator
    profile whose card type ``gpus`` maps to a GPU of the sizing catalog (docs/sizing.md). Profiles
    the model does not fit on are left out. The records are what the optimizer reads (``with_perf``)."""
    from .. import sizing
    records = []
    for profile, row in accelerators.iterrows():
        gpu = gpus.get(str(row["type"]))
        if gpu is None or int(row["multiplicity"]) != 1:
            continue
        est = sizing.derive(architecture, gpu, in_tokens=in_tokens, out_tokens=out_tokens)
        if not est.feasible or est.n_max < 1:
            continue
        # The optimizer scales maxBatchSize by atTokens / out_tokens: at_tokens = out_tokens keeps
        # the batch the roofline found memory for at this shape.
        records.append({"model": model, "accelerator": str(profile), "acc_count": 1, "max_batch_size": int(est.n_max),
                        "at_tokens": int(round(out_tokens)), "alpha_ms": est.alpha_ms, "beta_ms": est.beta_ms,
                        "gamma_ms": est.gamma_ms})
    return records
