"""JSON Schemas (draft 2020-12) of every document inferno reads or writes.

They are generated from the format tables the core's readers use, so a document a schema accepts
is one inferno reads, and they ship with the package as ``inferno/schemas/<name>.schema.json``
(``docs/schemas.md`` explains them). Use them in an editor, in CI for your own data, or with any
JSON Schema validator:

>>> from inferno import schemas
>>> schemas.names()[0], len(schemas.names())
('accelerator-data', 15)
>>> capacity = schemas.schema("capacity-data")
>>> capacity.get("title"), capacity.get("type")
('capacity-data.json: the cards available per type', 'object')
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

__all__ = ["generated", "names", "schema", "titles"]


@cache
def _generated() -> tuple[tuple[str, str, str, str], ...]:
    from .._core import io
    # (name, file, title, schema as JSON text with sorted keys, so the result is immutable)
    return tuple((name, file, title, json.dumps(s, sort_keys=True)) for name, file, title, s in io.document_schemas())


def names() -> list[str]:
    """The documents, inputs first: the optimizer's six, system-data, the solution, the queue
    request and response lines, the sizing request and the tuner's options."""
    return [name for name, *_ in _generated()]


def titles() -> dict[str, str]:
    """``{name: "file: what it holds"}``."""
    return {name: f"{file}: {title}" for name, file, title, _ in _generated()}


def _check(name: str) -> None:
    if name not in names():
        raise ValueError(f"unknown schema {name!r}; the schemas are {', '.join(names())}")


def schema(name: str) -> dict[str, Any]:
    """The schema shipped with the package (``inferno/schemas/<name>.schema.json``)."""
    _check(name)
    text = resources.files(__name__).joinpath(f"{name}.schema.json").read_text(encoding="utf-8")
    result: dict[str, Any] = json.loads(text)
    return result


def generated(name: str) -> dict[str, Any]:
    """The schema as the core generates it now; the shipped file equals it (tests check)."""
    _check(name)
    text = next(s for n, _, _, s in _generated() if n == name)
    result: dict[str, Any] = json.loads(text)
    return result
