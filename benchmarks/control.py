"""Control-loop speed against its targets (prints figures; not a test).

What is measured (best of k runs, wall clock, one process):
1. One live cycle for the 27 servers of samples/large, sensor excluded: prediction, planning
   (the optimizer on the live state) and the stabilizer, given a snapshot. Target <= 50 ms.
2. A closed-loop run of samples/large under a diurnal load (3x peak to trough) around its
   documented rates for ``--hours`` (default 4) with a 60 s period, the inferno policy, one core,
   split into planning and the rest (mostly the simulators). Target <= 30 s for 24 h; the figure is
   also scaled to 24 h. A whole day at these rates is beyond the simulator's bound of 5e8 output
   tokens per run for the busiest servers (480 req/min x 1024 tokens), so it is not run as one.
3. A 1 h trace on one server (samples/control/conversation.yaml, inferno policy) with a 30 s
   period. Target <= 2 s.
4. The controller's memory for 1,000 servers: the stabilizer's and predictors' state after 60
   cycles of 1,000 synthetic servers (tracemalloc peak). Target <= 500 MB.

Usage: .venv/bin/python benchmarks/control.py [--hours H] [--repeat K]
"""

from __future__ import annotations

import argparse
import dataclasses
import time
import tracemalloc
from pathlib import Path

import inferno
from inferno.control import (ClosedLoop, PredictionSettings, Predictor, Stabilizer, load_scenario)
from inferno.control.planning import Planner
from inferno.control.policies import InfernoPolicy
from inferno.control.snapshot import FRESH, FleetSnapshot, ServerSnapshot

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def best(k: int, fn) -> float:
    times = []
    for _ in range(k):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def live_cycle(repeat: int) -> float:
    loop = ClosedLoop(load_scenario({"fleet": str(SAMPLES / "large"), "duration_s": 600, "period_s": 60,
                                     "policies": ["inferno"]}))
    policy = InfernoPolicy(Planner(loop.system))
    stabilizer = Stabilizer()
    servers = loop.info
    snapshot = FleetSnapshot(60.0, 60.0, {
        n: ServerSnapshot(n, FRESH, 0.0, loop.base_rps[n], loop.base_rps[n], i.in_tokens, i.out_tokens, 100.0, 20.0,
                          4.0, 0.1, 0.0, loop.setups[n].replicas, 0) for n, i in servers.items()})

    def cycle() -> None:
        want = policy.desire(snapshot, servers)
        for n, s in snapshot.servers.items():
            stabilizer.decide(60.0, n, serving=s.replicas_serving, starting=0, desired=want.desired[n])
    cycle()  # warm up
    return best(repeat, cycle)


def large_run(hours: float) -> tuple[float, float, float]:
    scenario = load_scenario({"fleet": str(SAMPLES / "large"), "duration_s": 3600 * hours, "period_s": 60,
                              "workload": {"kind": "diurnal", "peak_to_trough": 3, "period_s": 86400},
                              "policies": ["inferno"]})
    loop = ClosedLoop(scenario)
    planner_time = [0.0]
    original = Planner.plan

    def timed(self, *a, **k):
        t0 = time.perf_counter()
        try:
            return original(self, *a, **k)
        finally:
            planner_time[0] += time.perf_counter() - t0
    Planner.plan = timed  # type: ignore[method-assign]
    try:
        t0 = time.perf_counter()
        loop.run("inferno")
        total = time.perf_counter() - t0
    finally:
        Planner.plan = original  # type: ignore[method-assign]
    return total, planner_time[0], float(sum(len(a) for a in loop.arrivals.values()))


def trace_run(repeat: int) -> float:
    scenario = dataclasses.replace(load_scenario(SAMPLES / "control" / "conversation.yaml"), period_s=30.0)
    loop = ClosedLoop(scenario)
    return best(repeat, lambda: loop.run("inferno"))


def memory_1000() -> float:
    tracemalloc.start()
    stabilizer = Stabilizer()
    predictors = {f"s{i}": Predictor(PredictionSettings()) for i in range(1000)}
    for k in range(60):
        for i, (name, p) in enumerate(predictors.items()):
            rate = 1 + (i % 17) + (k % 5)
            p.observe(rate, 60)
            p.forecast(180)
            stabilizer.decide(60.0 * k, name, serving=4, starting=0, desired=3 + (k % 3))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hours", type=float, default=4.0)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    print(f"inferno {inferno.__version__}")
    cycle_s = live_cycle(args.repeat)
    print(f"1. one live cycle, 27 servers (samples/large), sensor excluded: {1000 * cycle_s:.1f} ms (target <= 50 ms)")
    total, planning, requests = large_run(args.hours)
    print(f"2. closed loop, samples/large, {args.hours:g} h, 60 s period, inferno policy: {total:.1f} s "
          f"(planning {planning:.1f} s, simulation and the rest {total - planning:.1f} s; {requests:.0f} requests); "
          f"scaled to 24 h: {total * 24 / args.hours:.0f} s (target <= 30 s)")
    trace_s = trace_run(max(1, args.repeat // 2))
    print(f"3. closed loop, 1 h conversation trace, one server, 30 s period: {trace_s:.2f} s (target <= 2 s)")
    print(f"4. controller state for 1,000 servers after 60 cycles: {memory_1000():.1f} MB peak (target <= 500 MB)")


if __name__ == "__main__":
    main()
