"""Queueing-core speed: calls per second of analyze and max_rate (prints figures; not a test).

Two views:
1. The C++ core on one core (the figures the performance targets refer to: analyze <= 2 us and
   max_rate <= 50 us at N = 256), from the timing program cpp/bench/bench_queue.cpp, which this
   script builds with CMake into build/bench.
2. The Python API, per call and per element of an array evaluation.

Usage: .venv/bin/python benchmarks/queue.py [--seconds 0.3] [--skip-cpp]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import inferno

ROOT = Path(__file__).resolve().parent.parent


def run_cpp(seconds: float) -> None:
    build = ROOT / "build" / "bench"
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    subprocess.run(["cmake", "-S", str(ROOT), "-B", str(build), *generator, "-DCMAKE_BUILD_TYPE=Release",
                    "-DINFERNO_BUILD_TESTS=OFF", "-DINFERNO_BUILD_BENCHMARKS=ON",
                    f"-DPython_EXECUTABLE={sys.executable}"],  # whose highsbox has HiGHS
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["cmake", "--build", str(build), "--target", "bench_queue"], check=True,
                   stdout=subprocess.DEVNULL)
    exe = build / "cpp" / "bench_queue"
    pin = ["taskset", "-c", "0"] if shutil.which("taskset") else []
    print("C++ core, one core (iteration model, alpha=12, beta=0.05, gamma=0.0005, n=128, m=512;")
    print("analyze over 5..100 % of maxRPS; max_rate with mean TTFT and ITL targets that bind;")
    print("p95_rate: max_rate with a P95 TTFT target):")
    sys.stdout.flush()
    subprocess.run([*pin, str(exe), str(seconds)], check=True)


def per_call(fn, seconds: float) -> float:
    calls, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(32):
            fn()
        calls += 32
    return elapsed / calls


def run_python(seconds: float) -> None:
    print("\nPython API (includes argument checks and result objects):")
    print(f"{'N':>6} {'Q':>7} | {'analyze_us':>10} {'array_us/rate':>13} | {'max_rate_us':>11}")
    for n in (16, 64, 256, 1024):
        for q in (0, 10 * n):
            m = inferno.QueueModel(alpha=12, beta=0.05, gamma=0.0005, in_tokens=128, out_tokens=512,
                                   max_batch=n, max_queue=q)
            rates = np.linspace(0.05, 1.0, 4096) * m.max_stable_rate_rps
            zero = m.analyze(m.min_rate_rps)
            t_scalar = per_call(lambda: m.analyze(0.7 * m.max_stable_rate_rps), seconds)
            t_array = per_call(lambda: m.analyze(rates), seconds) / len(rates)
            t_size = per_call(lambda: m.max_rate(ttft_ms=1.5 * zero.ttft_ms, itl_ms=1.3 * zero.itl_ms),
                              seconds)
            print(f"{n:>6} {q:>7} | {t_scalar * 1e6:>10.2f} {t_array * 1e6:>13.3f} | {t_size * 1e6:>11.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.3, help="time per measurement")
    parser.add_argument("--skip-cpp", action="store_true", help="only the Python API figures")
    args = parser.parse_args()
    print(f"inferno {inferno.__version__}, {os.cpu_count()} CPUs")
    if not args.skip_cpp:
        run_cpp(args.seconds)
    run_python(args.seconds)


if __name__ == "__main__":
    main()
