"""Start-up time of the package and of whole CLI processes (prints figures; not a test).

Each command runs in a fresh process, ``--repeat`` times after one warm-up run (so the page cache
holds the files); the median and the minimum wall time are printed, next to the bare interpreter's
start and the goals of docs/development.md ("Start-up"). What ``import inferno`` loads is shown
too (``python -X importtime``, the ten largest cumulative entries).

Usage: .venv/bin/python benchmarks/startup.py [--repeat K]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
INFERNO = Path(sys.executable).with_name("inferno")
QUEUE_LINE = (REPO / "samples" / "queue" / "problem-data.json").read_text()

# (label, argv, standard input, goal in ms or None)
COMMANDS = [
    ("python -c pass (the interpreter alone)", [sys.executable, "-c", "pass"], None, None),
    ("python -c 'import inferno'", [sys.executable, "-c", "import inferno"], None, 50.0),
    ("inferno --version", [str(INFERNO), "--version"], None, None),
    ("inferno queue solve (one line on stdin)", [str(INFERNO), "queue", "solve"], QUEUE_LINE, 80.0),
    ("inferno optimize samples/large --format json",
     [str(INFERNO), "optimize", str(REPO / "samples" / "large"), "--format", "json"], None, 100.0),
    ("inferno optimize samples/large (table)", [str(INFERNO), "optimize", str(REPO / "samples" / "large")], None, None),
]


def wall_ms(argv: list[str], stdin: str | None) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, input=stdin, capture_output=True, text=True)
    elapsed = (time.perf_counter() - start) * 1e3
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr[-400:]}")
    return elapsed


def import_profile() -> list[tuple[int, str]]:
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", "import inferno"], capture_output=True, text=True)
    rows = []
    for line in proc.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            rows.append((int(parts[1]), parts[2].rstrip()))
    return sorted(rows, reverse=True)[:10]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="runs per command after a warm-up (default 15)")
    args = parser.parse_args()
    if not INFERNO.exists():
        raise SystemExit(f"no inferno console script next to {sys.executable}: run scripts/setup.sh")
    print(f"{'command':48s} {'median ms':>10s} {'min ms':>8s} {'goal ms':>8s}")
    for label, argv, stdin, goal in COMMANDS:
        wall_ms(argv, stdin)  # warm-up
        times = [wall_ms(argv, stdin) for _ in range(args.repeat)]
        verdict = "" if goal is None else (" met" if statistics.median(times) <= goal else " NOT met")
        print(f"{label:48s} {statistics.median(times):10.1f} {min(times):8.1f} "
              f"{'' if goal is None else f'{goal:8.0f}'}{verdict}")
    print("\nimport inferno, largest cumulative import times (python -X importtime, µs):")
    for micros, name in import_profile():
        print(f"{micros:10d}  {name}")


if __name__ == "__main__":
    main()
