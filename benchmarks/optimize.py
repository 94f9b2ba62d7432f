"""Global-optimizer speed and solution quality on the sample sets (prints figures; not a test).

What is measured (best of k runs; wall = Python call incl. result objects; cand/solve/total = the
C++ timing of ``Solution.to_dict(timing=True)["timing"]``, each the minimum over the k runs):
1. samples/small and samples/large: candidate sizing alone (``System.candidates()``, wall only)
   and ``System.optimize`` with each solver (``greedy``, ``milp``, ``auto`` in limited mode, and
   ``unlimited``), with threads=1 and threads=N (``--threads``, 0 = all cores). For the large set
   also the cost of the batch-size search (default ``batch_size_policy``) against the
   reference rule N = N_ref (``batch_size_policy="reference"``).
2. Scaling: samples/large replicated 10x and 40x (every server m times, named ``<name>-r{i}``,
   arrival rate times 0.5 + (i % 7)/6, deterministic; capacities times m), candidates + greedy,
   candidates + milp and candidates + auto.
3. Quality: the greedy objective J (``Solution.total_value``) against the MILP's (status, gap,
   solve time) on small, large, 10x, 40x, as the greedy's gap in % of the MILP objective; and
   the same for ``preset="reference-v2"`` (the reference's greedy reproduced) against the MILP
   with the same preset options.
4. The performance targets next to the measured figures.

Usage: .venv/bin/python benchmarks/optimize.py [--quick] [--threads N] [--repeat K]
A full run takes about a minute on 2 cores; --quick uses fewer repetitions and skips 40x.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import time
from pathlib import Path
from typing import Any

import inferno

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
SOLVERS = ("greedy", "milp", "auto", "unlimited")
TIMING_KEYS = ("candidatesMsec", "solveMsec", "totalMsec")


# ---------------------------------------------------------------------------- measurement
def best_of(system: inferno.System, k: int, threads: int) -> dict[str, Any]:
    """Run ``system.optimize(threads=threads)`` k times (options already applied); the minimum
    wall time and the minimum of each C++ timing figure, and the (deterministic) last solution."""
    best: dict[str, Any] = {"wall": float("inf"), **{key: float("inf") for key in TIMING_KEYS}}
    sol = None
    for _ in range(k):
        start = time.perf_counter()
        sol = system.optimize(threads=threads)
        best["wall"] = min(best["wall"], (time.perf_counter() - start) * 1e3)
        timing = sol.to_dict(timing=True)["timing"]
        for key in TIMING_KEYS:
            best[key] = min(best[key], float(timing[key]))
    best["solution"] = sol
    return best


def best_candidates(system: inferno.System, k: int, threads: int) -> tuple[float, int]:
    wall, rows = float("inf"), 0
    for _ in range(k):
        start = time.perf_counter()
        frame = system.candidates(threads=threads)
        wall = min(wall, (time.perf_counter() - start) * 1e3)
        rows = len(frame)
    return wall, rows


def header() -> None:
    print(f"  {'run':<22} {'threads':>7} | {'wall_ms':>9} {'cand_ms':>9} {'solve_ms':>9} {'total_ms':>9} | "
          f"{'J':>12} {'solver status':>14}")


def row(label: str, threads: int, r: dict[str, Any]) -> None:
    sol = r["solution"]
    print(f"  {label:<22} {threads:>7} | {r['wall']:>9.2f} {r['candidatesMsec']:>9.2f} {r['solveMsec']:>9.2f} "
          f"{r['totalMsec']:>9.2f} | {sol.total_value:>12.1f} {sol.solver['status']:>14}")


def thread_settings(threads: int) -> list[int]:
    return [1] if threads == 1 else [1, threads]


# ---------------------------------------------------------------------------- systems
def scaled_large(k: int) -> inferno.System:
    """samples/large with every server replicated k times (load perturbed deterministically) and
    every capacity multiplied by k. Built from the documents without ``base`` so that the 27
    original servers are not kept next to their replicas (the result has exactly 27 k servers)."""
    large = SAMPLES / "large"
    read = lambda name: json.loads((large / name).read_text())  # noqa: E731
    servers = read("server-data.json")["servers"]
    capacity = read("capacity-data.json")["count"]
    replicated = []
    for server in servers:
        for i in range(k):
            s = copy.deepcopy(server)
            s["name"] = f"{server['name']}-r{i}"
            load = s.get("currentAlloc", {}).get("load")
            if load is not None and "arrivalRate" in load:
                load["arrivalRate"] = load["arrivalRate"] * (0.5 + (i % 7) / 6)
            replicated.append(s)
    servers_doc = {"servers": replicated}
    capacity_doc = {"count": [{**entry, "count": entry["count"] * k} for entry in capacity]}
    others = [read(name) for name in ("accelerator-data.json", "model-data.json", "serviceclass-data.json",
                                      "optimizer-data.json")]
    return inferno.System.from_documents(*others, servers_doc, capacity_doc)


# ---------------------------------------------------------------------------- sections
def run_samples(name: str, system: inferno.System, k: int, threads: int) -> dict[str, Any]:
    # The greedy and unlimited runs take milliseconds: more repetitions give a stable minimum on a
    # shared machine at negligible cost.
    k_fast = 10 * k
    print(f"\nsamples/{name}: {system}  (best of {k}; greedy and unlimited best of {k_fast})")
    header()
    results: dict[str, Any] = {}
    for t in thread_settings(threads):
        wall, rows = best_candidates(system, k, t)
        print(f"  {'candidates() frame':<22} {t:>7} | {wall:>9.2f} {'':>9} {'':>9} {'':>9} | {rows:>8} rows")
        for solver in SOLVERS:
            r = best_of(system.with_options(solver=solver), k_fast if solver in ("greedy", "unlimited") else k, t)
            row(solver, t, r)
            results[(solver, t)] = r
    return results


def run_batch_policy(system: inferno.System, k: int, threads: int) -> dict[int, tuple[float, float]]:
    default = system.options["batch_size_policy"]
    print(f"\nsamples/large: batch-size search ({default!r}, the default) vs the reference rule "
          f"(batch_size_policy='reference'), candidates + greedy (best of {k})")
    header()
    out = {}
    for t in thread_settings(threads):
        r_ref = best_of(system.with_options(solver="greedy", batch_size_policy="reference"), k, t)
        r_def = best_of(system.with_options(solver="greedy"), k, t)
        row("reference", t, r_ref)
        row(default, t, r_def)
        ratio = r_def["candidatesMsec"] / r_ref["candidatesMsec"]
        print(f"  -> search / reference candidate time, threads={t}: {ratio:.2f}x")
        out[t] = (r_ref["candidatesMsec"], r_def["candidatesMsec"])
    return out


def run_scaled(k_scale: int, system: inferno.System, k: int, threads: int) -> dict[str, Any]:
    print(f"\nsamples/large x{k_scale}: {system}  (best of {k})")
    header()
    results = {}
    for solver in ("greedy", "milp", "auto"):
        r = best_of(system.with_options(solver=solver), k, threads)
        row(f"candidates + {solver}", threads, r)
        results[solver] = r
    return results


def gap_pct(value: float, reference: float) -> float:
    return 100.0 * (value - reference) / abs(reference) if reference else float("nan")


def quality_row(label: str, greedy: inferno.Solution, milp: inferno.Solution, solve_ms: float | None = None) -> None:
    s = milp.solver
    solve_ms = s["time_ms"] if solve_ms is None else solve_ms
    mip_gap = "-" if s["gap"] is None else f"{100 * s['gap']:.4f}"
    print(f"  {label:<20} | {greedy.total_value:>12.1f} {len(greedy.unallocated):>3} | {milp.total_value:>12.1f} "
          f"{len(milp.unallocated):>3} {s['status']:>9} {mip_gap:>9} {solve_ms:>10.1f} | "
          f"{gap_pct(greedy.total_value, milp.total_value):>9.3f}")


def run_quality(sets: dict[str, tuple[inferno.System, dict[str, Any]]], threads: int) -> None:
    print("\nSolution quality: greedy J vs MILP J (gap = (J_greedy - J_milp) / J_milp; relative to the "
          "proven optimum when the MILP status is 'optimal'); unal = servers left unallocated;\n"
          "  solve_ms = MILP solve time (best of the runs above; single run for reference-v2)")
    print(f"  {'set':<20} | {'J_greedy':>12} {'unal':>3} | {'J_milp':>12} {'unal':>3} {'status':>9} "
          f"{'mipgap_%':>9} {'solve_ms':>10} | {'greedy_%':>9}")
    for name, (system, res) in sets.items():
        quality_row(name, res["greedy"]["solution"], res["milp"]["solution"], res["milp"]["solveMsec"])
    print("  preset='reference-v2' (the reference's greedy) vs MILP with the same preset options:")
    for name, (system, _) in sets.items():
        greedy = system.optimize(preset="reference-v2", threads=threads)
        milp = system.optimize(preset="reference-v2", solver="milp", threads=threads)
        quality_row(f"{name} ref-v2", greedy, milp)


def run_targets(large: dict[str, Any], x40: dict[str, Any] | None, threads: int) -> None:
    print("\nTargets (measured on this machine; threads as noted):")

    def line(text: str, measured: float, limit: float) -> None:
        verdict = "met" if measured <= limit else "NOT met"
        print(f"  {text:<58} measured {measured:>10.2f} ms  [{verdict}]")

    g = large[("greedy", threads)]
    line(f"samples/large candidates + greedy <= 5 ms (threads={threads})", g["totalMsec"], 5.0)
    g1 = large[("greedy", 1)]
    if threads != 1:  # the target is for this 2-core machine; one thread is shown for scale only
        print(f"  {'  (the same on one thread, for scale)':<58} measured {g1['totalMsec']:>10.2f} ms")
    if x40 is None:
        print(f"  {'40x candidates + greedy <= 100 ms':<58} skipped (--quick)")
    else:
        line(f"40x candidates + greedy <= 100 ms (threads={threads})", x40["greedy"]["totalMsec"], 100.0)
    m = large[("milp", threads)]
    status = m["solution"].solver["status"]
    verdict = "met" if status == "optimal" and m["solveMsec"] <= 1000.0 else "NOT met"
    print(f"  {'MILP on the large limited set proven optimal <= 1 s':<58} measured {m['solveMsec']:>10.2f} ms  "
          f"[{verdict}], status {status}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, skip 40x")
    parser.add_argument("--threads", type=int, default=0,
                        help="candidate-sizing threads (0 = all cores; threads=1 is also shown for small/large)")
    parser.add_argument("--repeat", type=int, default=None,
                        help="best of K runs on small/large (default 5, --quick 2); scaled sets use fewer")
    args = parser.parse_args()
    if args.threads < 0:
        parser.error("--threads must be >= 0")
    k = args.repeat if args.repeat is not None else (2 if args.quick else 5)
    k_scaled = max(1, min(k, 1 if args.quick else 3))
    k_40 = max(1, min(k, 2))

    start = time.perf_counter()
    print(f"inferno {inferno.__version__}, {os.cpu_count()} CPUs, threads={args.threads} (0 = all cores)")
    print("wall = Python call; cand/solve/total = C++ timing (candidatesMsec/solveMsec/totalMsec); "
          "each the minimum over the runs")

    small = inferno.System.from_dir(SAMPLES / "small")
    large = inferno.System.from_dir(SAMPLES / "large")
    res_small = run_samples("small", small, k, args.threads)
    res_large = run_samples("large", large, k, args.threads)
    run_batch_policy(large, k, args.threads)

    def by_solver(res: dict[str, Any]) -> dict[str, Any]:
        return {s: res[(s, args.threads)] for s in ("greedy", "milp", "auto")}

    quality_sets = {"small": (small, by_solver(res_small)), "large": (large, by_solver(res_large))}
    x10 = scaled_large(10)
    res_10 = run_scaled(10, x10, k_scaled, args.threads)
    quality_sets["large x10"] = (x10, res_10)
    res_40 = None
    if not args.quick:
        x40 = scaled_large(40)
        res_40 = run_scaled(40, x40, k_40, args.threads)
        quality_sets["large x40"] = (x40, res_40)

    run_quality(quality_sets, args.threads)
    run_targets(res_large, res_40, args.threads)
    print(f"\n(benchmark took {time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
