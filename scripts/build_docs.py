"""Builds the documentation site into build/site (mkdocs.yml): stages docs/, the README as the
home page, the JSON Schemas, the notebooks (executed during the build, plots included) and one API reference page
per public module into build/docs-src, rewriting the links that leave docs/ so they resolve on
the site, then runs ``mkdocs build --strict`` (any warning, such as a broken link, fails).

    python scripts/build_docs.py            # then open build/site/index.html
    python scripts/build_docs.py --executed DIR   # notebooks already executed, from DIR (the tests)
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STAGE = REPO / "build" / "docs-src"
MODULES = ["inferno", "inferno.queue", "inferno.optimizer", "inferno.sim", "inferno.tuner", "inferno.sizing",
           "inferno.validate", "inferno.webhook", "inferno.kube", "inferno.schemas", "inferno.control",
           "inferno.config_search", "inferno.experiments"]


def _site_links(text: str, prefix_to_site: dict[str, str]) -> str:
    """Markdown links into the repository rewritten as links within the site."""
    def rewrite(match: re.Match) -> str:
        target = match.group(2)
        for prefix, replacement in prefix_to_site.items():
            if target.startswith(prefix):
                target = replacement + target[len(prefix):]
                break
        module = re.fullmatch(r"reference/inferno/(\w+)\.py", target)
        if module:
            target = f"reference/{module.group(1)}.md"
        return f"{match.group(1)}({target})"
    return re.sub(r"(\]\s*)\(([^)\s]+)\)", rewrite, text)


def stage(executed: Path | None = None) -> None:
    if STAGE.exists():
        shutil.rmtree(STAGE)
    (STAGE / "notebooks").mkdir(parents=True)
    (STAGE / "reference").mkdir()
    for page in sorted((REPO / "docs").glob("*.md")):
        text = _site_links(page.read_text(encoding="utf-8"),
                           {"../notebooks/": "notebooks/", "../python/inferno/schemas/": "schemas/",
                            "../python/inferno/": "reference/inferno/"})
        (STAGE / page.name).write_text(text, encoding="utf-8")
    readme = _site_links((REPO / "README.md").read_text(encoding="utf-8"), {"docs/": "", "notebooks/": "notebooks/"})
    (STAGE / "index.md").write_text(readme, encoding="utf-8")
    (STAGE / "schemas").mkdir()  # the JSON Schemas, served as files beside the pages
    for schema in sorted((REPO / "python" / "inferno" / "schemas").glob("*.schema.json")):
        shutil.copy2(schema, STAGE / "schemas" / schema.name)
    for notebook in sorted((REPO / "notebooks").glob("*.ipynb")):
        source = notebook if executed is None else executed / notebook.name
        if not source.is_file():
            raise SystemExit(f"build_docs: --executed {executed} has no {notebook.name}")
        shutil.copy2(source, STAGE / "notebooks" / notebook.name)
    for module in MODULES:
        name = module.split(".")[-1]
        (STAGE / "reference" / f"{name}.md").write_text(f"# `{module}`\n\n::: {module}\n", encoding="utf-8")


def build(executed: Path | None = None) -> int:
    """Stages and builds; with ``executed``, the notebooks come executed from that folder and
    mkdocs-jupyter only renders them (mkdocs.yml reads INFERNO_DOCS_EXECUTE_NOTEBOOKS)."""
    stage(executed)
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # the theme's notice about its successor
    env["INFERNO_DOCS_EXECUTE_NOTEBOOKS"] = "true" if executed is None else "false"
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(REPO / "mkdocs.yml")],
                          cwd=REPO, env=env).returncode


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Builds the documentation site into build/site.")
    parser.add_argument("--executed", type=Path, metavar="DIR",
                        help="take the notebooks, already executed, from DIR instead of running them")
    sys.exit(build(parser.parse_args().executed))
