"""``inferno control``: the control loop. ``inferno control simulate SCENARIO.yaml`` runs a scenario's
fleet under each autoscaling policy through the same controller and prints what each cost and
achieved; ``inferno control forecast TRACE.csv`` measures how well each rate predictor forecasts
a request trace (docs/control.md)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .common import EXIT_INPUT, EXIT_OK, positive_int


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
    sim.add_argument("--workers", type=positive_int, default=1, metavar="N",
                     help="run the policies on N local processes (default 1: one after the other, in this process)")
    sim.add_argument("--dask", metavar="ADDRESS",
                     help="run the policies on this Dask scheduler, e.g. tcp://10.0.0.5:8786 (needs inferno[distributed])")
    sim.set_defaults(run=run_simulate)
    fc = sub.add_parser("forecast", help="how well each rate predictor forecasts a request trace",
                        description="Feeds a trace's arrival rate to each predictor one window at a time, as the loop "
                                    "does, and prints per predictor: nRMSE one window and the horizon ahead (each also "
                                    "as a ratio to 'last'), the share of windows under-predicted by more than 10 %% at "
                                    "the horizon, and how often the rate stayed within the forecast's upper quantile.")
    fc.add_argument("trace", metavar="TRACE.csv", help="a request trace: t_s,in_tokens,out_tokens, sorted by t_s")
    fc.add_argument("--period-s", type=float, default=60.0, help="the control period: one window (default 60)")
    fc.add_argument("--horizon-s", type=float,
                    help="how far ahead, a whole number of periods (default 3 periods: the period plus a start-up "
                         "delay of two)")
    fc.add_argument("--time-compression", type=float, default=1.0, metavar="K",
                    help="replay the trace K times faster (its rates x K; default 1)")
    fc.add_argument("--predictors", metavar="P[,P...]", help="the predictors (default: last, ewma, holt, kalman)")
    fc.add_argument("--quantile", type=float, default=0.9, help="the upper quantile's level (default 0.9)")
    fc.add_argument("--format", choices=["table", "json", "csv"], default="table")
    fc.set_defaults(run=run_forecast)
    run = sub.add_parser("run", help="the live controller: a daemon with an HTTP server (needs inferno[control])",
                         description="Runs the control loop live (docs/control-live.md): every period_s, and on POST /invoke, "
                                     "it reads the managed Deployments and their pods from Kubernetes and vLLM's metrics "
                                     "from Prometheus, plans, stabilizes and acts (Kubernetes /scale, or the "
                                     "inferno_desired_replicas gauge for HPA/KEDA, or a log). Serves /healthz, /readyz, "
                                     "/metrics, /status and the reference's POST /optimizeOne. SIGTERM ends the running "
                                     "cycle, then exits.")
    run.add_argument("config", metavar="CONFIG.yaml", help="the controller's configuration")
    run.add_argument("--dry-run", action="store_true",
                     help="advisory: decide and log, change nothing (Kubernetes: server-side dry run)")
    run.add_argument("--once", action="store_true", help="run one cycle, print its log line and exit (no HTTP server)")
    run.set_defaults(run=run_daemon)
    em = sub.add_parser("emulate", help="a simulated fleet behind vLLM metrics and a Kubernetes API subset (a test fixture)",
                        description="Runs a closed-loop scenario's fleet in wall-clock time (docs/control-live.md, 'The "
                                    "emulator'): /metrics serves vLLM's metrics per pod for Prometheus to scrape, and a "
                                    "subset of the Kubernetes API serves the Deployments and pods the controller reads "
                                    "and scales. A test fixture and a demo, not a cluster.")
    em.add_argument("scenario", metavar="SCENARIO.yaml", help="the fleet, workload and start-up delays (policies are ignored)")
    em.add_argument("--host", default="127.0.0.1", help="the address to bind (default 127.0.0.1)")
    em.add_argument("--port", type=int, default=8081, help="the port (default 8081)")
    em.add_argument("--namespace", default="default", help="the namespace of its Deployments (default 'default')")
    em.add_argument("--kubeconfig", metavar="PATH", help="write a kubeconfig that points at the emulator here")
    em.set_defaults(run=run_emulate)


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
        result = compare(scenario, policies, workers=args.workers, client=args.dask)
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


def run_forecast(args: argparse.Namespace) -> int:
    from ..control import PredictionSettings, ScenarioError, read_trace
    from ..control.prediction import PREDICTORS, forecast_errors
    try:
        k = args.time_compression
        if not (k > 0 and k < 1e6):  # also refuses NaN
            raise ValueError(f"--time-compression must be a number in (0, 1e6), got {k:g}")
        names = tuple(p.strip() for p in (args.predictors or ",".join(PREDICTORS)).split(",") if p.strip())
        unknown = [p for p in names if p not in PREDICTORS]
        if unknown or not names:
            raise ValueError(f"--predictors: unknown predictor {unknown[0] if unknown else ''!r}; allowed: "
                             f"{', '.join(PREDICTORS)}")
        settings = {name: PredictionSettings(predictor=name, quantile=args.quantile) for name in names}
        trace = read_trace(args.trace)
        frame = forecast_errors(trace.t_s.to_numpy() / k, args.period_s, args.horizon_s, settings)
    except (ScenarioError, ValueError) as error:
        print(f"inferno control forecast: {error}", file=sys.stderr)
        return EXIT_INPUT
    if args.format == "json":
        print(json.dumps({**frame.attrs, "predictors": frame.to_dict(orient="records")}, indent=2))
    elif args.format == "csv":
        sys.stdout.write(frame.to_csv(index=False))
    else:
        a = frame.attrs
        print(f"{a['windows']} windows of {a['period_s']:g} s, mean {a['mean_rps']:.3g} req/s, horizon {a['horizon_s']:g} s")
        shown = frame.copy()
        for col in shown.columns[1:]:
            shown[col] = shown[col].map(lambda v: f"{v:.3f}")
        print(shown.to_string(index=False))
    return EXIT_OK


def _without_control_extra(command: str) -> bool:
    """True, with a message, when the control extra's packages are not installed."""
    import importlib
    for module in ("fastapi", "uvicorn", "httpx", "kubernetes", "yaml", "prometheus_client"):
        try:
            importlib.import_module(module)
        except ImportError as error:
            print(f"inferno control {command}: needs the control extra (pip install 'inferno[control]'): {error}",
                  file=sys.stderr)
            return True
    return False


def run_daemon(args: argparse.Namespace) -> int:
    if _without_control_extra("run"):
        return EXIT_INPUT
    from ..control.config import ConfigError, load_config
    from ..control.daemon import Daemon, StateError
    try:
        config = load_config(args.config)
        daemon = Daemon(config, dry_run=args.dry_run)
    except (ConfigError, StateError) as error:
        print(f"inferno control run: {error}", file=sys.stderr)
        return EXIT_INPUT
    except Exception as error:  # noqa: BLE001 - e.g. a kubeconfig the client refuses: named, not a traceback
        print(f"inferno control run: cannot start: {type(error).__name__}: {error}", file=sys.stderr)
        return EXIT_INPUT
    if args.once:
        print(json.dumps(daemon.cycle("once"), sort_keys=True))
        return EXIT_OK
    from .._asgi import serve
    from ..control.server import daemon_app
    http = config.http
    serve(daemon_app(daemon), http.host, http.port, http.cert_file, http.key_file)
    return EXIT_OK


def run_emulate(args: argparse.Namespace) -> int:
    if _without_control_extra("emulate"):
        return EXIT_INPUT
    from .._asgi import serve
    from ..control import ScenarioError, load_scenario
    from ..control.emulator import Emulator, emulator_app, kubeconfig
    if not 0 < args.port < 65536:
        print(f"inferno control emulate: --port must be in 1..65535, got {args.port}", file=sys.stderr)
        return EXIT_INPUT
    try:
        emulator = Emulator(load_scenario(args.scenario), namespace=args.namespace)
    except ScenarioError as error:
        print(f"inferno control emulate: {error}", file=sys.stderr)
        return EXIT_INPUT
    if args.kubeconfig:
        Path(args.kubeconfig).write_text(kubeconfig(f"http://{args.host}:{args.port}", args.namespace), encoding="utf-8")
    serve(emulator_app(emulator), args.host, args.port)
    return EXIT_OK
