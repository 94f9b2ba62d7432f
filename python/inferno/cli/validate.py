"""``inferno validate FILE...``: how far the model's predictions are from measured sweeps.

Reads benchmark sweeps in the sweep CSV layout (docs/validation.md, "Sweep files": one row per
benchmark, e.g. samples/real/llama31-8b-h100-guidellm.csv), GuideLLM's report JSON files, or the
result JSON files of `vllm bench serve --save-result` (one per rate); --save-sweeps converts them
to the CSV. It fits the service model's parameters to
every rate point (pooled) or to each token mix (per-mix), predicts every point with the queueing
model, and prints the errors: mean absolute percentage error (MAPE) and mean signed error (bias)
of mean TTFT, mean ITL, end-to-end latency, TTFT P95 and P99 and ITL P95, by token mix and by load
band (alone = one request at a time; low, middle, top = the point's rate against its sweep's
highest), and the capacity of the burst benchmarks. --simulate adds the discrete-event simulator
as a second predictor, run with each benchmark's shape (arrivals, length spread, KV pages on
demand, requests counted within its duration).

The engine's limits are not in the sweeps: give them as vLLM names them. The batch cap of a mix is
min(--max-num-seqs, --kv-cache-tokens / (prompt + output/2), --max-in-flight); the rest of the
in-flight limit waits in the queue.

Exit status: 0 done, 2 bad input (the message names the line and column).
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .._lazy import pd

from .. import validate as V
from .._text import excerpt as _excerpt
from .common import EXIT_OK, EXIT_PARTIAL, input_path, positive_int


def add_parser(commands: Any) -> None:
    p = commands.add_parser("validate", help="compare the model with measured benchmark sweeps (MAPE tables)",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+", metavar="FILE", type=input_path,
                   help="a sweep CSV (one row per benchmark), GuideLLM report JSON files, or result JSON "
                        "files of vllm bench serve (one per rate)")
    add_input_arguments(p)
    p.add_argument("--save-sweeps", metavar="FILE", help="also write the rows read, in the sweep CSV layout")
    p.add_argument("--fit", choices=["pooled", "per-mix"], default="pooled",
                   help="one parameter set for every point (default) or one per token mix")
    p.add_argument("--params", metavar="A,B,G[,D,E]",
                   help="predict with these alpha, beta, gamma (and delta, epsilon, for --service-model vllm) instead of fitting")
    p.add_argument("--derive", metavar="MODEL", help="predict with no fit at all: alpha, beta, gamma and the KV cache "
                   "from the roofline for MODEL on --accelerator (as inferno size derive)")
    p.add_argument("--accelerator", metavar="GPU", help="--derive: the catalog GPU the sweeps ran on, e.g. H100-SXM5-80GB")
    p.add_argument("--service-model", default="iteration", help="the queueing model's service model (default iteration)")
    defaults = V.ServerLimits()
    p.add_argument("--kv-cache-tokens", type=float, default=None, metavar="TOKENS",
                   help=f"KV-cache capacity of the server (default {defaults.kv_cache_tokens:g}; with --derive the "
                        f"roofline's)")
    p.add_argument("--max-num-seqs", type=positive_int, default=defaults.max_num_seqs, metavar="N",
                   help=f"vLLM's max_num_seqs (default {defaults.max_num_seqs})")
    p.add_argument("--max-in-flight", type=positive_int, default=defaults.max_in_flight, metavar="N",
                   help=f"the benchmark's limit on outstanding requests (default {defaults.max_in_flight})")
    p.add_argument("--max-num-batched-tokens", type=positive_int, default=defaults.max_num_batched_tokens,
                   metavar="TOKENS", help=f"vLLM's token budget per iteration (default {defaults.max_num_batched_tokens})")
    p.add_argument("--simulate", action="store_true",
                   help="also predict every point with the simulator (iteration and vllm service models)")
    p.add_argument("--token-spread", type=float, default=0.5, metavar="FRACTION",
                   help="--simulate: lengths uniform in [1-F, 1+F] x nominal (default 0.5, GuideLLM's synthetic data)")
    p.add_argument("--seed", type=int, default=1, help="--simulate: the simulator's random seed (default 1)")
    p.add_argument("--points", action="store_true", help="also print every point, measured and predicted")
    p.add_argument("--plots", metavar="DIR", help="save residual plots (PNG) into DIR")
    p.add_argument("--format", choices=["table", "json", "csv"], default="table",
                   help="the error tables, all of it as JSON, or every point (measured and predicted) as CSV")
    p.set_defaults(run=run)


def add_input_arguments(p: argparse.ArgumentParser) -> None:
    """The benchmark-input flags shared by validate, tune and size calibrate."""
    p.add_argument("--input-format", choices=list(V.INPUT_FORMATS), default="auto",
                   help="auto (default): a .json file with 'benchmarks' is a GuideLLM report, any other .json "
                        "a vllm bench serve result, anything else a sweep CSV")
    p.add_argument("--mix", metavar="NAME", help="vllm-bench, guidellm: the token mix's name for every row "
                   "(default: from the mean token counts, e.g. i1000-o250)")


def _params(text: str) -> dict[str, float]:
    parts = text.split(",")
    if len(parts) not in (3, 4, 5):
        raise ValueError(f"--params needs alpha,beta,gamma[,delta,epsilon] (three to five numbers), got {_excerpt(text)}")
    try:
        values = [float(x) for x in parts]
    except ValueError:
        raise ValueError(f"--params needs three to five numbers, got {_excerpt(text)}") from None
    return dict(zip(("alpha", "beta", "gamma", "delta", "epsilon"), values))


def _derived(args: argparse.Namespace, limits: V.ServerLimits) -> tuple[dict[str, float], V.ServerLimits]:
    """The roofline's alpha, beta, gamma (for vllm: epsilon, delta 0) and, unless given, its KV-cache capacity."""
    from .. import sizing
    if not args.accelerator:
        raise ValueError("--derive needs --accelerator GPU (a catalog name, e.g. H100-SXM5-80GB)")
    if args.params:
        raise ValueError("give --params or --derive, not both")
    estimate = sizing.derive(args.derive, args.accelerator)
    params = {"alpha": estimate.alpha_ms, "beta": estimate.beta_ms, "gamma": estimate.gamma_ms}
    if args.service_model == "vllm":
        params["delta"] = 0.0  # the roofline has no per-sequence term
        params["epsilon"] = estimate.epsilon_ms  # its attention per token pair
    if not args.kv_cache_tokens_given:
        limits = V.ServerLimits(kv_cache_tokens=float(estimate.kv_capacity_tokens), max_num_seqs=limits.max_num_seqs,
                                max_in_flight=limits.max_in_flight,
                                max_num_batched_tokens=limits.max_num_batched_tokens)
    return params, limits


def run(args: argparse.Namespace) -> int:
    args.kv_cache_tokens_given = args.kv_cache_tokens is not None
    if args.kv_cache_tokens is None:
        args.kv_cache_tokens = V.ServerLimits().kv_cache_tokens
    limits = V.ServerLimits(kv_cache_tokens=args.kv_cache_tokens, max_num_seqs=args.max_num_seqs,
                            max_in_flight=args.max_in_flight, max_num_batched_tokens=args.max_num_batched_tokens)
    sweeps, excluded = V.read_benchmarks(args.inputs, args.input_format, mix=args.mix)
    if args.save_sweeps:
        sweeps.drop(columns="line").to_csv(args.save_sweeps, index=False)
    params = _params(args.params) if args.params else None
    if args.derive:
        params, limits = _derived(args, limits)
    result = V.validate(sweeps, limits=limits, fit=args.fit, params=params, service_model=args.service_model,
                        simulate=args.simulate, token_spread=args.token_spread, seed=args.seed)
    predictors = V.Validation.PREDICTORS if result.simulated else ("model",)
    result.excluded = excluded + result.excluded  # rows read but left out, then mixes not fitted
    if args.plots:
        _save_plots(result, args.plots)
    if args.format == "json":
        json.dump(result.to_dict(points=args.points, decimals=4), sys.stdout, indent=2, allow_nan=False)
        print()
        return _status(result)
    if args.format == "csv":  # the data: one row per point, measured, predicted and relative error
        result.points.to_csv(sys.stdout, index=False, float_format="%.10g", lineterminator="\n")
        return _status(result)
    with pd.option_context("display.width", 200, "display.max_columns", 40, "display.float_format", "{:.1f}".format):
        how = "roofline (no fit)" if args.derive else "given" if args.params else args.fit
        print(f"service model {result.service_model}; fit {how}")
        print(result.params.to_string(float_format=lambda v: f"{v:.6g}"))
        for name, fit in result.params.iterrows():
            if fit["status"] == "ill_conditioned":
                print(f"note: the {name} fit is ill-conditioned (condition number {fit['kappa']:.3g}): the points cannot "
                      f"pin down {fit.get('weak_direction') or 'every parameter'}, and a weak prior holds that "
                      f"direction; add benchmarks at other rates and token mixes")
        print("\nsummary (%)")
        print(pd.DataFrame({p: result.summary(p) for p in predictors}).to_string())
        for predictor in predictors:
            for title, by in (("by token mix", "sweep"), ("by load band", "band")):
                print(f"\n{title}, {predictor}: MAPE / bias (%)")
                print(_compact(result.errors(by, predictor)).to_string())
        if len(result.capacity):
            print("\ncapacity of the burst benchmarks (req/s; error in %)")
            capacity = result.capacity.set_index("sweep").assign(error_pct=lambda f: 100 * f["throughput_err"])
            if result.simulated:
                capacity["sim_error_pct"] = 100 * capacity["throughput_sim_err"]
            capacity = capacity.drop(columns=[c for c in capacity if c.endswith("_err")])
            print(capacity.to_string(float_format=lambda v: f"{v:.3g}"))
        for line, reason in result.excluded:
            print(f"excluded: line {line}: {reason}")
        if args.points:
            print("\npoints")
            print(result.points.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return _status(result)


def _status(result: V.Validation) -> int:
    """EXIT_PARTIAL when a token mix could not be fitted (its rows are reported as excluded)."""
    return EXIT_PARTIAL if (result.params["status"] == "not_fitted").any() else EXIT_OK


def _compact(table: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(index=table.index)
    for metric in V.Validation.METRICS:
        out[metric.replace("_ms", "")] = [f"{m:5.1f} / {b:+6.1f}" for m, b in
                                           zip(table[(metric, "mape_pct")], table[(metric, "bias_pct")])]
    out["points"] = table[("points", "count")]
    return out


def _save_plots(result: V.Validation, directory: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from pathlib import Path
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    for predictor in V.Validation.PREDICTORS if result.simulated else ("model",):
        for metric in V.Validation.METRICS:
            fig, ax = plt.subplots(figsize=(7, 4))
            result.plot(metric, ax=ax, predictor=predictor)
            fig.tight_layout()
            name = f"residuals-{metric}.png" if predictor == "model" else f"residuals-simulator-{metric}.png"
            fig.savefig(out / name, dpi=120)
            plt.close(fig)
