"""Model-tuner speed: EKF updates per second of the parameter filter (prints figures; not a test).

What is measured, at N = 64 and 256 (the server's max batch size in the observations; also N = 16
and 1024 unless --quick), each figure the best of k runs on a fresh filter:
1. ``ParameterFilter.steps(obs, records=False)``: one EKF update per observation in C++ with the
   GIL released, returning only the outcome names (the cheapest path from Python; the time
   includes converting the observation dicts). This is the figure the target refers to.
2. The same with ``records=True`` (a dict per step: innovations, NIS, ...).
3. ``inferno.Tuner.update`` once per observation (a full control cycle: process noise, the step,
   the estimate and a history row built in Python), on fewer observations.
4. Model evaluations per update: an update of the three parameters (α, β, γ) evaluates the
   queueing model 1 + 2·3 = 7 times (prediction plus a central-difference Jacobian), and the
   model's cost grows with N (N + max_queue + 1 states; here max_queue = 4N). Shown: us/update / 7
   (an upper bound of one evaluation inside the update; it includes the filter's algebra) next to
   one ``inferno.tuner.predict`` call from Python (which also builds the model and converts the
   arguments, so it is not the in-filter cost).

Observations are synthetic: the model's TTFT and ITL at α=8, β=0.016, γ=0.0005 times
(1 + 5 % Gaussian noise), over 105 operating points cycling the rate through 30..110 RPM, the
prompt through 500..2300 tokens and the output through 300..500 tokens; max_queue = 4N. The
filter starts at the true parameters (the ``inferno`` profile, log parameters), so the figures
are steady-state updates (every step of the bare filter is accepted). ``Tuner.update`` also screens
saturation and skips the few operating points the model finds saturated (no filter step: cheaper),
which is why fewer of its observations are accepted.

The C++ program cpp/bench/bench_tuner.cpp (built only with -DINFERNO_BUILD_BENCHMARKS=ON) times
the same loop without Python: ``bench_tuner N updates repeats``.

Usage: .venv/bin/python benchmarks/tuner.py [--quick] [--repeat K] [--updates U]
A full run takes about 15-25 s; --quick (N = 64 and 256, fewer repetitions) a few seconds.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import numpy as np

import inferno
from inferno import tuner as T

CONFIG = "prefill-decode"
TRUTH = (8.0, 0.016, 0.0005)  # alpha (ms), beta (ms/token), gamma (ms/token^2)
NOISE = 0.05
EVALS_PER_UPDATE = 1 + 2 * len(TRUTH)  # prediction + central differences
TARGET_N, TARGET_RATE = 64, 20_000.0


# ---------------------------------------------------------------------------- observations
def operating_point(k: int, n: int) -> dict[str, float]:
    return {"rate_rpm": 30.0 + 20.0 * (k % 5), "in_tokens": 500.0 + 300.0 * (k % 7),
            "out_tokens": 300.0 + 100.0 * (k % 3), "max_batch": n, "max_queue": 4 * n}


def observations(n: int, count: int, seed: int = 1) -> list[dict[str, float]]:
    """``count`` noisy observations at max batch ``n`` (deterministic for a seed)."""
    rng = np.random.default_rng(seed)
    exact: dict[int, dict[str, float]] = {}
    out = []
    for k in range(count):
        point = operating_point(k, n)
        key = k % 105  # 5 rates x 7 prompts x 3 outputs
        if key not in exact:
            exact[key] = T.predict(point, TRUTH, CONFIG)
        e = rng.normal(0.0, NOISE, 2)
        out.append({**point, "ttft_ms": exact[key]["ttft_ms"] * (1.0 + e[0]),
                    "itl_ms": exact[key]["itl_ms"] * (1.0 + e[1])})
    return out


# ---------------------------------------------------------------------------- measurement
def time_steps(obs: list[dict[str, float]], k: int, records: bool) -> tuple[float, dict[str, int]]:
    """Best wall time (s) of ``ParameterFilter.steps`` over all observations, and the outcome counts."""
    best, counts = float("inf"), {}
    for _ in range(k):
        f = T.Filter(CONFIG, seed=TRUTH)
        start = time.perf_counter()
        f._core.steps(obs, False, False, records)
        best = min(best, time.perf_counter() - start)
        counts = f.outcome_counts
    return best, counts


def time_tuner(obs: list[dict[str, float]], k: int) -> tuple[float, dict[str, int]]:
    """Best wall time (s) of one ``Tuner.update`` per observation, and the outcome counts."""
    best, counts = float("inf"), {}
    for _ in range(k):
        tuner = inferno.Tuner(CONFIG, init=TRUTH)
        start = time.perf_counter()
        for o in obs:
            tuner.update(o)
        best = min(best, time.perf_counter() - start)
        counts = tuner.outcome_counts
    return best, counts


def time_predict(n: int, k: int) -> float:
    """Best mean time (s) of one ``inferno.tuner.predict`` call over the 105 operating points."""
    points = [operating_point(i, n) for i in range(105)]
    best = float("inf")
    for _ in range(k):
        start = time.perf_counter()
        for p in points:
            T.predict(p, TRUTH, CONFIG)
        best = min(best, (time.perf_counter() - start) / len(points))
    return best


def accepted(counts: dict[str, int]) -> int:
    return counts.get("accepted", 0) + counts.get("accepted_downweighted", 0)


# ---------------------------------------------------------------------------- report
def run(ns: tuple[int, ...], updates: int, tuner_updates: int, k: int) -> dict[int, dict[str, Any]]:
    print(f"\nEKF updates (best of {k}; updates/s = updates / best wall time; accepted = accepted or "
          f"down-weighted by the gate, of the updates)")
    print(f"  {'N':>5} {'path':<38} | {'updates':>7} {'best_ms':>9} {'updates/s':>10} {'us/update':>10} | "
          f"{'accepted':>8}")
    results: dict[int, dict[str, Any]] = {}
    for n in ns:
        obs = observations(n, max(updates, tuner_updates))
        res: dict[str, Any] = {}
        runs = (("steps", "ParameterFilter.steps(records=False)", lambda: time_steps(obs[:updates], k, False), updates),
                ("records", "ParameterFilter.steps(records=True)", lambda: time_steps(obs[:updates], k, True), updates),
                ("tuner", "Tuner.update (Python, with history)", lambda: time_tuner(obs[:tuner_updates], k),
                 tuner_updates))
        for key, label, fn, count in runs:
            best, counts = fn()
            res[key] = {"seconds": best, "updates": count, "rate": count / best, "us": 1e6 * best / count,
                        "accepted": accepted(counts)}
            r = res[key]
            print(f"  {n:>5} {label:<38} | {count:>7} {1e3 * best:>9.2f} {r['rate']:>10.0f} {r['us']:>10.1f} | "
                  f"{r['accepted']:>8}")
        res["predict_us"] = 1e6 * time_predict(n, max(k, 3))
        results[n] = res

    print(f"\nModel evaluations per update: {EVALS_PER_UPDATE} (1 prediction + 2 x {len(TRUTH)} central "
          f"differences); the target ({TARGET_RATE:.0f}/s) allows {1e6 / TARGET_RATE:.0f} us per update, "
          f"{1e6 / TARGET_RATE / EVALS_PER_UPDATE:.1f} us per evaluation")
    print(f"  {'N':>5} | {'us/update':>10} {f'us/update / {EVALS_PER_UPDATE}':>14} | "
          f"{'predict() us/call (Python)':>26}")
    for n, res in results.items():
        us = res["steps"]["us"]
        print(f"  {n:>5} | {us:>10.1f} {us / EVALS_PER_UPDATE:>14.2f} | {res['predict_us']:>26.2f}")
    return results


def run_targets(results: dict[int, dict[str, Any]]) -> None:
    print("\nTargets (measured on this machine, one thread; ParameterFilter.steps with records=False):")
    r = results[TARGET_N]["steps"]["rate"]
    verdict = "met" if r >= TARGET_RATE else "NOT met"
    print(f"  {f'EKF updates per second at N = {TARGET_N} >= {TARGET_RATE:.0f}':<52} measured "
          f"{r:>10.0f} /s  [{verdict}]")
    if 256 in results:
        print(f"  {'  (N = 256, for scale)':<52} measured {results[256]['steps']['rate']:>10.0f} /s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 64 and 256 only, fewer repetitions")
    parser.add_argument("--repeat", type=int, default=None, help="best of K runs (default 5, --quick 3)")
    parser.add_argument("--updates", type=int, default=2000,
                        help="observations per filter run (default 2000; Tuner.update uses min(300, U))")
    args = parser.parse_args()
    k = args.repeat if args.repeat is not None else (3 if args.quick else 5)
    if k < 1:
        parser.error("--repeat must be >= 1")
    if args.updates < 1:
        parser.error("--updates must be >= 1")
    ns = (64, 256) if args.quick else (16, 64, 256, 1024)

    start = time.perf_counter()
    print(f"inferno {inferno.__version__}, {os.cpu_count()} CPUs; config {CONFIG!r}, profile 'inferno'; "
          f"truth alpha={TRUTH[0]}, beta={TRUTH[1]}, gamma={TRUTH[2]}; noise {100 * NOISE:.0f} %; "
          f"max_queue = 4N")
    results = run(ns, args.updates, min(300, args.updates), k)
    run_targets(results)
    print(f"\n(benchmark took {time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
