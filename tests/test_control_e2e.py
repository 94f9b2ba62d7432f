"""End to end, on this machine: the emulator (a simulated fleet behind vLLM metrics and the
Kubernetes API subset), a real Prometheus (Debian's package, installed by scripts/setup.sh) that
scrapes it and the controller every second, and the controller at a 5 s period acting through the
official Kubernetes client. One run of about 100 s (docs/control-live.md, "End-to-end test"):

1. a load step x3 (the emulator's scenario, at 20 s): a scale-up within 2 periods of the cycle
   that first sees it;
2. Prometheus stopped for 20 s: every cycle then fails its sensor read, holds every server,
   ``inferno_metrics_fresh`` is 0, no replica is removed; after the restart the cycles are
   fresh again within 4 periods;
3. the controller stopped (SIGTERM) and started again: the cycle count and the predictors go on
   from the persisted state, and no change is applied twice;
4. ``inferno_desired_replicas`` is in Prometheus and equals the Deployment's replicas, and
   every PromQL expression of the Grafana dashboard evaluates without error.

Everything binds to 127.0.0.1 and every wait is bounded.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx")

pytestmark = pytest.mark.live

REPO = Path(__file__).resolve().parents[1]
LIVE = REPO / "samples" / "control" / "live"
DASHBOARD = REPO / "deploy" / "grafana" / "inferno-dashboard.json"
PERIOD_S = 5.0
STEP_AT_S = 20.0  # samples/control/live/emulator.yaml
SERVER = "chat-llama3_8b"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(what: str, check, timeout_s: float, every_s: float = 0.25):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            value = check()
        except (httpx.HTTPError, OSError, ValueError, KeyError):
            value = None
        if value:
            return value
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")


class Live:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.em_port, self.ctl_port, self.prom_port = _port(), _port(), _port()
        self.procs: dict[str, subprocess.Popen] = {}
        for name in ("system-data.json", "emulator.yaml"):
            shutil.copy(LIVE / name, tmp / name)
        (tmp / "token").write_text("s3cret\n")
        (tmp / "prometheus.yml").write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\nscrape_configs:\n"
            f"  - {{job_name: emulator, honor_labels: true, static_configs: [{{targets: ['127.0.0.1:{self.em_port}']}}]}}\n"
            f"  - {{job_name: controller, static_configs: [{{targets: ['127.0.0.1:{self.ctl_port}']}}]}}\n")
        (tmp / "controller.yaml").write_text(
            f"documents: system-data.json\nperiod_s: {PERIOD_S}\nstartup_delay_s: 5\nstate_path: state.json\n"
            f"cycle_log_path: cycles.jsonl\nhttp: {{port: {self.ctl_port}, token_file: token}}\n"
            f"prometheus: {{url: 'http://127.0.0.1:{self.prom_port}', window_s: 10}}\n"
            "discovery: {namespaces: [default], kubeconfig: kubeconfig.yaml}\n"
            "actuator: {backend: kubernetes}\nstabilizer: {scale_down_window_s: 20}\n")
        self.http = httpx.Client(timeout=5.0)

    def start(self, name: str, args: list[str]) -> None:
        log = open(self.tmp / f"{name}.log", "ab")
        self.procs[name] = subprocess.Popen(args, cwd=self.tmp, stdout=log, stderr=subprocess.STDOUT)

    def stop(self, name: str, timeout_s: float = 20.0) -> int:
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError(f"{name} did not stop within {timeout_s:g} s of SIGTERM") from None

    def start_emulator(self) -> None:
        self.start("emulator", [sys.executable, "-m", "inferno", "control", "emulate", "emulator.yaml",
                                "--port", str(self.em_port), "--kubeconfig", "kubeconfig.yaml"])
        _wait("the emulator", lambda: self.http.get(f"http://127.0.0.1:{self.em_port}/emulator/status").status_code == 200, 30)
        self.em_started = time.monotonic()

    def start_prometheus(self) -> None:
        binary = shutil.which("prometheus") or "/usr/bin/prometheus"
        assert os.path.exists(binary), "Prometheus is missing: scripts/setup.sh installs Debian's prometheus package"
        self.start("prometheus", [binary, "--config.file=prometheus.yml", f"--web.listen-address=127.0.0.1:{self.prom_port}",
                                  f"--storage.tsdb.path={self.tmp / 'tsdb'}", "--log.level=warn"])
        _wait("Prometheus", lambda: self.http.get(f"http://127.0.0.1:{self.prom_port}/-/ready").status_code == 200, 30)

    def start_controller(self) -> None:
        self.start("controller", [sys.executable, "-m", "inferno", "control", "run", "controller.yaml"])
        _wait("the controller", lambda: self.http.get(f"http://127.0.0.1:{self.ctl_port}/healthz").status_code == 200, 30)

    def cycles(self) -> list[dict]:
        path = self.tmp / "cycles.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def emulator(self) -> dict:
        return self.http.get(f"http://127.0.0.1:{self.em_port}/emulator/status").json()

    def promql(self, query: str) -> dict:
        return self.http.get(f"http://127.0.0.1:{self.prom_port}/api/v1/query", params={"query": query}).json()

    def metric(self, name: str) -> list[tuple[dict, float]]:
        """The controller's samples of one metric: (labels, value)."""
        from prometheus_client.parser import text_string_to_metric_families
        text = self.http.get(f"http://127.0.0.1:{self.ctl_port}/metrics").text
        return [(s.labels, s.value) for f in text_string_to_metric_families(text) for s in f.samples if s.name == name]

    def close(self) -> None:
        for name in list(self.procs):
            try:
                self.stop(name, 10)
            except AssertionError:
                pass
        self.http.close()


def _row(cycle: dict) -> dict:
    return cycle.get("servers", {}).get(SERVER, {})


def test_live_loop_against_real_prometheus(tmp_path):
    live = Live(tmp_path)
    timeline: list[str] = []
    try:
        live.start_emulator()
        live.start_prometheus()
        live.start_controller()
        initial = live.emulator()["servers"][SERVER]["replicas"]
        _wait("readiness", lambda: live.http.get(f"http://127.0.0.1:{live.ctl_port}/readyz").status_code == 200, 30)

        # POST /invoke: 401 without the token, a cycle with it.
        assert live.http.post(f"http://127.0.0.1:{live.ctl_port}/invoke").status_code == 401
        invoked = live.http.post(f"http://127.0.0.1:{live.ctl_port}/invoke", headers={"Authorization": "Bearer s3cret"},
                                 timeout=30)
        assert invoked.status_code == 200 and invoked.json()["trigger"] == "invoke"

        # 1. The step: the first cycle that sees it, then a scale-up within two periods.
        seen = _wait("a cycle that sees the step", lambda: next(
            (c for c in live.cycles() if (_row(c).get("offered_rps") or 0) > 1.5 * 30), None), STEP_AT_S + 40)
        scaled = _wait("the scale-up", lambda: next(
            (c for c in live.cycles() if c["cycle"] >= seen["cycle"] and _row(c).get("target", 0) > _row(c).get("serving", 0)
             + _row(c).get("starting", 0)), None), 3 * PERIOD_S + 5)
        assert scaled["time_s"] - seen["time_s"] <= 2 * PERIOD_S + 1.0, (seen, scaled)
        _wait("the emulator's replicas to grow", lambda: live.emulator()["servers"][SERVER]["replicas"] > initial, 10)

        # 2. Prometheus stops for 20 s.
        before_outage = live.emulator()["servers"][SERVER]["replicas"]
        n_before = len(live.cycles())
        live.stop("prometheus")
        outage_started = time.time()
        _wait("a cycle during the outage", lambda: len(live.cycles()) >= n_before + 2, 3 * PERIOD_S)
        fresh = [v for labels, v in live.metric("inferno_metrics_fresh") if labels["deployment"] == "chat-llama3-8b"]
        assert fresh == [0.0]
        holds = [labels["reason"] for labels, v in live.metric("inferno_hold") if v == 1.0]
        assert holds == ["hold: metrics stale or missing"]
        time.sleep(max(0.0, 20 - (time.time() - outage_started)))
        during = [c for c in live.cycles()[n_before:] if c["time_s"] >= outage_started]
        assert during and all(c["outcome"] == "failed" and "sensor" in c["error"] for c in during)
        assert all(_row(c)["hold"] and _row(c)["target"] >= _row(c)["serving"] + _row(c)["starting"] for c in during)
        assert live.emulator()["servers"][SERVER]["replicas"] >= before_outage
        live.start_prometheus()
        restarted = time.time()
        recovered = _wait("a fresh cycle after the outage", lambda: next(
            (c for c in live.cycles() if c["time_s"] > restarted and _row(c).get("state") == "fresh"), None), 4 * PERIOD_S + 5)
        assert recovered["time_s"] - restarted <= 4 * PERIOD_S
        assert live.emulator()["servers"][SERVER]["replicas"] >= before_outage

        # 3. The controller restarts: nothing forgotten, nothing repeated.
        state = json.loads((tmp_path / "state.json").read_text())
        cycles_before = state["cycles"]
        predictor_cycles = state["controller"]["policy"]["predictors"][SERVER]["_cycles"]
        assert live.stop("controller") == 0
        last = live.cycles()[-1]  # complete: SIGTERM let the running cycle finish
        patches_before = len(live.emulator()["patches"])
        live.start_controller()
        after = _wait("a cycle after the restart", lambda: next(
            (c for c in live.cycles() if c["cycle"] > last["cycle"]), None), 3 * PERIOD_S)
        assert after["cycle"] == cycles_before + 1
        # The predictor learns from fresh metrics with an offered load only: the first cycles after a
        # restart may still find them stale on a loaded machine (Prometheus scrapes every second, the
        # window is 10 s), and the offered load needs two scrapes of the counters. So: wait, within
        # a few periods, for the persisted predictor to have learned from a new window.
        _wait("the predictor learning again after the restart", lambda: json.loads(
            (tmp_path / "state.json").read_text())["controller"]["policy"]["predictors"][SERVER]["_cycles"]
            > predictor_cycles or None, 5 * PERIOD_S)
        patches = live.emulator()["patches"]
        replicas = [p["replicas"] for p in patches if "replicas" in p]
        assert all(a != b for a, b in zip(replicas, replicas[1:])), patches  # never the same change twice
        assert len(patches) >= patches_before

        # 4. The gauges in Prometheus, and the dashboard's every expression.
        desired = _wait("inferno_desired_replicas in Prometheus",
                        lambda: live.promql('inferno_desired_replicas{deployment="chat-llama3-8b"}')["data"]["result"], 15)
        assert desired[0]["metric"]["accelerator"] == "G2"
        dashboard = json.loads(DASHBOARD.read_text())
        exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
        assert len(exprs) >= 8
        for expr in exprs:
            answer = live.promql(expr.replace("$__rate_interval", "1m"))
            assert answer["status"] == "success", (expr, answer)
        timeline = [f"{c['cycle']:>3} t={c['time_s'] - live.cycles()[0]['time_s']:6.1f}s {c['outcome']:6} "
                    f"{_row(c).get('state', '-'):11} offered={_row(c).get('offered_rps') or 0:6.1f} "
                    f"serving={_row(c).get('serving', '-')} starting={_row(c).get('starting', '-')} "
                    f"target={_row(c).get('target', '-')} {_row(c).get('reason', c.get('error', ''))}"
                    for c in live.cycles()]
    finally:
        live.close()
    (tmp_path / "timeline.txt").write_text("\n".join(timeline) + "\n")
    print("\n".join(timeline))
