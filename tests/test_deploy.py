"""The manifests and the dashboard in deploy/ (docs/control-live.md, "On a cluster"): they parse,
the Role grants exactly what the controller uses, the configuration in the ConfigMap loads, the
sample managed Deployment is found by the controller's selector, the HPA and KEDA objects read
the controller's gauge, and the dashboard's panels all query inferno's metrics (the end-to-end
test evaluates each expression against a real Prometheus)."""

import json
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

from inferno.control.config import DiscoverySettings, load_config  # noqa: E402
from inferno.control.emulator import _matches  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
K8S = REPO / "deploy" / "kubernetes"


def _docs(name):
    return [d for d in yaml.safe_load_all((K8S / name).read_text()) if d]


def _kind(docs, kind):
    found = [d for d in docs if d["kind"] == kind]
    assert len(found) == 1, kind
    return found[0]


def test_role_is_least_privilege():
    docs = _docs("controller.yaml")
    assert {d["kind"] for d in docs} == {"ServiceAccount", "Role", "RoleBinding", "ConfigMap", "PersistentVolumeClaim",
                                         "Deployment", "Service"}
    rules = {(tuple(r["apiGroups"]), tuple(r["resources"])): sorted(r["verbs"]) for r in _kind(docs, "Role")["rules"]}
    assert rules == {(("apps",), ("deployments",)): ["get", "list", "patch", "watch"],
                     (("apps",), ("deployments/scale",)): ["get", "patch"],
                     (("",), ("pods",)): ["get", "list", "watch"]}
    binding = _kind(docs, "RoleBinding")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "inferno-controller"}
    assert binding["subjects"][0]["name"] == _kind(docs, "ServiceAccount")["metadata"]["name"]


def test_controller_deployment_runs_the_configured_daemon(tmp_path):
    docs = _docs("controller.yaml")
    deployment = _kind(docs, "Deployment")
    spec = deployment["spec"]["template"]["spec"]
    container = spec["containers"][0]
    assert container["args"] == ["control", "run", "/etc/inferno/controller.yaml"]
    assert deployment["spec"]["replicas"] == 1 and deployment["spec"]["strategy"]["type"] == "Recreate"
    assert spec["serviceAccountName"] == "inferno-controller"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert {"/etc/inferno/controller.yaml", "/etc/inferno/documents", "/var/run/secrets/inferno", "/var/lib/inferno"} <= mounts
    # The ConfigMap's configuration loads, with its paths mapped to a scratch directory.
    text = _kind(docs, "ConfigMap")["data"]["controller.yaml"]
    text = text.replace("/var/run/secrets/inferno/token", str(tmp_path / "token")).replace("/var/lib/inferno", str(tmp_path))
    (tmp_path / "token").write_text("t\n")
    (tmp_path / "documents").symlink_to(REPO / "samples" / "large")
    (tmp_path / "controller.yaml").write_text(text)
    config = load_config(tmp_path / "controller.yaml")
    assert config.http.host == "0.0.0.0" and config.http.port == 8080  # in a pod, for Prometheus to scrape
    assert config.discovery.kubeconfig is None  # the service account
    assert config.discovery.namespaces == (deployment["metadata"]["namespace"],)


def test_managed_deployment_is_found_and_documented():
    import inferno
    d = _kind(_docs("managed-deployment.yaml"), "Deployment")
    labels = d["metadata"]["labels"]
    settings = DiscoverySettings()
    assert _matches(labels, settings.selector())
    for key in ("name", "model", "class", "allocation.accelerator", "allocation.maxbatchsize"):
        assert labels[settings.label(key)]
    assert _matches(d["spec"]["template"]["metadata"]["labels"], settings.label("name"))
    assert d["spec"]["selector"]["matchLabels"].items() <= d["spec"]["template"]["metadata"]["labels"].items()
    system = inferno.optimizer.load(REPO / "samples" / "large")
    name = labels[settings.label("name")]
    assert system.servers.loc[name, "model"] == labels[settings.label("model")]
    assert labels[settings.label("allocation.accelerator")] in system.accelerators.index


def test_hpa_and_keda_read_the_desired_replicas():
    target = _kind(_docs("managed-deployment.yaml"), "Deployment")["metadata"]["name"]
    hpa = _kind(_docs("hpa.yaml"), "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == target
    metric = hpa["spec"]["metrics"][0]["external"]
    assert metric["metric"]["name"] == "inferno_desired_replicas"
    assert metric["metric"]["selector"]["matchLabels"]["deployment"] == target
    assert metric["target"] == {"type": "AverageValue", "averageValue": "1"}
    assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 0
    keda = _kind(_docs("keda.yaml"), "ScaledObject")
    trigger = keda["spec"]["triggers"][0]
    assert keda["spec"]["scaleTargetRef"]["name"] == target
    assert trigger["metricType"] == "AverageValue" and trigger["metadata"]["threshold"] == "1"
    assert f'deployment="{target}"' in trigger["metadata"]["query"] and "inferno_desired_replicas" in trigger["metadata"]["query"]


def test_dashboard_panels_query_inferno_metrics():
    dashboard = json.loads((REPO / "deploy" / "grafana" / "inferno-dashboard.json").read_text())
    assert dashboard["templating"]["list"][0]["type"] == "datasource"
    titles = [p["title"] for p in dashboard["panels"]]
    assert len(titles) == len(set(titles)) >= 12
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    for metric in ("inferno_offered_rps", "inferno_throughput_rps", "inferno_replicas", "inferno_desired_replicas",
                   "inferno_ttft_ms", "inferno_slo_ttft_ms", "inferno_itl_ms", "inferno_slo_itl_ms", "inferno_hold",
                   "inferno_forecast_rps", "inferno_tuner_estimate_ms", "inferno_tuner_stddev_ms", "inferno_metrics_fresh"):
        assert any(metric in e for e in exprs), metric
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_documents_configmap_is_current_and_loads(tmp_path):
    """deploy/kubernetes/documents.yaml is scripts/documents_configmap.py's output for samples/large,
    and the documents it holds, written out as the mount would, make the same system."""
    import subprocess
    import sys

    import inferno
    made = subprocess.run([sys.executable, str(REPO / "scripts" / "documents_configmap.py"), str(REPO / "samples" / "large")],
                          capture_output=True, text=True, check=True).stdout
    assert made == (K8S / "documents.yaml").read_text()
    cm = _kind(_docs("documents.yaml"), "ConfigMap")
    assert cm["metadata"]["name"] == "inferno-documents"
    for filename, text in cm["data"].items():
        (tmp_path / filename).write_text(text)
    mounted, original = inferno.optimizer.load(tmp_path), inferno.optimizer.load(REPO / "samples" / "large")
    assert mounted.servers.equals(original.servers) and mounted.capacity == original.capacity
    assert mounted.optimize().total_cost == original.optimize().total_cost
