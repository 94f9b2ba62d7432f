"""The emulator: a closed-loop scenario's simulated fleet run in wall-clock time behind the two
interfaces the live controller talks to (docs/control-live.md, "The emulator"). It is a test
fixture and a demo, not a model of a cluster's every behaviour.

- ``GET /metrics``: vLLM's metrics per pod (labels ``namespace``, ``pod``, ``model_name``) for a
  real Prometheus to scrape: counters of finished requests and tokens, TTFT and ITL histograms
  (their sum and count), the running and waiting requests and the KV-cache usage.
- The part of the Kubernetes API the controller uses, enough for the official client through a
  kubeconfig: Deployments (list, get, patch of labels, ``/scale``) and pods (list, with phase and
  readiness: a pod is Pending for its start-up delay, then Running and Ready).
- ``POST /emulator/faults``: the next requests for a Deployment answer with an HTTP error (403,
  404, 409, 500), to test the controller's handling. ``GET /emulator/status``: the fleet now.

Each server's requests are shared evenly among its serving pods: every increment of a server's
counters is split over the pods serving at that moment, so each pod's counters only grow.
"""
# No "from __future__ import annotations": FastAPI reads the route functions' annotations, and
# they name classes imported inside emulator_app.


import copy
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .closed_loop import ClosedLoop
from .fleet import SimulatedFleet
from .scenario import Scenario

_COUNTERS = ("request_success", "prompt_tokens", "generation_tokens", "ttft_sum_s", "ttft_count", "itl_sum_s",
             "itl_count", "arrivals")


def deployment_name(server: str) -> str:
    """A DNS-1123 name for a server (lower case, '-' for anything else)."""
    return re.sub(r"[^a-z0-9-]+", "-", server.lower()).strip("-")[:63] or "server"


@dataclass
class _Pod:
    name: str
    created: float  # wall clock, s since the epoch
    ready: bool
    ready_at: float = 0.0  # wall clock when it became ready (its Ready condition's transition)
    counters: dict[str, float] = field(default_factory=lambda: {k: 0.0 for k in _COUNTERS})


@dataclass
class _Deployment:
    server: str
    name: str
    labels: dict[str, str]
    replicas: int
    pods: list[_Pod] = field(default_factory=list)
    next_pod: int = 0
    seen: dict[str, float] = field(default_factory=dict)  # the server's counters at the last tick
    gauges: dict[str, float] = field(default_factory=lambda: {"running": 0.0, "waiting": 0.0, "kv": 0.0})  # per pod


class Emulator:
    """The fleet of ``scenario`` (its documents, servers, workload and start-up delays), started
    with the first plan's allocation, advanced to the wall clock on every request and every
    ``tick_s``."""

    def __init__(self, scenario: Scenario, namespace: str = "default", label_prefix: str = "inferno.server",
                 clock: Any = time.time) -> None:
        self.scenario = scenario
        self.namespace = namespace
        self.prefix = label_prefix
        self.clock = clock
        self.loop = ClosedLoop(scenario)
        self.fleet = SimulatedFleet(self.loop.setups, scenario.duration_s, scenario.seed)
        self.started = clock()
        self.lock = threading.Lock()
        self.faults: dict[str, list[int]] = {}   # deployment -> HTTP statuses to answer next
        self.patches: list[dict[str, Any]] = []  # every change the API accepted, for tests and the demo
        self.deployments: dict[str, _Deployment] = {}
        servers = self.loop.system.servers
        for name in self.loop.names:
            info = self.loop.info[name]
            labels = {f"{label_prefix}.managed": "true", f"{label_prefix}.name": name,
                      f"{label_prefix}.model": str(servers.loc[name, "model"]),
                      f"{label_prefix}.class": str(servers.loc[name, "service_class"]),
                      f"{label_prefix}.allocation.accelerator": info.accelerator,
                      f"{label_prefix}.allocation.maxbatchsize": str(info.max_batch)}
            d = _Deployment(name, deployment_name(name), labels, self.loop.setups[name].replicas)
            for _ in range(d.replicas):
                self._new_pod(d, ready=True)
            self.deployments[d.name] = d
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ time
    @property
    def now_s(self) -> float:
        """Simulated time: seconds since the emulator started, up to the scenario's duration."""
        return min(self.clock() - self.started, self.scenario.duration_s)

    def _new_pod(self, d: _Deployment, ready: bool) -> None:
        now = self.clock()
        d.pods.append(_Pod(f"{d.name}-{d.next_pod}", now, ready, now if ready else 0.0))
        d.next_pod += 1

    def tick(self) -> None:
        """Advances the fleet to now and brings the pods and their counters along."""
        with self.lock:
            self._tick()

    def _tick(self) -> None:
        self.fleet.advance_to(max(self.fleet.now_s, self.now_s))
        counters = self.fleet.counters()
        for d in self.deployments.values():
            c = counters[d.server]
            serving, starting = int(c["replicas_serving"]), int(c["replicas_starting"])
            ready = [p for p in d.pods if p.ready]
            pending = [p for p in d.pods if not p.ready]
            while len(ready) < serving and pending:  # the oldest starting pod is ready first
                pod = pending.pop(0)
                pod.ready, pod.ready_at = True, self.clock()
                ready.append(pod)
            while len(ready) < serving:
                self._new_pod(d, ready=True)
                ready.append(d.pods[-1])
            while len(ready) > serving:  # scaled down: the newest go (they drain in the simulator)
                ready.pop()
            while len(pending) < starting:
                self._new_pod(d, ready=False)
                pending.append(d.pods[-1])
            while len(pending) > starting:
                pending.pop()
            d.pods = sorted(ready + pending, key=lambda p: p.created)
            if ready:  # each increment shared by the pods serving now
                for key in _COUNTERS:
                    delta = c[key] - d.seen.get(key, 0.0)
                    for pod in ready:
                        pod.counters[key] += delta / len(ready)
                d.seen = {k: c[k] for k in _COUNTERS}
            d.gauges = {"running": c["running"] / max(len(ready), 1), "waiting": c["waiting"] / max(len(ready), 1),
                        "kv": float(c["kv_cache_usage"])}

    def start(self, tick_s: float = 0.25) -> None:
        def run() -> None:
            while not self._stop.wait(tick_s):
                self.tick()
        self._thread = threading.Thread(target=run, name="inferno-emulator", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    # ------------------------------------------------------------------ the Kubernetes API subset
    def _fault(self, deployment: str) -> int | None:
        queue = self.faults.get(deployment)
        return queue.pop(0) if queue else None

    def deployment_object(self, d: _Deployment) -> dict[str, Any]:
        selector = {f"{self.prefix}.name": d.server}
        ready = sum(p.ready for p in d.pods)
        return {"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": d.name, "namespace": self.namespace, "labels": dict(d.labels),
                             "creationTimestamp": _iso(self.started)},
                "spec": {"replicas": d.replicas, "selector": {"matchLabels": selector},
                         "template": {"metadata": {"labels": {**selector, **{k: v for k, v in d.labels.items()
                                                                              if ".allocation." in k}}},
                                      "spec": {"containers": [{"name": "vllm", "image": "vllm/vllm-openai"}]}}},
                "status": {"replicas": len(d.pods), "readyReplicas": ready, "availableReplicas": ready}}

    def pod_object(self, d: _Deployment, pod: _Pod) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": pod.name, "namespace": self.namespace, "creationTimestamp": _iso(pod.created),
                             "labels": {f"{self.prefix}.name": d.server, "app": d.name}},
                "spec": {"containers": [{"name": "vllm", "image": "vllm/vllm-openai"}]},
                "status": {"phase": "Running" if pod.ready else "Pending",
                           "conditions": [{"type": "Ready", "status": "True" if pod.ready else "False",
                                           "lastTransitionTime": _iso(pod.ready_at if pod.ready else pod.created)}]}}

    def list_deployments(self, selector: str | None) -> list[dict[str, Any]]:
        with self.lock:
            self._tick()
            return [self.deployment_object(d) for d in self.deployments.values() if _matches(d.labels, selector)]

    def list_pods(self, selector: str | None) -> list[dict[str, Any]]:
        with self.lock:
            self._tick()
            return [self.pod_object(d, p) for d in self.deployments.values() for p in d.pods
                    if _matches({f"{self.prefix}.name": d.server, "app": d.name}, selector)]

    def get_deployment(self, name: str) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self._tick()
            d = self.deployments.get(name)
            if d is None:
                return 404, _status(404, "NotFound", f'deployments.apps "{name}" not found')
            return 200, self.deployment_object(d)

    def scale(self, name: str, patch: dict[str, Any] | None, dry_run: bool) -> tuple[int, dict[str, Any]]:
        """GET (patch None) or PATCH of a Deployment's /scale."""
        with self.lock:
            self._tick()
            d = self.deployments.get(name)
            if d is None:
                return 404, _status(404, "NotFound", f'deployments.apps "{name}" not found')
            if patch is not None:
                fault = self._fault(name)
                if fault is not None:
                    return fault, _status(fault, _REASONS.get(fault, "Error"), f"injected fault for {name}")
                replicas = (patch.get("spec") or {}).get("replicas")
                if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 0:
                    return 422, _status(422, "Invalid", f"spec.replicas must be an integer >= 0, got {replicas!r}")
                if not dry_run and replicas != d.replicas:
                    d.replicas = replicas
                    self.fleet.scale(d.server, replicas, self.scenario.startup_of(d.server))
                    self._tick()
                    self.patches.append({"time_s": self.now_s, "deployment": name, "replicas": replicas})
            return 200, {"apiVersion": "autoscaling/v1", "kind": "Scale",
                         "metadata": {"name": name, "namespace": self.namespace},
                         "spec": {"replicas": d.replicas}, "status": {"replicas": len(d.pods)}}

    def patch_deployment(self, name: str, patch: dict[str, Any], dry_run: bool) -> tuple[int, dict[str, Any]]:
        """A merge patch of the labels (the allocation labels move the server to that variant)."""
        with self.lock:
            self._tick()
            d = self.deployments.get(name)
            if d is None:
                return 404, _status(404, "NotFound", f'deployments.apps "{name}" not found')
            fault = self._fault(name)
            if fault is not None:
                return fault, _status(fault, _REASONS.get(fault, "Error"), f"injected fault for {name}")
            labels = copy.deepcopy(d.labels)
            labels.update({k: str(v) for k, v in ((patch.get("metadata") or {}).get("labels") or {}).items()})
            acc_key, batch_key = f"{self.prefix}.allocation.accelerator", f"{self.prefix}.allocation.maxbatchsize"
            moved = (labels[acc_key], labels[batch_key]) != (d.labels[acc_key], d.labels[batch_key])
            if moved:
                try:
                    setup = self.loop.variant_setup(d.server, labels[acc_key], int(labels[batch_key]))
                except (ValueError, KeyError) as error:
                    return 422, _status(422, "Invalid", str(error))
            if not dry_run:
                if moved:
                    self.fleet.move(d.server, setup, d.replicas, self.scenario.startup_of(d.server))
                    self.patches.append({"time_s": self.now_s, "deployment": name, "move": [labels[acc_key], labels[batch_key]]})
                d.labels = labels
            return 200, self.deployment_object(d)

    # ------------------------------------------------------------------ metrics
    def families(self) -> list[Any]:
        """vLLM's metrics, one series per pod."""
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
        labels = ["namespace", "pod", "model_name"]
        success = CounterMetricFamily("vllm:request_success", "Finished requests", labels=labels)
        prompt = CounterMetricFamily("vllm:prompt_tokens", "Prompt tokens processed", labels=labels)
        generation = CounterMetricFamily("vllm:generation_tokens", "Tokens generated", labels=labels)
        arrivals = CounterMetricFamily("inferno_emulator_arrivals", "Requests that arrived (a gateway's count)", labels=labels)
        ttft = HistogramMetricFamily("vllm:time_to_first_token_seconds", "Time to first token", labels=labels)
        itl = HistogramMetricFamily("vllm:time_per_output_token_seconds", "Time per output token", labels=labels)
        running = GaugeMetricFamily("vllm:num_requests_running", "Requests in the batch", labels=labels)
        waiting = GaugeMetricFamily("vllm:num_requests_waiting", "Requests waiting", labels=labels)
        kv = GaugeMetricFamily("vllm:kv_cache_usage_perc", "KV-cache usage (0 to 1)", labels=labels)
        with self.lock:
            self._tick()
            for d in self.deployments.values():
                model = d.labels[f"{self.prefix}.model"]
                gauges = d.gauges
                for pod in d.pods:
                    if not pod.ready:
                        continue  # a pod that is starting has no server to scrape yet
                    values = [self.namespace, pod.name, model]
                    c = pod.counters
                    success.add_metric(values, c["request_success"])
                    prompt.add_metric(values, c["prompt_tokens"])
                    generation.add_metric(values, c["generation_tokens"])
                    arrivals.add_metric(values, c["arrivals"])
                    ttft.add_metric(values, [("+Inf", c["ttft_count"])], c["ttft_sum_s"])
                    itl.add_metric(values, [("+Inf", c["itl_count"])], c["itl_sum_s"])
                    running.add_metric(values, gauges["running"])
                    waiting.add_metric(values, gauges["waiting"])
                    kv.add_metric(values, gauges["kv"])
        return [success, prompt, generation, arrivals, ttft, itl, running, waiting, kv]

    def status(self) -> dict[str, Any]:
        with self.lock:
            self._tick()
            counters = self.fleet.counters()
            return {"time_s": self.now_s, "servers": {
                d.server: {"deployment": d.name, "replicas": d.replicas, "serving": int(counters[d.server]["replicas_serving"]),
                           "starting": int(counters[d.server]["replicas_starting"]),
                           "accelerator": d.labels[f"{self.prefix}.allocation.accelerator"],
                           "max_batch": int(d.labels[f"{self.prefix}.allocation.maxbatchsize"]),
                           "arrivals": counters[d.server]["arrivals"], "finished": counters[d.server]["request_success"]}
                for d in self.deployments.values()}, "patches": list(self.patches)}


_REASONS = {403: "Forbidden", 404: "NotFound", 409: "Conflict", 422: "Invalid", 500: "InternalError"}


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Status", "status": "Failure", "message": message, "reason": reason, "code": code}


def _iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _matches(labels: dict[str, str], selector: str | None) -> bool:
    """Equality (k=v, k==v, k!=v) and existence (k, !k) terms of a label selector, all to hold."""
    for term in filter(None, (t.strip() for t in (selector or "").split(","))):
        if "!=" in term:
            k, v = term.split("!=", 1)
            if labels.get(k.strip()) == v.strip():
                return False
        elif "=" in term:
            k, v = term.replace("==", "=").split("=", 1)
            if labels.get(k.strip()) != v.strip():
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


def emulator_app(emulator: Emulator, max_body_bytes: int = 1 << 20) -> Any:
    """The emulator's FastAPI app (``inferno[control]``)."""
    import contextlib
    from collections.abc import AsyncIterator

    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse, Response
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    from .._asgi import read_json

    registry = CollectorRegistry()

    class _Collector:
        def collect(self) -> Any:
            return emulator.families()

        def describe(self) -> list[Any]:
            return []

    registry.register(_Collector())

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        emulator.start()
        yield
        emulator.stop()

    app = FastAPI(title="inferno emulator", version="1", lifespan=lifespan,
                  description="A simulated fleet in wall-clock time: vLLM metrics per pod and a Kubernetes API subset. "
                              "A test fixture and a demo.")

    def not_here(namespace: str) -> JSONResponse | None:
        """A named object in another namespace is not found."""
        if namespace != emulator.namespace:
            return JSONResponse(_status(404, "NotFound", f'namespaces "{namespace}" not found'), status_code=404)
        return None

    async def merge_patch(namespace: str, request: Request, apply: Any) -> Any:
        """A merge patch's body, checked, given to ``apply`` (which answers (status, object))."""
        missing = not_here(namespace)
        if missing:
            return missing
        body = await read_json(request, max_body_bytes)
        if not isinstance(body, dict):
            return JSONResponse(_status(400, "BadRequest", "a merge patch is an object"), status_code=400)
        code, out = apply(body)
        return JSONResponse(out, status_code=code)

    @app.get("/metrics", response_class=Response)
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/emulator/status")
    def status() -> dict[str, Any]:
        return emulator.status()

    faults_body = {"type": "object", "required": ["deployment", "statuses"], "properties": {
        "deployment": {"type": "string"}, "statuses": {"type": "array", "items": {"type": "integer", "minimum": 400, "maximum": 599}}}}
    patch_body = {"type": "object"}
    merge_patch_body = {"requestBody": {"required": True, "content": {"application/merge-patch+json": {"schema": patch_body},
                                                                      "application/json": {"schema": patch_body}}}}
    status_codes: dict[int | str, dict[str, Any]] = {400: {"description": "not JSON, or not the expected object"},
                                                     404: {"description": "no such namespace"},
                                                     413: {"description": "body over the limit"}}
    changes: dict[int | str, dict[str, Any]] = {**status_codes, 422: {"description": "an invalid change"},
                                                **{code: {"description": "an injected fault"} for code in (403, 409, 500)}}

    @app.post("/emulator/faults", responses=status_codes,
              openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": faults_body}}}})
    async def faults(request: Request) -> JSONResponse:
        body = await read_json(request, max_body_bytes)
        deployment, statuses = (body or {}).get("deployment"), (body or {}).get("statuses")
        if deployment not in emulator.deployments or not isinstance(statuses, list) or \
                not all(isinstance(s, int) and 400 <= s <= 599 for s in statuses):
            return JSONResponse({"error": "expected {deployment: one of " + ", ".join(emulator.deployments)
                                 + ", statuses: [HTTP error codes 400-599]}"}, status_code=400)
        with emulator.lock:
            emulator.faults[deployment] = list(statuses)
        return JSONResponse({"deployment": deployment, "statuses": statuses})

    # As the API server does, a list in a namespace that holds nothing (or does not exist) is empty.
    @app.get("/apis/apps/v1/namespaces/{namespace}/deployments")
    def deployments(namespace: str, labelSelector: str | None = None) -> Any:  # noqa: N803 - the API's name
        items = emulator.list_deployments(labelSelector) if namespace == emulator.namespace else []
        return {"apiVersion": "apps/v1", "kind": "DeploymentList", "metadata": {}, "items": items}

    @app.get("/api/v1/namespaces/{namespace}/pods")
    def pods(namespace: str, labelSelector: str | None = None) -> Any:  # noqa: N803
        items = emulator.list_pods(labelSelector) if namespace == emulator.namespace else []
        return {"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": items}

    @app.get("/apis/apps/v1/namespaces/{namespace}/deployments/{name}", responses={404: {"description": "not found"}})
    def deployment(namespace: str, name: str) -> Any:
        code, body = emulator.get_deployment(name)
        return not_here(namespace) or JSONResponse(body, status_code=code)

    @app.patch("/apis/apps/v1/namespaces/{namespace}/deployments/{name}", responses=changes,
               openapi_extra=merge_patch_body)
    async def patch_deployment(namespace: str, name: str, request: Request, dryRun: str | None = None) -> Any:  # noqa: N803
        return await merge_patch(namespace, request, lambda body: emulator.patch_deployment(name, body, dryRun == "All"))

    @app.get("/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale", responses={404: {"description": "not found"}})
    def get_scale(namespace: str, name: str) -> Any:
        code, body = emulator.scale(name, None, False)
        return not_here(namespace) or JSONResponse(body, status_code=code)

    @app.patch("/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale", responses=changes,
               openapi_extra=merge_patch_body)
    async def patch_scale(namespace: str, name: str, request: Request, dryRun: str | None = None) -> Any:  # noqa: N803
        return await merge_patch(namespace, request, lambda body: emulator.scale(name, body, dryRun == "All"))

    return app


def kubeconfig(url: str, namespace: str = "default") -> str:
    """A kubeconfig (YAML) that points the official client at the emulator."""
    import yaml
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "emulator",
        "clusters": [{"name": "emulator", "cluster": {"server": url}}],
        "users": [{"name": "emulator", "user": {"token": "emulator"}}],
        "contexts": [{"name": "emulator", "context": {"cluster": "emulator", "user": "emulator", "namespace": namespace}}],
    }, sort_keys=False)
