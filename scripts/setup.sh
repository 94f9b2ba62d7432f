#!/usr/bin/env bash
# Idempotent set-up on a fresh Debian machine: system packages, a virtualenv in .venv, and the
# inferno package built and installed into it. Safe to run again: it only does what is missing,
# and the C++ build is incremental (build/ is kept between runs).
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(g++ cmake ninja-build python3-dev python3-venv libeigen3-dev nlohmann-json3-dev catch2)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $PYTHON"
  "$PYTHON" -m venv .venv
fi
VPY=.venv/bin/python

# Build and test dependencies from PyPI (a no-op when already satisfied).
"$VPY" -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null 2>&1 || true
"$VPY" -m pip install -q --disable-pip-version-check \
  "scikit-build-core>=0.10" "pybind11>=2.12" "numpy>=1.24" "pandas>=2.0" "highspy>=1.7" "matplotlib>=3.7" \
  "pytest>=7" "pytest-xdist>=3" "hypothesis>=6" "nbclient>=0.9" "nbformat>=5" "ipykernel>=6"

# Build the extension and install the package. No build isolation, so the persistent build
# directory (build/py) makes repeated runs incremental.
# build/py is also the tree the test command adds the Catch2 targets to (scripts/test.sh), so
# the core is compiled once for both.
"$VPY" -m pip install -q --disable-pip-version-check --no-build-isolation --no-deps \
  --config-settings=build-dir=build/py .
echo "setup: inferno $("$VPY" -c 'import inferno; print(inferno.__version__)') installed in .venv"
