"""What a sensor hands the rest of the loop: per server, the window's aggregates of the vLLM
metrics (docs/control.md, "Sensing"). A metric that could not be read is ``None``, never 0."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

FRESH, STALE, UNAVAILABLE = "fresh", "stale", "unavailable"


@dataclass(frozen=True)
class ServerSnapshot:
    name: str
    state: str                        # fresh, stale or unavailable
    age_s: float                      # age of the newest sample
    offered_rps: float | None         # arrivals over the window (or throughput + queue growth)
    throughput_rps: float | None      # requests finished over the window
    in_tokens: float | None           # mean prompt tokens of the window's requests
    out_tokens: float | None          # mean output tokens of the window's finished requests
    ttft_ms: float | None             # mean TTFT over the window
    itl_ms: float | None              # mean decode interval per token over the window
    running: float | None             # mean requests running over the window (all replicas)
    waiting: float | None             # mean requests waiting over the window
    kv_cache_usage: float | None      # share of the KV cache in use now
    replicas_serving: int
    replicas_starting: int

    @property
    def fresh(self) -> bool:
        return self.state == FRESH


@dataclass(frozen=True)
class FleetSnapshot:
    time_s: float
    window_s: float
    servers: dict[str, ServerSnapshot] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"time_s": self.time_s, "window_s": self.window_s,
                "servers": {name: asdict(s) for name, s in self.servers.items()}}
