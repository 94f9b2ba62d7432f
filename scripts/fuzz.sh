#!/usr/bin/env bash
# Bounded fuzzing of the C++ readers and numerics (libFuzzer, ASan+UBSan): each target of
# cpp/fuzz runs a fixed number of inputs from a fixed seed, starting from its committed corpus
# (cpp/fuzz/corpus/<target>), so a run is repeatable. Any crash, sanitizer report, timeout or
# memory blow-up fails it; the input is kept in build/fuzz/findings. Part of the test command.
#
#   bash scripts/fuzz.sh                 # the bounded run: about 15 s per target on the reference machine
#   FUZZ_RUNS=1000 bash scripts/fuzz.sh  # the same with a given number of inputs per target
#   FUZZ_SECONDS=3600 bash scripts/fuzz.sh   # a long campaign before a release: time-bounded,
#                                            # new corpus entries are kept in build/fuzz/corpus
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS="${JOBS:-$(nproc)}"
# Inputs per target in the bounded run, each about 15 s on the machine the budget of the test
# command was set on (the targets differ in speed; on a slower machine they take longer, and the
# whole test command must stay within 25 minutes). Longer campaigns: FUZZ_SECONDS.
declare -A RUNS=([queue_lines]=100000 [optimizer_documents]=45000 [analyze]=7500)
# A unity build (sources compiled eight to a unit): the common headers are parsed and their
# templates instantiated once per unit instead of once per source, a third less build time.
CXX=clang++ CC=clang cmake -S . -B build/fuzz -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O1 -g1" \
  -DCMAKE_UNITY_BUILD=ON -DINFERNO_FUZZ=ON -DINFERNO_SANITIZE=ON -DINFERNO_BUILD_TESTS=OFF \
  -DPython_EXECUTABLE="$PWD/.venv/bin/python" >/dev/null
cmake --build build/fuzz -j "$JOBS" --target fuzz_queue_lines fuzz_optimizer_documents fuzz_analyze
mkdir -p build/fuzz/findings
export ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
run_target() {  # $1 = target: prints its outcome, fails on a finding
  local target="$1" work="build/fuzz/corpus/$1" bound start=$SECONDS
  mkdir -p "$work"
  if [ -n "${FUZZ_SECONDS:-}" ]; then bound=(-max_total_time="$FUZZ_SECONDS")
  else bound=(-runs="${FUZZ_RUNS:-${RUNS[$target]}}"); fi
  # -seed fixes the mutations; -timeout and -rss_limit_mb turn a hang or a memory blow-up into a
  # finding; the committed corpus is read, new inputs go to the writable directory first in line.
  "build/fuzz/cpp/fuzz_$target" -seed=1 "${bound[@]}" -timeout=20 -rss_limit_mb=2560 -max_len=4096 \
    -artifact_prefix="build/fuzz/findings/$target-" -print_final_stats=1 \
    "$work" "cpp/fuzz/corpus/$target" >"build/fuzz/$target.log" 2>&1 || return 1
  echo "fuzz: $target: $(grep -E '^stat::number_of_executed_units' "build/fuzz/$target.log" | awk '{print $2}') inputs, no finding ($((SECONDS - start)) s)"
}
# The targets are independent single processes, each with its own seed and corpus: they run side
# by side (a target's inputs do not depend on the others, so a run stays repeatable).
targets=(queue_lines optimizer_documents analyze)
declare -A pids
for target in "${targets[@]}"; do run_target "$target" & pids[$target]=$!; done
status=0
for target in "${targets[@]}"; do
  if ! wait "${pids[$target]}"; then
    status=1
    tail -n 40 "build/fuzz/$target.log"
    echo "fuzz: $target: FINDING (input in build/fuzz/findings, log build/fuzz/$target.log)" >&2
  fi
done
exit $status
