"""The repository is self-contained: no file cites a design document that is not in it, and no
file holds a path of a developer's machine. Design decisions are written in docs/ and code links
there (docs/development.md, "Design notes")."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Generated or installed trees, and binary data: not the project's own text.
SKIPPED_DIRS = {".git", ".venv", "build", "dist", "__pycache__", ".pytest_cache", ".hypothesis", "site",
                ".ipynb_checkpoints", ".mypy_cache", ".ruff_cache"}
TEXT_SUFFIXES = {".py", ".pyi", ".cpp", ".hpp", ".h", ".md", ".ipynb", ".txt", ".toml", ".cfg", ".sh", ".cmake",
                 ".json", ".yaml", ".yml", ".csv", ".in", ""}

# A citation of the design documents kept outside the repository (the word "spec" followed by a
# section number, or their directory), and absolute paths of a machine. The patterns are written
# so that they do not match themselves.
EXTERNAL_DESIGN = re.compile(r"\b[Ss]pec\s*§|\b[Ss]pec\s+(?:section\s+)?[0-9D][0-9.]*\b|shared[/]spec|\.\.[/]shared[/]")
MACHINE_PATH = re.compile(r"(?<![\w.])/(?:work|home|Users|root)/[\w.-]+")


def project_files() -> list[Path]:
    files = []
    for path in REPO.rglob("*"):
        if any(part in SKIPPED_DIRS for part in path.relative_to(REPO).parts):
            continue
        if path.is_file() and path.suffix in TEXT_SUFFIXES and path.stat().st_size < 5_000_000:
            files.append(path)
    return files


def offending_lines(pattern: re.Pattern[str]) -> list[str]:
    found = []
    for path in project_files():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            if pattern.search(line):
                found.append(f"{path.relative_to(REPO)}:{number}: {line.strip()[:120]}")
    return found


def test_the_scan_sees_the_sources():
    names = {path.relative_to(REPO).as_posix() for path in project_files()}
    assert {"cpp/src/queue/analyzer.cpp", "python/inferno/queue.py", "docs/queueing-model.md",
            "notebooks/06-real-vllm.ipynb", "README.md"} <= names


def test_no_file_cites_a_design_document_outside_the_repository():
    assert offending_lines(EXTERNAL_DESIGN) == []


def test_no_file_holds_a_path_of_a_developers_machine():
    assert offending_lines(MACHINE_PATH) == []


def test_the_patterns_catch_what_they_are_for():
    # The examples are assembled here so that this file does not hold what it looks for.
    spec, shared = "spec", "shared/"
    for cited in (f"see {spec} §3.3.4", f"(tuner {spec} 2.8.7)", f"S{spec[1:]} 10.0 tolerance", f"../{shared}x.md"):
        assert EXTERNAL_DESIGN.search(cited), cited
    for fine in ("docs/queueing-model.md §3.1", "the pod's spec", "kernel_spec_manager", "WorkloadSpec"):
        assert not EXTERNAL_DESIGN.search(fine), fine
    for path in (f"/{top}/{rest}" for top, rest in (("work", "main/tests"), ("home", "alice/x"), ("Users", "bob/y"),
                                                        ("root", ".cache"))):
        assert MACHINE_PATH.search(path), path
    for fine in ("/usr/bin/env", "/tmp/x", "https://example.org/home/page", "docs/work/notes"):
        assert not MACHINE_PATH.search(fine), fine
