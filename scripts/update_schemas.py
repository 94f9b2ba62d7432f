"""Writes what is generated from the core's format tables (cpp/src/optimizer/documents.cpp,
cpp/src/optimizer/options.cpp, cpp/src/io/queue_json.cpp, cpp/src/io/sizing_json.cpp,
cpp/src/tuner/options.cpp): the JSON Schemas shipped with the package
(python/inferno/schemas/<name>.schema.json), the options tables of docs/optimizer.md and
docs/tuner.md and the field tables of docs/schemas.md (between their generated-table markers).
``--check`` writes nothing and exits 1 when any is stale (tests/test_schemas.py runs it).

    python scripts/update_schemas.py [--check]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Iterator

from inferno import optimizer, schemas, tuner

REPO = Path(__file__).resolve().parents[1]
SCHEMA_DIR = REPO / "python" / "inferno" / "schemas"
OPTIMIZER_DOC = REPO / "docs" / "optimizer.md"
SCHEMAS_DOC = REPO / "docs" / "schemas.md"
TUNER_DOC = REPO / "docs" / "tuner.md"
OPTIONS = ("<!-- options-table:begin (scripts/update_schemas.py) -->", "<!-- options-table:end -->")
FIELDS = ("<!-- field-tables:begin (scripts/update_schemas.py) -->", "<!-- field-tables:end -->")
TUNER_OPTIONS = ("<!-- tuner-options-table:begin (scripts/update_schemas.py) -->", "<!-- tuner-options-table:end -->")


def _value(v: object) -> str:
    if v is None:
        return "none"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f'`"{v}"`'
    return f"{v:g}" if isinstance(v, float) else str(v)


def _range(lo: Any, lo_open: bool, hi: Any, hi_open: bool) -> str:
    left = ("(" if lo_open else "[") + (_value(lo) if lo is not None else "-∞")
    right = (_value(hi) + (")" if hi_open else "]")) if hi is not None else "∞)"
    return left + ", " + right


def _allowed(o: dict) -> str:
    if o["choices"]:
        return ", ".join(f'`"{c}"`' for c in o["choices"])
    if o["type"] == "boolean":
        return "true, false"
    if o["minimum"] is None:
        return "text"
    kind = "integer in " if o["type"] == "integer" else ""
    return kind + _range(float(o["minimum"]), o["exclusive_minimum"],
                         float(o["maximum"]) if o["maximum"] is not None else None, o["exclusive_maximum"]) + \
        (", or null" if o["nullable"] else "")


def options_table() -> str:
    rows = ["| option (`key`) | default | allowed | meaning |", "|---|---|---|---|"]
    for o in optimizer.option_registry():
        name = f"`{o['name']}`" + (f" (`{o['key']}`)" if o["key"] != o["name"] else "")
        rows.append(f"| {name} | {_value(o['default'])} | {_allowed(o)} | {o['doc']} |")
    return "\n".join(rows)


def _plain(x: float) -> str:
    """1000000, not 1e+06: the range as the tables write it."""
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _tuner_allowed(o: dict) -> str:
    """The allowed values as tests/test_tuner_ranges.py reads them."""
    if o["kind"] == "flag":
        return "True or False"
    if o["kind"] == "name":
        return ", ".join(f'`"{c}"`' for c in o["choices"])
    lo, hi = o["minimum"], o["maximum"]
    if o["minimum_option"]:
        text = f"[{o['minimum_option']}, {_plain(hi)}]"
    elif lo is None and hi is None:
        return "any finite number"
    elif hi is None:
        return f"finite number ≥ {_plain(lo)}" if not o["exclusive_minimum"] else f"finite number > {_plain(lo)}"
    else:
        text = ("(" if o["exclusive_minimum"] else "[") + _plain(lo) + ", " + _plain(hi) + (")" if o["exclusive_maximum"] else "]")
    if o["per"] != "scalar":
        return f"per {o['per']}, {text}"
    return ("integer in " if o["kind"] == "integer" else "number in ") + text


def _tuner_default(value: object) -> str:
    if isinstance(value, list):
        if len(set(value)) == 1:  # the same for every parameter
            return _tuner_default(value[0])
        return "(" + ", ".join(_tuner_default(v) for v in value) + ")"
    if isinstance(value, str):
        return f'`"{value}"`'
    if isinstance(value, float):
        return _plain(value)
    return str(value)


def tuner_options_table() -> str:
    rows = ["| option | default | allowed | meaning |", "|---|---|---|---|"]
    for o in tuner.option_registry():
        rows.append(f"| `{o['name']}` | {_tuner_default(o['default'])} | {_tuner_allowed(o)} | {o['doc']} |")
    return "\n".join(rows)


def _schema_allowed(s: dict) -> str:
    types = s.get("type", "any")
    kinds = [types] if isinstance(types, str) else list(types)
    nullable = "null" in kinds
    kinds = [k for k in kinds if k != "null"]
    kind = kinds[0] if kinds else "any"
    if "enum" in s:
        text = ", ".join(f'`"{c}"`' for c in s["enum"] if c is not None)
    elif kind in ("number", "integer") and ("minimum" in s or "exclusiveMinimum" in s or "maximum" in s):
        lo = s.get("minimum", s.get("exclusiveMinimum"))
        hi = s.get("maximum", s.get("exclusiveMaximum"))
        text = ("integer in " if kind == "integer" else "") + _range(lo, "exclusiveMinimum" in s, hi, "exclusiveMaximum" in s)
    else:
        text = {"boolean": "true, false", "string": "text", "object": "object", "array": "array",
                "number": "number", "integer": "integer"}.get(kind, "any")
    if nullable:
        text += ", or null"
    return text


def _rows(s: dict, path: str) -> Iterator[str]:
    """One row per field, depth first, with its JSON path."""
    required = set(s.get("required", []))
    for key, sub in s.get("properties", {}).items():
        at = f"{path}.{key}" if path else key
        mark = " (required)" if key in required else ""
        default = f"; default {_value(sub['default'])}" if "default" in sub else ""
        yield f"| `{at}`{mark} | {_schema_allowed(sub)} | {sub.get('description', '')}{default} |"
        yield from _rows(sub, at)
        if "items" in sub:
            yield from _rows(sub["items"], at + "[]")
        if isinstance(sub.get("additionalProperties"), dict):
            yield from _rows(sub["additionalProperties"], at + ".<name>")
            items = sub["additionalProperties"].get("items")
            if items:
                yield from _rows(items, at + ".<name>[]")


def field_tables() -> str:
    parts = []
    for name, title in schemas.titles().items():
        if name in ("system-data", "optimizer-data"):  # the six documents in one; the options table is in optimizer.md
            continue
        s = schemas.generated(name)
        rows = ["| field | allowed | meaning |", "|---|---|---|", *_rows(s, "")]
        parts.append(f"### {name}\n\n{title}. Schema: `inferno/schemas/{name}.schema.json`.\n\n" + "\n".join(rows))
    return "\n\n".join(parts)


def _replace(text: str, markers: tuple[str, str], body: str) -> str:
    begin, end = markers
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return head + begin + "\n" + body + "\n" + end + tail


def wanted() -> dict[Path, str]:
    out = {SCHEMA_DIR / f"{name}.schema.json": json.dumps(schemas.generated(name), indent=2, ensure_ascii=False) + "\n"
           for name in schemas.names()}
    out[OPTIMIZER_DOC] = _replace(OPTIMIZER_DOC.read_text(encoding="utf-8"), OPTIONS, options_table())
    out[SCHEMAS_DOC] = _replace(SCHEMAS_DOC.read_text(encoding="utf-8"), FIELDS, field_tables())
    out[TUNER_DOC] = _replace(TUNER_DOC.read_text(encoding="utf-8"), TUNER_OPTIONS, tuner_options_table())
    return out


def main(argv: list[str]) -> int:
    files = wanted()
    stale = [path for path, text in files.items() if not path.exists() or path.read_text(encoding="utf-8") != text]
    shipped = {p for p in SCHEMA_DIR.glob("*.schema.json")}
    extra = sorted(shipped - set(files))
    if "--check" in argv:
        for path in stale:
            print(f"{path.relative_to(REPO)} is stale: run python scripts/update_schemas.py", file=sys.stderr)
        for path in extra:
            print(f"{path.relative_to(REPO)} is not generated: remove it", file=sys.stderr)
        return 1 if stale or extra else 0
    for path in stale:
        path.write_text(files[path], encoding="utf-8")
        print(f"wrote {path.relative_to(REPO)}")
    for path in extra:
        path.unlink()
        print(f"removed {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
