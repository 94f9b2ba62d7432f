"""Argument types and conventions shared by the subcommands."""

from __future__ import annotations

import argparse
import atexit
import shutil
import sys
import tempfile
from pathlib import Path
from typing import NoReturn


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def positive_int(text: str) -> int:
    value = non_negative_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


# One exit-status table for every command (docs/cli.md, "Exit status").
def input_path(text: str) -> str:
    """An argparse type for a file argument: a path, or "-" for standard input. Standard input is
    copied once to a temporary file named by what it holds (.json when it starts with { or [,
    else .csv), so that every command reads it as it reads a file, format detection included."""
    if text != "-":
        return text
    data = sys.stdin.buffer.read()
    if not data.strip():  # also a second "-": the first one read it all
        raise argparse.ArgumentTypeError("standard input (-) is empty (it can be read once)")
    directory = Path(tempfile.mkdtemp(prefix="inferno-stdin-"))
    atexit.register(shutil.rmtree, directory, True)
    path = directory / ("stdin.json" if data.lstrip()[:1] in (b"{", b"[") else "stdin.csv")
    path.write_bytes(data)
    return str(path)


def shown_name(path: str) -> str:
    """How a file argument is named in output and messages: "-" for standard input's copy."""
    return "-" if Path(path).parent.name.startswith("inferno-stdin-") else path


EXIT_OK = 0        # everything asked for was done
EXIT_INPUT = 1     # input or usage error: bad flag, unreadable or malformed input; nothing computed
EXIT_PARTIAL = 2   # a result, with some records failed, some servers unallocated or no estimate yet
# 3 and above are a command's own domain outcomes (optimize: a post-check failed; size: no
# accelerator meets the SLOs, a calibration not accepted).


def usage_errors_exit_1(parser: argparse.ArgumentParser) -> None:
    """Usage errors exit EXIT_INPUT, like every input error (argparse's own default is 2, which
    here means "partial"), on this parser and every subcommand parser under it."""

    def usage_error(message: str) -> NoReturn:
        parser.print_usage(sys.stderr)
        parser.exit(EXIT_INPUT, f"{parser.prog}: error: {message}\n")

    parser.error = usage_error  # type: ignore[method-assign]  # argparse has no hook for the exit status
    for action in parser._actions:  # noqa: SLF001 - argparse keeps subparsers only here
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            for sub in action.choices.values():
                usage_errors_exit_1(sub)
