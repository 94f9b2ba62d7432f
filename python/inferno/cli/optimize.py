"""``inferno optimize DIR``: accelerator, replicas and batch size for every server of a system.

DIR holds the reference's JSON documents (accelerator-data.json, capacity-data.json,
model-data.json, serviceclass-data.json, server-data.json, optimizer-data.json) or one
system-data.json. Flags override optimizer-data.json.

Output: an allocation table (default), the solution-data.json document (--format json: the
reference shape plus inferno's fields; --format reference: the reference fields only), or CSV.
Exit status: 0 every server served, 2 some server best-effort or unallocated, 1 input error,
3 solver or post-check error.
"""

from __future__ import annotations

import argparse
import io
import sys
from typing import Any, TextIO

from .._lazy import pd

from ..optimizer import Solution, load, option_registry
from .common import EXIT_INPUT, EXIT_OK, EXIT_PARTIAL, input_path, non_negative_int

TABLE_COLUMNS = ["accelerator", "replicas", "batch", "cost", "itl_ms", "itl_slo_ms", "ttft_ms", "ttft_slo_ms",
                 "batch_fill", "power_w", "outcome"]


def add_parser(commands: Any) -> None:
    p = commands.add_parser("optimize", help="optimise a fleet: accelerator, replicas, batch size per server",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("directory", metavar="DIR", type=input_path,
                   help="directory of reference JSON documents, a system-data.json file, or - (that file on stdin)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--unlimited", dest="unlimited", action="store_const", const=True,
                      help="ignore capacity (each server takes its best candidate)")
    mode.add_argument("--limited", dest="unlimited", action="store_const", const=False,
                      help="respect the capacity of every accelerator type")
    p.add_argument("--solver", choices=["auto", "unlimited", "greedy", "milp"],
                   help="auto: greedy then the exact HiGHS model, keep the better (default); greedy: the "
                        "reference heuristic; milp: HiGHS only; unlimited: capacity ignored")
    p.add_argument("--heterogeneous", action="store_const", const=True,
                   help="allow several accelerator profiles per server (MILP MULTI)")
    # Old flag names, kept for one release (they warn): the option flags below carry the API names.
    p.add_argument("--policy", dest="deprecated_policy", choices=["None", "PriorityExhaustive", "PriorityRoundRobin", "RoundRobin"],
                   help=argparse.SUPPRESS)
    p.add_argument("--delayed-best-effort", action="store_const", const=True,
                   help="best effort once after all priority groups (greedy)")
    p.add_argument("--batch-size", dest="deprecated_batch_size", choices=["search", "reference"], help=argparse.SUPPRESS)
    p.add_argument("--max-queue", dest="deprecated_max_queue", type=non_negative_int, metavar="Q", help=argparse.SUPPRESS)
    p.add_argument("--objective", choices=["cost", "power", "weighted"],
                   help="minimise cost (default), power, or cost + power-price x power")
    p.add_argument("--power-price", type=float, metavar="P", help="cost units per W per hour (weighted objective)")
    p.add_argument("--time-limit", dest="deprecated_time_limit", type=float, metavar="SEC", help=argparse.SUPPRESS)
    p.add_argument("--preset", choices=["reference-v1", "reference-v2", "reference-v3"],
                   help="reproduce a reference optimizer version (queue model, sizing, batch rule, greedy)")
    p.add_argument("--candidates", action="store_true",
                   help="add every candidate of every server (accelerator, replicas, batch, cost, itl, ttft, "
                        "rate per replica, feasibility)")
    p.add_argument("--format", choices=["table", "json", "reference", "csv"], default="table")
    p.add_argument("--timing", action="store_true", help="add run times (the output then varies between runs)")
    p.add_argument("--threads", type=non_negative_int, default=0, help="candidate threads (0 = all cores)")
    add_option_flags(p, skip={"unlimited", "heterogeneous", "delayed_best_effort", "solver", "objective", "power_price",
                              "preset", "threads"})
    p.set_defaults(run=run)


_KINDS = {"integer": int, "number": float, "string": str}


def add_option_flags(p: argparse.ArgumentParser, skip: set[str]) -> None:
    """One flag per optimizer option, named as in the API (--saturation-policy for
    saturation_policy), from the option registry; the core checks the values."""
    group = p.add_argument_group("optimizer options (the optimizer-data.json keys, docs/optimizer.md §8)")
    for o in option_registry():
        if o["name"] in skip:
            continue
        flag = "--" + o["name"].replace("_", "-")
        text = f"{o['doc']} (default {o['default']!r})"
        if o["type"] == "boolean":
            group.add_argument(flag, dest=o["name"], action=argparse.BooleanOptionalAction, default=None, help=text)
        elif o["choices"]:
            group.add_argument(flag, dest=o["name"], choices=[c for c in o["choices"] if c], default=None, help=text)
        else:
            group.add_argument(flag, dest=o["name"], type=_KINDS[o["type"]], default=None, metavar=o["type"].upper(), help=text)





def options_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The optimizer options set by flags (snake_case names of :data:`inferno.optimizer.OPTIONS`);
    the old flag names still count, with a warning."""
    # threads is passed on its own (it decides how the candidates are computed, not what they are)
    options = {o["name"]: getattr(args, o["name"], None) for o in option_registry() if o["name"] != "threads"}
    renamed = (("deprecated_policy", "--policy", "saturation_policy", None),
               ("deprecated_batch_size", "--batch-size", "batch_size_policy", {"search": "cheapest", "reference": "reference"}),
               ("deprecated_max_queue", "--max-queue", "max_queue_size", None),
               ("deprecated_time_limit", "--time-limit", "milp_time_limit_sec", None))
    for dest, old, name, mapping in renamed:
        value = getattr(args, dest, None)
        if value is None:
            continue
        new = "--" + name.replace("_", "-")
        if options.get(name) is not None:
            raise ValueError(f"give {new}, not also its old name {old}")
        print(f"inferno optimize: warning: {old} is deprecated: use {new}", file=sys.stderr)
        options[name] = mapping[value] if mapping else value
    return {k: v for k, v in options.items() if v is not None}


def run(args: argparse.Namespace, stdout: TextIO | None = None) -> int:
    out = stdout or sys.stdout
    try:
        system = load(args.directory)  # a directory, or one system-data.json file (also from stdin)
        solution = system.optimize(threads=args.threads, **options_from_args(args))
        if args.format in ("json", "reference"):
            out.write(solution.to_json(format="extended" if args.format == "json" else "reference",
                                       candidates=args.candidates and args.format == "json", timing=args.timing))
        elif args.format == "csv":
            frame = solution.candidates if args.candidates else solution.to_frame(by_part=True)
            frame.to_csv(out, index=not args.candidates)
        else:
            text = io.StringIO()
            write_table(solution, args.candidates, args.timing, text)
            out.write("\n".join(line.rstrip() for line in text.getvalue().split("\n")))
    except ValueError as exc:
        print(f"inferno optimize: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    return {"ok": EXIT_OK, "partial": EXIT_PARTIAL}.get(solution.status, 3)


def write_table(solution: Solution, with_candidates: bool, timing: bool, out: TextIO) -> None:
    with pd.option_context("display.max_rows", None, "display.max_columns", None, "display.width", 200,
                           "display.float_format", "{:.6g}".format):
        frame = solution.to_frame(by_part=True)  # a heterogeneous allocation: one row per part
        out.write((frame[TABLE_COLUMNS].to_string() if not frame.empty else "(no allocation)") + "\n\n")
        s = solution.solver
        line = f"total cost {solution.total_cost:.6g}   total power {solution.total_power_w:.6g} W   " \
               f"status {solution.status}   solver {s['algorithm']} ({s['status']}"
        if s["gap"] is not None:
            line += f", gap {s['gap']:.3g}"
        line += ")"
        if s["fallback"] == "greedy" and s["status"] == "optimal":
            # not a failure: the exact model proved the greedy's answer optimal and it was kept
            line += "   greedy's answer kept (proven optimal)"
        elif s["fallback"]:
            line += f"   fallback {s['fallback']}"
        if timing:
            line += f"   {s['time_ms']:.3g} ms"
        out.write(line + "\n")
        if s["greedy_objective"] is not None and s["objective"] is not None:
            line = f"objective {s['objective']:.6g}   greedy objective {s['greedy_objective']:.6g}"
            if s["greedy_unserved"]:  # a partial assignment's objective is smaller, not better
                line += (f" (the greedy left {s['greedy_unserved']} server(s) without a full allocation: "
                         "not comparable)")
            out.write(line + "\n")
        if not solution.unallocated.empty:
            out.write("\nunallocated:\n" + solution.unallocated.to_string(index=False) + "\n")
        usage = solution.by_type
        used = usage[usage.cards > 0]
        if used.slices.isna().all():
            used = used.drop(columns="slices")
        out.write("\nby accelerator type:\n" + (used.to_string() if not used.empty else "(no cards used)") + "\n")
        changes, scaling = solution.changes, solution.scaling
        if not changes.empty and (changes.from_accelerator != "").any():
            out.write("\naccelerator changes:\n" + changes.to_string() + "\n")
        if not scaling.empty:
            out.write("\nreplica changes:\n" + scaling.to_string() + "\n")
        if with_candidates:
            cols = ["server", "accelerator", "feasible", "reason", "replicas", "batch", "cost", "itl_ms",
                    "ttft_ms", "rate_per_replica_rps"]
            out.write("\ncandidates:\n" + solution.candidates[cols].to_string(index=False) + "\n")
