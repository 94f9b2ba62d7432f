#!/usr/bin/env bash
# Installs inferno as a new user would, and fails if any step is missing: in throwaway
# virtualenvs, with no pip cache and with build isolation (the build requirements come from the
# package registry, not from .venv), build an sdist and from it a wheel with `python -m build`,
# install the wheel into a second clean virtualenv, then run scripts/smoke_installed.py there
# (import, inferno --version, inferno optimize samples/small, one MILP solved to optimality, and
# where every library the compiled core loads comes from). Versions are those of constraints.txt.
# (The extras are installed from the same pyproject.toml and constraints.txt by scripts/setup.sh,
# and the tests import them.)
# Part of the test command (scripts/test.sh); needs the system packages scripts/setup.sh installs.
# KEEP_WHEEL_IN=<dir> keeps the wheel there (the test command installs it into .venv).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
work="$(mktemp -d "${TMPDIR:-/tmp}/inferno-fresh-install.XXXXXX")"
trap 'rm -rf "$work"' EXIT

export PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_CONSTRAINT="$REPO/constraints.txt"
unset LD_LIBRARY_PATH PYTHONPATH LD_PRELOAD
start=$SECONDS
step() { echo "fresh-install: $* ($((SECONDS - start)) s)"; }

step "building the sdist and the wheel in isolation (python -m build)"
"$PYTHON" -m venv "$work/frontend"
"$work/frontend/bin/python" -m pip install -q build
"$work/frontend/bin/python" -m build --outdir "$work/dist" "$REPO" >"$work/build.log" 2>&1 || {
  tail -n 60 "$work/build.log"; echo "fresh-install: python -m build failed (log above)" >&2; exit 1; }
# The wheel is compiled with GCC, the compiler a user on Debian has: any warning it gives fails the
# check (the sanitized tree of the test command checks clang's, as errors).
if grep -E '^[^ ]+:[0-9]+:[0-9]+: warning: ' "$work/build.log"; then
  echo "fresh-install: the compiler warned while building the wheel (above)" >&2; exit 1
fi
wheel=("$work"/dist/inferno-*.whl)
[ -f "${wheel[0]}" ] || { echo "fresh-install: no wheel in $work/dist" >&2; exit 1; }
step "built $(basename "${wheel[0]}") ($(du -k "${wheel[0]}" | cut -f1) KiB)"

step "installing it into a clean virtualenv"
"$PYTHON" -m venv "$work/user"
"$work/user/bin/python" -m pip install -q "${wheel[0]}"

step "smoke test of the installed package"
# From outside the repository, so that nothing of the source tree can be imported.
(cd "$work" && "$work/user/bin/python" "$REPO/scripts/smoke_installed.py" "$REPO")

if [ -n "${KEEP_WHEEL_IN:-}" ]; then
  mkdir -p "$KEEP_WHEEL_IN" && rm -f "$KEEP_WHEEL_IN"/inferno-*.whl && cp "${wheel[0]}" "$KEEP_WHEEL_IN/"
fi
step "passed"
