"""Simulator speed: simulated requests per second of wall time (prints figures; not a test).

What is measured, each figure the best of k runs of ``inferno.simulate`` (wall time of the Python
call, including the conversion of the results into a Series and DataFrames):
1. The target case: one server at 100 req/s for one simulated hour (about 360k requests), iteration
   mode, α = 5 ms, β = 0.005 ms/token, γ = 3e-6 ms/token², 128 prompt tokens, geometric output
   lengths with mean 512, N = 1024, Q = 4N, token budget 8192 (the server of
   cpp/bench/bench_sim.cpp, stable at 100 req/s with a mean batch of about 440), with
   ``keep_requests=False`` and ``sample_interval_s=0`` (summary only).
2. The same with the per-request records and the 1-second time series (``keep_requests=True``,
   ``sample_interval_s=1``): the cost of the DataFrames.
3. The same server in ``mode="markov"`` (completions at the model's rates μ_B; no engine loop).
4. A fleet of 4 such replicas behind round-robin and join-shortest-queue routers at 400 req/s
   (4x the requests).

Shown per case: wall time, simulated requests (arrivals) per second of wall time, engine
iterations (``summary["iterations"]``) and iterations per second, the mean batch (time average of
the requests in service, per replica), mean TTFT and ITL, and CPU time / wall time (about 1: a run
uses one thread; the GIL is released while it runs, but the simulation itself is sequential).

The C++ program cpp/bench/bench_sim.cpp (built only with -DINFERNO_BUILD_BENCHMARKS=ON) times the
target case without Python: ``bench_sim 100 3600 1024 512``.

Usage: .venv/bin/python benchmarks/simulate.py [--quick] [--repeat K] [--duration SEC]
A full run takes about 10-15 s; --quick (one run each, the fleets over 10 minutes) 2-3 s.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import inferno

SERVER = dict(alpha=5.0, beta=0.005, gamma=3e-6, in_tokens=128, out_tokens=512, max_batch=1024, max_queue=4096,
              max_num_tokens=8192)
RATE = 100.0                         # req/s per replica
TARGET_DURATION, TARGET_SECONDS = 3600.0, 2.0   # one simulated hour in <= 2 s of wall time


# ---------------------------------------------------------------------------- measurement
def best_of(k: int, **kwargs: Any) -> dict[str, Any]:
    """Best wall time over k runs of ``inferno.simulate(model, **kwargs)`` (deterministic: the
    same seed gives the same run), with the CPU time of that run and the last summary."""
    model = inferno.QueueModel(**SERVER)
    best: dict[str, Any] = {"wall": float("inf")}
    for _ in range(k):
        cpu0, wall0 = time.process_time(), time.perf_counter()
        run = inferno.simulate(model, out_tokens="geometric", seed=1, **kwargs)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        if wall < best["wall"]:
            best.update(wall=wall, cpu=cpu, run=run)
    return best


def row(label: str, res: dict[str, Any]) -> None:
    s = res["run"].summary
    wall, arrivals, iterations = res["wall"], int(s["total_arrivals"]), int(s["iterations"])
    batch = s["num_in_service"] / s["mean_replicas"] if s["mean_replicas"] > 0 else float("nan")
    print(f"  {label:<44} | {wall:>7.3f} {arrivals:>9} {arrivals / wall:>10.0f} | {iterations:>9} "
          f"{iterations / wall:>10.0f} | {batch:>6.1f} {s['ttft_ms_mean']:>8.2f} {s['itl_ms_mean']:>6.2f} "
          f"{int(s['total_blocked']):>7} | {res['cpu'] / wall:>4.2f}")


def run(k: int, duration: float, fleet_duration: float) -> dict[str, dict[str, Any]]:
    print(f"\nRuns (best of {k}; wall s; req/s = simulated requests per second of wall time; batch = "
          f"time-average requests in service per replica; TTFT/ITL in ms; cpu = CPU time / wall)")
    print(f"  {'case':<44} | {'wall_s':>7} {'requests':>9} {'req/s':>10} | {'iters':>9} {'iters/s':>10} | "
          f"{'batch':>6} {'TTFT':>8} {'ITL':>6} {'blocked':>7} | {'cpu':>4}")
    lean = dict(keep_requests=False, sample_interval_s=0.0)
    cases = {
        "target": (f"1 server, {RATE:g} req/s, {duration:g} s, summary only",
                   dict(rate_rps=RATE, duration_s=duration, **lean)),
        "records": ("  same, keep_requests=True + 1 s series",
                    dict(rate_rps=RATE, duration_s=duration, keep_requests=True, sample_interval_s=1.0)),
        "markov": ("  same, mode='markov'", dict(rate_rps=RATE, duration_s=duration, mode="markov", **lean)),
        "fleet-rr": (f"4 replicas, round-robin, {4 * RATE:g} req/s, {fleet_duration:g} s",
                     dict(rate_rps=4 * RATE, duration_s=fleet_duration, replicas=4, **lean)),
        "fleet-jsq": (f"4 replicas, jsq, {4 * RATE:g} req/s, {fleet_duration:g} s",
                      dict(rate_rps=4 * RATE, duration_s=fleet_duration, replicas=4, router="jsq", **lean)),
    }
    results = {}
    for key, (label, kwargs) in cases.items():
        results[key] = best_of(k, **kwargs)
        row(label, results[key])
    records = results["records"]["run"]
    print(f"\n  keep_requests=True returned {len(records.requests)} request rows and {len(records.series)} "
          f"series rows; the records cost {results['records']['wall'] - results['target']['wall']:+.3f} s")
    return results


def run_targets(results: dict[str, dict[str, Any]], duration: float) -> None:
    print("\nTargets (measured on this machine; one run = one thread):")
    res = results["target"]
    s = res["run"].summary
    rate = s["total_arrivals"] / res["wall"]
    if duration == TARGET_DURATION:
        verdict = "met" if res["wall"] <= TARGET_SECONDS else "NOT met"
        print(f"  {'1 simulated hour, 1 server, 100 req/s, ~512 output tokens':<60} "
              f"{int(s['total_arrivals'])} requests in {res['wall']:.3f} s <= {TARGET_SECONDS:g} s  [{verdict}]")
    else:  # a shorter run: the hour extrapolated at the measured rate
        hour = RATE * TARGET_DURATION / rate
        verdict = "met" if hour <= TARGET_SECONDS else "NOT met"
        print(f"  {'1 simulated hour, 1 server, 100 req/s (extrapolated)':<60} "
              f"~{RATE * TARGET_DURATION:.0f} requests in ~{hour:.3f} s <= {TARGET_SECONDS:g} s  [{verdict}]")
    print(f"  {'  (simulated requests per second of wall time)':<60} {rate:.0f} req/s "
          f"(the target needs {RATE * TARGET_DURATION / TARGET_SECONDS:.0f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one run each; the fleets over 600 s")
    parser.add_argument("--repeat", type=int, default=None, help="best of K runs (default 3, --quick 1)")
    parser.add_argument("--duration", type=float, default=TARGET_DURATION,
                        help=f"simulated seconds of the single-server runs (default {TARGET_DURATION:g}, the target)")
    args = parser.parse_args()
    k = args.repeat if args.repeat is not None else (1 if args.quick else 3)
    if k < 1:
        parser.error("--repeat must be >= 1")
    if not args.duration > 0:
        parser.error("--duration must be > 0")
    fleet_duration = min(args.duration, 600.0) if args.quick else args.duration

    start = time.perf_counter()
    print(f"inferno {inferno.__version__}, {os.cpu_count()} CPUs; server alpha={SERVER['alpha']}, "
          f"beta={SERVER['beta']}, gamma={SERVER['gamma']}, n={SERVER['in_tokens']}, m={SERVER['out_tokens']} "
          f"(geometric), N={SERVER['max_batch']}, Q={SERVER['max_queue']}; Poisson arrivals, seed 1, "
          f"warm-up 10 %")
    results = run(k, args.duration, fleet_duration)
    run_targets(results, args.duration)
    print(f"\n(benchmark took {time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
