"""``inferno control``: the control loop. ``inferno control simulate SCENARIO.yaml`` runs a scenario's
fleet under each autoscaling policy through the same controller and prints what each cost and
achieved (docs/control.md)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .common import EXIT_INPUT, EXIT_OK


def add_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("control", help="the control loop: compare autoscaling policies in closed-loop simulation",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="control_command", metavar="COMMAND")
    sub.required = True
    sim = sub.add_parser("simulate", help="run a scenario under each policy and compare them",
                         description="Runs the scenario's fleet (docs/control.md, 'Scenarios') under each policy and "
                                     "prints one summary row per policy: GPU cost, SLO attainment, P95 TTFT and ITL, "
                                     "actions, direction reversals per hour and server, blocked requests.")
    sim.add_argument("scenario", metavar="SCENARIO.yaml", help="the scenario")
    sim.add_argument("--policies", metavar="P[,P...]",
                     help="the policies to run (default: the scenario's): inferno, reference, hpa-queue, saturation, "
                          "static-peak, oracle")
    sim.add_argument("--format", choices=["table", "json", "csv"], default="table", help="the summary's format")
    sim.add_argument("--output-dir", metavar="DIR",
                     help="also write summary.csv and one timeline-<policy>.csv per policy (a row per cycle and server)")
    sim.set_defaults(run=run_simulate)


def run_simulate(args: argparse.Namespace) -> int:
    from ..control import POLICIES, ScenarioError, compare, load_scenario
    try:
        scenario = load_scenario(args.scenario)
        policies = None
        if args.policies:
            policies = tuple(p.strip() for p in args.policies.split(",") if p.strip())
            unknown = [p for p in policies if p not in POLICIES]
            if unknown or not policies:
                raise ScenarioError(f"--policies: unknown policy {unknown[0] if unknown else ''!r}; allowed: "
                                    f"{', '.join(POLICIES)}")
        result = compare(scenario, policies)
    except ScenarioError as error:
        print(f"inferno control simulate: {error}", file=sys.stderr)
        return EXIT_INPUT
    summary = result.summary
    if args.output_dir:
        out = Path(args.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        summary.to_csv(out / "summary.csv", index=False)
        for name, run in result.runs.items():
            run.timeline.to_csv(out / f"timeline-{name}.csv", index=False)
    if args.format == "json":
        print(json.dumps(result.to_dict()["summary"], indent=2))
    elif args.format == "csv":
        sys.stdout.write(summary.to_csv(index=False))
    else:
        shown = summary.copy()
        for col in [c for c in shown.columns if c.startswith("attainment")]:
            shown[col] = (100 * shown[col]).map(lambda v: f"{v:.1f} %")
        for col in ("cost", "ttft_p95_ms", "itl_p95_ms", "reversals_per_hour", "replica_hours"):
            shown[col] = shown[col].map(lambda v: f"{v:.4g}")
        print(shown.to_string(index=False))
    return EXIT_OK
