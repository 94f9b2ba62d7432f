"""Argument types and conventions shared by the subcommands."""

from __future__ import annotations

import argparse
import sys


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


def usage_errors_exit_1(parser: argparse.ArgumentParser) -> None:
    """Usage errors exit 1 like every input error (2 means "partial" for these commands)."""

    def usage_error(message: str) -> None:
        parser.print_usage(sys.stderr)
        parser.exit(1, f"{parser.prog}: error: {message}\n")

    parser.error = usage_error  # type: ignore[method-assign]
