"""Lists the Python packages that have releases newer than the versions constraints.txt pins.

    .venv/bin/python scripts/check_updates.py [CONSTRAINTS_FILE]

It asks the package index (``pip index versions``) and changes nothing: upgrading is a deliberate
step, ``bash scripts/update_constraints.sh`` then ``bash scripts/test.sh`` (docs/development.md,
"Dependencies"). For a package pyproject.toml names, it also says whether the newest release lies
inside the range given there; one outside it needs that range looked at first. Exit status 0 when
everything is current, 1 when something is newer, 2 when the index could not be asked.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]


def pins(path: Path) -> dict[str, Version]:
    pinned: dict[str, Version] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        if not sep:
            raise SystemExit(f"{path}:{number}: expected NAME==VERSION, got {line!r}")
        pinned[canonicalize_name(name)] = Version(version)
    return pinned


def declared_ranges() -> dict[str, Requirement]:
    """The requirements pyproject.toml states, by package (build, runtime and extras)."""
    meta = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    texts = list(meta["build-system"]["requires"]) + list(meta["project"]["dependencies"])
    for extra in meta["project"].get("optional-dependencies", {}).values():
        texts += extra
    return {canonicalize_name(r.name): r for r in map(Requirement, texts)}


def newest(name: str) -> Version | str:
    """The newest final release on the index, or the error text."""
    proc = subprocess.run([sys.executable, "-m", "pip", "index", "versions", "--json", name],
                          capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        return (proc.stderr.strip().splitlines() or ["pip index failed"])[-1]
    releases = [Version(v) for v in json.loads(proc.stdout)["versions"]]
    finals = [v for v in releases if not v.is_prerelease and not v.is_devrelease]
    return max(finals) if finals else "no final release"


def main(argv: list[str]) -> int:
    pinned = pins(Path(argv[0]) if argv else REPO / "constraints.txt")
    ranges = declared_ranges()
    with ThreadPoolExecutor(max_workers=8) as pool:
        latest = dict(zip(pinned, pool.map(newest, pinned)))
    failed = {name: found for name, found in latest.items() if isinstance(found, str)}
    newer = {name: found for name, found in latest.items()
             if not isinstance(found, str) and found > pinned[name]}
    for name, found in sorted(newer.items()):
        note = ""
        if name in ranges:
            allowed = ranges[name].specifier.contains(found, prereleases=False)
            note = (f"   allowed by pyproject.toml ({ranges[name]})" if allowed
                    else f"   OUTSIDE the range of pyproject.toml ({ranges[name]})")
        print(f"{name:28} {str(pinned[name]):>12} -> {str(found):<12}{note}")
    for name, error in sorted(failed.items()):
        print(f"{name:28} {str(pinned[name]):>12}    could not ask the index: {error}", file=sys.stderr)
    print(f"check_updates: {len(newer)} of {len(pinned)} pinned packages have a newer release"
          + (f"; {len(failed)} could not be checked" if failed else ""))
    return 2 if failed else (1 if newer else 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
