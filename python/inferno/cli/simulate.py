"""inferno simulate: measure a continuous-batching server (or fleet) by discrete-event simulation.

The server is described exactly as for `inferno queue solve`: ProblemData JSON objects, one per
line (from --input FILE, '-' or stdin), or --problem FILE and/or flags (one problem per --rate
value). Each problem is simulated and answered by one AnalysisData-shaped object holding the
*measured* values (throughput, avgTTFT, avgITL, avgWaitTime, avgRespTime, avgNumInServ, ...)
plus percentiles (ttftP95, ...) and 95 % confidence half-widths (avgTTFTHalfWidth, ...), so the
model's and the simulation's lines can be compared one to one.

Simulation keys may also be given in each line (mode, durationSeconds, warmupSeconds, seed,
replicas, router, arrivals, cv, clients, thinkTimeSeconds, inputTokens, outputTokens, tokenSpread, kvCapacityTokens, kvPolicy,
iterationNoiseCv, schedule
[[time_s, rate_rps], ...] with scheduleKind step|linear, trace [[time_s, in, out], ...]); the
flags below override them. Exit code 1 if any line failed (its error object is printed in its place).
"""

from __future__ import annotations

import argparse
from typing import Any

from .._lazy import pd

from .. import _core
from . import queue as queue_cli

# Flag -> simulation key of a ProblemData line.
_SIM_KEYS = {"mode": "mode", "duration": "durationSeconds", "warmup": "warmupSeconds", "seed": "seed",
             "replicas": "replicas", "router": "router", "arrivals": "arrivals", "cv": "cv",
             "clients": "clients", "think_time": "thinkTimeSeconds",
             "input_tokens": "inputTokens", "output_tokens": "outputTokens", "token_spread": "tokenSpread",
             "kv_capacity": "kvCapacityTokens", "kv_policy": "kvPolicy", "noise_cv": "iterationNoiseCv"}


def add_parser(commands: Any) -> None:
    p = commands.add_parser("simulate", help="discrete-event simulation of a server or fleet (measured metrics)",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    queue_cli.add_request_flags(p, "solve")
    sim = p.add_argument_group("simulation (defaults: iteration mode, 600 s, warm-up 10 %, seed 1)")
    sim.add_argument("--mode", choices=["iteration", "markov"],
                     help="iteration: the engine loop; markov: completions at the model's rates")
    sim.add_argument("--duration", type=float, metavar="SEC", help="simulated seconds of arrivals")
    sim.add_argument("--warmup", type=float, metavar="SEC", help="seconds excluded from the statistics")
    sim.add_argument("--seed", type=int)
    sim.add_argument("--replicas", type=int, metavar="R", help="replicas behind the router")
    sim.add_argument("--router", choices=["round-robin", "jsq", "least-tokens"])
    sim.add_argument("--arrivals", choices=["poisson", "gamma", "constant", "closed"],
                     help="constant: evenly spaced arrivals at the rate (GuideLLM's constant strategy); closed: "
                          "--clients users, each sending its next request when its previous one completes")
    sim.add_argument("--clients", type=int, metavar="C", help="closed arrivals: the number of users (concurrency)")
    sim.add_argument("--think-time", type=float, metavar="SEC",
                     help="closed arrivals: pause between a user's response and its next request (default 0)")
    sim.add_argument("--cv", type=float, help="gamma arrivals: coefficient of variation of inter-arrival times")
    sim.add_argument("--input-tokens", choices=["fixed", "uniform"],
                     help="prompt lengths: the mean for every request, or uniform within --token-spread of it")
    sim.add_argument("--output-tokens", choices=["fixed", "geometric", "uniform"],
                     help="output lengths: the mean for every request, geometric with that mean, or uniform")
    sim.add_argument("--token-spread", type=float, metavar="FRACTION",
                     help="uniform lengths lie in [1-F, 1+F] x the mean (default 0.5, as GuideLLM's synthetic data)")
    sim.add_argument("--kv-capacity", type=float, metavar="TOKENS", help="KV-cache capacity (0 = unlimited)")
    sim.add_argument("--kv-policy", choices=["reserve", "on-demand"],
                     help="reserve: prompt + output tokens at admission; on-demand: as vLLM, with preemption")
    sim.add_argument("--noise-cv", type=float, help="multiplicative noise on iteration times")
    sim.add_argument("--schedule", type=_schedule, metavar="T:R[,T:R...]",
                     help="time-varying load: rate R req/s from time T s, e.g. 0:2,300:4 (replaces RPS)")
    sim.add_argument("--schedule-kind", choices=["step", "linear"], help="hold rates (step) or ramp between them")
    sim.add_argument("--trace", metavar="FILE.csv",
                     help="replay arrivals: CSV with columns time_s, in_tokens, out_tokens (replaces RPS)")
    p.set_defaults(run=run, operation="simulate")


def _schedule(text: str) -> list[list[float]]:
    try:
        points = [[float(x) for x in item.split(":")] for item in text.split(",") if item.strip()]
    except ValueError:
        points = []
    if not points or any(len(p) != 2 for p in points):
        raise argparse.ArgumentTypeError(f"expected TIME_S:RATE_RPS[,...], e.g. 0:2,300:4; got {text!r}")
    return points


def _read_trace(path: str) -> list[list[float]]:
    frame = pd.read_csv(path)
    missing = [c for c in ("time_s", "in_tokens", "out_tokens") if c not in frame.columns]
    if missing:
        raise ValueError(f"--trace {path}: missing column(s) {missing}; expected time_s, in_tokens, out_tokens")
    return frame[["time_s", "in_tokens", "out_tokens"]].astype(float).values.tolist()


def run(args: argparse.Namespace) -> int:
    overrides = {key: getattr(args, flag) for flag, key in _SIM_KEYS.items() if getattr(args, flag) is not None}
    if args.schedule is not None:
        overrides["schedule"] = args.schedule
    if args.schedule_kind is not None:
        overrides["scheduleKind"] = args.schedule_kind
    if args.trace is not None:
        overrides["trace"] = _read_trace(args.trace)
    return queue_cli.run_operation(args, run_batch=_core.sim.run_simulation_requests, line_overrides=overrides)
