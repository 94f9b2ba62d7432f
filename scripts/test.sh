#!/usr/bin/env bash
# Every test: set up (idempotent), then the Catch2 suite via ctest (normal build with warnings as
# errors, then ASan+UBSan), then pytest (API, CLI, properties, notebooks).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

JOBS="${JOBS:-$(nproc)}"
run_ctest() {  # $1 = build dir, rest = extra CMake arguments
  local dir="$1"; shift
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DINFERNO_BUILD_TESTS=ON \
    -DINFERNO_WERROR=ON "$@" >/dev/null
  cmake --build "$dir" -j "$JOBS"
  ctest --test-dir "$dir" --output-on-failure -j "$JOBS"
}

echo "== C++ tests (Catch2), with the bindings also compiled under -Werror =="
run_ctest build/ctest -DINFERNO_BUILD_PYTHON=ON -DPython_EXECUTABLE="$PWD/.venv/bin/python" \
  -Dpybind11_DIR="$(.venv/bin/python -m pybind11 --cmakedir)"
echo "== C++ tests under AddressSanitizer + UndefinedBehaviorSanitizer =="
run_ctest build/ctest-asan -DINFERNO_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo

echo "== Python tests (pytest, including the notebooks) =="
.venv/bin/python -m pytest -q tests "$@"
