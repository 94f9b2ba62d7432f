"""Writes what is generated from the optimizer's option registry (cpp/src/optimizer/options.cpp):
the JSON Schema of optimizer-data.json shipped with the package
(python/inferno/schemas/optimizer-data.schema.json) and the options table of docs/optimizer.md
(between its "options-table" markers). ``--check`` writes nothing and exits 1 when either is
stale (tests/test_schemas.py runs it).

    python scripts/update_schemas.py [--check]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from inferno import optimizer

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "python" / "inferno" / "schemas" / "optimizer-data.schema.json"
DOC = REPO / "docs" / "optimizer.md"
BEGIN, END = "<!-- options-table:begin (scripts/update_schemas.py) -->", "<!-- options-table:end -->"


def _value(v: object) -> str:
    if v is None:
        return "none"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f'`"{v}"`'
    return f"{v:g}" if isinstance(v, float) else str(v)


def _allowed(o: dict) -> str:
    if o["choices"]:
        return ", ".join(f'`"{c}"`' for c in o["choices"])
    if o["type"] == "boolean":
        return "true, false"
    if o["minimum"] is None:
        return "text"
    lo = ("(" if o["exclusive_minimum"] else "[") + _value(float(o["minimum"]))
    hi = (_value(float(o["maximum"])) + (")" if o["exclusive_maximum"] else "]")) if o["maximum"] is not None else "∞)"
    kind = "integer in " if o["type"] == "integer" else ""
    return kind + lo + ", " + hi + (", or null" if o["nullable"] else "")


def options_table() -> str:
    rows = ["| option (`key`) | default | allowed | meaning |", "|---|---|---|---|"]
    for o in optimizer.option_registry():
        name = f"`{o['name']}`" + (f" (`{o['key']}`)" if o["key"] != o["name"] else "")
        rows.append(f"| {name} | {_value(o['default'])} | {_allowed(o)} | {o['doc']} |")
    return "\n".join(rows)


def _schema_text() -> str:
    return json.dumps(optimizer.options_schema(), indent=2, ensure_ascii=False) + "\n"


def _doc_text() -> str:
    text = DOC.read_text(encoding="utf-8")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return head + BEGIN + "\n" + options_table() + "\n" + END + tail


def main(argv: list[str]) -> int:
    wanted = {SCHEMA: _schema_text(), DOC: _doc_text()}
    stale = [path for path, text in wanted.items() if not path.exists() or path.read_text(encoding="utf-8") != text]
    if "--check" in argv:
        for path in stale:
            print(f"{path.relative_to(REPO)} is stale: run python scripts/update_schemas.py", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        path.write_text(wanted[path], encoding="utf-8")
        print(f"wrote {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
