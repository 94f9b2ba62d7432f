"""The ``inferno`` command line. Each subsystem adds its subcommands from its own module."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from . import control as control_cli
from . import optimize as optimize_cli
from . import queue as queue_cli
from . import schema as schema_cli
from . import search as search_cli
from . import simulate as simulate_cli
from . import size as size_cli
from . import webhook as webhook_cli
from . import tune as tune_cli
from . import validate as validate_cli
from .common import EXIT_INPUT, usage_errors_exit_1


def version_text() -> str:
    """``inferno 0.1.0 (HiGHS 1.15.1)``: the package and the HiGHS library its exact solver runs
    on (and the headers' version too, should the two differ)."""
    from .. import __version__
    from ..optimizer import highs_versions
    highs = highs_versions()
    linked = f"HiGHS {highs['linked']}"
    if highs["compiled"] != highs["linked"]:
        linked += f", compiled against {highs['compiled']}"
    return f"inferno {__version__} ({linked})"


class _VersionAction(argparse.Action):
    """``--version``, with the text built only when asked for."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **kwargs: object) -> None:
        super().__init__(option_strings, dest=dest, nargs=0, default=argparse.SUPPRESS,
                         help="print the version of inferno and of the HiGHS library it uses, then exit")

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        print(version_text())
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="inferno",
        description="Performance models and optimisation for LLM inference fleets.")
    parser.add_argument("--version", action=_VersionAction)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    queue_cli.add_parser(commands)
    optimize_cli.add_parser(commands)
    tune_cli.add_parser(commands)
    simulate_cli.add_parser(commands)
    size_cli.add_parser(commands)
    search_cli.add_parser(commands)
    webhook_cli.add_parser(commands)
    validate_cli.add_parser(commands)
    schema_cli.add_parser(commands)
    control_cli.add_parser(commands)
    usage_errors_exit_1(parser)  # every command, every subcommand: one exit-status table
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
        return EXIT_INPUT


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
