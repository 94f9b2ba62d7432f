"""Pinned versions: constraints.txt covers every requirement of pyproject.toml, this environment
runs exactly those versions, and scripts/check_updates.py reports newer releases correctly (the
package index is replaced by a table here; the real one is asked when a developer runs it)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]


def load_check_updates():
    spec = importlib.util.spec_from_file_location("check_updates", REPO / "scripts/check_updates.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def requirements() -> list[Requirement]:
    out = subprocess.run([sys.executable, str(REPO / "scripts/requirements.py"), "--with-frontend"],
                         capture_output=True, text=True, check=True).stdout
    return [Requirement(line) for line in out.splitlines()]


def test_every_requirement_is_pinned_inside_its_declared_range():
    pinned = load_check_updates().pins(REPO / "constraints.txt")
    for requirement in requirements():
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{requirement.name} is required by pyproject.toml but not pinned in constraints.txt"
        assert requirement.specifier.contains(pinned[name]), (
            f"constraints.txt pins {name}=={pinned[name]}, outside pyproject.toml's {requirement}")


def test_this_environment_runs_the_pinned_versions():
    pinned = load_check_updates().pins(REPO / "constraints.txt")
    for requirement in requirements():
        name = canonicalize_name(requirement.name)
        try:
            installed = Version(metadata.version(name))
        except metadata.PackageNotFoundError:  # the build frontend lives in the fresh-install check only
            assert name == "build", f"{name} is not installed"
            continue
        assert installed == pinned[name], f"{name} {installed} is installed; constraints.txt pins {pinned[name]}"


def test_check_updates_lists_newer_releases_and_flags_those_outside_the_ranges(tmp_path, monkeypatch, capsys):
    check = load_check_updates()
    constraints = tmp_path / "constraints.txt"
    constraints.write_text("# comment\nnumpy==2.0.0\nhighsbox==1.13.1\npytest==9.0.0  # trailing\nsix==1.16.0\n")
    index = {"numpy": Version("2.4.6"), "highsbox": Version("2.0.1"), "pytest": Version("9.0.0"),
             "six": "ERROR: No matching distribution found for six"}
    monkeypatch.setattr(check, "newest", lambda name: index[name])
    assert check.main([str(constraints)]) == 2  # one package could not be asked
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["highsbox", "1.13.1", "->", "2.0.1"]
    assert "OUTSIDE the range of pyproject.toml (highsbox<2,>=1.13)" in lines[0]
    assert lines[1].split()[:4] == ["numpy", "2.0.0", "->", "2.4.6"]
    assert "allowed by pyproject.toml (numpy>=1.24)" in lines[1]
    assert lines[2] == "check_updates: 2 of 4 pinned packages have a newer release; 1 could not be checked"
    assert "six" in err and "No matching distribution" in err

    del index["six"]
    constraints.write_text("numpy==2.4.6\n")
    assert check.main([str(constraints)]) == 0
    assert capsys.readouterr().out == "check_updates: 0 of 1 pinned packages have a newer release\n"


def test_a_malformed_constraints_line_names_the_file_and_line(tmp_path):
    constraints = tmp_path / "c.txt"
    constraints.write_text("numpy==2.4.6\nnumpy>=2\n")
    try:
        load_check_updates().pins(constraints)
    except SystemExit as exc:
        assert str(exc) == f"{constraints}:2: expected NAME==VERSION, got 'numpy>=2'"
    else:
        raise AssertionError("no error")
