"""Stabilization: turns each server's desired replica count into a safe target
(docs/control.md, "Stabilizer"). The rules, per server, in this order:

1. Scale-up takes effect at once, by at most max(``max_step_up_fraction`` x current,
   ``max_step_up_replicas``) per cycle. Replicas still starting count as supply, so a deficit
   they already cover orders nothing more (no cascade).
2. Scale-down only after the desired count has stayed below the current one for
   ``scale_down_window_s`` (600 s), to the highest desired count seen in that window, by at most
   ``max_step_down_fraction`` of the current replicas per cycle, and never while a replica is
   starting.
3. A change smaller than ``tolerance`` x current (at least one replica) is ignored, unless the
   server's SLO is breached and the change is up.

And never: scale a server to zero because it is missing from a plan, failed to sense or has no
parameters (zero only with ``idle_window_s`` > 0, after that long without load); act on stale or
missing metrics (the server is held, with the reason).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from .._text import excerpt as _excerpt
from .planning import Move


@dataclass(frozen=True)
class StabilizerSettings:
    max_step_up_fraction: float = 1.0
    max_step_up_replicas: int = 4
    scale_down_window_s: float = 600.0  # HPA's is 300 s; 600 s halves the reversals on noisy load
    max_step_down_fraction: float = 0.5
    tolerance: float = 0.1
    idle_window_s: float = 0.0  # 0: never scale to zero
    # Replicas seen that disagree with the count last applied (pods not yet gone from the list,
    # a scale by someone else) hold the server. Past this, twice Prometheus's 5-minute staleness,
    # the disagreement is real and the seen count is adopted.
    disagreement_hold_s: float = 600.0
    # Rule 4: a move to another accelerator or batch cap only when the plan there is cheaper by
    # switch_saving for switch_window_s (at once when the current variant cannot serve the load).
    switch_saving: float = 0.10
    switch_window_s: float = 600.0

    def __post_init__(self) -> None:
        for name, low, high in (("max_step_up_fraction", 0.0, 100.0), ("scale_down_window_s", 0.0, 86400.0 * 7),
                                ("max_step_down_fraction", 0.0, 1.0), ("tolerance", 0.0, 1.0),
                                ("idle_window_s", 0.0, 86400.0 * 7), ("disagreement_hold_s", 0.0, 86400.0 * 7),
                                ("switch_saving", 0.0, 1.0), ("switch_window_s", 0.0, 86400.0 * 7)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
                raise ValueError(f"stabilizer.{name} must be a number in [{low:g}, {high:g}], got {_excerpt(value)}")
        if isinstance(self.max_step_up_replicas, bool) or not isinstance(self.max_step_up_replicas, int) or \
                not 1 <= self.max_step_up_replicas <= 10000:
            raise ValueError(f"stabilizer.max_step_up_replicas must be an integer in [1, 10000], got "
                             f"{_excerpt(self.max_step_up_replicas)}")


@dataclass(frozen=True)
class Decision:
    """What the stabilizer made of one server's desired count this cycle."""

    server: str
    current: int            # serving + starting replicas
    desired: int | None     # from planning (None: no plan for it)
    target: int             # what the actuator is asked for
    reason: str             # which rule decided
    hold: bool = False      # kept as is for a reason that is not a rule (stale metrics, no plan)
    move: tuple[str, int] | None = None  # (accelerator profile, batch cap) to move to, make-before-break


@dataclass
class _ServerState:
    below_since_s: float | None = None
    below: deque = field(default_factory=deque)  # (time_s, desired) while desired < current
    idle_since_s: float | None = None
    move_to: tuple[str, int] | None = None  # the variant a move has been proposed to, and since when
    move_since_s: float = 0.0


class Stabilizer:
    """Per-server rules with memory (the scale-down window); one instance per controller."""

    def __init__(self, settings: StabilizerSettings | None = None) -> None:
        self.settings = settings or StabilizerSettings()
        self._state: dict[str, _ServerState] = {}

    def state(self) -> dict[str, Any]:
        """The rules' memory per server, as JSON-ready values (the live controller persists it)."""
        return {name: {"below_since_s": st.below_since_s, "below": [list(b) for b in st.below],
                       "idle_since_s": st.idle_since_s, "move_to": None if st.move_to is None else list(st.move_to),
                       "move_since_s": st.move_since_s} for name, st in self._state.items()}

    def restore(self, state: dict[str, Any]) -> None:
        self._state = {name: _ServerState(below_since_s=st["below_since_s"],
                                          below=deque((float(t), int(d)) for t, d in st["below"]),
                                          idle_since_s=st["idle_since_s"],
                                          move_to=None if st["move_to"] is None else (str(st["move_to"][0]), int(st["move_to"][1])),
                                          move_since_s=float(st["move_since_s"])) for name, st in state.items()}

    def decide(self, now_s: float, server: str, *, serving: int, starting: int, desired: int | None,
               fresh: bool = True, breach: bool = False, offered_rps: float | None = None) -> Decision:
        s = self.settings
        st = self._state.setdefault(server, _ServerState())
        current = serving + starting
        if not fresh:
            st.below_since_s, st.below = None, deque()
            return Decision(server, current, desired, current, "hold: metrics stale or missing", hold=True)
        if desired is None:
            return Decision(server, current, desired, current, "hold: no plan for this server", hold=True)
        if desired < 0:
            raise ValueError(f"desired replicas of {server} must be >= 0, got {desired}")
        # Zero only when configured and idle long enough; never because a plan left it out.
        if offered_rps is not None and offered_rps <= 0:
            st.idle_since_s = now_s if st.idle_since_s is None else st.idle_since_s
        else:
            st.idle_since_s = None
        if desired == 0 and current > 0:
            idle_for = now_s - st.idle_since_s if st.idle_since_s is not None else 0.0
            if not (s.idle_window_s > 0 and idle_for >= s.idle_window_s):
                desired = 1
        threshold = max(1.0, s.tolerance * current)
        if desired > current:
            st.below_since_s, st.below = None, deque()
            if desired - current < threshold and not breach:
                return Decision(server, current, desired, current, "within tolerance")
            step = max(math.ceil(s.max_step_up_fraction * current), s.max_step_up_replicas)
            target = min(desired, current + step)
            return Decision(server, current, desired, target, "scale up" if target == desired else "scale up, step-limited")
        if desired == current:
            st.below_since_s, st.below = None, deque()
            return Decision(server, current, desired, current, "as desired")
        # desired < current
        if st.below_since_s is None:
            st.below_since_s = now_s
        st.below.append((now_s, desired))
        while st.below and st.below[0][0] < now_s - s.scale_down_window_s:
            st.below.popleft()
        if starting > 0:
            return Decision(server, current, desired, current, "no scale-down while replicas start")
        if now_s - st.below_since_s < s.scale_down_window_s:
            return Decision(server, current, desired, current, "scale-down window")
        highest = max(d for _, d in st.below)
        floor = current - max(1, math.floor(s.max_step_down_fraction * current))
        target = max(highest, floor)
        if current - target < threshold:
            return Decision(server, current, desired, current, "within tolerance")
        return Decision(server, current, desired, target, "scale down" if target == highest else "scale down, step-limited")

    def decide_move(self, now_s: float, server: str, move: Move | None, *, breach: bool = False,
                    busy: bool = False) -> tuple[Move | None, str]:
        """Rule 4 for a move the plan proposes (or None): the move to make now, or None, and why."""
        st = self._state.setdefault(server, _ServerState())
        if move is None:
            st.move_to = None
            return None, ""
        s = self.settings
        stuck = move.saving >= 1.0  # the current variant cannot serve the load: no dwell
        key = (move.accelerator, int(move.max_batch))
        if move.saving < s.switch_saving:
            st.move_to = None
            return None, ""
        if breach and not stuck:
            st.move_to = None
            return None, "no move during an SLO breach"
        if busy:
            return None, "move waits: replicas are starting"
        if st.move_to != key:
            st.move_to, st.move_since_s = key, now_s
        waited = now_s - st.move_since_s
        where = f"{move.accelerator}, batch {move.max_batch}"
        if not stuck and waited < s.switch_window_s:
            return None, f"move to {where} pending: {100 * move.saving:.0f} % cheaper for {waited:.0f} of {s.switch_window_s:.0f} s"
        st.move_to = None
        return move, (f"move to {where}: the current variant cannot serve the load" if stuck
                      else f"move to {where}: {100 * move.saving:.0f} % cheaper for {waited:.0f} s")
