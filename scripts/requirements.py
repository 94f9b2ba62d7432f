"""Prints the Python requirements of pyproject.toml, one per line: the build requirements, the
package's dependencies and every extra (tests, notebooks, plots). scripts/setup.sh installs them
with constraints.txt; scripts/update_constraints.sh re-pins them. ``--with-frontend`` adds the
build frontend the fresh-install check uses."""

import sys
import tomllib
from pathlib import Path

meta = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text(encoding="utf-8"))
requirements = list(meta["build-system"]["requires"])
if "--with-frontend" in sys.argv[1:]:
    requirements.append("build")
requirements += meta["project"]["dependencies"]
for extra in meta["project"].get("optional-dependencies", {}).values():
    requirements += extra
print("\n".join(dict.fromkeys(requirements)))
