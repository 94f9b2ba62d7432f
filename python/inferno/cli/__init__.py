"""The ``inferno`` command line. Each subsystem adds its subcommands from its own module."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from .. import __version__
from . import optimize as optimize_cli
from . import queue as queue_cli
from . import simulate as simulate_cli
from . import size as size_cli
from . import webhook as webhook_cli
from . import tune as tune_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="inferno",
        description="Performance models and optimisation for LLM inference fleets.")
    parser.add_argument("--version", action="version", version=f"inferno {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    queue_cli.add_parser(commands)
    optimize_cli.add_parser(commands)
    tune_cli.add_parser(commands)
    simulate_cli.add_parser(commands)
    size_cli.add_parser(commands)
    webhook_cli.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except BrokenPipeError:  # e.g. piped into `head`
        return 0
    except (ValueError, OSError) as exc:
        print(f"inferno: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
