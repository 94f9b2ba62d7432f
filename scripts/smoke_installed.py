"""Smoke test of an installed inferno, run by scripts/check_fresh_install.sh inside a throwaway
virtualenv that holds only the wheel and its declared dependencies.

    python smoke_installed.py REPO_DIR

Checks that the package imports from that virtualenv, that ``inferno --version`` names the HiGHS
it runs on, that ``inferno optimize samples/small`` works, that the exact MILP solves the same
fleet to proven optimality at the documented optimum (docs/optimizer.md, the solver comparison
table), and that every shared library the compiled core loads lies inside the installed package or
is one of the base system libraries every Linux has: nothing from another package's files, a
build tree or LD_LIBRARY_PATH. Prints one line per check and exits non-zero on the first failure.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
from importlib import metadata
from pathlib import Path

# Libraries a wheel may take from the system (glibc, the C++ runtime, zlib): the same set
# manylinux allows, as far as inferno's core and HiGHS use it.
SYSTEM_LIBRARIES = {"linux-vdso.so.1", "libc.so.6", "libm.so.6", "libdl.so.2", "libpthread.so.0", "librt.so.1",
                    "libstdc++.so.6", "libgcc_s.so.1", "libz.so.1", "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1"}
SYSTEM_DIRS = ("/lib", "/lib64", "/usr/lib", "/usr/lib64")

# samples/small with the exact solver: the documented optimum (docs/optimizer.md).
SMALL_OBJECTIVE = 33680.9
SMALL_TOTAL_COST = 30619


def check(ok: bool, what: str) -> None:
    print(f"smoke: {'ok  ' if ok else 'FAIL'} {what}", flush=True)
    if not ok:
        sys.exit(1)


def ldd(path: Path) -> dict[str, str]:
    """name → resolved path (or 'not found') of every library the dynamic loader would load."""
    out = subprocess.run(["ldd", str(path)], capture_output=True, text=True, check=True).stdout
    found: dict[str, str] = {}
    for line in out.splitlines():
        m = re.match(r"\s*(\S+)(?: => (.+?))?(?: \(0x[0-9a-f]+\))?$", line)
        if m:
            found[m.group(1)] = (m.group(2) or m.group(1)).strip()
    return found


def main() -> None:
    repo = Path(sys.argv[1]).resolve()
    site = Path(sysconfig.get_paths()["platlib"]).resolve()
    check("LD_LIBRARY_PATH" not in os.environ, "LD_LIBRARY_PATH is not set")

    import inferno
    from inferno import _core
    package = Path(inferno.__file__).resolve().parent
    check(package == site / "inferno", f"inferno {inferno.__version__} imports from {package}")

    highs = inferno.optimizer.highs_versions()
    check(highs["compiled"] == highs["linked"], f"HiGHS {highs['linked']} loaded, the version compiled against")
    version = subprocess.run([Path(sys.executable).with_name("inferno"), "--version"], capture_output=True, text=True)
    expected = f"inferno {inferno.__version__} (HiGHS {highs['linked']})"
    check(version.returncode == 0 and version.stdout.strip() == expected, f"inferno --version prints '{expected}'")

    run = subprocess.run([Path(sys.executable).with_name("inferno"), "optimize", str(repo / "samples/small")],
                         capture_output=True, text=True)
    check(run.returncode == 0 and f"total cost {SMALL_TOTAL_COST} " in run.stdout,
          f"inferno optimize samples/small: total cost {SMALL_TOTAL_COST}")

    solution = inferno.load(repo / "samples/small").optimize(solver="milp")
    solver = solution.solver
    check(solver["status"] == "optimal" and solver["gap"] == 0 and solver["bound"] == solver["objective"]
          and abs(solver["objective"] - SMALL_OBJECTIVE) < 1e-6 * SMALL_OBJECTIVE,
          f"MILP on samples/small: {solver['status']}, objective {solver['objective']} = bound {solver['bound']}")

    core = Path(_core.__file__).resolve()
    for name, where in sorted(ldd(core).items()):
        inside = where.startswith(str(package) + os.sep)
        system = Path(name).name in SYSTEM_LIBRARIES and (where == name or where.startswith(SYSTEM_DIRS))
        check(inside or system, f"{core.name} loads {name} from {where}")
    mapped = sorted({Path(line.split()[-1]) for line in Path("/proc/self/maps").read_text().splitlines()
                     if "libhighs" in line})
    check(len(mapped) == 1 and mapped[0].parent == package, f"the HiGHS in memory is the wheel's: {mapped}")

    installed = {str(f) for f in metadata.files("inferno") or ()}
    for name in ("inferno/licenses/HiGHS-LICENSE.txt", f"inferno/{mapped[0].name}"):
        check(name in installed, f"the wheel installed {name}")
    runtime = sorted(r.split(";")[0].strip() for r in metadata.requires("inferno") or () if "extra ==" not in r)
    check(not any("highs" in r.lower() for r in runtime), f"the wheel's runtime requirements: {runtime}")


if __name__ == "__main__":
    main()
