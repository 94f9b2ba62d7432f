#!/usr/bin/env bash
# Every test: set up (idempotent); a fresh install of the package as a new user would make it
# (scripts/check_fresh_install.sh; FRESH_INSTALL=0 leaves it out of a local run, never out of
# CI), whose wheel .venv then gets; the Catch2 suite via ctest (ASan+UBSan, warnings as errors;
# a local run with FRESH_INSTALL=0 also runs it in the release tree setup.sh built); bounded
# fuzzing (scripts/fuzz.sh); pytest
# (API, CLI, properties, build, docs, notebooks) against the installed package; and pytest again
# (all but the notebooks) against the ASan+UBSan build of the extension.
set -euo pipefail
cd "$(dirname "$0")/.."

JOBS="${JOBS:-$(nproc)}"
# Each section's header says how long the run has taken so far: the budget of the whole command
# is 25 minutes on 2 cores, and this is where it goes.
section() { echo "== $* (at $((SECONDS / 60))m$((SECONDS % 60))s) =="; }

if [ "${FRESH_INSTALL:-1}" != 0 ] || [ "${CI:-}" = true ]; then
  # The core is compiled for release once: the wheel the fresh-install check builds in isolation
  # is the one .venv gets (the Catch2 suite then runs in the sanitized tree only).
  SKIP_INFERNO=1 bash scripts/setup.sh
  section "Fresh install: sdist and wheel built in isolation, installed into a clean virtualenv"
  KEEP_WHEEL_IN=build/wheel bash scripts/check_fresh_install.sh
  wheel=(build/wheel/inferno-*.whl)
  INFERNO_WHEEL="${wheel[0]}" bash scripts/setup.sh
else
  bash scripts/setup.sh
  section "C++ tests (Catch2)"
  # The tree setup.sh built the extension in, with the test targets added: the library objects
  # are reused, only the tests compile. (-Werror is checked by the sanitized build below, which
  # compiles every source again.)
  cmake -S . -B build/py -DINFERNO_BUILD_TESTS=ON >/dev/null
  cmake --build build/py -j "$JOBS"
  ctest --test-dir build/py --output-on-failure -j "$JOBS"
fi

run_ctest() {  # $1 = build dir, rest = extra CMake arguments
  local dir="$1"; shift
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DINFERNO_BUILD_TESTS=ON \
    -DINFERNO_WERROR=ON "$@" >/dev/null
  cmake --build "$dir" -j "$JOBS"
  ctest --test-dir "$dir" --output-on-failure -j "$JOBS"
}

section "C++ tests under AddressSanitizer + UndefinedBehaviorSanitizer (bindings too, -Werror)"
# Compiled with clang: it builds this tree in three quarters of GCC's time, and its warnings are
# checked here as errors (GCC's are checked on the wheel above, which fresh-install fails on any).
# -O1 with line tables: sanitizer reports keep file:line, and the build takes half the time of
# -O2 -g. Assertions stay on (no NDEBUG). A unity build (sources compiled eight to a unit, which
# parses the common headers and instantiates their templates once per unit): a third less build
# time; the tree setup.sh builds for development compiles every source on its own, so a missing
# include still shows there.
# (A tree configured by an earlier version of this script with GCC is made again: CMake keeps the
# compiler a tree was configured with.)
grep -qs 'CMAKE_CXX_COMPILER:[A-Z]*=.*clang' build/ctest-asan/CMakeCache.txt || rm -rf build/ctest-asan
CXX=clang++ CC=clang run_ctest build/ctest-asan -DINFERNO_SANITIZE=ON -DCMAKE_CXX_FLAGS_RELEASE="-O1 -g1" \
  -DCMAKE_UNITY_BUILD=ON -DINFERNO_BUILD_PYTHON=ON -DPython_EXECUTABLE="$PWD/.venv/bin/python" \
  -Dpybind11_DIR="$(.venv/bin/python -m pybind11 --cmakedir)"

section "Fuzzing (libFuzzer, ASan+UBSan): JSON lines, optimizer documents, the queue core"
bash scripts/fuzz.sh

section "Python tests (pytest, including the notebooks)"
# Spread over twice as many workers as cores (pytest-xdist; every test is independent): much of
# this pass waits on processes it starts (servers, CLI runs, notebook kernels, the docs build), and
# with one worker per core the cores were busy 58 % of the time (the pass took 7 min 12 s; 6 min 6 s
# with two per core). The sanitized pass below keeps one per core: it is bound by computation.
.venv/bin/python -m pytest -q -n "$((JOBS * 2))" tests -p no:cacheprovider --durations=15 "$@"

section "Python tests again, against the ASan+UBSan build of the extension"
# The package sources plus the sanitized _core, put first on the path of every process the tests
# start (CLI subprocesses, the notebook kernel). Leak checking is off: CPython keeps memory alive
# at exit by design.
pkg=build/asan-pkg
rm -rf "$pkg" && mkdir -p "$pkg" && cp -r python/inferno "$pkg/"
cp build/ctest-asan/cpp/_core*.so "$pkg/inferno/"
cp -r samples "$pkg/inferno/samples"  # as the wheel installs them (inferno.samples_path())
export PYTHONPATH="$PWD/$pkg" ASAN_OPTIONS=detect_leaks=0 \
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  LD_PRELOAD="$(clang++ -print-file-name=libclang_rt.asan-x86_64.so)"  # clang's ASan runtime holds UBSan's too
.venv/bin/python -c "import inferno._core as c, sys; sys.exit(0 if '$pkg' in c.__file__ else 'sanitized _core not picked up')"
# The notebooks run in the pass above only: they drive the same core paths as the API tests, and
# their long simulations and fits would take several minutes under the sanitizers.
# The static checks (ruff, mypy, the stubs) read sources, not the core: the first pass ran them.
# The documentation site executes the notebooks too, and reads sources: the first pass built it.
# The long closed loops (marked long_loop) repeat, for an hour of simulated time, core calls that
# the lighter tests make too; under the sanitizers they took minutes.
# The live loop's HTTP, Kubernetes and manifest tests are Python plumbing around core calls
# (the optimizer, the simulator) that the other tests make; under the sanitizers they only cost time.
# So are the HTTP services (webhook, tuner service), the Kubernetes helpers, the sweeps' process
# pools and Dask clusters (marked dask), the checks of the repository, the packaging and the
# docs' console blocks and the CLI's conventions (the CLI tests run the same commands on the same
# core readers), and the CLI runs of a computation an API test makes (marked cli_repeat).
.venv/bin/python -m pytest -q -n "$JOBS" tests -p no:cacheprovider --ignore=tests/test_notebooks.py \
  --ignore=tests/test_static.py --ignore=tests/test_docs_site.py --ignore=tests/test_control_live.py \
  --ignore=tests/test_deploy.py --ignore=tests/test_docs.py --ignore=tests/test_webhook.py --ignore=tests/test_kube.py \
  --ignore=tests/test_tuner_service.py --ignore=tests/test_repository.py --ignore=tests/test_dependencies.py \
  --ignore=tests/test_setup.py --ignore=tests/test_build.py --ignore=tests/test_experiments.py \
  --ignore=tests/test_cli_conventions.py -m "not long_loop and not live and not dask and not cli_repeat" \
  --durations=15 "$@"
section "all tests passed"
