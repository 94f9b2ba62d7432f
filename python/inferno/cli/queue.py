"""inferno queue solve|target|batch-size|models

Input: ProblemData JSON objects, one per line (the reference REST bodies; keys are matched
case-insensitively), read from --input FILE ('-' = stdin), or from stdin when no problem flags
are given; problem flags then override fields of every line. Alternatively --problem FILE and/or
flags alone describe one problem (one per --rate value for solve).
Output: one AnalysisData / OptimizeData object per input line (--format json), or a table/CSV.
A bad line yields {"error": ..., "message": ..., "status": ...} in its place; processing goes on
and the exit code is 2 if any line failed (a partial result; 1 for usage or file errors).
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import sys
from typing import Any, Iterable, Iterator, TextIO

from .._lazy import pd

from .. import _core
from ..queue import service_models
from .common import EXIT_OK, EXIT_PARTIAL, non_negative_int

# Flag -> ProblemData key. Nested keys use "object.field".
_FLAG_KEYS = {
    "max_batch": "maxBatchSize", "max_queue": "maxQueueSize", "in_tokens": "avgInputTokens",
    "out_tokens": "avgOutputTokens", "alpha": "alpha", "beta": "beta", "gamma": "gamma",
    "max_num_tokens": "maxNumTokens", "service_model": "serviceModel",
    "decode_alpha": "decodeParms.alpha", "decode_beta": "decodeParms.beta",
    "prefill_gamma": "prefillParms.gamma", "prefill_delta": "prefillParms.delta",
    "tokens_per_request": "avgNumTokens", "ttft": "targetTTFT", "itl": "targetITL",
    "wait": "targetWaitTime", "loss_prob": "targetLossProb", "tps": "targetTPS",
    "arrival_cov": "arrivalCOV", "service_cov": "serviceCOV", "in_tokens_spread": "inTokensSpread", "itl_weighting": "itlWeighting",
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
    "simulate": ["offeredRPS", "throughput", "avgTTFT", "ttftP95", "avgITL", "tokenITLP95", "avgWaitTime",
                 "avgRespTime", "avgNumInServ", "lossProb", "completed"],
}

BATCH_LINES = 256


def add_parser(commands: Any) -> None:
    queue = commands.add_parser("queue", help="queueing model of one inference server",
                                description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    ops = queue.add_subparsers(dest="operation", metavar="OPERATION")
    ops.required = True
    # batch-size is the reference's /optimize (one server's batch cap); its old name "optimize"
    # sat beside `inferno optimize` (the fleet), so it is kept for one release and warns.
    helps = {"solve": "metrics at the offered rate RPS",
             "target": "largest rate meeting the targets",
             "batch-size": "smallest batch size at the SLO-throughput plateau",
             "optimize": "deprecated name of batch-size"}
    for name, text in helps.items():
        p = ops.add_parser(name, help=text, description=f"{text}. {__doc__}",
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        add_request_flags(p, "optimize" if name == "batch-size" else name)
        p.set_defaults(run=run_operation, deprecated_operation=name == "optimize")
    models = ops.add_parser("models", help="list the service models and their parameters")
    models.add_argument("--format", choices=["table", "json", "csv"], default="table")
    models.set_defaults(run=_run_models)




# --target spellings: ttft_p95, ttft_p95_ms, itl_p99.9, itl_p99_9, wait_p90, waitTime_p90.
_TARGET_FLAG = re.compile(r"^(ttft|itl|wait|waittime)_p(\d+(?:[._]\d+)?)(?:_ms)?$", re.IGNORECASE)
_TARGET_KEY = {"ttft": "targetTTFT", "itl": "targetITL", "wait": "targetWaitTime",
               "waittime": "targetWaitTime"}


def _percentile_target(text: str) -> tuple[str, float]:
    """'ttft_p95=500' -> ('targetTTFT_p95', 500.0)."""
    name, sep, value = text.partition("=")
    match = _TARGET_FLAG.match(name.strip())
    if not sep or not match:
        raise argparse.ArgumentTypeError(
            f"expected METRIC_pXX=MS with METRIC one of ttft, itl, wait (or waitTime), "
            f"e.g. ttft_p95=500, got {text!r}")
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--target {name}: expected a number, got {value!r}") from None
    pct = match.group(2).replace("_", ".")
    return f"{_TARGET_KEY[match.group(1).lower()]}_p{pct}", number


def _csv_floats(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def add_request_flags(p: argparse.ArgumentParser, operation: str) -> None:
    io = p.add_argument_group("input and output")
    io.add_argument("--input", "-i", metavar="FILE",
                    help="ProblemData JSON lines ('-' = stdin); problem flags override each line")
    io.add_argument("--problem", metavar="FILE",
                    help="one ProblemData JSON object to start from; flags override its fields")
    io.add_argument("--format", choices=["json", "table", "csv"], default="json")
    io.add_argument("--all-columns", action="store_true", help="table: show every field")
    io.add_argument("--threads", type=non_negative_int, default=0,
                    help="worker threads (0 = all cores)")

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
    srv.add_argument("--in-tokens-spread", type=float, metavar="S",
                     help="prompt lengths uniform within ±S of the mean (0..1): spreads TTFT percentiles")
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
        tg.add_argument("--target", action="append", default=[], type=_percentile_target,
                        metavar="METRIC_pXX=MS",
                        help="percentile target, e.g. ttft_p95=500, itl_p99.9=30, wait_p90=100")
        tg.add_argument("--grid-points", type=int, help="sizing scan resolution (default 16)")
        tg.add_argument("--tps-safety-fraction", type=float, help="headroom with a TPS demand (default 0.1)")
    if operation == "optimize":
        op = p.add_argument_group("search")
        op.add_argument("--min-batch", type=int)
        op.add_argument("--epsilon", type=float, help="plateau tolerance (default 0.02)")
        op.add_argument("--max-iters", type=int, help="probe budget (default 6)")
        op.add_argument("--converge", action="store_true", help="bisect until the bracket closes")


def _flag_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """ProblemData fields set by flags (empty when no problem flag is given)."""
    base: dict[str, Any] = {}
    for flag, key in _FLAG_KEYS.items():
        value = getattr(args, flag, None)
        if value is None:
            continue
        if "." in key:
            obj, field = key.split(".")
            base.setdefault(obj, {})[field] = value
        else:
            base[key] = value
    for key, value in getattr(args, "target", []) or []:
        base[key] = value
    if getattr(args, "converge", False):
        base["onsetConverge"] = True
    if args.percentiles is not None:
        base["percentiles"] = args.percentiles
    return base


def _merge(line_object: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Flag values replace fields of a ProblemData object (case-insensitively, nested too)."""
    out = dict(line_object)
    for key, value in overrides.items():
        for existing in [k for k in out if k.lower() == key.lower()]:
            if isinstance(value, dict) and isinstance(out[existing], dict):
                value = _merge(out[existing], value)
            del out[existing]
        out[key] = value
    return out


def _load_problem(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            problem = json.load(f)
    except json.JSONDecodeError as exc:
        raise ValueError(f"--problem {path}: malformed JSON: {exc}") from None
    if not isinstance(problem, dict):
        raise ValueError(f"--problem {path}: expected one JSON object")
    return problem


def _override_lines(lines: Iterable[str | bytes], overrides: dict[str, Any]) -> Iterator[str | bytes]:
    for line in lines:
        if not overrides or not line.strip():
            yield line
            continue
        try:
            obj = json.loads(line)
        except ValueError:  # malformed JSON or invalid UTF-8
            yield line  # the core reports it as an error on the line's own output line
            continue
        yield json.dumps(_merge(obj, overrides)) if isinstance(obj, dict) else line


def _binary(stream: Any) -> Iterator[str | bytes]:
    """Lines are read as bytes and handed to the core as they are: a line that is not valid UTF-8
    then gets its own error, instead of a decoding error ending the whole batch. A line longer than
    the core accepts is cut just past the limit (the rest is skipped, never held in memory), so the
    core answers it with its error. (A text stream without a byte buffer, as in tests, is read as
    it is.)"""
    stream = getattr(stream, "buffer", stream)
    limit = _core.io.max_json_bytes
    while line := stream.readline(limit + 1):
        if len(line) > limit and not line.endswith(b"\n" if isinstance(line, bytes) else "\n"):
            while (rest := stream.readline(1 << 20)) and not rest.endswith(b"\n" if isinstance(rest, bytes) else "\n"):
                pass
        yield line


def _input_lines(args: argparse.Namespace, stdin: TextIO) -> Iterator[str | bytes]:
    overrides = _flag_overrides(args)
    rates = getattr(args, "rate", None)
    if args.input and (args.problem or rates):
        raise ValueError("--input reads ProblemData lines; it cannot be combined with --problem or --rate")
    if args.input:  # lines, each overridden by the flags
        if args.input == "-":
            yield from _override_lines(_binary(stdin), overrides)
        else:
            with open(args.input, "rb") as f:
                yield from _override_lines(_binary(f), overrides)
    elif args.problem or rates or overrides:  # one problem (one per rate) from --problem and flags
        problem = _merge(_load_problem(args.problem) if args.problem else {}, overrides)
        for rate in rates or [None]:
            yield json.dumps(problem if rate is None else _merge(problem, {"RPS": rate}))
    else:
        yield from _binary(stdin)


def _chunks(lines: Iterable[str | bytes], size: int) -> Iterator[list[str | bytes]]:
    it = iter(lines)
    while chunk := list(itertools.islice(it, size)):
        yield chunk


def _strip_newline(line: str | bytes) -> str | bytes:
    return line.rstrip(b"\n") if isinstance(line, bytes) else line.rstrip("\n")


def run_operation(args: argparse.Namespace, stdin: TextIO | None = None,
                  stdout: TextIO | None = None, run_batch: Any = None,
                  line_overrides: dict[str, Any] | None = None) -> int:
    """Answers ProblemData lines with the queue core, or with `run_batch(lines, threads)` (the
    simulator, which shares this runner); `line_overrides` are merged into every line after the
    problem flags. Exit status: EXIT_PARTIAL when any line failed (every other line answered)."""
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    if getattr(args, "deprecated_operation", False):
        print("inferno queue: warning: `inferno queue optimize` is deprecated: use `inferno queue batch-size` "
              "(`inferno optimize` sizes a fleet)", file=sys.stderr)
    if args.operation == "batch-size":
        args.operation = "optimize"  # the core's name, after the reference's endpoint
    if run_batch is None:
        def run_batch(lines: list[str], threads: int) -> Any:
            return _core.io.run_queue_requests(args.operation, lines, threads)
    # Interactive input is answered line by line; piped input in parallel batches.
    reads_stdin = not args.input or args.input == "-"
    chunk = 1 if (reads_stdin and stdin.isatty()) else BATCH_LINES
    failures = 0
    rows: list[dict[str, Any]] = []
    line_no = 0
    for lines in _chunks(_override_lines(_input_lines(args, stdin), line_overrides or {}), chunk):
        outputs, failed = run_batch([_strip_newline(line) for line in lines], args.threads)
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
                for warning in record.pop("warnings", []):
                    print(f"inferno: line {line_no}: warning: {warning}", file=sys.stderr)
                record = {"line": line_no, **record}
                rows.append(record)
        if args.format == "json":
            stdout.flush()
    if args.format != "json":
        frame = pd.DataFrame(rows)
        # Keep JSON integers as integers even where an error row leaves a gap (no float 48.0).
        for col in frame.columns:
            values = [r[col] for r in rows if r.get(col) is not None]
            if values and all(type(v) is int for v in values):
                frame[col] = frame[col].astype("Int64")
        _write_frame(frame, args, stdout)
    return EXIT_PARTIAL if failures else EXIT_OK


def _write_frame(frame: pd.DataFrame, args: argparse.Namespace, stdout: TextIO) -> None:
    if frame.empty:
        return
    if "probes" in frame:
        frame["probes"] = frame["probes"].map(
            lambda p: " ".join(map(str, p)) if isinstance(p, list) else p).astype("string")
    if args.format == "csv":
        frame.to_csv(stdout, index=False)
        return
    if not args.all_columns:
        wanted = ["line"] + _TABLE_COLUMNS[args.operation]
        wanted += [c for c in frame.columns if re.match(r"^(ttft|itl|waitTime)_p[\d.]+$", c)]
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
