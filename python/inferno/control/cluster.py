"""Kubernetes, through the official client: discovery of the managed Deployments and their pods,
and the actuator that scales them (docs/control-live.md, "Kubernetes").

A managed Deployment carries the labels ``<prefix>.managed=true``, ``<prefix>.name`` (the server,
as the documents name it), ``<prefix>.model``, ``<prefix>.class``, ``<prefix>.allocation.accelerator``
and ``<prefix>.allocation.maxbatchsize`` (the reference's conventions, prefix ``inferno.server`` by
default), plus ``<prefix>.controller`` when several controllers share a cluster. Its pods carry
``<prefix>.name`` too. Replicas change through the ``/scale`` subresource; a move to another
accelerator or batch cap patches the two allocation labels and the replicas (the Deployment's
rolling update makes it make-before-break).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from .config import DiscoverySettings


@dataclass(frozen=True)
class Managed:
    """One managed Deployment as the cluster shows it now."""

    server: str
    namespace: str
    deployment: str
    model: str
    service_class: str
    accelerator: str
    max_batch: int
    replicas: int                 # spec.replicas
    pods_serving: tuple[str, ...]  # Running and Ready
    pods_starting: tuple[str, ...]  # any other phase, not terminating
    pod_started_s: dict[str, float]  # when each serving pod became ready, else when it was created (s since the epoch)


def api_client(settings: DiscoverySettings) -> Any:
    """An ApiClient for the kubeconfig of the settings, or the in-cluster service account."""
    from kubernetes import client, config
    if settings.kubeconfig is None:
        config.load_incluster_config()
        return client.ApiClient()
    return config.new_client_from_config(config_file=str(settings.kubeconfig))


def _reason(error: Exception) -> str:
    status = getattr(error, "status", None)
    reason = getattr(error, "reason", None) or type(error).__name__
    return f"{status} {reason}" if status else f"{reason}: {error}"


class Discovery:
    """The managed Deployments and their pods, read each cycle. A Deployment whose labels are
    incomplete or wrong is reported in ``problems`` and left alone."""

    def __init__(self, settings: DiscoverySettings, api: Any = None) -> None:
        from kubernetes import client
        self.settings = settings
        self.api = api if api is not None else api_client(settings)
        self.apps = client.AppsV1Api(self.api)
        self.core = client.CoreV1Api(self.api)
        self.problems: dict[str, str] = {}

    def discover(self) -> dict[str, Managed]:
        s = self.settings
        out: dict[str, Managed] = {}
        self.problems = {}
        for namespace in s.namespaces:
            # Any: the client's models type every field as optional; the API server fills them.
            deployments: list[Any] = self.apps.list_namespaced_deployment(namespace, label_selector=s.selector()).items
            if not deployments:  # the API lists nothing for a namespace that does not exist: say so
                self.problems[f"namespace/{namespace}"] = (f"no Deployment labelled {s.selector()} in namespace "
                                                           f"{namespace!r} (discovery.namespaces)")
            pods: list[Any] = self.core.list_namespaced_pod(namespace, label_selector=s.label("name")).items
            by_server: dict[str, list[Any]] = {}
            for pod in pods:
                if pod.metadata.deletion_timestamp is not None:
                    continue  # terminating: it no longer serves, and its series are ignored
                by_server.setdefault((pod.metadata.labels or {}).get(s.label("name"), ""), []).append(pod)
            for d in deployments:
                labels = d.metadata.labels or {}
                where = f"{namespace}/{d.metadata.name}"
                server = labels.get(s.label("name"))
                missing = [k for k in ("name", "model", "allocation.accelerator", "allocation.maxbatchsize")
                           if not labels.get(s.label(k))]
                if missing:
                    self.problems[where] = "missing labels " + ", ".join(s.label(k) for k in missing)
                    continue
                try:
                    max_batch = int(labels[s.label("allocation.maxbatchsize")])
                except ValueError:
                    self.problems[where] = f"{s.label('allocation.maxbatchsize')} is not an integer"
                    continue
                if server in out:
                    self.problems[where] = f"server {server!r} is also {out[server].namespace}/{out[server].deployment}"
                    continue
                serving: list[str] = []
                starting: list[str] = []
                started: dict[str, float] = {}
                for pod in by_server.get(str(server), []):
                    name = pod.metadata.name
                    condition: Any = next((c for c in (pod.status.conditions or []) if c.type == "Ready"), None)
                    ready = condition is not None and condition.status == "True"
                    since = condition.last_transition_time if ready and condition.last_transition_time else \
                        pod.metadata.creation_timestamp
                    started[name] = since.timestamp() if since is not None else 0.0
                    (serving if pod.status.phase == "Running" and ready else starting).append(name)
                out[str(server)] = Managed(
                    server=str(server), namespace=namespace, deployment=d.metadata.name, model=labels[s.label("model")],
                    service_class=labels.get(s.label("class"), "Free") or "Free",
                    accelerator=labels[s.label("allocation.accelerator")], max_batch=max_batch,
                    replicas=int(d.spec.replicas or 0), pods_serving=tuple(sorted(serving)),
                    pods_starting=tuple(sorted(starting)), pod_started_s=started)
        return out


class KubernetesActuator:
    """Scales Deployments through ``/scale`` and patches their allocation labels on a move. Each
    server is on its own: a failure is retried with back-off within the cycle (409 and 5xx, and
    lost connections), then reported for that server alone; 403 and 404 are reported at once."""

    RETRIED = {409, 429, 500, 502, 503, 504}

    def __init__(self, discovery: Discovery, retries: int = 3, backoff_s: float = 0.2, dry_run: bool = False) -> None:
        self.discovery = discovery
        self.retries = retries
        self.backoff_s = backoff_s
        self.dry_run = dry_run
        self.managed: dict[str, Managed] = {}  # set by the sensor's discovery each cycle

    def _call(self, action: Any) -> str | None:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError
        for attempt in range(self.retries + 1):
            try:
                action()
                return None
            except ApiException as error:
                if error.status not in self.RETRIED or attempt == self.retries:
                    return _reason(error)
            except (HTTPError, OSError) as error:
                if attempt == self.retries:
                    return _reason(error)
            time.sleep(self.backoff_s * 2 ** attempt)
        return "unreachable"  # pragma: no cover

    def apply(self, now_s: float, targets: dict[str, int], moves: dict[str, tuple[str, int]] | None = None) -> dict[str, str]:
        apps = self.discovery.apps
        s = self.discovery.settings
        dry = "All" if self.dry_run else None
        failed: dict[str, str] = {}
        for server, target in sorted(targets.items()):
            m = self.managed.get(server)
            if m is None:
                failed[server] = "not found among the managed Deployments"
                continue
            move = (moves or {}).get(server)
            if move is not None and move != (m.accelerator, m.max_batch):
                labels = {s.label("allocation.accelerator"): move[0], s.label("allocation.maxbatchsize"): str(move[1])}
                body = {"metadata": {"labels": labels}, "spec": {"template": {"metadata": {"labels": labels}}}}
                error = self._call(lambda: apps.patch_namespaced_deployment(m.deployment, m.namespace, body, dry_run=dry))
                if error:
                    failed[server] = f"patching the allocation labels: {error}"
                    continue
            if m.replicas == target:
                continue  # idempotent: already there
            body = {"spec": {"replicas": int(target)}}
            error = self._call(lambda: apps.patch_namespaced_deployment_scale(m.deployment, m.namespace, body, dry_run=dry))
            if error:
                failed[server] = f"scaling to {target}: {error}"
        return failed
