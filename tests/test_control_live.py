"""The live controller's parts, one at a time (docs/control-live.md): the configuration, the
Prometheus sensor's arithmetic and its missing data, the Kubernetes discovery and actuator
through the official client against the emulator, the persisted state, the HTTP server (auth,
bad bodies, concurrency, the OpenAPI description) and the reference's /optimizeOne."""

import json
import socket
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("kubernetes")

with warnings.catch_warnings():  # Starlette's test client announces a move to another HTTP client package
    warnings.simplefilter("ignore", DeprecationWarning)
    from fastapi.testclient import TestClient  # noqa: E402

from inferno.control import load_scenario  # noqa: E402
from inferno.control.cluster import Discovery, KubernetesActuator, Managed  # noqa: E402
from inferno.control.config import DEFAULT_QUERIES, ConfigError, DiscoverySettings, PrometheusSettings, load_config  # noqa: E402
from inferno.control.daemon import Daemon, PeriodLoop, StateError  # noqa: E402
from inferno.control.emulator import Emulator, _matches, emulator_app, kubeconfig  # noqa: E402
from inferno.control.prometheus import PrometheusError, PrometheusSensor  # noqa: E402
from inferno.control.server import daemon_app, optimize_one  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"
LIVE = SAMPLES / "control" / "live"
SERVER = "chat-llama3_8b"


# ---------------------------------------------------------------------------------- configuration
def _config(tmp_path, **extra):
    (tmp_path / "token").write_text("t0ken\n")
    (tmp_path / "kube.yaml").write_text("apiVersion: v1\n")
    doc = {"documents": str(LIVE / "system-data.json"), "http": {"token_file": "token"},
           "discovery": {"namespaces": ["default"], "kubeconfig": "kube.yaml"}}
    for key, value in extra.items():
        if value is None:
            doc.pop(key, None)
        elif isinstance(value, dict) and isinstance(doc.get(key), dict):
            doc[key] = {**doc[key], **value}
        else:
            doc[key] = value
    return doc


def test_config_defaults_and_paths(tmp_path):
    c = load_config(_config(tmp_path), base_dir=tmp_path)
    assert c.period_s == 60 and c.actuator == "kubernetes" and c.http.host == "127.0.0.1"
    assert c.http.token_file == tmp_path / "token" and c.discovery.kubeconfig == tmp_path / "kube.yaml"
    assert c.prometheus.window_s == 60 and c.prometheus.queries == DEFAULT_QUERIES
    assert c.discovery.selector() == "inferno.server.managed=true"
    assert c.prometheus.query("requests", ("a", "b")) == \
        'sum by (namespace, pod) (rate(vllm:request_success_total{namespace=~"a|b"}[60s]))'


@pytest.mark.parametrize("change, message", [
    ({"periods_s": 5}, "unknown key 'periods_s'; allowed:"),
    ({"prometheus": {"url": "localhost:9090"}}, "prometheus.url must be an http:// or https:// URL"),
    ({"prometheus": {"ca_file": "nope.pem"}}, "prometheus.ca_file: cannot read"),
    ({"prometheus": {"queries": {"requestz": "x"}}}, "prometheus.queries.unknown key 'requestz'"),
    ({"prometheus": {"queries": {"requests": "rate(x[$win])"}}}, "only $selector and $window"),
    ({"prometheus": {"offered_load": "gateway"}}, "gateway_query"),
    ({"discovery": {"namespaces": []}}, "discovery.namespaces (a non-empty list"),
    ({"discovery": {"namespaces": None}}, "discovery.namespaces (a non-empty list"),
    ({"discovery": {"selector": "a=1,,b"}}, "discovery.selector must be label selector terms"),
    ({"http": {"token_file": None}}, "http.token_file is required with auth: token"),
    ({"http": {"auth": "basic"}}, "http.auth must be token"),
    ({"http": {"port": 70000}}, "http.port must be an integer in [0, 65535]"),
    ({"actuator": {"backend": "helm"}}, "actuator.backend must be one of kubernetes, metrics, log"),
    ({"period_s": float("nan")}, "period_s must be a number"),
    ({"period_s": -5}, "period_s must be a number"),
    ({"stabilizer": {"tolerance": 2}}, "stabilizer.tolerance must be a number in [0, 1]"),
    ({"documents": "missing.json"}, "documents: no such directory or file"),
    ({"startup_delay_s": {"per_variant": {"llama": 5}}}, "keys are model/accelerator"),
])
def test_config_errors_name_the_key(tmp_path, change, message):
    doc = _config(tmp_path)
    for key, value in change.items():
        if isinstance(value, dict) and isinstance(doc.get(key), dict):
            doc[key] = {**doc[key], **value}
            doc[key] = {k: v for k, v in doc[key].items() if v is not None}
        else:
            doc[key] = value
    with pytest.raises(ConfigError) as error:
        load_config(doc, base_dir=tmp_path)
    assert message in str(error.value)


def test_config_file_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("documents: [unclosed\n")
    with pytest.raises(ConfigError, match="malformed YAML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_config(tmp_path / "absent.yaml")


def test_sample_controller_config_loads(tmp_path):
    for name in ("controller.yaml", "system-data.json"):
        (tmp_path / name).write_text((LIVE / name).read_text())
    (tmp_path / "kubeconfig.yaml").write_text(kubeconfig("http://127.0.0.1:8081"))  # the emulator writes it
    c = load_config(tmp_path / "controller.yaml")
    assert c.period_s == 5 and c.http.token_file is None and c.prometheus.window_s == 10


# ---------------------------------------------------------------------------------- the sensor
class FakePrometheus:
    """Answers each query of the sensor from a table {query name: {(namespace, pod): value}}."""

    def __init__(self, settings, answers, fail=None, clock=None):
        self.by_query = {settings.query(name, ("default",)): answers.get(name, {}) for name in settings.queries}
        self.newest = settings.query("newest_sample", ("default",))
        self.fail = fail
        self.clock = clock  # given: every pod's newest sample is 3 s old at each query

    def query(self, promql, at_s=None):
        if self.fail:
            raise PrometheusError(self.fail)
        if promql == self.newest and self.clock is not None:
            return {pod: self.clock() - 3 for pod in self.by_query[promql]}
        return dict(self.by_query[promql])


def _managed(pods=("p0", "p1"), starting=()):
    return {SERVER: Managed(SERVER, "default", "chat", "llama3_8b", "Premium", "G2", 64, len(pods) + len(starting),
                            tuple(pods), tuple(starting), {})}


def _answers(now, pods=("p0", "p1"), **override):
    base = {"requests": 10.0, "prompt_tokens": 2560.0, "generation_tokens": 640.0, "ttft_sum": 1.0, "ttft_count": 10.0,
            "itl_sum": 0.3, "itl_count": 10.0, "running": 3.0, "waiting": 1.0, "in_system_now": 6.0,
            "in_system_before": 4.0, "kv_cache_usage": 0.25, "newest_sample": now - 3}
    base.update(override)
    return {k: {("default", p): v for p in pods} if v is not None else {} for k, v in base.items()}


def _sensor(answers, managed, fail=None, window_s=10.0):
    settings = PrometheusSettings(window_s=window_s)
    sensor = PrometheusSensor(settings, ("default",), FakePrometheus(settings, answers, fail))  # type: ignore[arg-type]
    sensor.managed = managed
    return sensor


def test_sensor_aggregates_pods_as_hand_computed():
    now = 1_000_000.0
    s = _sensor(_answers(now), _managed(starting=("p2",))).collect(now).servers[SERVER]
    assert s.state == "fresh" and s.age_s == pytest.approx(3.0)
    assert s.throughput_rps == pytest.approx(20.0)
    # offered = finished + growth of requests in the servers: 20 + (2 x 6 - 2 x 4) / 10 s
    assert s.offered_rps == pytest.approx(20.4)
    assert s.in_tokens == pytest.approx(256.0) and s.out_tokens == pytest.approx(64.0)
    assert s.ttft_ms == pytest.approx(100.0) and s.itl_ms == pytest.approx(30.0)
    assert s.running == pytest.approx(6.0) and s.waiting == pytest.approx(2.0) and s.kv_cache_usage == pytest.approx(0.25)
    assert (s.replicas_serving, s.replicas_starting) == (2, 1)


def test_sensor_new_pod_had_no_queue_at_the_window_start_but_an_old_one_without_a_sample_is_a_gap():
    now = 1_000_000.0
    answers = _answers(now, pods=("p0", "p1", "p2"))
    answers["in_system_before"].pop(("default", "p2"))
    managed = _managed(pods=("p0", "p1", "p2"))
    managed[SERVER].pod_started_s.update(p0=now - 600, p1=now - 600, p2=now - 14)  # p2 ready less than two windows ago
    sensor = _sensor(answers, managed)
    s = sensor.collect(now).servers[SERVER]
    assert s.offered_rps == pytest.approx(30 + (18 - 8) / 10)
    assert sensor.offered_sources[SERVER] == "throughput + queue growth"
    # p2 is older than two windows but has no sample at the window's start (a gap in the series): the
    # growth is unknown, and the offered load is what finished, a lower bound, not a spike.
    managed[SERVER].pod_started_s["p2"] = now - 600
    s = sensor.collect(now).servers[SERVER]
    assert s.offered_rps == pytest.approx(30.0)
    assert sensor.offered_sources[SERVER] == "throughput only (no queue sample at the window's start)"


@pytest.mark.parametrize("metric, field", [("requests", "offered_rps"), ("in_system_now", "offered_rps"),
                                           ("ttft_count", "ttft_ms"), ("itl_sum", "itl_ms"), ("waiting", "waiting"),
                                           ("kv_cache_usage", "kv_cache_usage")])
def test_sensor_partial_or_missing_is_missing_never_zero(metric, field):
    now = 1_000_000.0
    answers = _answers(now)
    answers[metric].pop(("default", "p1"))  # one pod of two lacks it: partial
    s = _sensor(answers, _managed()).collect(now).servers[SERVER]
    assert getattr(s, field) is None
    answers[metric] = {}  # no series at all
    assert getattr(_sensor(answers, _managed()).collect(now).servers[SERVER], field) is None


def test_sensor_ignores_series_of_pods_not_in_the_pod_list():
    now = 1_000_000.0
    answers = _answers(now, pods=("p0", "p1", "gone"))
    s = _sensor(answers, _managed()).collect(now).servers[SERVER]
    assert s.throughput_rps == pytest.approx(20.0)


@pytest.mark.parametrize("age_s, state", [(19.0, "fresh"), (21.0, "stale"), (299.0, "stale"), (301.0, "unavailable")])
def test_sensor_freshness_states(age_s, state):
    now = 1_000_000.0
    s = _sensor(_answers(now, newest_sample=now - age_s), _managed()).collect(now).servers[SERVER]
    assert s.state == state


def test_sensor_failure_makes_every_server_unavailable_not_empty():
    snap = _sensor({}, _managed(), fail="connection refused").collect(1.0)
    s = snap.servers[SERVER]
    assert s.state == "unavailable" and s.offered_rps is None and s.replicas_serving == 2


def test_prometheus_client_reads_nan_as_missing(monkeypatch):
    httpx = pytest.importorskip("httpx")
    from inferno.control.prometheus import PrometheusClient
    body = {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"namespace": "d", "pod": "a"}, "value": [1, "NaN"]},
        {"metric": {"namespace": "d", "pod": "b"}, "value": [1, "2.5"]},
        {"metric": {"namespace": "d", "pod": "c"}, "value": [1, "+Inf"]},
        {"metric": {"pod": "no-namespace"}, "value": [1, "1"]}]}}
    client = PrometheusClient(PrometheusSettings())
    client._http = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(200, json=body)),
                                base_url="http://prom")
    assert client.query("up") == {("d", "b"): 2.5}
    client._http = httpx.Client(transport=httpx.MockTransport(
        lambda request: httpx.Response(400, json={"status": "error", "errorType": "bad_data", "error": "parse error"})),
        base_url="http://prom")
    with pytest.raises(PrometheusError, match="HTTP 400: bad_data parse error"):
        client.query("up(")
    client._http = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(502, text="<html>")),
                                base_url="http://prom")
    with pytest.raises(PrometheusError, match="without JSON"):
        client.query("up")


def test_prometheus_client_rereads_the_token(tmp_path):
    httpx = pytest.importorskip("httpx")
    from inferno.control.prometheus import PrometheusClient
    token = tmp_path / "token"
    token.write_text("one\n")
    seen = []

    def answer(request):
        seen.append(request.headers.get("authorization"))
        return httpx.Response(200, json={"status": "success", "data": {"resultType": "vector", "result": []}})
    client = PrometheusClient(PrometheusSettings(token_file=token))
    client._http = httpx.Client(transport=httpx.MockTransport(answer), base_url="http://prom")
    client.query("up")
    token.write_text("two\n")
    client.query("up")
    assert seen == ["Bearer one", "Bearer two"]


# ---------------------------------------------------------------------------------- emulator + Kubernetes
def _port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def emulated(tmp_path):
    """The live sample's emulator served by uvicorn on a free loopback port, and a kubeconfig."""
    import uvicorn
    emulator = Emulator(load_scenario(LIVE / "emulator.yaml"))
    port = _port()
    server = uvicorn.Server(uvicorn.Config(emulator_app(emulator), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    path = tmp_path / "kubeconfig.yaml"
    path.write_text(kubeconfig(f"http://127.0.0.1:{port}"))
    yield emulator, path, port
    server.should_exit = True
    thread.join(10)


def test_discovery_through_the_official_client(emulated):
    emulator, path, _ = emulated
    discovery = Discovery(DiscoverySettings(namespaces=("default",), kubeconfig=path))
    managed = discovery.discover()
    m = managed[SERVER]
    assert (m.deployment, m.model, m.service_class, m.accelerator, m.max_batch) == ("chat-llama3-8b", "llama3_8b", "Premium",
                                                                                   "G2", 107)
    assert m.replicas == 2 and m.pods_serving == ("chat-llama3-8b-0", "chat-llama3-8b-1") and m.pods_starting == ()
    # Another controller's selector sees nothing of this one's; extra terms narrow the selection.
    other = Discovery(DiscoverySettings(namespaces=("default",), kubeconfig=path, controller="blue"))
    assert other.discover() == {}
    premium = DiscoverySettings(namespaces=("default",), kubeconfig=path, extra_selector="inferno.server.class=Premium")
    assert list(Discovery(premium).discover()) == [SERVER]
    free = DiscoverySettings(namespaces=("default",), kubeconfig=path, extra_selector="inferno.server.class!=Premium")
    assert Discovery(free).discover() == {}
    # A namespace without managed Deployments (the API does not tell one that does not exist) is said.
    empty = Discovery(DiscoverySettings(namespaces=("default", "nope"), kubeconfig=path))
    assert list(empty.discover()) == [SERVER]
    assert empty.problems == {"namespace/nope": "no Deployment labelled inferno.server.managed=true in namespace 'nope' "
                                                "(discovery.namespaces)"}


def test_actuator_scales_and_isolates_failures(emulated):
    emulator, path, _ = emulated
    discovery = Discovery(DiscoverySettings(namespaces=("default",), kubeconfig=path))
    actuator = KubernetesActuator(discovery, retries=2, backoff_s=0.01)
    actuator.managed = discovery.discover()
    assert actuator.apply(0, {SERVER: 4}) == {}
    managed = discovery.discover()[SERVER]
    assert managed.replicas == 4 and len(managed.pods_starting) == 2  # ready after the 5 s start-up delay
    actuator.managed = discovery.discover()
    assert actuator.apply(0, {SERVER: 4}) == {}  # idempotent: nothing sent
    assert [p["replicas"] for p in emulator.patches] == [4]
    # 409 and 500 are retried within the cycle; past the retries the server alone fails.
    emulator.faults["chat-llama3-8b"] = [409, 500]
    assert actuator.apply(0, {SERVER: 5}) == {}
    assert [p["replicas"] for p in emulator.patches] == [4, 5]
    emulator.faults["chat-llama3-8b"] = [500, 500, 500]
    actuator.managed = discovery.discover()
    failed = actuator.apply(0, {SERVER: 6, "unknown-server": 1})
    assert failed == {SERVER: "scaling to 6: 500 Internal Server Error",
                      "unknown-server": "not found among the managed Deployments"}
    for status, reason in ((403, "Forbidden"), (404, "Not Found")):  # not retried
        emulator.faults["chat-llama3-8b"] = [status, 200]
        assert actuator.apply(0, {SERVER: 6}) == {SERVER: f"scaling to 6: {status} {reason}"}
        emulator.faults["chat-llama3-8b"] = []
    assert [p["replicas"] for p in emulator.patches] == [4, 5]
    # Server-side dry run: accepted, nothing changes.
    dry = KubernetesActuator(discovery, dry_run=True)
    dry.managed = discovery.discover()
    assert dry.apply(0, {SERVER: 9}) == {} and discovery.discover()[SERVER].replicas == 5


def test_actuator_moves_by_labels(emulated):
    emulator, path, _ = emulated
    discovery = Discovery(DiscoverySettings(namespaces=("default",), kubeconfig=path))
    actuator = KubernetesActuator(discovery, backoff_s=0.01)
    actuator.managed = discovery.discover()
    assert actuator.apply(0, {SERVER: 3}, {SERVER: ("A100", 64)}) == {}
    m = discovery.discover()[SERVER]
    assert (m.accelerator, m.max_batch, m.replicas) == ("A100", 64, 3)
    assert emulator.fleet.variant(SERVER) == ("A100", 64)


def test_label_selector_terms():
    labels = {"a": "1", "b": "x"}
    assert _matches(labels, "a=1,b") and _matches(labels, "a==1") and _matches(labels, "a!=2,!c") and _matches(labels, None)
    assert not _matches(labels, "a=2") and not _matches(labels, "c") and not _matches(labels, "!a") and not _matches(labels, "b!=x")


def test_emulator_counters_only_grow_per_pod():
    clock = [1000.0]
    emulator = Emulator(load_scenario(LIVE / "emulator.yaml"), clock=lambda: clock[0])
    previous: dict = {}
    for step in range(12):
        clock[0] += 2.5
        if step == 4:
            emulator.scale("chat-llama3-8b", {"spec": {"replicas": 4}}, dry_run=False)
        for family in emulator.families():
            for sample in family.samples:
                if sample.name.endswith("_total") or sample.name.endswith("_count"):
                    key = (sample.name, sample.labels["pod"])
                    assert sample.value >= previous.get(key, 0.0) - 1e-9
                    previous[key] = sample.value
    status = emulator.status()["servers"][SERVER]
    assert status["replicas"] == 4 and status["serving"] == 4  # ready after the 5 s start-up delay
    finished = sum(v for (name, _), v in previous.items() if name == "vllm:request_success_total")
    assert finished == pytest.approx(status["finished"])


# ---------------------------------------------------------------------------------- the daemon
class StaticDiscovery:
    def __init__(self, managed):
        self.managed = managed
        self.settings = DiscoverySettings()
        self.problems = {}

    def discover(self):
        return dict(self.managed)


def _daemon(tmp_path, answers=None, fail=None, **config):
    config = {"actuator": {"backend": "log"}, **config}
    doc = _config(tmp_path, state_path="state.json", cycle_log_path="cycles.jsonl", prometheus={"window_s": 10}, **config)
    c = load_config(doc, base_dir=tmp_path)
    now = [1_000_000.0]
    prometheus = FakePrometheus(c.prometheus, answers if answers is not None else _answers(now[0]), fail, lambda: now[0])
    d = Daemon(c, discovery=StaticDiscovery(_managed()), prometheus=prometheus, clock=lambda: now[0])  # type: ignore[arg-type]
    return d, now


def test_daemon_cycle_log_and_state(tmp_path):
    d, now = _daemon(tmp_path)
    first = d.cycle()
    assert first["outcome"] == "ok" and first["cycle"] == 1 and d.ready
    row = first["servers"][SERVER]
    assert row["offered_rps"] == pytest.approx(20.4) and row["deployment"] == "chat"
    assert set(first["timings_ms"]) == {"discovery", "sensor", "policy", "stabilizer", "actuator"}
    now[0] += 60
    d.cycle("invoke")
    lines = [json.loads(line) for line in (tmp_path / "cycles.jsonl").read_text().splitlines()]
    assert [line["cycle"] for line in lines] == [1, 2] and lines[1]["trigger"] == "invoke"
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["cycles"] == 2 and state["controller"]["policy"]["predictors"][SERVER]["_cycles"] == 2
    # A restart continues from the state: same forecast as the one that kept running.
    again, now2 = _daemon(tmp_path)
    assert again.cycles == 2
    now[0] += 60
    now2[0] = now[0]
    a, b = d.cycle(), again.cycle()
    assert a["cycle"] == b["cycle"] == 3
    assert a["servers"][SERVER]["forecast_rps"] == b["servers"][SERVER]["forecast_rps"]
    assert a["servers"][SERVER]["target"] == b["servers"][SERVER]["target"]


def test_daemon_refuses_a_corrupt_state(tmp_path):
    (tmp_path / "state.json").write_text("{not json")
    with pytest.raises(StateError, match="state_path .*state.json: cannot restore"):
        _daemon(tmp_path)


def test_daemon_sensor_failure_is_a_failed_cycle_that_holds(tmp_path):
    d, _ = _daemon(tmp_path, fail="Prometheus at http://x did not answer")
    line = d.cycle()
    assert line["outcome"] == "failed" and "did not answer" in line["error"] and not d.ready
    row = line["servers"][SERVER]
    assert row["hold"] and row["target"] == 2 and row["reason"] == "hold: metrics stale or missing"


def test_daemon_missing_demand_holds(tmp_path):
    now = 1_000_000.0
    d, _ = _daemon(tmp_path, answers=_answers(now, requests=None))
    row = d.cycle()["servers"][SERVER]
    assert row["hold"] and row["reason"] == "hold: demand metric missing" and row["offered_rps"] is None


def test_daemon_reports_servers_the_documents_do_not_know(tmp_path):
    d, _ = _daemon(tmp_path)
    extra = Managed("stranger", "default", "stranger", "mystery_7b", "Premium", "G2", 64, 1, ("s0",), (), {})
    d.discovery.managed["stranger"] = extra
    line = d.cycle()
    assert line["problems"] == {"default/stranger": "server 'stranger' is not in the documents, nor is its model 'mystery_7b'"}
    assert "stranger" not in line["servers"]


def test_period_loop_stop_waits_for_the_running_cycle(tmp_path):
    d, _ = _daemon(tmp_path)
    started, finished = threading.Event(), threading.Event()
    real = d._cycle

    def slow(trigger):
        started.set()
        time.sleep(0.3)
        out = real(trigger)
        finished.set()
        return out
    d._cycle = slow  # type: ignore[method-assign]
    loop = PeriodLoop(d)
    loop.start()
    assert started.wait(5)
    loop.stop()
    assert finished.is_set()
    assert len((tmp_path / "cycles.jsonl").read_text().splitlines()) == 1


# ---------------------------------------------------------------------------------- HTTP
def test_http_endpoints(tmp_path):
    d, now = _daemon(tmp_path)
    with TestClient(daemon_app(d, period_loop=False)) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/readyz").status_code == 503
        assert client.post("/invoke").status_code == 401
        assert client.post("/invoke", headers={"Authorization": "Bearer wrong"}).status_code == 401
        ok = client.post("/invoke", headers={"Authorization": "Bearer t0ken"})
        assert ok.status_code == 200 and ok.json()["cycle"] == 1
        assert client.get("/readyz").status_code == 200
        status = client.get("/status").json()
        assert status["cycles"] == 1 and status["last_cycle"]["servers"][SERVER]["target"] == 2
        text = client.get("/metrics").text
        assert ('inferno_desired_replicas{accelerator="G2",class="Premium",deployment="chat",model="llama3_8b",'
                'namespace="default"} 2.0') in text
        assert 'inferno_metrics_fresh{' in text and 'inferno_cycles_total{outcome="ok"} 1.0' in text
        assert 'inferno_offered_rps{server="chat-llama3_8b"} 20.4' in text


def test_http_bad_bodies_and_concurrency(tmp_path):
    d, _ = _daemon(tmp_path, http={"max_body_bytes": 4096})
    with TestClient(daemon_app(d, period_loop=False)) as client:
        assert client.post("/optimizeOne", content=b"x" * 5000).status_code == 413
        assert client.post("/optimizeOne", content=b"{not json").status_code == 400
        assert client.post("/optimizeOne", content=b"\xff\xfe").status_code == 400
        assert client.post("/optimizeOne", json=[1, 2]).status_code == 400
        bad = client.post("/optimizeOne", json={"system": {"serverData": {"servers": [{"name": 3}]}}})
        assert bad.status_code in (400, 404) and "error" in bad.json()
        headers = {"Authorization": "Bearer t0ken"}

        def call(i):
            return client.post("/invoke", headers=headers).status_code if i % 2 else client.get("/status").status_code
        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(call, range(32)))
        assert codes == [200] * 32
        assert client.get("/healthz").status_code == 200
    lines = [json.loads(line) for line in (tmp_path / "cycles.jsonl").read_text().splitlines()]
    assert [line["cycle"] for line in lines] == list(range(1, 17))  # one cycle at a time, none lost


def _system_data(sample):
    path = SAMPLES / sample / "system-data.json"
    if path.exists():
        return json.loads(path.read_text())
    names = {"accelerator-data.json": "acceleratorData", "model-data.json": "modelData",
             "serviceclass-data.json": "serviceClassData", "server-data.json": "serverData",
             "optimizer-data.json": "optimizerData", "capacity-data.json": "capacityData"}
    return {"system": {v: json.loads((SAMPLES / sample / k).read_text()) for k, v in names.items()}}


@pytest.mark.parametrize("sample", ["small", "large"])
def test_optimize_one_reproduces_the_reference(sample):
    """With the reference-v2 preset, the reference's own answers (samples/*/solution-data.json),
    allocation for allocation; without it, every server allocated at no more cost."""
    reference = json.loads((SAMPLES / sample / "solution-data.json").read_text())["allocations"]
    doc = _system_data(sample)
    code, body = optimize_one(doc)
    assert code == 200 and set(body["allocations"]) == set(reference)
    assert sum(a["cost"] for a in body["allocations"].values()) <= sum(a["cost"] for a in reference.values()) + 1e-9
    doc["system"]["optimizerData"]["optimizer"]["preset"] = "reference-v2"
    code, body = optimize_one(doc)
    assert code == 200 and set(body["allocations"]) == set(reference)
    for name, want in reference.items():
        got = body["allocations"][name]
        assert (got["accelerator"], got["numReplicas"], got["maxBatch"]) == (want["accelerator"], want["numReplicas"],
                                                                             want["maxBatch"])
        assert got["cost"] == pytest.approx(want["cost"], rel=1e-6)
        assert got["itlAverage"] == pytest.approx(want["itlAverage"], rel=1e-3)
        assert got["ttftAverage"] == pytest.approx(want["ttftAverage"], rel=1e-3)


def test_optimize_one_best_effort_then_404():
    doc = _system_data("small")
    doc["system"]["optimizerData"]["optimizer"]["saturationPolicy"] = "None"
    doc["system"]["capacityData"] = {"count": [{"type": t["type"], "count": max(1, t["count"] // 8)}
                                               for t in doc["system"]["capacityData"]["count"]]}
    code, body = optimize_one(doc)
    servers = {s["name"] for s in doc["system"]["serverData"]["servers"]}
    if code == 200:  # best effort by priority: every server has an allocation
        assert set(body["allocations"]) == servers and all(a["numReplicas"] >= 1 for a in body["allocations"].values())
    else:
        assert code == 404 and body["unallocated"]
    doc["system"]["capacityData"] = {"count": [{"type": t["type"], "count": 0} for t in doc["system"]["capacityData"]["count"]]}
    code, body = optimize_one(doc)
    assert code == 404 and {u["server"] for u in body["unallocated"]} == servers


def test_openapi_with_schemathesis(tmp_path):
    """Every operation of the controller's OpenAPI description, called with generated requests."""
    d, _ = _daemon(tmp_path, http={"max_body_bytes": 65536})
    d.cycle()  # ready: /readyz answers 200 (its 503 before the first read is the probe's protocol)
    # A SystemData that fits the schema can still be wrong in ways only the optimizer sees
    # (unknown keys, dangling names): its 400 names them, so schema-valid bodies need not succeed.
    called = _schemathesis_all(daemon_app(d, period_loop=False), headers={"Authorization": "Bearer t0ken"},
                               skip_positive={"/optimizeOne"})
    assert called == {"/healthz", "/readyz", "/metrics", "/status", "/invoke", "/optimizeOne"}


def test_tuner_gets_no_observation_from_young_pods_or_across_a_move(tmp_path):
    d, now = _daemon(tmp_path, tuning={"enabled": True}, startup_delay_s=60)
    started = {"p0": now[0] - 30, "p1": now[0] - 1000}  # p0 started 30 s ago: 60 s start-up + 10 s window not over
    d.discovery.managed[SERVER] = Managed(SERVER, "default", "chat", "llama3_8b", "Premium", "G2", 64, 2, ("p0", "p1"), (),
                                          started)
    d.cycle()
    assert d.tuning.last_observations == {}
    now[0] += 60
    d.cycle()  # now p0 is 90 s old
    assert list(d.tuning.last_observations) == [("llama3_8b", "G2")]
    # The batch cap changed: the next window (10 s) spans it, then observations resume.
    m = d.discovery.managed[SERVER]
    d.discovery.managed[SERVER] = Managed(SERVER, "default", "chat", "llama3_8b", "Premium", "G2", 32, 2, m.pods_serving, (),
                                          m.pod_started_s)
    for step in (5, 3, 4):  # seen at the first of these cycles; 3 and 7 s later the window still spans it
        now[0] += step
        d.cycle()
        assert d.tuning.last_observations == {}
    now[0] += 4  # 11 s after: a whole window since
    d.cycle()
    assert list(d.tuning.last_observations) == [("llama3_8b", "G2")]


def test_kubernetes_errors_are_per_server_with_the_reason_in_the_log_and_status(emulated, tmp_path):
    """The daemon against the emulator's API with a heavy load reported: the scale-up is refused
    with 500 (past the retries), then 403, each reason in the cycle log and /status; then it is
    applied once."""
    emulator, kube, _ = emulated
    (tmp_path / "token").write_text("t0ken\n")
    config = load_config({"documents": str(LIVE / "system-data.json"), "http": {"token_file": "token"},
                          "prometheus": {"window_s": 10}, "actuator": {"backend": "kubernetes", "retries": 1},
                          "discovery": {"namespaces": ["default"], "kubeconfig": str(kube)},
                          "cycle_log_path": "cycles.jsonl"}, base_dir=tmp_path)
    pods = ("chat-llama3-8b-0", "chat-llama3-8b-1")
    now = [time.time()]
    prometheus = FakePrometheus(config.prometheus, _answers(now[0], pods=pods, requests=60.0), clock=lambda: now[0])
    d = Daemon(config, prometheus=prometheus, clock=lambda: now[0])
    d.actuator.backoff_s = 0.01
    emulator.faults["chat-llama3-8b"] = [500, 500]
    line = d.cycle()
    row = line["servers"][SERVER]
    assert line["outcome"] == "held" and row["target"] > 2
    assert row["actuation_error"] == f"scaling to {row['target']}: 500 Internal Server Error"
    emulator.faults["chat-llama3-8b"] = [403]
    now[0] += 5
    line = d.cycle()
    assert line["servers"][SERVER]["actuation_error"] == f"scaling to {line['servers'][SERVER]['target']}: 403 Forbidden"
    with TestClient(daemon_app(d, period_loop=False)) as client:
        status = client.get("/status").json()
    assert status["last_cycle"]["servers"][SERVER]["actuation_error"].endswith("403 Forbidden")
    assert emulator.patches == []  # nothing got through
    now[0] += 5
    line = d.cycle()
    assert line["outcome"] == "ok" and line["servers"][SERVER]["actuation_error"] is None
    assert [p["replicas"] for p in emulator.patches] == [line["servers"][SERVER]["target"]]
    lines = [json.loads(x) for x in (tmp_path / "cycles.jsonl").read_text().splitlines()]
    assert [x["outcome"] for x in lines] == ["held", "held", "ok"]


def test_tuner_estimates_are_exported_with_their_bands_and_kappa(tmp_path):
    d, _ = _daemon(tmp_path)
    d.cycle()
    d.last = {**d.last, "estimates": [{"model": "llama3_8b", "accelerator": "G2", "alpha_ms": 10.5, "beta_ms": 0.05,
                                       "gamma_ms": 0.0015, "alpha_sd_ms": 0.25, "beta_sd_ms": 0.001, "gamma_sd_ms": 0.0001,
                                       "kappa": 12.5, "nis": 0.8}]}
    with TestClient(daemon_app(d, period_loop=False)) as client:
        text = client.get("/metrics").text
    assert 'inferno_tuner_estimate_ms{accelerator="G2",model="llama3_8b",parameter="alpha"} 10.5' in text
    assert 'inferno_tuner_stddev_ms{accelerator="G2",model="llama3_8b",parameter="alpha"} 0.25' in text
    assert 'inferno_tuner_kappa{accelerator="G2",model="llama3_8b"} 12.5' in text


def test_a_server_the_documents_do_not_list_is_adopted_once_its_shape_is_measured(tmp_path):
    d, now = _daemon(tmp_path)
    newcomer = Managed("newcomer", "default", "newcomer", "llama3_8b", "Premium", "G2", 64, 2, ("n0", "n1"), (), {})
    d.discovery.managed["newcomer"] = newcomer
    for query, values in d.sensor.client.by_query.items():  # the newcomer's pods report like the others
        values.update({("default", "n0"): values[("default", "p0")], ("default", "n1"): values[("default", "p1")]})
    first = d.cycle()
    assert first["problems"]["default/newcomer"] == "server 'newcomer' is not in the documents: adopted once its request shape is measured"
    assert first["adopted"] == ["newcomer"] and "newcomer" not in first["servers"]  # sensed, not yet controlled
    now[0] += 60
    second = d.cycle()
    row = second["servers"]["newcomer"]
    assert row["target"] == second["servers"][SERVER]["target"] and row["offered_rps"] == pytest.approx(20.4)
    assert "problems" not in second
    assert list(d.system.servers.index) == [SERVER]  # the documents are unchanged; the planner's copy has it
    assert "newcomer" in d.planner.system.servers.index
    assert d.documented["newcomer"] == ("llama3_8b", "Premium", 256.0, 64.0)
    # A restart remembers it.
    again, _ = _daemon(tmp_path)
    assert again.adopted == ["newcomer"] and "newcomer" in again.documented
    # One whose class has no target for its model is left alone, and said why.
    d.discovery.managed["stray"] = Managed("stray", "default", "stray", "llama3_8b", "Gold", "G2", 64, 1, ("n0",), (), {})
    line = d.cycle()
    assert line["problems"] == {"default/stray": "server 'stray' is not in the documents, and its class 'Gold' has no "
                                                 "target for 'llama3_8b' there"}


def test_prometheus_client_reloads_a_changed_ca_and_names_an_unreadable_one(tmp_path):
    import subprocess
    ca = tmp_path / "ca.pem"
    key = tmp_path / "key.pem"
    made = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(ca),
                           "-days", "1", "-subj", "/CN=test"], capture_output=True)
    if made.returncode != 0:
        pytest.skip("openssl cannot make a test certificate here")
    from inferno.control.prometheus import PrometheusClient
    client = PrometheusClient(PrometheusSettings(url="https://127.0.0.1:1", ca_file=ca, timeout_s=0.5))
    first = client._http
    client._fresh_ca()
    assert client._http is first  # unchanged file: the same client
    ca.write_text(ca.read_text() + "\n")  # rotated (here: one byte more)
    client._fresh_ca()
    assert client._http is not first
    ca.write_text("not a certificate")
    with pytest.raises(PrometheusError, match="cannot load the CA file"):
        client._fresh_ca()
    ca.rename(tmp_path / "bad.pem")
    with pytest.raises(PrometheusError, match="cannot read the CA file"):
        client.query("up")
    # At start, a CA file that is not a certificate is an error naming the key.
    with pytest.raises(ConfigError, match="prometheus.ca_file: not a CA bundle"):
        load_config(_config(tmp_path, prometheus={"ca_file": str(key.with_name("bad.pem"))}), base_dir=tmp_path)


def _schemathesis_all(app, headers=None, skip_positive=()):
    """Every operation of an app's OpenAPI description, with generated requests: answers that
    conform (status codes, content types, schemas) and never a 5xx."""
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import positive_data_acceptance
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    called = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=10, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
        def check(case):
            excluded = [positive_data_acceptance] if case.path in skip_positive else []
            case.call_and_validate(headers=headers, excluded_checks=excluded)
            called.append(case.path)
        check()
    return set(called)


def test_emulator_openapi_with_schemathesis():
    emulator = Emulator(load_scenario(LIVE / "emulator.yaml"))
    # The Kubernetes routes answer 404 for the many generated names that do not exist, and an
    # invalid change 422: documented, so schema-valid requests need not succeed.
    called = _schemathesis_all(emulator_app(emulator), skip_positive={
        "/emulator/faults", "/apis/apps/v1/namespaces/{namespace}/deployments/{name}",
        "/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale", "/apis/apps/v1/namespaces/{namespace}/deployments",
        "/api/v1/namespaces/{namespace}/pods"})
    assert called == {"/metrics", "/emulator/status", "/emulator/faults", "/apis/apps/v1/namespaces/{namespace}/deployments",
                      "/api/v1/namespaces/{namespace}/pods", "/apis/apps/v1/namespaces/{namespace}/deployments/{name}",
                      "/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"}


def test_webhook_openapi_with_schemathesis():
    import concurrent.futures

    from inferno.webhook import WebhookConfig
    from inferno.webhook.server import Metrics, webhook_app
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        called = _schemathesis_all(webhook_app(WebhookConfig(), Metrics(), pool))
    assert called == {"/healthz", "/metrics", "/mutate"}


def test_a_failed_discovery_keeps_the_last_decision_exported_and_says_why(tmp_path):
    d, now = _daemon(tmp_path, actuator={"backend": "metrics"})
    d.cycle()
    with TestClient(daemon_app(d, period_loop=False)) as client:
        before = client.get("/metrics").text

        def refuse():
            raise RuntimeError("the API server is unreachable")
        d.discovery.discover = refuse  # type: ignore[method-assign]
        now[0] += 60
        line = d.cycle()
        after = client.get("/metrics").text
    assert line["outcome"] == "failed" and line["error"] == "discovery: RuntimeError: the API server is unreachable"
    row = line["servers"][SERVER]
    assert row["hold"] and row["reason"] == "hold: discovery failed" and row["offered_rps"] is None
    desired = 'inferno_desired_replicas{accelerator="G2",class="Premium",deployment="chat",model="llama3_8b",namespace="default"} 2.0'
    assert desired in before and desired in after  # an HPA reading it is not told to scale down
    assert 'inferno_metrics_fresh{accelerator="G2",class="Premium",deployment="chat",model="llama3_8b",namespace="default"} 0.0' in after
    assert 'reason="hold: discovery failed"' in after and 'inferno_offered_rps{' not in after
