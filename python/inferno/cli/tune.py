"""``inferno tune OBSERVATIONS.csv``: learn α, β, γ of a variant from observed latencies.

Each row of the CSV file is one control cycle of one replica. Two layouts are read:
  inferno           columns rate_rpm, in_tokens, out_tokens, max_batch, [max_queue], ttft_ms,
                    itl_ms, [wait_ms], [throughput_rpm], [avg_concurrency], [saturated], [cycle]
                    (rows sharing a `cycle` value are one cycle of several replicas)
  offline-observer  the reference's RPM,tokens,avgConcurrency,maxConcurrency,avgWait,avgITL
                    (UTF-8 BOM allowed; decode-only: no prompt tokens, wait and ITL observed)
Malformed rows are reported with their line number and skipped. Benchmark results are read too,
each rate point one observation (as `inferno validate` reads them; the batch cap from the engine's
limits, --kv-cache-tokens, --max-num-seqs, --max-in-flight):
  sweeps            the sweep CSV layout (docs/validation.md), e.g. samples/real/*.csv
  guidellm          GuideLLM report JSON files
  vllm-bench        result JSON files of vllm bench serve --save-result, one per rate

Configurations: decode (α, β from wait and ITL; γ = 0), prefill-decode (α, β, γ from TTFT and
ITL), full (α, β, γ from TTFT, ITL and wait). Default: decode for the offline-observer layout,
prefill-decode otherwise. --replay runs the reference's offline replay instead (reference profile,
plain steps, the first row only constructs the filter).

Exit status: 0 estimate produced from every row, 2 rows skipped or no estimate yet, 1 input error.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import sys
import warnings
from pathlib import Path
from typing import Any, TextIO

from .._lazy import pd

from .. import tuner as T
from .. import validate as V
from .common import EXIT_INPUT, EXIT_OK, EXIT_PARTIAL, input_path, positive_int, shown_name

HISTORY_COLUMNS = ["cycle", "phase", "outcome", "nis"]
BENCHMARK_LAYOUTS = ("sweeps", "guidellm", "vllm-bench")


def _read(args: argparse.Namespace) -> tuple[pd.DataFrame, list[tuple[int, str]], str]:
    """Observations from the files given: the tuner's CSV layouts, or benchmark results whose
    rate points become observations. Returns the frame, the skipped rows and a label for messages."""
    paths = list(args.observations)
    label = ", ".join(shown_name(p) for p in paths)
    layout = args.layout
    if layout == "auto":
        if any(p.lower().endswith(".json") for p in paths):
            layout = "benchmarks"
        elif len(paths) == 1 and _is_sweep_csv(paths[0]):
            layout = "sweeps"
    if layout in (*BENCHMARK_LAYOUTS, "benchmarks"):
        frame, excluded = V.read_benchmarks(paths, "auto" if layout == "benchmarks" else layout)
        limits = V.ServerLimits(kv_cache_tokens=args.kv_cache_tokens, max_num_seqs=args.max_num_seqs,
                                max_in_flight=args.max_in_flight)
        return V.observations(frame, limits), excluded, label
    if len(paths) != 1:
        raise ValueError(f"an observations CSV is one file; got {len(paths)} (benchmark results are .json)")
    frame, skipped = T.read_observations(paths[0], layout)
    return frame, skipped, label


def _is_sweep_csv(path: str) -> bool:
    if not Path(path).is_file():  # a pipe (/dev/stdin) can be read once: the observation reader's
        return False
    try:
        with open(path, encoding="utf-8-sig") as handle:
            header = {h.strip() for h in handle.readline().split(",")}
    except (OSError, UnicodeDecodeError):
        return False  # the observation reader names the problem
    return {"sweep", "strategy"} <= header


def add_parser(commands: Any) -> None:
    p = commands.add_parser("tune", help="learn alpha, beta, gamma from observed TTFT/ITL (extended Kalman filter)",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("observations", metavar="FILE", nargs="+", type=input_path,
                   help="observations (CSV, one row per replica and cycle), or benchmark results (see above)")
    p.add_argument("--config", choices=list(T.CONFIGS), help="parameters and observed channels (see above)")
    p.add_argument("--profile", choices=list(T.PROFILES), default="inferno",
                   help="inferno (log parameters, relative noise, saturation excluded; default) or reference")
    p.add_argument("--init", type=_params, metavar="A,B[,G]",
                   help="known starting parameters: no cold start (the filter starts here)")
    p.add_argument("--init-state", type=_params, metavar="A,B[,G]",
                   help="the configuration's initial state (seeds the cold-start guess; default as shipped)")
    p.add_argument("--seed", type=_params, metavar="A,B[,G]", dest="deprecated_seed", help=argparse.SUPPRESS)
    p.add_argument("--layout", choices=[*T.LAYOUTS, *BENCHMARK_LAYOUTS], default="auto",
                   help="input layout (default: .json files are benchmark results, a CSV by its header)")
    limits = V.ServerLimits()
    p.add_argument("--kv-cache-tokens", type=float, default=limits.kv_cache_tokens, metavar="TOKENS",
                   help=f"benchmark inputs: the server's KV-cache capacity (default {limits.kv_cache_tokens:g})")
    p.add_argument("--max-num-seqs", type=positive_int, default=limits.max_num_seqs, metavar="N",
                   help=f"benchmark inputs: vLLM's max_num_seqs (default {limits.max_num_seqs})")
    p.add_argument("--max-in-flight", type=positive_int, default=limits.max_in_flight, metavar="N",
                   help=f"benchmark inputs: the benchmark's limit on outstanding requests (default {limits.max_in_flight})")
    _add_option_flags(p)
    p.add_argument("--replay", action="store_true", help="the reference's offline replay (see above)")
    p.add_argument("--history", action="store_true", help="also print every step")
    p.add_argument("--format", choices=["table", "json", "csv"], default="table")
    p.set_defaults(run=run)



def _params(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers like 8,0.016,0.0005, got {text!r}") from None
    if not 2 <= len(values) <= 3 or not all(math.isfinite(v) and v > 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected 2 or 3 numbers > 0 (alpha,beta[,gamma]), got {text!r}")
    return values






# Every tuner option is a flag named as the option (docs/tuner.md, "Option ranges"), generated from
# the core's option table; init_state and start have --init-state and --init. The old names warn.
_OWN_FLAGS = {"init_state", "start"}
_DEPRECATED_FLAGS = {"--warm-up": "warm_up_cycles", "--gate": "gate_probability"}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _in_range(option: dict[str, Any]) -> Any:
    """An argparse type checking the option's kind and range, so an error names the flag."""
    kind, lo, hi = option["kind"], option["minimum"], option["maximum"]
    lo_open, hi_open = option["exclusive_minimum"], option["exclusive_maximum"]

    def convert(text: str) -> Any:
        try:
            values = [(int if kind == "integer" else float)(v) for v in text.split(",")]
        except ValueError:
            what = "an integer" if kind == "integer" else "comma-separated numbers" if kind.endswith("vector") else "a number"
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        for v in values:
            below = lo is not None and (v <= lo if lo_open else v < lo)
            above = hi is not None and (v >= hi if hi_open else v > hi)
            if not math.isfinite(v) or below or above:
                interval = ("(" if lo_open else "[") + (f"{lo:g}" if lo is not None else "-inf") + ", " + \
                    (f"{hi:g}" if hi is not None else "inf") + (")" if hi_open or hi is None else "]")
                raise argparse.ArgumentTypeError(f"expected {'an integer' if kind == 'integer' else 'a number'} "
                                                 f"in {interval}, got {text!r}")
        return values if kind.endswith("vector") else values[0]
    return convert


def _add_option_flags(p: argparse.ArgumentParser) -> None:
    group = p.add_argument_group("tuner options (any of them; docs/tuner.md, \"Option ranges\")")
    for o in T.option_registry():
        if o["name"] in _OWN_FLAGS:
            continue
        default = o["default"]
        shown = ",".join(f"{v:g}" for v in default) if isinstance(default, list) else default
        text = f"{o['doc']} (inferno profile: {shown})"
        if o["kind"] == "flag":
            group.add_argument(_flag(o["name"]), dest=o["name"], action=argparse.BooleanOptionalAction, default=None,
                               help=text)
        elif o["kind"] == "name":
            group.add_argument(_flag(o["name"]), dest=o["name"], choices=o["choices"], help=text)
        else:
            metavar = "X,Y[,Z]" if o["kind"].endswith("vector") else o["name"].split("_")[-1].upper()
            group.add_argument(_flag(o["name"]), dest=o["name"], type=_in_range(o), metavar=metavar, help=text)
    for old, name in _DEPRECATED_FLAGS.items():  # as they were: the core checks the value, naming the option
        option = next(o for o in T.option_registry() if o["name"] == name)
        p.add_argument(old, dest="deprecated_" + name, type=int if option["kind"] == "integer" else float,
                       help=argparse.SUPPRESS)


def _options(args: argparse.Namespace) -> dict[str, Any]:
    options = {}
    for o in T.option_registry():
        if o["name"] in _OWN_FLAGS:
            continue
        value = getattr(args, o["name"], None)
        old_flag = next((old for old, name in _DEPRECATED_FLAGS.items() if name == o["name"]), None)
        old = getattr(args, "deprecated_" + o["name"], None) if old_flag else None
        if old is not None:  # the old flag, kept for one release
            if value is not None:
                raise ValueError(f"give {_flag(o['name'])}, not also its deprecated name {old_flag}")
            print(f"inferno tune: warning: {old_flag} is deprecated: use {_flag(o['name'])}", file=sys.stderr)
            value = old
        if value is not None:
            options[o["name"]] = value
    return options


def run(args: argparse.Namespace, stdout: TextIO | None = None) -> int:
    out = stdout or sys.stdout
    if args.deprecated_seed is not None:  # the old name of --init-state, kept for one release
        if args.init_state is not None:
            print("inferno tune: error: give --init-state, not also its deprecated name --seed", file=sys.stderr)
            return EXIT_INPUT
        print("inferno tune: warning: --seed is deprecated: use --init-state", file=sys.stderr)
        args.init_state = args.deprecated_seed
    try:
        frame, skipped, label = _read(args)
        for line, reason in skipped:
            print(f"inferno tune: {label}:{line}: {reason} (row skipped)", file=sys.stderr)
        if frame.empty:
            raise ValueError(f"{label}: no valid observation rows")
        observer = "avg_concurrency" in frame.columns and "ttft_ms" not in frame.columns
        config = args.config or ("decode" if observer else "prefill-decode")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", T.IdentifiabilityWarning)
            if args.replay:
                given = sorted(_flag(name) for name in _options(args))
                if args.init is not None or given:
                    raise ValueError("--replay runs the reference's fixed settings: it takes no --init and no tuner "
                                     "option flag, got " + ", ".join(([] if args.init is None else ["--init"]) + given))
                result = _replay(frame, config, args.init_state)
            else:
                tuner = T.Tuner(config, profile=args.profile, init=args.init, init_state=args.init_state,
                                keep_history=args.history, **_options(args))
                tuner.fit(frame)
                result = _tuner_result(tuner)
        for w in caught:
            print(f"inferno tune: warning: {w.message}", file=sys.stderr)
        result.update({"file": label, "config": config,
                       "profile": "reference" if args.replay else args.profile, "replay": args.replay,
                       "observations": len(frame), "skippedRows": [{"line": number, "reason": reason} for number, reason in skipped]})
        _write(result, args, out)
    except BrokenPipeError:
        raise  # the CLI's main treats it as a normal end (e.g. piped into head)
    except (ValueError, OSError) as exc:
        print(f"inferno tune: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    return EXIT_OK if result["estimate"] is not None and not skipped else EXIT_PARTIAL


def _replay(frame: pd.DataFrame, config: str, init_state: list[float] | None) -> dict[str, Any]:
    f = T.Filter(config, profile="reference", init_state=init_state)
    history = f.steps(frame.iloc[1:], plain=True)
    history.insert(0, "cycle", range(2, len(frame) + 1))
    estimate = f.estimate
    names = list(estimate["params"])
    table = pd.DataFrame({"value": [estimate["params"][n] for n in names],
                          "stddev": [estimate["stddev"][n] for n in names],
                          "rel_stddev": [estimate["rel_stddev"][n] for n in names],
                          "lower95": [estimate["lower95"][n] for n in names],
                          "upper95": [estimate["upper95"][n] for n in names]},
                         index=pd.Index(names, name="parameter"))
    summary = {"source": "replay", "phase": "", "update_count": len(history), "kappa": None,
               "nis": None if history.empty else history["nis"].iloc[-1],
               "perf_parms": T.perf_parms_of(estimate["params"]),
               "params": estimate["params"], "stddev": estimate["stddev"]}
    return {"estimate": summary, "table": table, "outcomes": f.outcome_counts, "history": history}


def _tuner_result(tuner: T.Tuner) -> dict[str, Any]:
    estimate = tuner.estimate
    return {"estimate": None if estimate is None else estimate.to_dict(),
            "table": None if estimate is None else estimate.to_frame(),
            "outcomes": tuner.outcome_counts, "history": tuner.history}


def _clean(value: Any) -> Any:
    """JSON-safe: non-finite floats become null, numpy scalars plain numbers."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _history_records(history: pd.DataFrame) -> list[dict[str, Any]]:
    return [_clean(r) for r in history.astype(object).where(history.notna(), None).to_dict("records")]


def _write(result: dict[str, Any], args: argparse.Namespace, out: TextIO) -> None:
    history: pd.DataFrame = result["history"]
    if args.format == "json":
        doc = {k: v for k, v in result.items() if k not in ("table", "history")}
        if args.history:
            doc["history"] = _history_records(history)
        out.write(json.dumps(_clean(doc), indent=2, sort_keys=True) + "\n")
        return
    if args.format == "csv":
        if args.history:
            history.to_csv(out, index=False)
        elif result["table"] is not None:
            result["table"].to_csv(out)
        return
    text = io.StringIO()
    with pd.option_context("display.max_rows", None, "display.max_columns", None, "display.width", 200,
                           "display.float_format", "{:.6g}".format):
        label = "replay (reference profile, plain steps)" if result["replay"] else f"profile {result['profile']}"
        text.write(f"{result['file']}: {result['observations']} observations, {result['config']}, {label}\n\n")
        est = result["estimate"]
        if est is None and result["outcomes"].get("collected", 0):
            text.write("no estimate yet: still collecting observations for the cold start\n")
        elif est is None:
            text.write("no estimate: no row was usable (see the outcomes below)\n")
        else:
            text.write(result["table"].to_string() + "\n\n")
            kappa = "-" if est.get("kappa") is None else f"{est['kappa']:.4g}"
            nis = "-" if est.get("nis") is None else f"{est['nis']:.4g}"
            line = f"source {est['source']}   updates {est['update_count']}   kappa {kappa}   last NIS {nis}"
            if est.get("phase"):
                line += f"   phase {est['phase']}"
            text.write(line + "\n")
            text.write("perfParms " + json.dumps(_clean(est["perf_parms"])) + "\n")
        counts = ", ".join(f"{k} {v}" for k, v in result["outcomes"].items() if v)
        text.write(f"outcomes: {counts or 'none'}\n")
        if args.history and not history.empty:
            cols = [c for c in history.columns if c in HISTORY_COLUMNS or c.startswith(("observed_", "predicted_"))
                    or c in ("alpha", "beta", "gamma")]
            text.write("\n" + history[cols].to_string(index=False) + "\n")
    out.write("\n".join(line.rstrip() for line in text.getvalue().split("\n")))
