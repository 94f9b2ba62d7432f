"""One command-line convention for every command (docs/cli.md, "Exit status"): 0 done, 1 input
or usage error, 2 partial result, 3 and above a command's own outcome; ``--version``; and no CLI
module reaching into another module's private names."""

from __future__ import annotations

import ast
import json
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from cli_helpers import cli_command

from inferno.cli import build_parser

REPO = Path(__file__).resolve().parents[1]
CLI_DIR = REPO / "python" / "inferno" / "cli"
MISSING = str(REPO / "no-such-file.json")


def commands() -> list[tuple[str, ...]]:
    """Every command and subcommand the parser knows, e.g. ("queue", "solve"), ("optimize",)."""
    found: list[tuple[str, ...]] = []

    def walk(parser, prefix: tuple[str, ...]) -> None:
        subs = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]  # noqa: SLF001
        if not subs:
            found.append(prefix)
        for action in subs:
            for name, sub in action.choices.items():
                walk(sub, prefix + (name,))

    walk(build_parser(), ())
    return found


def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([*cli_command(), *args], input=stdin, capture_output=True, text=True, timeout=120)


def test_the_walk_finds_every_command():
    names = {" ".join(c) for c in commands()}
    assert {"queue solve", "queue target", "queue batch-size", "queue optimize", "queue models", "optimize", "tune", "simulate",
            "size derive", "size recommend", "size calibrate", "size pack", "webhook", "validate"} <= names


@pytest.mark.parametrize("command", commands(), ids=" ".join)
def test_an_unknown_flag_is_a_usage_error_with_status_1(command):
    proc = run(*command, "--no-such-flag")
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    # argparse names the unknown flag, or first the required arguments that are missing
    assert f"inferno {' '.join(command)}: error:" in proc.stderr or "inferno: error:" in proc.stderr


@pytest.mark.parametrize("args", [
    ("queue", "solve", "--input", MISSING),
    ("simulate", "--input", MISSING),
    ("optimize", MISSING),
    ("tune", MISSING),
    ("validate", MISSING),
    ("size", "recommend", "--input", MISSING),
], ids=lambda a: " ".join(a[:2]))
def test_a_file_that_cannot_be_read_is_an_input_error_with_status_1(args):
    proc = run(*args)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "error:" in proc.stderr and "no-such-file.json" in proc.stderr


def test_a_partial_result_is_status_2_and_keeps_every_other_record():
    good = '{"RPS": 3, "maxBatchSize": 48, "avgInputTokens": 128, "avgOutputTokens": 512, "alpha": 12, ' \
           '"beta": 0.05, "gamma": 0.0005, "maxQueueSize": 128}'
    proc = run("queue", "solve", stdin=good + "\n[1]\n" + good + "\n")
    assert proc.returncode == 2
    lines = proc.stdout.splitlines()
    assert len(lines) == 3 and '"status":"invalid"' in lines[1] and '"avgTTFT"' in lines[0] and lines[0] == lines[2]
    clean = run("queue", "solve", stdin=good + "\n")
    assert clean.returncode == 0


def test_version_names_inferno_and_highs():
    proc = run("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("inferno ") and "HiGHS" in proc.stdout


def test_no_cli_module_uses_a_private_name_of_another_module():
    offenders = []
    for path in sorted(CLI_DIR.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        # names bound to inferno's own modules (relative imports), except the compiled core
        ours = {alias.asname or alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                and node.level > 0 for alias in node.names} - {"_core"}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                    and isinstance(node.value, ast.Name) and node.value.id in ours):
                offenders.append(f"{path.name}:{node.lineno}: {node.value.id}.{node.attr}")
    assert offenders == []


def start_here_commands() -> list[str]:
    page = (REPO / "docs" / "start-here.md").read_text(encoding="utf-8")
    return re.findall(r"`(inferno [^`]+)`", page)


@pytest.mark.parametrize("command", [c for c in start_here_commands() if not c.startswith("inferno webhook")])
def test_every_command_of_the_start_here_page_runs(command):
    """docs/start-here.md answers each question with one command on the shipped samples: it must
    run as written, from the repository root."""
    proc = subprocess.run([*cli_command(), *shlex.split(command)[1:]], capture_output=True, text=True, timeout=300,
                          cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip()


def test_the_start_here_page_lists_its_commands():
    assert len(start_here_commands()) >= 9


def test_queue_batch_size_and_its_deprecated_name_agree():
    problem = str(REPO / "samples" / "queue" / "problem-data.json")
    new = run("queue", "batch-size", "--problem", problem, "--max-batch", "64")
    old = run("queue", "optimize", "--problem", problem, "--max-batch", "64")
    assert new.returncode == old.returncode == 0, (new.stderr, old.stderr)
    assert new.stdout == old.stdout and json.loads(new.stdout)["concurrency"] > 0
    assert "deprecated: use `inferno queue batch-size`" in old.stderr and "deprecated" not in new.stderr


@pytest.mark.parametrize("args, path", [
    (["optimize", "-", "--format", "json"], "samples/small/system-data.json"),
    (["tune", "-", "--format", "json"], "samples/tuner/tuner-exp13.csv"),
    (["validate", "-", "--format", "json"], "samples/real/llama31-8b-h100-guidellm.csv"),
    (["size", "calibrate", "--model", "Meta-Llama-3-8B", "--points", "-", "--format", "json"], "samples/sizing/points.json"),
    (["size", "recommend", "--input", "-", "--format", "json"], "samples/sizing/request.json"),
], ids=lambda a: " ".join(a[:2]) if isinstance(a, list) else "")
def test_every_file_argument_takes_standard_input(args, path):
    """"-" reads the file from standard input, with the same answer as the path."""
    text = (REPO / path).read_text(encoding="utf-8")
    from_stdin = run(*args, stdin=text)
    from_file = run(*[str(REPO / path) if a == "-" else a for a in args])
    assert from_stdin.returncode == from_file.returncode, from_stdin.stderr
    # the same answer; where the output names its input, standard input is "-"
    assert from_stdin.stdout == from_file.stdout.replace(json.dumps(str(REPO / path))[1:-1], "-") and from_stdin.stdout
    empty = run(*args, stdin="")
    assert empty.returncode == 1 and "standard input (-) is empty" in empty.stderr
