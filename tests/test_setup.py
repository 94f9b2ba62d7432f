"""scripts/setup.sh says which system package is missing, how it installs it, and stops cleanly
when it cannot. The package manager is replaced by stubs on PATH, so nothing is installed; the
script stops before it touches .venv."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SETUP = REPO / "scripts/setup.sh"
BASH = shutil.which("bash")


def stub(directory: Path, name: str, body: str) -> None:
    path = directory / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def run_setup(path: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "SKIP_SYSTEM_PACKAGES"}
    env["PATH"] = path
    env["PYTHON"] = "/bin/false"  # should the script get past the system step, it stops there
    return subprocess.run([BASH, str(SETUP)], capture_output=True, text=True, env=env, timeout=60)


@pytest.mark.skipif(os.geteuid() != 0, reason="the stubbed install path is the root one")
def test_a_missing_package_is_named_with_its_purpose_and_the_install_command(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "apt.log"
    # Everything is installed but Eigen and nlohmann-json; apt-get updates, then fails to install.
    stub(bin_dir, "dpkg-query", 'case "$3" in libeigen3-dev|nlohmann-json3-dev) exit 1;; '
                                '*) printf "install ok installed";; esac')
    stub(bin_dir, "apt-get", f'echo "$@" >> {log}; case "$1" in update) exit 0;; *) exit 100;; esac')
    ready = REPO / ".venv/.inferno-ready"
    before = ready.stat().st_mtime_ns if ready.exists() else None

    proc = run_setup(f"{bin_dir}:{os.environ['PATH']}")
    assert proc.returncode == 1
    assert proc.stdout.splitlines() == [
        "setup: missing Debian package libeigen3-dev (Eigen 3, linear algebra (headers))",
        "setup: missing Debian package nlohmann-json3-dev (nlohmann-json 3, JSON (headers))",
        "setup: installing them: apt-get install -y libeigen3-dev nlohmann-json3-dev",
    ]
    assert proc.stderr.strip() == ("setup: error: apt-get install libeigen3-dev nlohmann-json3-dev failed; "
                                   "run it by hand to see why")
    assert log.read_text().splitlines() == ["update -qq", "install -y -qq libeigen3-dev nlohmann-json3-dev"]
    assert (ready.stat().st_mtime_ns if ready.exists() else None) == before  # .venv untouched


def test_without_apt_it_lists_what_to_install_by_hand(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "dirname").symlink_to(shutil.which("dirname"))  # all the script needs before it stops
    proc = run_setup(str(bin_dir))
    assert proc.returncode == 1
    message = proc.stderr
    assert message.startswith("setup: error: this script installs system packages with apt-get (Debian, Ubuntu). "
                              "Elsewhere install by hand:")
    for needed in ("the C++17 compiler (Debian: g++)", "Eigen 3, linear algebra (headers) (Debian: libeigen3-dev)",
                   "nlohmann-json 3, JSON (headers) (Debian: nlohmann-json3-dev)",
                   "Catch2 2, the C++ test framework (Debian: catch2)"):
        assert f"\n  {needed}" in message, needed
    assert message.rstrip().endswith("then run it again with SKIP_SYSTEM_PACKAGES=1.")
