"""Every policy on every acceptance scenario of the control loop: a Markdown table per scenario
(cost, SLO attainment, P95 TTFT and ITL, actions, reversals per hour), the figures the issue's
closing note and docs/control.md report (prints figures; not a test).

The scenarios are those of tests/test_control.py and notebooks/07-control-loop.ipynb, on
samples/large: the conversation trace, a compressed day on five servers, a flash crowd, a sensor
outage while the load drops, a capacity shrink at peak, long start-up delays, and a new model
joining on the sizing prior while another server leaves.

Usage: .venv/bin/python benchmarks/control_policies.py [--scenarios NAME[,NAME...]]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import inferno
from inferno.control import compare, load_scenario

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
LARGE = str(SAMPLES / "large")
ONE = "Premium-llama3_8b"
ALL = ["inferno", "reference", "hpa-queue", "saturation", "static-peak", "oracle"]
PRIOR = {"architecture": "mistralai/Mistral-7B-v0.1",
         "gpus": {"H100": "H100-SXM5-80GB", "A100": "A100-SXM4-80GB", "L4": "L4", "L40S": "L40S", "MI300X": "MI300X"}}

SCENARIOS: dict[str, Any] = {
    "conversation": SAMPLES / "control" / "conversation.yaml",
    "compressed-day": {"fleet": LARGE, "duration_s": 5400, "period_s": 60, "seed": 3, "startup_delay_s": 120,
                       "servers": ["Premium-llama_7b", "Premium-llama_13b", ONE, "Premium-mistral_7b", "Premium-granite_13b"],
                       "workload": {"kind": "diurnal", "peak_to_trough": 6, "period_s": 5400}},
    "flash-crowd-x5": {"fleet": LARGE, "servers": [ONE], "duration_s": 1800, "period_s": 60, "startup_delay_s": 60,
                       "workload": {"kind": "step", "factor": 5, "at_s": 600, "ramp_s": 60}},
    "sensor-outage": {"fleet": LARGE, "servers": [ONE], "duration_s": 1800, "period_s": 60,
                      "workload": {"kind": "step", "factor": 0.3, "at_s": 300, "ramp_s": 0},
                      "faults": [{"kind": "sensor_outage", "start_s": 290, "end_s": 600}]},
    "capacity-shrink": {"fleet": LARGE, "servers": [ONE, "Bronze-llama3_8b"], "duration_s": 1200, "period_s": 60,
                        "workload": {"kind": "constant", "rate_scale": 2.0},
                        "faults": [{"kind": "capacity", "at_s": 600, "type": "MI300X", "count": 8}]},
    "startup-8min": {"fleet": LARGE, "servers": [ONE], "duration_s": 2400, "period_s": 60, "startup_delay_s": 480,
                     "workload": {"kind": "step", "factor": 3, "at_s": 600, "ramp_s": 60}},
    "join-and-leave": {"fleet": LARGE, "servers": [ONE, "Premium-mistral_7b"], "duration_s": 2400, "period_s": 60,
                       "startup_delay_s": 120, "workload": {"kind": "diurnal", "peak_to_trough": 3, "period_s": 2400},
                       "truth": {"alpha": 1.2, "beta": 1.1, "gamma": 1.3}, "tuning": {"enabled": True},
                       "faults": [{"kind": "server_added", "at_s": 600, "server": "Premium-mistral_7b", "prior": PRIOR},
                                  {"kind": "server_removed", "at_s": 1500, "server": ONE}]},
}


def table(name: str, summary: Any, seconds: float) -> str:
    lines = [f"### {name} ({seconds:.1f} s)", "",
             "| policy | cost | attainment | P95 TTFT (ms) | P95 ITL (ms) | actions | reversals/h |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for row in summary.itertuples():
        lines.append(f"| {row.policy} | {row.cost:.1f} | {100 * row.attainment:.2f} % | {row.ttft_p95_ms:,.0f} | "
                     f"{row.itl_p95_ms:.1f} | {row.actions} | {row.reversals_per_hour:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", help=f"comma-separated subset of: {', '.join(SCENARIOS)}")
    args = parser.parse_args()
    names = args.scenarios.split(",") if args.scenarios else list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario {unknown[0]!r}; known: {', '.join(SCENARIOS)}")
    print(f"inferno {inferno.__version__}\n")
    for name in names:
        spec = SCENARIOS[name]
        scenario = load_scenario(spec if isinstance(spec, Path) else {**spec, "policies": ALL})
        start = time.perf_counter()
        result = compare(scenario, tuple(ALL))
        print(table(name, result.summary, time.perf_counter() - start), end="\n\n", flush=True)


if __name__ == "__main__":
    main()
