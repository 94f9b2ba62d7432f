"""Configuration search speed (prints figures; not a test), next to Vidur-Search's hour.

What is measured:
1. The analytical screen of a Vidur-Search-sized space for one model: 5 GPU SKUs (A100-40GB,
   A100-80GB, H100-SXM, H200-SXM, L40S) × tensor parallelism 1/2/4/8 × pipeline parallelism
   1/2/4 × max_num_seqs 32…512 (5) × max_num_batched_tokens 512…8192 (5) = 1500 configurations,
   for Llama-2-70B and Llama-3.1-8B (10 req/s, 1024 → 256 tokens, P95 TTFT ≤ 2 s, P95 ITL ≤
   100 ms), on one thread and on every core; best of k runs of ``inferno.config_search.screen``.
2. The same for Llama-3.1-8B with uniform prompt lengths (±50 %), which makes each TTFT
   percentile a convolution (the costliest case of the queueing core).
3. The simulator's confirmation of a Pareto set cut to 50 configurations, 3 seeds × 10 simulated
   minutes each (150 runs), on a local pool of 2 processes (``confirm.max_configs = 50``).
4. With ``--dask``: the same confirmation on a ``dask.distributed.LocalCluster`` of 2 worker
   processes, and whether its table equals the local pool's row for row.

Vidur-Search (Agrawal et al., MLSys 2024) reports about an hour on a CPU machine for one model's
space, binary-searching each configuration's capacity by simulation; NVIDIA's AIConfigurator
about 30 s from its estimator.

Usage: .venv/bin/python benchmarks/search.py [--quick] [--repeat K] [--dask]
A full run takes about 1-2 minutes on 2 cores; --quick (one screen run, 10 configurations
confirmed) about 15 s.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

# This folder's queue.py would shadow the standard library's queue, which process pools import.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import pandas as pd  # noqa: E402

from inferno import config_search as cs  # noqa: E402

SPACE: dict[str, Any] = {
    "workload": {"rate_rps": 10, "in_tokens": 1024, "out_tokens": 256},
    "slo": {"ttft_ms": 2000, "ttft_percentile": 95, "itl_ms": 100, "itl_percentile": 95},
    "hardware": {"gpus": ["A100-SXM4-40GB", "A100-SXM4-80GB", "H100-SXM5-80GB", "H200-SXM-141GB", "L40S"],
                 "tensor_parallel": [1, 2, 4, 8], "pipeline_parallel": [1, 2, 4]},
    "engine": {"max_num_seqs": [32, 64, 128, 256, 512], "max_num_batched_tokens": [512, 1024, 2048, 4096, 8192]},
    "confirm": {"seeds": 3, "duration_s": 600, "warmup_s": 60, "max_configs": 50, "top": 50},
}


def spec(model: str, **changes: Any) -> cs.SearchSpec:
    doc = {**SPACE, "models": [model]}
    for key, value in changes.items():
        section, field = key.split("__")
        doc[section] = {**doc[section], field: value}
    return cs.load_spec(doc)


def best_screen(s: cs.SearchSpec, threads: int, k: int) -> tuple[float, pd.DataFrame]:
    best, table = float("inf"), None
    for _ in range(k):
        start = time.perf_counter()
        table = cs.screen(s.replace(threads=threads))
        best = min(best, time.perf_counter() - start)
    assert table is not None
    return best, table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dask", action="store_true", help="also confirm on a Dask LocalCluster")
    args = parser.parse_args()
    k = 1 if args.quick else args.repeat
    cores = os.cpu_count() or 1
    print(f"1-2. Analytical screen (best of {k}; {cores} cores)")
    print(f"{'model':<28} {'prompts':<10} {'configs':>7} {'feasible':>8} {'Pareto':>6} {'1 thread':>9} {'all cores':>9}"
          f" {'µs/config':>9}")
    cases = [("meta-llama/Llama-2-70b-hf", {}), ("meta-llama/Llama-3.1-8B", {}),
             ("meta-llama/Llama-3.1-8B", {"workload__in_tokens": {"mean": 1024, "distribution": "uniform", "spread": 0.5}})]
    tables = {}
    for model, changes in cases:
        s = spec(model, **changes)
        one, table = best_screen(s, 1, k)
        many, _ = best_screen(s, 0, k)
        prompts = "uniform" if changes else "fixed"
        tables[(model, prompts)] = (s, table)
        print(f"{model:<28} {prompts:<10} {len(table):>7} {int(table.feasible.sum()):>8} {int(table.pareto.sum()):>6} "
              f"{one:>8.3f}s {many:>8.3f}s {1e6 * one / len(table):>9.0f}")

    s, table = tables[("meta-llama/Llama-2-70b-hf", "fixed")]
    limit = 10 if args.quick else 50
    s = s.replace(confirm_max_configs=limit, confirm_top=limit)
    print(f"\n3. Simulator confirmation of the Pareto set and the cheapest, at most {limit} configurations × "
          f"{s.confirm_seeds} seeds × {s.confirm_duration_s:g} s simulated, 2 local processes")
    start = time.perf_counter()
    local = cs.confirm(table, s, workers=2, progress=False)
    took = time.perf_counter() - start
    sim = local[local.confirmed.notna()]
    print(f"   {len(sim)} configurations, {len(sim) * s.confirm_seeds} runs in {took:.1f} s "
          f"({took / max(1, len(sim) * s.confirm_seeds):.2f} s per run); {int(sim.confirmed.sum())} meet the SLOs "
          f"in simulation, {int(sim.agrees.sum())} agree with the screen within the 95 % interval")
    err_ttft = (sim.screen_ttft_pct_at_rate_ms / sim.sim_ttft_pct_ms - 1).abs()
    err_itl = (sim.screen_itl_pct_at_rate_ms / sim.sim_itl_pct_ms - 1).abs()
    print(f"   screen vs simulator at λ*: P95 TTFT median |error| {100 * err_ttft.median():.1f} %, "
          f"P95 ITL {100 * err_itl.median():.1f} %")

    if args.dask:
        import distributed

        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                           dashboard_address=None, silence_logs=40)
        try:
            with distributed.Client(cluster) as client:
                start = time.perf_counter()
                remote = cs.confirm(table, s, client=client, progress=False)
                took = time.perf_counter() - start
        finally:
            cluster.close()
        same = remote.equals(local)
        print(f"\n4. The same on a Dask LocalCluster (2 worker processes): {took:.1f} s; table equal to the local "
              f"pool's row for row: {same}")
    print("\nVidur-Search: about an hour on a CPU machine for one model's space; AIConfigurator: about 30 s.")


if __name__ == "__main__":
    main()
