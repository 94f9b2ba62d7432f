"""One live cycle of the daemon on samples/large (27 servers), stage by stage (prints figures;
not a test). Discovery and Prometheus are replaced by in-memory answers, so the figures are the
controller's own work: the spec's target is 50 ms a cycle for 27 servers, sensor excluded.

Each server runs its first plan's allocation (G2, A100, ... and batch cap), two pods per replica
report the documented load with a little noise, and the cycles are 60 s apart.

Usage: .venv/bin/python benchmarks/control_live_cycle.py [--cycles N]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
from pathlib import Path

import inferno
from inferno.control.cluster import Managed
from inferno.control.config import DiscoverySettings, load_config
from inferno.control.daemon import Daemon

LARGE = inferno.samples_path() / "large"


class Discovery:
    def __init__(self, managed: dict[str, Managed]) -> None:
        self.managed, self.settings, self.problems = managed, DiscoverySettings(), {}

    def discover(self) -> dict[str, Managed]:
        return dict(self.managed)


class Prometheus:
    """Per pod: the server's documented rate and request shape split over its pods, with 5 %
    noise, and samples 3 s old."""

    def __init__(self, config, managed: dict[str, Managed], rates: dict[str, tuple[float, float, float]], clock) -> None:
        self.names = {config.prometheus.query(n, ("default",)): n for n in config.prometheus.queries}
        self.managed, self.rates, self.clock = managed, rates, clock
        self.rng = random.Random(1)

    def query(self, promql: str, at_s: float | None = None) -> dict[tuple[str, str], float]:
        name = self.names[promql]
        out = {}
        for server, m in self.managed.items():
            rate, n, tokens_out = self.rates[server]
            per_pod = rate / len(m.pods_serving) * (1 + 0.05 * self.rng.uniform(-1, 1))
            value = {"requests": per_pod, "prompt_tokens": per_pod * n, "generation_tokens": per_pod * tokens_out,
                     "ttft_sum": per_pod * 0.2, "ttft_count": per_pod, "itl_sum": per_pod * tokens_out * 0.03,
                     "itl_count": per_pod * tokens_out, "running": 8.0, "waiting": 0.5, "in_system_now": 8.5,
                     "in_system_before": 8.5, "kv_cache_usage": 0.4, "newest_sample": self.clock() - 3}[name]
            for pod in m.pods_serving:
                out[(m.namespace, pod)] = value
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=30)
    args = parser.parse_args()
    system = inferno.optimizer.load(LARGE)
    plan = system.optimize().allocations
    servers = system.servers
    managed, rates = {}, {}
    for name, row in plan.iterrows():
        pods = tuple(f"{name.lower()}-{i}" for i in range(int(row["replicas"])))
        managed[name] = Managed(name, "default", name.lower(), str(servers.loc[name, "model"]),
                                str(servers.loc[name, "service_class"]), str(row["accelerator"]), int(row["batch"]),
                                len(pods), pods, (), {})
        rates[name] = (float(servers.loc[name, "arrival_rate_rpm"]) / 60, float(servers.loc[name, "in_tokens"]),
                       float(servers.loc[name, "out_tokens"]))
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "kube").write_text("")
        config = load_config({"documents": str(LARGE), "http": {"auth": "none"}, "actuator": {"backend": "log"},
                              "discovery": {"namespaces": ["default"], "kubeconfig": "kube"},
                              "state_path": "state.json", "cycle_log_path": "cycles.jsonl"}, base_dir=tmp)
        now = [1.8e9]
        daemon = Daemon(config, discovery=Discovery(managed), prometheus=Prometheus(config, managed, rates, lambda: now[0]),
                        clock=lambda: now[0])
        lines = []
        for _ in range(args.cycles):
            lines.append(daemon.cycle())
            now[0] += 60
        lines = lines[3:]  # the first cycles fill the predictors' history
        stages = ["discovery", "sensor", "policy", "stabilizer", "actuator"]
        print(f"samples/large: {len(managed)} servers, {sum(len(m.pods_serving) for m in managed.values())} pods, "
              f"{len(lines)} cycles (after 3 warm-up cycles)")
        print("| stage | median (ms) | max (ms) |\n|---|---|---|")
        for stage in stages:
            values = [line["timings_ms"][stage] for line in lines]
            print(f"| {stage} | {statistics.median(values):.2f} | {max(values):.2f} |")
        whole = [line["duration_ms"] for line in lines]
        without_sensor = [line["duration_ms"] - line["timings_ms"]["sensor"] - line["timings_ms"]["discovery"] for line in lines]
        print(f"| whole cycle (log line and state file included) | {statistics.median(whole):.2f} | {max(whole):.2f} |")
        print(f"| cycle without sensor and discovery | {statistics.median(without_sensor):.2f} | {max(without_sensor):.2f} |")
        state = (Path(tmp) / "state.json").stat().st_size
        print(f"state file: {state / 1024:.1f} KiB; outcomes: "
              f"{ {o: sum(line['outcome'] == o for line in lines) for o in ('ok', 'held', 'failed')} }")


if __name__ == "__main__":
    main()
