"""``inferno schema``: the JSON Schemas of the documents inferno reads and writes (docs/schemas.md)."""

from __future__ import annotations

import argparse
import csv
import json
import sys

from .. import schemas
from .common import EXIT_INPUT, EXIT_OK


def add_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "schema", help="list the document schemas, or print one",
        description="Without NAME, lists the JSON Schemas (draft 2020-12) of the documents inferno reads and "
                    "writes; with NAME, prints that schema (JSON). See docs/schemas.md.")
    p.add_argument("name", nargs="?", metavar="NAME", help="a schema: " + ", ".join(schemas.names()))
    p.add_argument("--format", choices=["table", "json", "csv"], default=None,
                   help="the list as a table (default), JSON or CSV; a schema is always JSON")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.name is not None:
        if args.name not in schemas.names():
            print(f"inferno schema: unknown schema {args.name!r}; the schemas are {', '.join(schemas.names())}",
                  file=sys.stderr)
            return EXIT_INPUT
        if args.format not in (None, "json"):
            print(f"inferno schema: a schema is printed as JSON; --format {args.format} applies to the list",
                  file=sys.stderr)
            return EXIT_INPUT
        print(json.dumps(schemas.schema(args.name), indent=2, ensure_ascii=False))
        return EXIT_OK
    titles = schemas.titles()
    if args.format == "json":
        print(json.dumps([{"name": n, "document": t} for n, t in titles.items()], indent=2))
    elif args.format == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(["name", "document"])
        writer.writerows(titles.items())
    else:
        width = max(map(len, titles))
        for name, title in titles.items():
            print(f"{name:<{width}}  {title}")
    return EXIT_OK
