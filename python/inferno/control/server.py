"""The live controller's HTTP server (docs/control-live.md, "The daemon"): ``POST /invoke``,
``GET /healthz``, ``/readyz``, ``/metrics``, ``/status``, and ``POST /optimizeOne``, the drop-in for
the reference's optimizer container. FastAPI on uvicorn (the ``inferno[control]`` extra)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

from .._asgi import read_json, require_bearer
from ..optimizer import System
from .daemon import Daemon, PeriodLoop

_SERVER_LABELS = ["namespace", "deployment", "model", "class", "accelerator"]
# The request body of /optimizeOne as OpenAPI describes it: SystemData, whose members are the
# reference's documents (docs/optimizer.md, "Input documents"); the optimizer checks the rest.
SYSTEM_DATA = {"type": "object", "required": ["system"], "properties": {"system": {
    "type": "object", "properties": {k: {"type": "object"} for k in (
        "acceleratorData", "modelData", "serviceClassData", "serverData", "optimizerData", "capacityData")}}}}


class _CycleGauges:
    """The gauges of the last cycle, rendered at scrape time from one immutable snapshot (a
    scrape never sees half a cycle): per server what HPA/KEDA and the dashboard read."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Any:
        line = self.daemon.last or {}
        servers = line.get("servers", {})
        g = {name: GaugeMetricFamily(name, doc, labels=labels) for name, doc, labels in (
            ("inferno_desired_replicas", "Replicas the controller wants now (HPA/KEDA: AverageValue 1)", _SERVER_LABELS),
            ("inferno_metrics_fresh", "1 when the server's metrics were fresh in the last cycle, else 0", _SERVER_LABELS),
            ("inferno_hold", "1 while the server is held, with the reason", _SERVER_LABELS + ["reason"]),
            ("inferno_replicas", "Replicas seen, serving or starting", ["server", "accelerator", "state"]),
            ("inferno_offered_rps", "Offered load of the window (req/s)", ["server"]),
            ("inferno_throughput_rps", "Requests finished per second over the window", ["server"]),
            ("inferno_forecast_rps", "Forecast rate over the horizon (req/s): mean and the upper quantile", ["server", "quantity"]),
            ("inferno_ttft_ms", "Mean time to first token over the window (ms)", ["server"]),
            ("inferno_itl_ms", "Mean inter-token latency over the window (ms)", ["server"]),
            ("inferno_slo_ttft_ms", "The server's TTFT target (ms)", ["server"]),
            ("inferno_slo_itl_ms", "The server's ITL target (ms)", ["server"]),
            ("inferno_cycle_stage_ms", "Duration of each stage of the last cycle (ms)", ["stage"]),
            ("inferno_tuner_estimate_ms", "The tuner's estimate of alpha, beta, gamma (ms)", ["model", "accelerator", "parameter"]),
            ("inferno_tuner_stddev_ms", "The standard deviation of the tuner's estimate (ms)", ["model", "accelerator", "parameter"]),
            ("inferno_tuner_kappa", "Condition number of the tuner's last fit", ["model", "accelerator"]),
            ("inferno_ready", "1 once a sensor read has succeeded", []),
        )}
        g["inferno_ready"].add_metric([], 1.0 if self.daemon.ready else 0.0)
        for name, s in servers.items():
            if "deployment" not in s:
                continue
            labels = [s["namespace"], s["deployment"], s["model"], s["service_class"], s["accelerator"]]
            g["inferno_desired_replicas"].add_metric(labels, float(s["target"]))
            g["inferno_metrics_fresh"].add_metric(labels, 1.0 if s["state"] == "fresh" else 0.0)
            if s["hold"]:
                g["inferno_hold"].add_metric(labels + [s["reason"]], 1.0)
            g["inferno_replicas"].add_metric([name, s["accelerator"], "serving"], float(s["serving"]))
            g["inferno_replicas"].add_metric([name, s["accelerator"], "starting"], float(s["starting"]))
            for key, family in (("offered_rps", "inferno_offered_rps"), ("throughput_rps", "inferno_throughput_rps"),
                                ("ttft_ms", "inferno_ttft_ms"), ("itl_ms", "inferno_itl_ms")):
                if s.get(key) is not None:  # missing stays missing: no series, never a 0
                    g[family].add_metric([name], float(s[key]))
            for key, quantity in (("forecast_rps", "mean"), ("forecast_upper_rps", "upper")):
                if s.get(key) is not None:
                    g["inferno_forecast_rps"].add_metric([name, quantity], float(s[key]))
            info = self.daemon.servers.get(name)
            if info is not None:
                g["inferno_slo_ttft_ms"].add_metric([name], info.ttft_slo_ms)
                g["inferno_slo_itl_ms"].add_metric([name], info.itl_slo_ms)
        for stage, ms in (line.get("timings_ms") or {}).items():
            g["inferno_cycle_stage_ms"].add_metric([stage], float(ms))
        for e in line.get("estimates", []):
            for p in ("alpha", "beta", "gamma"):
                g["inferno_tuner_estimate_ms"].add_metric([e["model"], e["accelerator"], p], float(e[f"{p}_ms"]))
                g["inferno_tuner_stddev_ms"].add_metric([e["model"], e["accelerator"], p], float(e[f"{p}_sd_ms"]))
            if e.get("kappa") is not None:
                g["inferno_tuner_kappa"].add_metric([e["model"], e["accelerator"]], float(e["kappa"]))
        yield from g.values()


class DaemonMetrics:
    """The controller's /metrics: the last cycle's gauges, and counters of cycles by outcome and
    of actions by kind, with the cycle's duration."""

    def __init__(self, daemon: Daemon) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(_CycleGauges(daemon))
        self.cycles = Counter("inferno_cycles", "Cycles by outcome: ok, held or failed", ["outcome"], registry=self.registry)
        self.actions = Counter("inferno_actions", "Changes applied, by server and kind", ["server", "kind"],
                               registry=self.registry)
        self.duration = Histogram("inferno_cycle_duration_seconds", "Duration of a whole cycle",
                                  buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30), registry=self.registry)
        for outcome in ("ok", "held", "failed"):
            self.cycles.labels(outcome)
        daemon.listeners.append(self.observe)

    def observe(self, daemon: Daemon) -> None:
        line = daemon.last or {}
        self.cycles.labels(line.get("outcome", "failed")).inc()
        self.duration.observe(float(line.get("duration_ms", 0.0)) / 1000)
        for name, target in (line.get("applied") or {}).items():
            current = line["servers"][name]["serving"] + line["servers"][name]["starting"]
            kind = "move" if line["servers"][name].get("move") else "scale_up" if target > current else "scale_down"
            self.actions.labels(name, kind).inc()


def optimize_one(document: Any) -> tuple[int, dict[str, Any]]:
    """The reference optimizer's answer to a SystemData document: 200 and an allocation for
    every server (best effort by priority when capacity is short), or 404 naming the servers
    that cannot be placed at all (the reference actuator scales a server missing from a 200 to
    zero, so a 200 never leaves one out); 400 for a document that is not SystemData."""
    if not isinstance(document, dict) or not isinstance(document.get("system"), dict):
        return 400, {"error": "expected SystemData: an object with the member 'system' (the documents of system-data.json)"}
    try:
        system = System.from_documents(json.dumps(document))
        solution = system.optimize()
        if len(solution.unallocated) and system.options.get("saturation_policy", "None") == "None":
            solution = system.with_options(saturation_policy="PriorityExhaustive").optimize()
    except ValueError as error:
        return 400, {"error": str(error)}
    missing = solution.unallocated
    if len(missing):
        return 404, {"error": "no allocation for every server",
                     "unallocated": [{"server": r.server, "reason": r.reason, "detail": r.detail} for r in missing.itertuples()]}
    return 200, json.loads(solution.to_json(format="reference"))


def daemon_app(daemon: Daemon, *, period_loop: bool = True) -> FastAPI:
    """The FastAPI app of a daemon; with ``period_loop`` the cycles also run on the period, from
    start-up until shutdown (which waits for the running cycle)."""
    http = daemon.config.http
    metrics = DaemonMetrics(daemon)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        loop = PeriodLoop(daemon) if period_loop else None
        if loop is not None:
            loop.start()
        yield
        if loop is not None:
            await asyncio.to_thread(loop.stop)

    app = FastAPI(title="inferno controller", version="1", lifespan=lifespan,
                  description="The inferno control loop: a cycle on demand, health, metrics, status, and the "
                              "reference optimizer's /optimizeOne.")

    @app.get("/healthz", summary="Liveness: the process answers")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="Readiness: a sensor read has succeeded",
             responses={503: {"description": "no successful sensor read yet"}})
    def readyz() -> JSONResponse:
        return JSONResponse({"ready": daemon.ready}, status_code=200 if daemon.ready else 503)

    @app.get("/metrics", summary="Prometheus exposition", response_class=Response)
    def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/status", summary="The last cycle: what was seen, decided and done per server")
    def status() -> dict[str, Any]:
        return {"ready": daemon.ready, "dry_run": daemon.dry_run, "cycles": daemon.cycles, "last_cycle": daemon.last,
                "problems": daemon.problems, "period_s": daemon.config.period_s, "actuator": daemon.config.actuator}

    @app.post("/invoke", summary="Run a cycle now (needs the bearer token)",
              responses={401: {"description": "no valid bearer token"}})
    async def invoke(request: Request) -> dict[str, Any]:
        require_bearer(request, http.token_file)
        return await asyncio.to_thread(daemon.cycle, "invoke")

    @app.post("/optimizeOne", summary="The reference optimizer: SystemData in, AllocationSolution out",
              openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": SYSTEM_DATA}}}},
              responses={400: {"description": "not SystemData"}, 404: {"description": "a server cannot be placed"},
                         413: {"description": "body over the limit"}})
    async def optimize_one_endpoint(request: Request) -> JSONResponse:
        document = await read_json(request, http.max_body_bytes)
        code, body = await asyncio.to_thread(optimize_one, document)
        return JSONResponse(body, status_code=code)

    @app.exception_handler(HTTPException)
    async def errors(_: Request, error: HTTPException) -> JSONResponse:
        return JSONResponse({"error": error.detail}, status_code=error.status_code, headers=error.headers)

    return app
