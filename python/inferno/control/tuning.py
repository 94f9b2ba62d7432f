"""Tuning in the loop: one tuner per variant (a model on an accelerator profile), fed each cycle
with what the sensor measured, whose estimates replace the documents' performance records in
planning (docs/control.md, "Tuning").

An observation is one server's window: the rate per serving replica (replicas share a server's
requests), the window's mean request shape, the batch cap, and the mean TTFT and ITL. A server
whose window is not fresh, or that has no serving replica or no latency measured, gives none.
Until a variant's tuner has an estimate, planning keeps the documents' record.

Two things about the engine and the fleet are in the tuner's model, because leaving them out
biased the estimates (docs/control.md, "Tuning in the loop"): a new request waits for the
iteration in progress (the ``vllm`` service model, its δ and ε held at the record's values), and
a balancer that spreads requests evenly over k replicas gives each a smoother arrival stream
than the whole (``load_balancing="even"``: coefficient of variation 1/√k).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

from .._text import excerpt as _excerpt
from ..tuner import IdentifiabilityWarning, Tuner
from .snapshot import FleetSnapshot


LOAD_BALANCING = ("even", "random")  # how the fleet's balancer spreads a server's requests
# The estimator: a least-squares refit of the last 60 windows each cycle, not the online filter.
# In closed loop on the conversation trace it ends within 5.7 % of the truth where the filter
# ended up to 34 % off (docs/control.md, "Tuning in the loop"). Options given replace these.
DEFAULT_TUNER_OPTIONS: dict[str, Any] = {"mode": "sliding-window", "window_size": 60}


@dataclass(frozen=True)
class TuningSettings:
    enabled: bool = True
    parameter_quantile: float = 0.5  # > 0.5: plan with parameters that far up their uncertainty
    # "even": round-robin or join-shortest-queue, each of k replicas sees a stream k times
    # sparser and k times more regular; "random": independent random choice, each stays Poisson.
    load_balancing: str = "even"
    options: dict[str, Any] = field(default_factory=dict)  # inferno.Tuner options

    def __post_init__(self) -> None:
        q = self.parameter_quantile
        if isinstance(q, bool) or not isinstance(q, (int, float)) or not 0.5 <= q < 1:
            raise ValueError(f"tuning.parameter_quantile must be a number in [0.5, 1), got {_excerpt(q)}")
        if self.load_balancing not in LOAD_BALANCING:
            raise ValueError(f"tuning.load_balancing must be one of {', '.join(LOAD_BALANCING)}, "
                             f"got {_excerpt(self.load_balancing)}")
        if "service_model" in self.options or "fixed" in self.options:
            raise ValueError("tuning.options cannot set service_model or fixed: the stage tunes the 'vllm' "
                             "model with the record's delta and epsilon held")


class Tuning:
    def __init__(self, settings: TuningSettings, variants: dict[str, tuple[str, str]], max_batch: dict[str, int],
                 starts: dict[tuple[str, str], list[float]] | None = None,
                 held: dict[tuple[str, str], dict[str, float]] | None = None) -> None:
        """``variants``: {server: (model, accelerator profile)}; ``max_batch``: {server: N};
        ``starts``: each variant's α, β, γ to start from (its documented record), else a cold
        start; ``held``: each variant's δ and ε (0 when the record has none)."""
        self.settings = settings
        self.variants = variants
        self.max_batch = max_batch
        self.starts = starts or {}
        self.held = held or {}
        self.tuners: dict[tuple[str, str], Tuner] = {}
        self.last_observations: dict[tuple[str, str], list[dict[str, float]]] = {}  # the latest cycle's, per variant
        self._skip: set[str] = set()
        self._z = NormalDist().inv_cdf(settings.parameter_quantile)

    def follow(self, server: str, accelerator: str, max_batch: int) -> None:
        """The server moved to another accelerator or batch cap: its windows feed that variant's
        tuner from the next cycle on (the window of the move mixes both and is skipped)."""
        model, old = self.variants[server]
        if (old, self.max_batch[server]) != (accelerator, max_batch):
            self.variants[server] = (model, accelerator)
            self.max_batch[server] = max_batch
            self._skip.add(server)

    def skip(self, server: str) -> None:
        """The server's next window gives no observation (a pod too young to be warm, or a window
        that spans an allocation change)."""
        self._skip.add(server)

    def observe(self, snapshot: FleetSnapshot) -> None:
        cycles: dict[tuple[str, str], list[dict[str, float]]] = {}
        skip, self._skip = self._skip, set()
        for name, variant in self.variants.items():
            if name in skip:
                continue
            s = snapshot.servers.get(name)
            if s is None or not s.fresh or s.replicas_serving < 1 or s.offered_rps is None or not s.offered_rps > 0:
                continue
            if s.ttft_ms is None or s.itl_ms is None or s.in_tokens is None or s.out_tokens is None:
                continue
            k = s.replicas_serving
            observation = {"rate_rpm": 60 * s.offered_rps / k, "in_tokens": s.in_tokens,
                           "out_tokens": s.out_tokens, "max_batch": self.max_batch[name], "ttft_ms": s.ttft_ms,
                           "itl_ms": s.itl_ms,
                           "arrival_cov": 1 / math.sqrt(k) if self.settings.load_balancing == "even" else 1.0}
            # The measured saturation signal: a full batch. Throughput against arrivals is not used:
            # over a window of a minute, Poisson counts alone differ by several per cent, and
            # requests still in flight make a rising load look saturated.
            if s.running is not None:
                observation["avg_concurrency"] = s.running / s.replicas_serving
            cycles.setdefault(variant, []).append(observation)
        self.last_observations = cycles
        for variant, observations in cycles.items():
            tuner = self.tuners.get(variant)
            if tuner is None:
                options = {**DEFAULT_TUNER_OPTIONS, **self.settings.options}
                if variant in self.starts and "init" not in options:
                    options["init"] = self.starts[variant]
                held = {"delta": 0.0, "epsilon": 0.0, **self.held.get(variant, {})}
                tuner = self.tuners[variant] = Tuner(keep_history=False, service_model="vllm", fixed=held, **options)
            with warnings.catch_warnings():  # a loop's first windows rarely pin every parameter:
                warnings.simplefilter("ignore", IdentifiabilityWarning)  # records() waits for it instead
                tuner.update(observations)

    def estimates(self) -> list[dict[str, Any]]:
        """Each variant's mean estimate of α, β, γ (ms), its standard deviations, the condition
        number κ of the last fit and the filter's NIS, for the variants with an identifiable estimate."""
        out = []
        for (model, accelerator), tuner in self.tuners.items():
            est = tuner.estimate
            if est is None or not est.identifiable:
                continue
            values = [est.params.get(k) for k in ("alpha", "beta", "gamma")]
            if all(v is not None and math.isfinite(v) for v in values):
                out.append({"model": model, "accelerator": accelerator,
                            **{f"{k}_ms": float(v) for k, v in zip(("alpha", "beta", "gamma"), values)},  # type: ignore[arg-type]
                            **{f"{k}_sd_ms": float(est.stddev.get(k) or 0.0) for k in ("alpha", "beta", "gamma")},
                            "kappa": est.kappa, "nis": est.nis})
        return out

    def records(self) -> list[dict[str, Any]]:
        """Performance records of the variants with an estimate, at the parameter quantile."""
        out = []
        for (model, accelerator), tuner in self.tuners.items():
            est = tuner.estimate
            if est is None or not est.identifiable:  # the documents' record until the data pin it down
                continue
            record: dict[str, Any] = {"model": model, "accelerator": accelerator}
            for key in ("alpha", "beta", "gamma"):
                value = est.params.get(key)
                if value is None or not math.isfinite(value):
                    break
                sd = est.stddev.get(key) or 0.0
                record[f"{key}_ms"] = max(value + self._z * sd, 0.0)
            else:
                out.append(record)
        return out
