"""``inferno size``: GPU right-sizing from the command line (catalog, roofline, calibration,
recommendation, packing, offline webhook review).

Exit status: 0 ok, 2 invalid input, 3 infeasible (a server without a feasible accelerator),
4 calibration not accepted.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .._lazy import pd

from .. import sizing
from .common import input_path, positive_int

FORMATS = ("table", "json", "csv")


def _emit(df: pd.DataFrame | None, doc: Any, fmt: str) -> None:
    if fmt == "json" or df is None:
        print(json.dumps(doc, indent=2))
    elif fmt == "csv":
        df.to_csv(sys.stdout)
    else:
        with pd.option_context("display.max_rows", None, "display.max_columns", None, "display.width", 200,
                               "display.float_format", lambda v: f"{v:.6g}"):
            print(df.to_string())


def _catalog(args: argparse.Namespace) -> sizing.Catalog:
    return sizing.Catalog.load(*[Path(f) for f in (args.catalog or [])])


def _registry(args: argparse.Namespace) -> dict[str, sizing.ModelArch]:
    reg = sizing.models()
    for path in getattr(args, "models", None) or []:
        reg.update(sizing.load_models(path))
    return reg


def _model(args: argparse.Namespace) -> sizing.ModelArch:
    return sizing.resolve_model(args.model, _registry(args))


def _serving(args: argparse.Namespace) -> dict:
    serving: dict[str, Any] = {}
    for key, attr in (("dtype", "dtype"), ("kvCacheDtype", "kv_dtype"), ("gpuMemoryUtilization", "util"),
                      ("maxModelLen", "max_model_len"), ("maxNumSeqs", "max_num_seqs"),
                      ("tensorParallelSize", "tensor_parallel_size")):
        value = getattr(args, attr, None)
        if value is not None:
            serving[key] = value
    return serving


def run_gpus(args: argparse.Namespace) -> int:
    cat = _catalog(args)
    _emit(cat.gpus(), cat.to_dict(), args.format)
    return 0


def run_profiles(args: argparse.Namespace) -> int:
    cat = _catalog(args)
    geo = cat.geometry(args.gpu)
    _emit(cat.profiles(args.gpu), geo, args.format)
    return 0


def run_models(args: argparse.Namespace) -> int:
    reg = _registry(args)
    rows = [m.to_dict() for m in reg.values()]
    _emit(pd.DataFrame(rows).set_index("name"), rows, args.format)
    return 0


def run_discover(args: argparse.Namespace) -> int:
    doc = sizing.discover(args.gpu, Path(args.lgip).read_text(), Path(args.lgipp).read_text(), args.family, _catalog(args))
    print(json.dumps(doc, indent=2))
    return 0


def run_derive(args: argparse.Namespace) -> int:
    cat = _catalog(args)
    arch = _model(args)
    if args.all_profiles:
        accs = cat.candidates([args.gpu])
    elif args.profile:
        accs = [f"{args.gpu}:{p}" for p in args.profile.split(",")]
    else:
        accs = [args.gpu]
    efficiency = json.loads(Path(args.efficiency).read_text()) if args.efficiency else None
    estimates = [sizing.derive(arch, a, cat, in_tokens=args.in_tokens, out_tokens=args.out_tokens, serving=_serving(args),
                               efficiency=efficiency) for a in accs]
    df = pd.DataFrame([e.to_dict() for e in estimates]).set_index("accelerator")
    if args.format == "table":
        df = df[["alpha_ms", "beta_ms", "gamma_ms", "kv_capacity_tokens", "n_mem", "n_max", "feasible", "reason",
                 "knee_batch", "itl1_ms", "bound"]]
    # JSON: the estimate documents (camelCase, as the other documents), one per accelerator
    _emit(df, [{"accelerator": e.accelerator, **e.document} for e in estimates], args.format)
    return 0


def _calibration_points(files: list[str], fmt: str, accelerator: str | None,
                        command: str) -> Path | list[dict[str, Any]]:
    """The points file as given (JSON {"points": [...]}), or the closed-loop benchmarks of sweep,
    GuideLLM or vllm bench files (inferno.validate), with the rows left out reported."""
    paths = [Path(p) for p in files]
    if fmt == "auto" and len(paths) == 1 and paths[0].suffix.lower() == ".json":
        try:
            doc = json.loads(paths[0].read_text(encoding="utf-8"))
        except (OSError, ValueError):
            doc = None  # the reader below names the problem
        if isinstance(doc, list) or (isinstance(doc, dict) and "points" in doc):
            fmt = "points"
    if fmt == "points":
        if len(paths) != 1:
            raise ValueError(f"a points file is one JSON document; got {len(paths)} files")
        return paths[0]
    from .. import validate as V
    frame, _ = V.read_benchmarks(paths, fmt)
    points, skipped = V.profiling_points(frame, accelerator)
    if skipped:  # one line per reason, with the rows
        by_reason: dict[str, list[int]] = {}
        for line, reason in skipped:
            by_reason.setdefault(reason, []).append(line)
        for reason, lines in by_reason.items():
            shown = ", ".join(map(str, lines[:8])) + (", ..." if len(lines) > 8 else "")
            print(f"inferno size {command}: {len(lines)} row(s) left out ({shown}): {reason}", file=sys.stderr)
    if not points:
        raise ValueError("the benchmarks hold no closed-loop point (synchronous or concurrent); calibration fits "
                         "closed-loop runs, e.g. vllm bench serve --max-concurrency C")
    return points


def run_calibrate(args: argparse.Namespace) -> int:
    cat = _catalog(args)
    points = _calibration_points(args.points, args.input_format, args.accelerator, "calibrate")
    cal = sizing.calibrate(_model(args), points, cat, mode=args.mode, serving=_serving(args),
                           pin_gamma=args.pin_gamma)
    doc = cal.document
    if args.format == "table":
        verdict = "accepted" if doc["accepted"] else f"NOT accepted ({doc['reason']})"
        if doc["reason"] == "tooFewPoints":
            print(f"mode {doc['mode']}: {verdict}: fewer measured points than parameters to fit "
                  f"({'3' if doc['mode'] == 'family' else 'α, β, γ: 3, or 2 with --pin-gamma'}), nothing fitted")
            return 4
        print(f"mode {doc['mode']}: {verdict}, "
              f"relative RMS {doc['relRms']:.4g}, kappa {'inf' if doc['kappa'] is None else format(doc['kappa'], '.4g')}")
        fitted = doc.get("perfParms") or doc.get("efficiency") or {}
        print("fitted: " + ", ".join(f"{k} {v:.6g}" for k, v in fitted.items()))
        _emit(cal.rows.set_index("point"), doc, "table")
    else:
        _emit(cal.rows.set_index("point"), doc, args.format)
    return 0 if cal.accepted else 4


def _registry_key(model: str, reg: dict[str, sizing.ModelArch]) -> str:
    """The registry key --model names: a key, a key's last part, or a config.json path (added to
    ``reg`` under its name)."""
    arch = sizing.resolve_model(model, reg)
    key = next((k for k, a in reg.items() if a is arch), None)
    if key is None:  # a config file: the request names models by registry key
        key = arch.name or Path(model).stem
        reg[key] = arch
    return key


def _one_server_request(args: argparse.Namespace, reg: dict[str, sizing.ModelArch]) -> dict[str, Any]:
    """The recommendation request of the flags: one server."""
    if not args.model or (args.rate is None and args.concurrency is None):
        raise ValueError("size recommend needs --input FILE, or --model with --rate RPS or --concurrency C")
    load: dict[str, Any] = {"avgInTokens": args.in_tokens, "avgOutTokens": args.out_tokens}
    load.update({"arrivalRateRps": args.rate} if args.rate is not None else {"concurrency": args.concurrency})
    slo: dict[str, Any] = {"itl": args.itl, "ttft": args.ttft}
    if args.percentile:
        slo.update(itlPercentile=args.percentile, ttftPercentile=args.percentile)
    request: dict[str, Any] = {"servers": [{"name": "server", "model": _registry_key(args.model, reg), "load": load, "slo": slo}],
                               "menu": {"includeSlices": not args.no_slices}}
    if args.gpu:
        request["menu"]["gpuTypes"] = [g.strip() for text in args.gpu for g in text.split(",") if g.strip()]
    if args.max_replicas:
        request["menu"]["maxReplicas"] = args.max_replicas
    if args.capacity:
        capacity = {}
        for item in args.capacity.split(","):
            gpu, sep, count = item.partition("=")
            if not sep or not count.strip().isdigit():
                raise ValueError(f"--capacity expects GPU=N[,...] with N an integer >= 0, got {item!r}")
            capacity[gpu.strip()] = int(count)
        request["capacity"] = capacity
    return request


def _summary(rec: sizing.Recommendation, calibrated: bool, args: argparse.Namespace) -> str:
    """One line per server: what to deploy, its capacity and utilisation, and how far to trust it."""
    lines = []
    options = rec.options
    for server, choice in rec.choices.iterrows():
        if not isinstance(choice["choice"], str):
            lines.append(f"{server}: no accelerator meets the SLOs")
            continue
        o = options.loc[(server, choice["choice"])]
        text = f"{server}: {int(o['replicas'])} x {choice['choice']} ({o['gpus']:.3g} GPU{'s' if o['gpus'] != 1 else ''})"
        if o["rate_per_replica_rps"] > 0:
            text += f", {o['rate_per_replica_rps']:.4g} req/s per replica"
            if args.rate:
                text += f", {100 * args.rate / (o['replicas'] * o['rate_per_replica_rps']):.0f} % of that capacity used"
        for metric, column in (("ITL", "itl"), ("TTFT", "ttft")):
            at = o[f"{column}_at_percentile_ms"]
            text += (f", {metric} {o[column + '_ms']:.4g} ms" if at != at else  # NaN: a mean target
                     f", {metric} P{args.percentile:g} {at:.4g} ms (mean {o[column + '_ms']:.4g})")
        text += f", cost {o['cost_per_hour']:.4g}/h"
        if choice["slo_unattainable"]:
            text += " (SLOs not met: the fallback whole GPU)"
        text += "; calibrated" if calibrated else (
            "; roofline estimate, not calibrated: measure a few points and pass them with --calibrate "
            "(docs/sizing.md §4)")
        lines.append(text)
    return "\n".join(lines)


def run_recommend(args: argparse.Namespace) -> int:
    cat = _catalog(args)
    reg = _registry(args)
    flags_given = args.model or args.rate is not None or args.concurrency is not None
    if args.input and flags_given:
        raise ValueError("give --input FILE or the one-server flags (--model, --rate/--concurrency, ...), not both")
    request: Path | dict[str, Any] = Path(args.input) if args.input else _one_server_request(args, reg)
    calibrations = []
    if args.calibrate:
        if not args.model:
            raise ValueError("--calibrate needs --model (the model the measurements are of)")
        if not args.accelerator:
            raise ValueError("--calibrate needs --accelerator (the catalog GPU the measurements ran on)")
        points = _calibration_points(args.calibrate, "auto", args.accelerator, "recommend")
        cal = sizing.calibrate(sizing.resolve_model(args.model, reg), points, cat, mode="theta")
        if not cal.accepted:
            print(f"inferno size: the calibration is not accepted ({cal.reason}): "
                  "the roofline's estimates are used", file=sys.stderr)
        else:
            calibrations.append(cal)
    rec = sizing.recommend(request, cat, reg, calibrations=calibrations or None)
    if not args.input and args.format == "table":
        print(_summary(rec, bool(calibrations), args))
        print()
    if args.emit_dir:
        data = sizing.emit_optimizer_data(request, cat, reg)
        written = sizing.write_optimizer_dir(data, args.emit_dir)
        for note in data["notes"]:
            print(f"inferno size: note: {note}", file=sys.stderr)
        print(f"inferno size: wrote {', '.join(str(p) for p in written)}", file=sys.stderr)
    if args.format == "table":
        choices = rec.choices
        asked = [c for c in ("itl_at_percentile_ms", "ttft_at_percentile_ms") if choices[c].notna().any()]
        _emit(choices.drop(columns=[c for c in ("itl_at_percentile_ms", "ttft_at_percentile_ms") if c not in asked]),
              rec.document, "table")
        if len(rec.capacity):
            print()
            _emit(rec.capacity, None, "table")
        if args.options:
            print()
            cols = ["feasible", "reason", "n_max", "batch", "replicas", "gpus", "itl_ms", "ttft_ms", "cost_per_hour"]
            _emit(rec.options[cols], None, "table")
    elif args.format == "csv":
        _emit(rec.options if args.options else rec.choices, None, "csv")
    else:
        _emit(None, rec.document, "json")
    stuck = [s.server for s in rec.servers if s.unallocated or s.slo_unattainable]
    if stuck:
        print(f"inferno size: no accelerator meets the SLOs of: {', '.join(stuck)}", file=sys.stderr)
    short = rec.capacity[rec.capacity["short"]]
    for gpu, use in short.iterrows():
        print(f"inferno size: the choices together need at least {use['needed_gpus']:.4g} {gpu} GPUs, "
              f"{use['owned_gpus']} owned: share them with `inferno optimize` on the documents of --emit-dir",
              file=sys.stderr)
    return 3 if stuck or len(short) else 0


def run_pack(args: argparse.Namespace) -> int:
    cat = _catalog(args)
    demand = Path(args.demand[1:]).read_text() if args.demand.startswith("@") else args.demand
    existing = Path(args.existing) if args.existing else None
    packing = sizing.pack(args.gpu, demand, cat, existing=existing, allow_repartition=args.allow_repartition,
                          exact=not args.heuristic)
    if args.mig_parted:
        Path(args.mig_parted).write_text(packing.mig_parted())
    doc = packing.document
    if args.format == "table":
        print(f"{args.gpu}: {doc['gpusUsed']} GPUs (lower bound {doc['lowerBound']}, "
              f"{'optimal' if doc['optimal'] else 'not proven optimal'}, {doc['method']}), compute "
              f"{doc['computeUtilization']:.1%} / memory {doc['memoryUtilization']:.1%} used, "
              f"{doc['strandedComputeSlices']} stranded compute slices")
        _emit(packing.layout.set_index("gpu"), doc, "table")
    else:
        _emit(packing.layout.set_index("gpu"), doc, args.format)
    return 0


def run_review(args: argparse.Namespace) -> int:
    from .. import webhook

    config = webhook.WebhookConfig.from_file(args.config) if args.config else None
    print(json.dumps(webhook.review_file(args.input, config), indent=2))
    return 0


def add_parser(commands: Any) -> None:
    p = commands.add_parser("size", help="GPU right-sizing: roofline α/β/γ, MIG slice recommendation, packing",
                            description="GPU right-sizing: catalog, roofline estimates, calibration, "
                                        "slice recommendation, MIG packing. Exit status 3: infeasible; 4: "
                                        "calibration not accepted.")
    verbs = p.add_subparsers(dest="verb", metavar="VERB")
    verbs.required = True

    def verb(name: str, help_text: str, run: Any, model: bool = False, formats: bool = True) -> argparse.ArgumentParser:
        v = verbs.add_parser(name, help=help_text, description=help_text)
        v.add_argument("--catalog", action="append", metavar="FILE",
                       help="catalog file merged over the built-in one (repeatable)")
        if formats:  # discover and review print a JSON document only
            v.add_argument("--format", choices=FORMATS, default="table")
        if model:
            v.add_argument("--models", action="append", metavar="PATH",
                           help="HF config.json file or directory added to the model registry (repeatable)")
        v.set_defaults(run=run)
        return v

    verb("gpus", "print the accelerator catalog", run_gpus)
    v = verb("profiles", "MIG profiles of one GPU type", run_profiles)
    v.add_argument("--gpu", required=True, help="GPU type id, e.g. A100-SXM4-80GB")
    verb("models", "print the model registry (architectures and parameter counts)", run_models, model=True)
    v = verb("discover", "catalog override (JSON) from saved `nvidia-smi mig -lgip` / `-lgipp` output", run_discover,
             formats=False)
    v.add_argument("--gpu", required=True)
    v.add_argument("--lgip", required=True, metavar="FILE")
    v.add_argument("--lgipp", required=True, metavar="FILE")
    v.add_argument("--family", help="name of the MIG family to create (default GPU-discovered)")

    def serving_flags(v: argparse.ArgumentParser) -> None:
        v.add_argument("--dtype", help="weight dtype: bf16, fp16, fp8, int8, int4")
        v.add_argument("--kv-dtype", dest="kv_dtype", help="KV-cache dtype: auto, fp8")
        v.add_argument("--util", type=float, help="vLLM --gpu-memory-utilization (default 0.9)")
        v.add_argument("--max-model-len", dest="max_model_len", type=positive_int)
        v.add_argument("--max-num-seqs", dest="max_num_seqs", type=positive_int)
        v.add_argument("--tensor-parallel-size", dest="tensor_parallel_size", type=positive_int)

    v = verb("derive", "α, β, γ, KV capacity and max batch of a model on GPUs or slices", run_derive, model=True)
    v.add_argument("--model", required=True, help="registry name (or its last part) or a config.json path")
    v.add_argument("--gpu", required=True)
    group = v.add_mutually_exclusive_group()
    group.add_argument("--profile", help="MIG profile(s), comma separated")
    group.add_argument("--all-profiles", action="store_true", help="the whole GPU and every slice")
    v.add_argument("--in", dest="in_tokens", type=float, default=1024.0, help="mean input tokens n (default 1024)")
    v.add_argument("--out", dest="out_tokens", type=float, default=128.0, help="mean output tokens m (default 128)")
    v.add_argument("--efficiency", metavar="FILE", help="JSON efficiency factors (etaBw, etaFlops, t0Ms, ...)")
    serving_flags(v)

    v = verb("calibrate", "fit α, β, γ (--mode theta) or the efficiency factors (--mode family) to profiling points",
             run_calibrate, model=True)
    v.add_argument("--model", required=True)
    v.add_argument("--points", required=True, nargs="+", metavar="FILE", type=input_path,
                   help='JSON {"points": [...]} of closed-loop runs, or benchmark files (a sweep CSV, GuideLLM '
                        'reports, vllm bench serve results): their closed-loop rows become points')
    v.add_argument("--input-format", choices=["auto", "points", "sweeps", "vllm-bench", "guidellm"], default="auto",
                   help="auto (default): a JSON with 'points' is a points file, other files as inferno validate reads them")
    v.add_argument("--accelerator", metavar="NAME",
                   help="benchmark files: the catalog accelerator they ran on (default: a sweep's accelerator column)")
    v.add_argument("--mode", choices=("theta", "family"), default="family")
    v.add_argument("--pin-gamma", action="store_true", help="theta mode: keep γ at the roofline value")
    serving_flags(v)

    v = verb("recommend", "cheapest slice or GPU meeting each server's SLOs", run_recommend, model=True)
    v.add_argument("--input", metavar="FILE", type=input_path,
                   help="recommendation request (JSON); or describe one server with the flags below")
    one = v.add_argument_group("one server, without a request file")
    one.add_argument("--model", help="registry name (or its last part) or a config.json path")
    one.add_argument("--gpu", action="append", metavar="GPU",
                     help="GPU types to consider (repeatable or comma separated; default every catalog GPU)")
    load = one.add_mutually_exclusive_group()
    load.add_argument("--rate", type=float, metavar="RPS", help="open loop: arrival rate (req/s)")
    load.add_argument("--concurrency", type=positive_int, metavar="C", help="closed loop: clients")
    one.add_argument("--in", dest="in_tokens", type=float, default=1024.0, help="mean input tokens (default 1024)")
    one.add_argument("--out", dest="out_tokens", type=float, default=128.0, help="mean output tokens (default 128)")
    one.add_argument("--ttft", type=float, default=0.0, metavar="MS", help="TTFT target (ms; 0 = none)")
    one.add_argument("--itl", type=float, default=0.0, metavar="MS", help="ITL (TPOT) target (ms; 0 = none)")
    one.add_argument("--percentile", type=float, default=0.0, metavar="P",
                     help="the targets are P-th percentiles (e.g. 95; default 0: means)")
    one.add_argument("--no-slices", action="store_true", help="whole GPUs only")
    one.add_argument("--max-replicas", type=positive_int, metavar="R")
    one.add_argument("--capacity", metavar="GPU=N[,...]", help="GPUs owned per type")
    one.add_argument("--calibrate", nargs="+", metavar="FILE", type=input_path,
                     help="calibrate the roofline first from these measurements (a points file, sweeps, GuideLLM "
                          "or vllm bench results; as inferno size calibrate --points)")
    one.add_argument("--accelerator", metavar="NAME", help="--calibrate: the catalog GPU the measurements ran on")
    v.add_argument("--options", action="store_true", help="also print every evaluated option")
    v.add_argument("--emit-dir", metavar="DIR",
                   help="write accelerator/capacity/model/serviceclass/server data for `inferno optimize` there")

    v = verb("pack", "place MIG slices onto as few GPUs as possible", run_pack)
    v.add_argument("--gpu", required=True)
    v.add_argument("--demand", required=True, help='"3g.40gb=3,1g.10gb=5", JSON, or @FILE')
    v.add_argument("--existing", metavar="FILE", help="current layouts (JSON) to keep")
    v.add_argument("--allow-repartition", action="store_true", help="existing instances may move")
    v.add_argument("--heuristic", action="store_true", help="first-fit-decreasing only (no exact search)")
    v.add_argument("--mig-parted", metavar="FILE", help="also write the plan as a mig-parted config")

    v = verb("review", "run the admission webhook on a saved AdmissionReview (offline); prints the response JSON",
             run_review, formats=False)
    v.add_argument("--input", required=True, metavar="FILE", type=input_path)
    v.add_argument("--config", metavar="FILE", help="webhook configuration (JSON)")
