"""``inferno queue solve|target|optimize|models``.

Input: ``ProblemData`` JSON objects, one per line (the reference REST bodies; keys are matched
case-insensitively), from stdin or ``--input``, or one object built from flags. Output: one
``AnalysisData`` / ``OptimizeData`` object per input line (``--format json``), or a table/CSV.
A bad line yields ``{"error": ..., "message": ..., "status": ...}`` in its place and the exit code
is 1 if any line failed.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from typing import Any, Iterable, Iterator, TextIO

import pandas as pd

from .. import _core
from ..queue import service_models

# Flag -> ProblemData key. Nested keys use "object.field".
_FLAG_KEYS = {
    "max_batch": "maxBatchSize", "max_queue": "maxQueueSize", "in_tokens": "avgInputTokens",
    "out_tokens": "avgOutputTokens", "alpha": "alpha", "beta": "beta", "gamma": "gamma",
    "max_num_tokens": "maxNumTokens", "service_model": "serviceModel",
    "decode_alpha": "decodeParms.alpha", "decode_beta": "decodeParms.beta",
    "prefill_gamma": "prefillParms.gamma", "prefill_delta": "prefillParms.delta",
    "tokens_per_request": "avgNumTokens", "ttft": "targetTTFT", "itl": "targetITL",
    "wait": "targetWaitTime", "loss_prob": "targetLossProb", "tps": "targetTPS",
    "arrival_cov": "arrivalCOV", "service_cov": "serviceCOV", "itl_weighting": "itlWeighting",
    "min_batch": "minBatchSize", "epsilon": "onsetEpsilon", "max_iters": "onsetMaxIters",
    "grid_points": "sizeGridPoints", "tps_safety_fraction": "tpsSafetyFraction",
}

# Columns shown by --format table unless --all-columns (the rest stay in json/csv).
_TABLE_COLUMNS = {
    "solve": ["offeredRPS", "throughput", "avgTTFT", "avgITL", "avgWaitTime", "avgRespTime",
              "avgNumInServ", "rho", "lossProb"],
    "target": ["offeredRPS", "throughput", "avgTTFT", "avgITL", "avgWaitTime", "avgNumInServ",
               "RPSTargetTTFT", "RPSTargetITL", "sizeStatus", "bindingConstraint"],
    "optimize": ["concurrency", "throughput", "avgTTFT", "avgITL", "avgNumInServ", "M_ITL",
                 "M_TPF", "oracleCalls", "feasible", "converged"],
}

BATCH_LINES = 256


def add_parser(commands: Any) -> None:
    queue = commands.add_parser("queue", help="queueing model of one inference server",
                                description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    ops = queue.add_subparsers(dest="operation", metavar="OPERATION")
    ops.required = True
    helps = {"solve": "metrics at the offered rate RPS",
             "target": "largest rate meeting the targets",
             "optimize": "smallest batch size at the SLO-throughput plateau"}
    for name, text in helps.items():
        p = ops.add_parser(name, help=text, description=f"{text}. {__doc__}",
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        _add_request_flags(p, name)
        p.set_defaults(run=_run_operation)
    models = ops.add_parser("models", help="list the service models and their parameters")
    models.add_argument("--format", choices=["table", "json", "csv"], default="table")
    models.set_defaults(run=_run_models)


def _csv_floats(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _add_request_flags(p: argparse.ArgumentParser, operation: str) -> None:
    io = p.add_argument_group("input and output")
    io.add_argument("--input", "-i", metavar="FILE",
                    help="ProblemData JSON lines (default: stdin, unless flags below describe the problem)")
    io.add_argument("--problem", metavar="FILE",
                    help="one ProblemData JSON object to start from; flags override its fields")
    io.add_argument("--format", choices=["json", "table", "csv"], default="json")
    io.add_argument("--all-columns", action="store_true", help="table: show every field")
    io.add_argument("--threads", type=int, default=0, help="worker threads (0 = all cores)")

    srv = p.add_argument_group("server (ProblemData fields; units: ms, req/s, tokens)")
    if operation == "solve":
        srv.add_argument("--rate", "--rps", type=_csv_floats, metavar="RPS[,RPS...]",
                         help="offered rate(s) in req/s; several give one output line each")
    srv.add_argument("--service-model", choices=[m["name"] for m in _core.queue.SERVICE_MODELS])
    srv.add_argument("--max-batch", type=int, metavar="N")
    srv.add_argument("--max-queue", type=int, metavar="Q")
    srv.add_argument("--in-tokens", type=float)
    srv.add_argument("--out-tokens", type=float)
    srv.add_argument("--max-num-tokens", type=int)
    for name in ("alpha", "beta", "gamma", "decode-alpha", "decode-beta", "prefill-gamma",
                 "prefill-delta"):
        srv.add_argument(f"--{name}", type=float)
    srv.add_argument("--tokens-per-request", type=float, help="token model: K_tok")
    srv.add_argument("--arrival-cov", type=float, help="opt-in Allen–Cunneen correction")
    srv.add_argument("--service-cov", type=float)
    srv.add_argument("--percentiles", type=_csv_floats, metavar="P[,P...]",
                     help="percentiles to report, e.g. 50,95,99")
    srv.add_argument("--itl-weighting", choices=["token", "time"])

    if operation in ("target", "optimize"):
        tg = p.add_argument_group("targets (0 or absent = none)")
        tg.add_argument("--ttft", type=float, metavar="MS", help="mean TTFT target")
        tg.add_argument("--itl", type=float, metavar="MS", help="mean ITL target")
        tg.add_argument("--wait", type=float, metavar="MS", help="mean queueing-delay target")
        tg.add_argument("--loss-prob", type=float, help="blocking-probability bound")
        tg.add_argument("--tps", type=float, help="output tokens/s demand")
        tg.add_argument("--target", action="append", default=[], metavar="METRIC_pXX=MS",
                        help="percentile target, e.g. ttft_p95=500, itl_p99=30, waitTime_p90=100")
        tg.add_argument("--grid-points", type=int, help="sizing scan resolution (default 16)")
        tg.add_argument("--tps-safety-fraction", type=float, help="headroom with a TPS demand (default 0.1)")
    if operation == "optimize":
        op = p.add_argument_group("search")
        op.add_argument("--min-batch", type=int)
        op.add_argument("--epsilon", type=float, help="plateau tolerance (default 0.02)")
        op.add_argument("--max-iters", type=int, help="probe budget (default 6)")
        op.add_argument("--converge", action="store_true", help="bisect until the bracket closes")


def _problem_from_flags(args: argparse.Namespace) -> dict[str, Any] | None:
    """The ProblemData object described by --problem and flags, or None if neither is given."""
    base: dict[str, Any] = {}
    if args.problem:
        with open(args.problem, encoding="utf-8") as f:
            base = json.load(f)
        if not isinstance(base, dict):
            raise ValueError(f"{args.problem}: expected one JSON object")
    given = False
    for flag, key in _FLAG_KEYS.items():
        value = getattr(args, flag, None)
        if value is None:
            continue
        given = True
        if "." in key:
            obj, field = key.split(".")
            base.setdefault(obj, {})[field] = value
        else:
            base[key] = value
    for item in getattr(args, "target", []) or []:
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--target expects METRIC_pXX=VALUE, got {item!r}")
        metric = name.strip()
        base["target" + metric[0].upper() + metric[1:]] = float(value)
        given = True
    if getattr(args, "converge", False):
        base["onsetConverge"] = True
        given = True
    if args.percentiles is not None:
        base["percentiles"] = args.percentiles
        given = True
    if not given and not args.problem:
        return None
    return base


def _input_lines(args: argparse.Namespace, stdin: TextIO) -> Iterator[str]:
    problem = _problem_from_flags(args)
    rates = getattr(args, "rate", None)
    if problem is not None or rates:
        if args.input:
            raise ValueError("give either --input or problem flags, not both")
        problem = problem or {}
        for rate in rates or [None]:
            obj = dict(problem)
            if rate is not None:
                obj["RPS"] = rate
            yield json.dumps(obj)
        return
    if args.input:
        with open(args.input, encoding="utf-8") as f:
            yield from f
    else:
        yield from stdin


def _chunks(lines: Iterable[str], size: int) -> Iterator[list[str]]:
    it = iter(lines)
    while chunk := list(itertools.islice(it, size)):
        yield chunk


def _run_operation(args: argparse.Namespace, stdin: TextIO | None = None,
                   stdout: TextIO | None = None) -> int:
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    # Interactive input is answered line by line; piped input in parallel batches.
    chunk = 1 if (not args.input and stdin.isatty()) else BATCH_LINES
    failures = 0
    rows: list[dict[str, Any]] = []
    line_no = 0
    for lines in _chunks(_input_lines(args, stdin), chunk):
        outputs, failed = _core.io.run_queue_requests(args.operation, [l.rstrip("\n") for l in lines],
                                                      args.threads)
        failures += failed
        for line, out in zip(lines, outputs):
            line_no += 1
            if not out:  # blank input line
                continue
            if args.format == "json":
                stdout.write(out + "\n")
            else:
                record = json.loads(out)
                if "error" in record:
                    print(f"inferno: line {line_no}: {record['message']}", file=sys.stderr)
                record = {"line": line_no, **record}
                rows.append(record)
        if args.format == "json":
            stdout.flush()
    if args.format != "json":
        _write_frame(pd.DataFrame(rows), args, stdout)
    return 1 if failures else 0


def _write_frame(frame: pd.DataFrame, args: argparse.Namespace, stdout: TextIO) -> None:
    if frame.empty:
        return
    if "probes" in frame:
        frame["probes"] = frame["probes"].map(lambda p: " ".join(map(str, p)) if isinstance(p, list) else p)
    if args.format == "csv":
        frame.to_csv(stdout, index=False)
        return
    if not args.all_columns:
        wanted = ["line"] + _TABLE_COLUMNS[args.operation]
        wanted += [c for c in frame.columns if "_p" in c and c.split("_p")[0] in ("ttft", "itl", "waitTime")]
        wanted += [c for c in ("error",) if c in frame.columns]
        frame = frame[[c for c in wanted if c in frame.columns]]
    with pd.option_context("display.width", 250, "display.max_columns", None,
                           "display.float_format", "{:.6g}".format):
        stdout.write(frame.to_string(index=False) + "\n")


def _run_models(args: argparse.Namespace) -> int:
    frame = service_models()
    if args.format == "json":
        sys.stdout.write(frame.to_json(orient="records", indent=2) + "\n")
    elif args.format == "csv":
        frame.to_csv(sys.stdout, index=False)
    else:
        with pd.option_context("display.width", 250, "display.max_colwidth", 80):
            sys.stdout.write(frame.to_string(index=False) + "\n")
    return 0
