"""The live controller (docs/control-live.md): discovery, the Prometheus sensor, the same
controller the closed-loop simulator runs, an actuator (Kubernetes, metrics for HPA/KEDA, or a
log), one JSON line per cycle, its state persisted atomically after every cycle and restored on
start, and the gauges of ``/metrics``.

One cycle never overlaps another (a lock); the HTTP server (``inferno.control.server``) and the
period loop both call :meth:`Daemon.cycle`.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from pathlib import Path
from typing import Any, Callable

from ..optimizer import System, load
from .cluster import Discovery, KubernetesActuator, Managed
from .config import DaemonConfig
from .controller import Controller, CycleRecord
from .inventory import Inventory, Placement
from .planning import Planner
from .policies import InfernoPolicy, ServerInfo
from .prometheus import PrometheusClient, PrometheusSensor
from .tuning import Tuning

STATE_VERSION = 1


class StateError(RuntimeError):
    """The persisted state cannot be read: the controller does not start rather than forget."""


class MetricsActuator:
    """HPA/KEDA pass-through: nothing is changed here; ``inferno_desired_replicas`` (exported for
    every server each cycle) is what the HPA or KEDA scales to."""

    managed: dict[str, Managed] = {}

    def apply(self, now_s: float, targets: dict[str, int], moves: dict[str, tuple[str, int]] | None = None) -> dict[str, str]:
        return {}


class LogActuator:
    """Advisory: the decisions are in the cycle log, and nothing is changed."""

    managed: dict[str, Managed] = {}

    def apply(self, now_s: float, targets: dict[str, int], moves: dict[str, tuple[str, int]] | None = None) -> dict[str, str]:
        return {}


def _plain(value: Any) -> Any:
    """JSON-ready: non-finite numbers become null (the cycle log is strict JSON)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def write_atomically(path: Path, text: str) -> None:
    """The whole new content or the old one, never half: a temporary file renamed over it."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class Daemon:
    """Everything one live controller owns. ``discovery`` and ``prometheus`` can be given (tests);
    by default they are built from the configuration."""

    def __init__(self, config: DaemonConfig, *, dry_run: bool = False, discovery: Discovery | None = None,
                 prometheus: PrometheusClient | None = None, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.dry_run = dry_run
        self.clock = clock
        self.system: System = load(config.documents)
        # The documents' facts the cycle looks up, as plain dicts (a frame lookup per server and
        # cycle cost more than the stabilizer).
        self.documented = {str(n): (str(row["model"]), str(row["service_class"]), float(row["in_tokens"]),
                                    float(row["out_tokens"])) for n, row in self.system.servers.iterrows()}
        self._slo = {(str(r.service_class), str(r.model)): (float(r.ttft_ms), float(r.itl_ms), int(r.priority))
                     for r in self.system.targets.itertuples()}
        self._card = {str(name): (str(r["type"]), int(r["multiplicity"])) for name, r in self.system.accelerators.iterrows()}
        self._acc_count = {(str(r.model), str(r.accelerator)): int(r.acc_count) for r in self.system.perf_records.itertuples()}
        self._pending: dict[str, Managed] = {}  # discovered, not in the documents: adopted once their shape is measured
        self.adopted: list[str] = []            # servers adopted so far, in order
        self._adopted_entries: list[dict[str, Any]] = []  # their server documents (persisted)
        self.discovery = discovery or Discovery(config.discovery)
        self.sensor = PrometheusSensor(config.prometheus, config.discovery.namespaces, prometheus)
        self.actuator: Any
        if config.actuator == "kubernetes":
            self.actuator = KubernetesActuator(self.discovery, retries=config.actuator_retries, dry_run=dry_run)
        elif config.actuator == "metrics":
            self.actuator = MetricsActuator()
        else:
            self.actuator = LogActuator()
        self.planner = Planner(self.system, config.planning)
        self._base_system = self.planner.system
        self._idle: frozenset[str] = frozenset()
        self._planned_on = self._base_system
        self._variants: dict[str, tuple[str, int]] = {}  # each server's variant at the last cycle
        self._changed_at: dict[str, float] = {}  # when it last changed
        self.tuning = self._tuning() if config.tuning.enabled else None
        self.policy = InfernoPolicy(self.planner, config.prediction, tuning=self.tuning)
        self.servers: dict[str, ServerInfo] = {}
        self.inventory = Inventory(self.system.capacity, {})
        # Advisory (dry run): decisions are made and logged, nothing counts as applied.
        self.controller = Controller(self.sensor, self.policy, self.actuator, self.servers, config.stabilizer,
                                     self.inventory, advisory=dry_run or config.actuator == "log")
        self.lock = threading.Lock()
        self.cycles = 0
        self.ready = False
        self.last: dict[str, Any] | None = None   # the last cycle's log line
        self.last_record: CycleRecord | None = None
        self.managed: dict[str, Managed] = {}
        self.problems: dict[str, str] = {}
        self.listeners: list[Callable[[Daemon], None]] = []  # called after each cycle (the metrics)
        self._restore()

    # ------------------------------------------------------------------ set-up
    def _tuning(self) -> Tuning:
        perf = self.system.perf_records.set_index(["model", "accelerator"])
        starts = {v: [float(perf.loc[v, k]) for k in ("alpha_ms", "beta_ms", "gamma_ms")] for v in perf.index}
        held = {v: {k: float(perf.loc[v, f"{k}_ms"]) for k in ("delta", "epsilon") if math.isfinite(float(perf.loc[v, f"{k}_ms"]))}
                for v in perf.index}
        return Tuning(self.config.tuning, {}, {}, starts, held)

    def _sync(self, managed: dict[str, Managed]) -> dict[str, Managed]:
        """The servers to control this cycle: the discovered ones the documents know, and those
        adopted from their labels. A server the documents do not list, whose model has
        performance records and whose class has a target for it there, is sensed until its request
        shape is measured, then adopted (as the reference's collector builds servers from labels);
        the others are reported in ``problems`` and left alone. The planner gives the documents'
        servers that run nowhere no load."""
        usable: dict[str, Managed] = {}
        self._pending = {}
        for name, m in managed.items():
            where = f"{m.namespace}/{m.deployment}"
            documented = self.documented.get(name)
            if documented is None:
                if not any(model == m.model for model, _ in self._acc_count):
                    self.problems[where] = f"server {name!r} is not in the documents, nor is its model {m.model!r}"
                elif (m.service_class, m.model) not in self._slo:
                    self.problems[where] = (f"server {name!r} is not in the documents, and its class {m.service_class!r} "
                                            f"has no target for {m.model!r} there")
                elif m.accelerator not in self._card:
                    self.problems[where] = f"unknown accelerator {m.accelerator!r}; the documents have {', '.join(self._card)}"
                else:
                    self._pending[name] = m
                    self.problems[where] = f"server {name!r} is not in the documents: adopted once its request shape is measured"
                continue
            model, klass, in_tokens, out_tokens = documented
            if model != m.model:
                self.problems[where] = f"model label {m.model!r} differs from the documents' {model!r}"
                continue
            if m.accelerator not in self._card:
                self.problems[where] = f"unknown accelerator {m.accelerator!r}; the documents have {', '.join(self._card)}"
                continue
            usable[name] = m
            ttft_slo, itl_slo, priority = self._slo.get((klass, model), (0.0, 0.0, 1))
            info = ServerInfo(accelerator=m.accelerator, max_batch=m.max_batch, in_tokens=in_tokens, out_tokens=out_tokens,
                              ttft_slo_ms=ttft_slo, itl_slo_ms=itl_slo, startup_delay_s=self.config.startup_of(model, m.accelerator))
            if self.servers.get(name) != info:
                self.servers[name] = info
            card_type, multiplicity = self._card[m.accelerator]
            placement = Placement(card_type, multiplicity * self._acc_count.get((model, m.accelerator), 1), priority)
            if name not in self.inventory.placements or self.inventory.placements[name].card_type != card_type:
                self.inventory.placements[name] = placement
            if self.tuning is not None and name not in self.tuning.variants:
                self.tuning.variants[name] = (model, m.accelerator)
                self.tuning.max_batch[name] = m.max_batch
        for name in [n for n in self.servers if n not in usable]:
            del self.servers[name]
            if self.tuning is not None:
                self.tuning.variants.pop(name, None)
        idle = frozenset(n for n in self.documented if n not in usable)
        if idle != self._idle or self._base_system is not self._planned_on:
            # only when something changed: a new system costs a copy of the documents
            self._planned_on = self._base_system
            self._idle = idle
            self.planner.system = self._base_system.with_loads({n: {"rate_rps": 0.0} for n in idle}) if idle else self._base_system
        return usable

    def _adopt(self, record: CycleRecord) -> list[str]:
        """The pending servers whose window measured a request shape join the documents (with no
        load: the loop plans their measured load from the next cycle on)."""
        entries: list[dict[str, Any]] = []
        for name, m in self._pending.items():
            s = record.snapshot.servers.get(name)
            if s is None or not s.fresh or not s.in_tokens or not s.out_tokens:
                continue
            entries.append({"name": name, "class": m.service_class, "model": m.model, "currentAlloc": {
                "load": {"arrivalRate": 0, "avgInTokens": max(1, round(s.in_tokens)), "avgOutTokens": max(1, round(s.out_tokens))}}})
            self.documented[name] = (m.model, m.service_class, float(s.in_tokens), float(s.out_tokens))
        self._add_servers(entries)
        return [e["name"] for e in entries]

    def _add_servers(self, entries: list[dict[str, Any]]) -> None:
        if entries:
            self._base_system = System(self._base_system._core.with_documents([("discovered", {"servers": entries})]))
            self._adopted_entries += entries
            self.adopted += [e["name"] for e in entries]

    def _hold_tuning(self, managed: dict[str, Managed], now: float) -> None:
        """No tuner observation from a server with a pod younger than its start-up delay plus a
        window (not warm, or not yet in the whole window), or whose window spans a change of its
        accelerator or batch cap."""
        assert self.tuning is not None
        window = self.config.prometheus.window_s
        for name, m in managed.items():
            variant = (m.accelerator, m.max_batch)
            if self._variants.get(name, variant) != variant:
                self._changed_at[name] = now
            self._variants[name] = variant
            young = any(now - m.pod_started_s.get(p, now) < self.servers[name].startup_delay_s + window for p in m.pods_serving)
            if young or now - self._changed_at.get(name, -math.inf) < window:
                self.tuning.skip(name)

    # ------------------------------------------------------------------ state
    def _restore(self) -> None:
        path = self.config.state_path
        if path is None or not path.exists():
            return
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
            if state.get("version") != STATE_VERSION:
                raise ValueError(f"version {state.get('version')!r}, expected {STATE_VERSION}")
            self.controller.restore(state["controller"])
            self.cycles = int(state["cycles"])
            for e in state.get("adopted", []):
                load = e["currentAlloc"]["load"]
                self.documented[e["name"]] = (e["model"], e["class"], float(load["avgInTokens"]), float(load["avgOutTokens"]))
            self._add_servers(list(state.get("adopted", [])))
        except (OSError, ValueError, KeyError, TypeError, IndexError) as error:
            raise StateError(f"state_path {path}: cannot restore the controller's state ({error}); move the file away "
                             f"to start afresh") from None

    def _persist(self) -> None:
        path = self.config.state_path
        if path is None:
            return
        state = {"version": STATE_VERSION, "cycles": self.cycles, "time_s": self.clock(),
                 "controller": self.controller.state(), "adopted": self._adopted_entries}
        write_atomically(path, json.dumps(_plain(state), sort_keys=True))

    # ------------------------------------------------------------------ the cycle
    def cycle(self, trigger: str = "period") -> dict[str, Any]:
        """One cycle, never two at once: discovery, then the controller's stages; its log line
        (also when it held or failed)."""
        with self.lock:
            return self._cycle(trigger)

    def _cycle(self, trigger: str) -> dict[str, Any]:
        now = self.clock()
        started = time.perf_counter()
        self.cycles += 1
        line: dict[str, Any] = {"cycle": self.cycles, "time_s": now, "trigger": trigger, "dry_run": self.dry_run}
        self.problems = {}
        try:
            managed = self.discovery.discover()
            self.problems.update(self.discovery.problems)
        except Exception as error:  # noqa: BLE001 - any API failure is this cycle's, reported, never fatal
            line.update(outcome="failed", error=f"discovery: {type(error).__name__}: {error}",
                        servers=self._held_as_before("hold: discovery failed"))
            return self._finish(line, None, started)
        discovery_ms = 1000 * (time.perf_counter() - started)
        usable = self._sync(managed)
        if self.tuning is not None:
            self._hold_tuning(usable, now)
        self.managed = usable
        self.sensor.managed = {**usable, **self._pending}  # the pending are sensed, not yet controlled
        self.actuator.managed = usable
        try:
            record = self.controller.cycle(now)
        except Exception as error:  # noqa: BLE001 - a failed cycle is logged and the daemon goes on
            line.update(outcome="failed", error=f"{type(error).__name__}: {error}",
                        servers=self._held_as_before("hold: the cycle failed"))
            return self._finish(line, None, started)
        record.timings_ms["discovery"] = discovery_ms
        adopted = self._adopt(record)
        if adopted:
            line["adopted"] = adopted
        if self.sensor.error is None and usable:
            self.ready = True
        holds = {n: d.reason for n, d in record.decisions.items() if d.hold}
        line["outcome"] = "failed" if self.sensor.error else "held" if holds or record.failures else "ok"
        if self.sensor.error:
            line["error"] = f"sensor: {self.sensor.error}"
        line.update(self._summary(record))
        return self._finish(line, record, started)

    def _held_as_before(self, reason: str) -> dict[str, Any]:
        """The servers of the last cycle with their last target, nothing measured: the gauges an
        HPA or a dashboard reads keep the last decision (an HPA is not told to scale down because
        a cycle failed), and say that the metrics are not fresh and why the server is held."""
        return {name: {**row, "state": "unavailable", "offered_rps": None, "throughput_rps": None, "ttft_ms": None,
                       "itl_ms": None, "waiting": None, "forecast_rps": None, "forecast_upper_rps": None, "desired": None,
                       "reason": reason, "hold": True, "move": None, "actuation_error": None}
                for name, row in ((self.last or {}).get("servers") or {}).items()}

    def _summary(self, record: CycleRecord) -> dict[str, Any]:
        servers = {}
        for row in record.rows():
            name = row.pop("server")
            row.pop("time_s")
            m = self.managed.get(name)
            if m is not None:
                row.update(namespace=m.namespace, deployment=m.deployment, model=m.model, service_class=m.service_class,
                           accelerator=self.servers[name].accelerator, max_batch=self.servers[name].max_batch)
            row["offered_source"] = self.sensor.offered_sources.get(name)
            servers[name] = row
        estimates = self.tuning.estimates() if self.tuning is not None else []
        return {"timings_ms": dict(record.timings_ms), "servers": servers, "estimates": estimates,
                "applied": {n: d.target for n, d in record.decisions.items()
                            if d.target != d.current and n not in record.failures and not self.controller.advisory}}

    def _finish(self, line: dict[str, Any], record: CycleRecord | None, started: float) -> dict[str, Any]:
        line["duration_ms"] = 1000 * (time.perf_counter() - started)
        if self.problems:
            line["problems"] = dict(self.problems)
        line = _plain(line)
        self.last, self.last_record = line, record
        self._persist()
        if self.config.cycle_log_path is not None:
            with open(self.config.cycle_log_path, "a", encoding="utf-8") as f:
                f.write(json.dumps(line, sort_keys=True, allow_nan=False) + "\n")
        for listener in self.listeners:
            listener(self)
        return line


class PeriodLoop:
    """Runs a cycle every period until stopped; stopping waits for the running cycle to end."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="inferno-period", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        period = self.daemon.config.period_s
        next_at = time.monotonic()
        while not self._stop.is_set():
            self.daemon.cycle("period")
            next_at += period
            delay = next_at - time.monotonic()
            if delay < 0:  # a cycle longer than the period: the next one starts now, none is skipped twice
                next_at, delay = time.monotonic(), 0.0
            self._stop.wait(delay)

    def stop(self, timeout_s: float = 600.0) -> None:
        self._stop.set()
        self._thread.join(timeout_s)
