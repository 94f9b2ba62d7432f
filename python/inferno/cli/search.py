"""inferno search: the configuration that serves a workload within its SLOs at the lowest cost.

SPEC is a YAML file (docs/search.md, "The spec"): the models, the workload (a rate and token
counts, or a trace), the SLOs, the hardware menu (GPUs, MIG slices, tensor- and pipeline-parallel
degrees) and the engine knobs (max_num_seqs, max_num_batched_tokens). Every configuration is
estimated analytically; then the Pareto set and the cheapest ones are simulated with several
seeds, on local processes or a Dask cluster (--dask). The summary goes to stdout; --out writes
the whole table (CSV, or JSON lines for a .jsonl name).

Exit status: 0 a configuration meets the SLOs; 1 bad input; 3 none does (the summary says why).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .common import EXIT_INPUT, positive_int

EXIT_NONE = 3


def add_parser(commands: Any) -> None:
    p = commands.add_parser("search", help="configuration search: GPU, slice, TP/PP, batch cap and chunk size, "
                                           "Pareto fronts, simulator confirmation",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("spec", metavar="SPEC.yaml", help="the search spec")
    p.add_argument("--no-simulate", action="store_true", help="the analytical screen only")
    p.add_argument("--dask", metavar="ADDRESS", help="run the simulations on this Dask scheduler, e.g. tcp://10.0.0.5:8786 "
                                                     "(needs inferno[distributed])")
    p.add_argument("--workers", type=positive_int, metavar="N", help="local worker processes (default: the CPU count)")
    p.add_argument("--store", metavar="FILE.jsonl", help="keep simulated points here; a rerun resumes from it")
    p.add_argument("--out", metavar="FILE", help="write the table: .csv, or .jsonl (one JSON object per row)")
    p.add_argument("--top", type=positive_int, default=10, metavar="K", help="rows of the table printed (default 10)")
    p.add_argument("--emit-dir", metavar="DIR", help="write the optimizer's documents of the best configuration per model")
    p.add_argument("--plot", metavar="FILE.png", help="save the Pareto plot (cost against TTFT and ITL)")
    p.add_argument("--progress", action="store_true", help="a progress bar on stderr (default: when it is a terminal)")
    p.add_argument("--timings", action="store_true", help="say how long the screen and the simulations took")
    p.set_defaults(run=run)


COLUMNS = ["model", "accelerator", "tp", "pp", "max_num_seqs", "max_num_batched_tokens", "rate_per_replica_rps",
           "binding", "replicas", "cost", "qps_per_dollar", "ttft_pct_ms", "itl_pct_ms", "pareto"]


def run(args: argparse.Namespace) -> int:
    from .. import config_search as search_mod

    if args.dask and args.workers:
        print("inferno search: error: --workers is for local processes; a Dask cluster has its own", file=sys.stderr)
        return EXIT_INPUT
    if args.dask:
        try:
            import distributed  # noqa: F401
        except ImportError:
            print("inferno search: error: --dask needs the distributed extra: pip install 'inferno[distributed]'",
                  file=sys.stderr)
            return EXIT_INPUT
    result = search_mod.search(args.spec, simulate=not args.no_simulate, client=args.dask, workers=args.workers,
                               store=args.store, progress=True if args.progress else None)
    table = result.table
    print(result.summary(timings=args.timings))
    shown = table[table.feasible].sort_values(["cost", "ttft_pct_ms", "itl_pct_ms"], kind="stable").head(args.top)
    columns = COLUMNS + [c for c in ("sim_ttft_pct_ms", "sim_itl_pct_ms", "confirmed", "agrees") if c in table]
    if not shown.empty:
        print(shown[columns].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if args.out:
        path = Path(args.out)
        if path.suffix == ".jsonl":
            table.to_json(path, orient="records", lines=True)
        else:
            table.to_csv(path, index=False)
        print(f"wrote {len(table)} rows to {path}")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
        result.plot_pareto(ax=axes[0], metric="ttft")
        result.plot_pareto(ax=axes[1], metric="itl")
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)
        print(f"wrote {args.plot}")
    if result.best is None:
        return EXIT_NONE
    if args.emit_dir:
        for written in result.write_optimizer_documents(args.emit_dir):
            print(f"wrote {written}")
    return 0
