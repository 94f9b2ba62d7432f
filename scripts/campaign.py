"""A bad-input campaign against the installed CLI, for developers to run before a release.

Each run takes a sample input (optimizer documents, a sizing request, profiling points, ProblemData
lines, tuner observations), replaces or deletes a few values with extreme or ill-typed ones, runs
the matching command and flags a finding when the process crashes (signal or exit >= 128), prints
a Python traceback, answers with a non-finite number in its JSON, or runs past the time limit.
Findings are kept, with the command and its inputs, under --out.

    .venv/bin/python scripts/campaign.py --seconds 600 --seed 1
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"
# Values that have broken parsers and numerics elsewhere: extremes, wrong types, text.
EXTREME = [0, -1, -0.0, 1e308, -1e308, 5e-324, 2**31, 2**63, -(2**63), 2**64, 1e20, 0.5, 1.5, True, False, None,
           "", "x", "é", [], {}, [1], {"a": 1}, "NaN", 1e-300, 2**31 - 1, 100, 1e9]


def mutate(doc, rng: random.Random, edits: int):
    doc = copy.deepcopy(doc)
    for _ in range(edits):
        paths = []

        def walk(node, path):
            items = node.items() if isinstance(node, dict) else enumerate(node[:3]) if isinstance(node, list) else ()
            for key, value in items:
                paths.append(path + (key,))
                walk(value, path + (key,))

        walk(doc, ())
        if not paths:
            return doc
        path = rng.choice(paths)
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        roll = rng.random()
        if roll < 0.8 or not isinstance(parent, dict):
            parent[path[-1]] = rng.choice(EXTREME)
        elif roll < 0.9:
            del parent[path[-1]]
        else:
            parent[f"{path[-1]}X"] = 1  # an unknown key
    return doc


def non_finite(value) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(non_finite(v) for v in value.values())
    if isinstance(value, list):
        return any(non_finite(v) for v in value)
    return False


def verdict(command: list[str], stdin: bytes | None, timeout_s: float) -> str | None:
    try:
        proc = subprocess.run(command, input=stdin, capture_output=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return f"timeout after {timeout_s} s"
    err = proc.stderr.decode(errors="replace")
    if proc.returncode < 0 or proc.returncode >= 128:
        return f"crash, exit {proc.returncode}: {err[-300:]}"
    if "Traceback" in err:
        return "traceback: " + err[-600:]
    out = proc.stdout.decode(errors="replace")
    try:
        documents = [json.loads(out)]
    except ValueError:
        documents = []
        for line in out.splitlines():
            try:
                documents.append(json.loads(line))
            except ValueError:
                pass
    if any(non_finite(d) for d in documents):
        return "non-finite number in the output: " + out[:300]
    return None


def cases(cli: list[str], work: Path, rng: random.Random):
    def optimize():
        target = work / "fleet"
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(SAMPLES / "small", target)
        for name in ("system-data.json", "solution-data.json"):
            (target / name).unlink()
        name = rng.choice(sorted(os.listdir(target)))
        doc = json.loads((target / name).read_text())
        (target / name).write_text(json.dumps(mutate(doc, rng, rng.randint(1, 3))))
        return [*cli, "optimize", str(target), "--format", "json"], None

    def recommend():
        doc = json.loads((SAMPLES / "sizing" / "request.json").read_text())
        (work / "request.json").write_text(json.dumps(mutate(doc, rng, rng.randint(1, 3))))
        return [*cli, "size", "recommend", "--input", str(work / "request.json"), "--format", "json"], None

    def calibrate():
        doc = json.loads((SAMPLES / "sizing" / "points.json").read_text())
        (work / "points.json").write_text(json.dumps(mutate(doc, rng, rng.randint(1, 3))))
        return [*cli, "size", "calibrate", "--model", "meta-llama/Meta-Llama-3-8B", "--points",
                str(work / "points.json"), "--format", "json"], None

    def lines():
        doc = json.loads((SAMPLES / "queue" / "problem-data.json").read_text())
        body = "".join(json.dumps(mutate(doc, rng, rng.randint(1, 3))) + "\n" for _ in range(5))
        operation = rng.choice([["queue", "solve"], ["queue", "target"], ["queue", "optimize"], ["simulate"]])
        return [*cli, *operation], body.encode()

    def tune():
        rows = (SAMPLES / "tuner" / "tuner-exp13.csv").read_text().splitlines()
        head, body = rows[0], rows[1:40]
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(body))
            cells = body[i].split(",")
            cells[rng.randrange(len(cells))] = str(rng.choice(EXTREME))
            body[i] = ",".join(cells)
        (work / "observations.csv").write_text("\n".join([head, *body]) + "\n")
        return [*cli, "tune", str(work / "observations.csv"), "--format", "json"], None

    return [optimize, recommend, calibrate, lines, tune]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=300, help="how long to run (default 300)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--timeout", type=float, default=60, help="per-command limit in seconds (default 60)")
    parser.add_argument("--out", type=Path, default=REPO / "build" / "campaign", help="where findings are kept")
    args = parser.parse_args()
    cli = [sys.executable, "-m", "inferno.cli"]
    rng = random.Random(args.seed)
    work = args.out / f"work-{args.seed}"
    work.mkdir(parents=True, exist_ok=True)
    generators = cases(cli, work, rng)
    runs = findings = 0
    began = time.monotonic()
    while time.monotonic() - began < args.seconds:
        generate = rng.choice(generators)
        command, stdin = generate()
        runs += 1
        problem = verdict(command, stdin, args.timeout)
        if problem:
            findings += 1
            kept = args.out / f"finding-{args.seed}-{findings}"
            shutil.copytree(work, kept, dirs_exist_ok=True)
            (kept / "command.json").write_text(json.dumps({"command": command, "stdin": stdin.decode() if stdin else None}))
            print(f"{generate.__name__}: {problem[:800]} (kept in {kept})", flush=True)
    print(f"{runs} runs, {findings} findings")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
