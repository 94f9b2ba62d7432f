#!/usr/bin/env bash
# Idempotent set-up on a fresh Debian machine: system packages, a virtualenv in .venv with the
# tested versions of every Python package (constraints.txt), and the inferno package built and
# installed into it. Safe to run again, and after an interrupted run: it only does what is
# missing, and the C++ build is incremental (build/py is kept between runs).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "setup: $*"; }
die() { echo "setup: error: $*" >&2; exit 1; }

# --- Debian packages --------------------------------------------------------------------------
# package → what inferno needs it for (named in messages).
declare -A NEEDED=(
  [g++]="the C++17 compiler"
  [cmake]="CMake, the build system generator"
  [ninja-build]="Ninja, the build tool"
  [python3-dev]="the Python headers"
  [python3-venv]="Python's venv module"
  [libeigen3-dev]="Eigen 3, linear algebra (headers)"
  [nlohmann-json3-dev]="nlohmann-json 3, JSON (headers)"
  [pybind11-json-dev]="pybind11_json, JSON documents as Python objects (headers)"
  [catch2]="Catch2 2, the C++ test framework"
  [clang]="clang, for the libFuzzer targets of the tests"
  [libclang-rt-dev]="clang's runtime libraries (libFuzzer)"
  [chromium]="headless Chromium, for the tests that look at the built documentation pages"
  [prometheus]="Prometheus, the server the end-to-end test of the live control loop runs on 127.0.0.1"
)
if [ "${SKIP_SYSTEM_PACKAGES:-0}" != 1 ] && { ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; }; then
  list=""
  for pkg in "${!NEEDED[@]}"; do list+="
  ${NEEDED[$pkg]} (Debian: $pkg)"; done
  die "this script installs system packages with apt-get (Debian, Ubuntu). Elsewhere install by hand:$list
then run it again with SKIP_SYSTEM_PACKAGES=1."
fi
if [ "${SKIP_SYSTEM_PACKAGES:-0}" != 1 ]; then
  missing=()
  for pkg in "${!NEEDED[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if ((${#missing[@]})); then
    mapfile -t missing < <(printf '%s\n' "${missing[@]}" | LC_ALL=C sort)
    for pkg in "${missing[@]}"; do say "missing Debian package $pkg (${NEEDED[$pkg]})"; done
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
      command -v sudo >/dev/null || die "not root and no sudo: run as root
  apt-get update && apt-get install -y ${missing[*]}"
      SUDO="sudo"
    fi
    say "installing them: ${SUDO:+$SUDO }apt-get install -y ${missing[*]}"
    $SUDO apt-get update -qq || die "apt-get update failed (network, or the package lists)"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null \
      || die "apt-get install ${missing[*]} failed; run it by hand to see why"
  fi
fi

# --- Python virtualenv -------------------------------------------------------------------------
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3 || true)}"
[ -n "$PYTHON" ] || die "no python3 found (inferno needs Python >= 3.10; the tests run on 3.11)"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || die "$PYTHON is Python $("$PYTHON" -c 'import platform; print(platform.python_version())'); the set-up needs >= 3.11 (set PYTHON=...)"

# .venv counts as ready only once its dependencies are all in: a run that stopped half-way
# leaves no marker, and the next run starts the virtualenv again instead of tripping over it.
READY=.venv/.inferno-ready
stamp="$(cat constraints.txt pyproject.toml | sha256sum | cut -d' ' -f1) $("$PYTHON" -VV | head -n1)"
if [ -d .venv ] && { [ ! -f "$READY" ] || ! .venv/bin/python -c '' 2>/dev/null; }; then
  say "removing an incomplete .venv (a previous set-up did not finish)"
  rm -rf .venv
fi
if [ ! -d .venv ]; then
  say "creating .venv with $PYTHON ($("$PYTHON" -V))"
  "$PYTHON" -m venv .venv || die "$PYTHON -m venv failed (on Debian: apt-get install python3-venv)"
fi
VPY=.venv/bin/python
export PIP_DISABLE_PIP_VERSION_CHECK=1
if [ "$(cat "$READY" 2>/dev/null)" != "$stamp" ]; then
  rm -f "$READY"
  say "installing the tested Python packages (constraints.txt) into .venv"
  "$VPY" -m pip install -q -c constraints.txt pip
  # Build requirements (the build below is not isolated, so that build/py stays incremental),
  # runtime and test requirements, at the versions constraints.txt pins.
  mapfile -t requirements < <("$VPY" scripts/requirements.py)
  ((${#requirements[@]})) || die "could not read the requirements of pyproject.toml"
  "$VPY" -m pip install -q -c constraints.txt "${requirements[@]}"
  echo "$stamp" > "$READY"
fi

# --- inferno ------------------------------------------------------------------------------------
# build/py is also the tree a local test run adds the Catch2 targets to (scripts/test.sh), so the
# core is compiled once for both. INFERNO_WHEEL=<file> installs that wheel instead: the test
# command in CI installs the one its fresh-install check built, rather than compile the core again.
# SKIP_INFERNO=1 stops before it (the test command's first call, before that wheel exists).
if [ "${SKIP_INFERNO:-0}" = 1 ]; then
  say "system packages and .venv ready; inferno itself not installed (SKIP_INFERNO=1)"
  exit 0
elif [ -n "${INFERNO_WHEEL:-}" ]; then
  [ -f "$INFERNO_WHEEL" ] || die "INFERNO_WHEEL=$INFERNO_WHEEL: no such wheel"
  "$VPY" -m pip install -q --no-deps --force-reinstall "$INFERNO_WHEEL" || die "installing $INFERNO_WHEEL failed"
else
  # Every source compiled on its own (not the wheel's unity build): an edit recompiles one file,
  # and a source that leans on another's includes fails here.
  "$VPY" -m pip install -q --no-build-isolation --no-deps --config-settings=build-dir=build/py \
    --config-settings=cmake.define.CMAKE_UNITY_BUILD=OFF . \
    || die "building inferno failed (the compiler's messages are above)"
fi
say "inferno $("$VPY" -c 'import inferno; print(inferno.__version__)') installed in .venv"
