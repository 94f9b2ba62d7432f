#!/usr/bin/env bash
# Re-pins constraints.txt to the newest releases that the ranges in pyproject.toml allow, for
# every Python package the build, the package, its extras (tests, notebooks, plots) and the
# fresh-install check use. An upgrade is a deliberate step: run `python scripts/check_updates.py`
# to see what is newer, run this, then `bash scripts/test.sh`, and commit constraints.txt only
# when that passes (docs/development.md, "Dependencies").
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

"$PYTHON" -m venv "$work/venv"
VPY="$work/venv/bin/python"
export PIP_DISABLE_PIP_VERSION_CHECK=1
"$VPY" -m pip install -q --upgrade pip
# Build requirements, the build frontend of the fresh-install check, the package's requirements
# and every extra, read from pyproject.toml.
mapfile -t requirements < <("$VPY" scripts/requirements.py --with-frontend)
"$VPY" -m pip install -q "${requirements[@]}"
{
  echo "# The exact versions of every Python package the test suite last passed with: build,"
  echo "# runtime, tests and notebooks. scripts/setup.sh, the fresh-install check and CI install"
  echo "# with these. Made by scripts/update_constraints.sh with $("$VPY" -V); do not edit by hand."
  # setuptools and wheel come with the virtualenv but nothing here uses them.
  "$VPY" -m pip freeze --all | grep -v -E '^(setuptools|wheel)==' | LC_ALL=C sort -f
} > constraints.txt
echo "update_constraints: $(grep -c '==' constraints.txt) pins written to constraints.txt"
