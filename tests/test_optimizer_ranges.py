"""The optimizer documents' numeric ranges (docs/optimizer.md, "Numeric ranges") are the ranges
the reader enforces: every row is probed at its ends and just outside them, on top of the
samples/small documents, and the system built at a bound is optimised without a NaN."""
import json
import math
import re
from pathlib import Path

import pytest
from doc_tables import range_rows

import inferno

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "optimizer.md"
SAMPLE = ROOT / "samples" / "small"
FILES = {"accelerators": "accelerator-data.json", "count": "capacity-data.json", "models": "model-data.json",
         "serviceClasses": "serviceclass-data.json", "servers": "server-data.json",
         "optimizer": "optimizer-data.json"}


def documented_rows():
    text = DOC.read_text(encoding="utf-8")
    return range_rows(text.split("### Numeric ranges", 1)[1].split("### Errors and diagnostics", 1)[0], 3, 2)


ROWS = documented_rows()


def test_the_table_covers_every_numeric_key_of_the_sample_documents():
    def numeric_paths(value, prefix):
        if isinstance(value, dict):
            for key, item in value.items():
                yield from numeric_paths(item, f"{prefix}.{key}" if prefix else key)
        elif isinstance(value, list):
            for item in value:
                yield from numeric_paths(item, prefix + "[]")
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            yield prefix

    seen = set()
    for wrapper, name in FILES.items():
        document = json.loads((SAMPLE / name).read_text())
        seen |= set(numeric_paths(document, ""))
    # matched case-insensitively, as the reader does (the sample writes AvgInTokens)
    documented = {key.lower() for key in ROWS}
    assert {p.lower() for p in seen} <= documented, sorted({p for p in seen if p.lower() not in documented})
    assert len(ROWS) == 53


def load_documents():
    return {wrapper: json.loads((SAMPLE / name).read_text()) for wrapper, name in FILES.items()}


def set_key(documents, path, value):
    """Sets `path` (e.g. servers[].currentAlloc.load.arrivalRate) in the first element of each
    list on the way, creating objects that are missing."""
    def existing(node, key):  # keys match case-insensitively, as in the reader
        return next((k for k in node if k.lower() == key.lower()), key)

    parts = path.replace("[]", ".[]").split(".")
    node = documents[parts[0]]  # the document whose wrapper key starts the path
    for i, part in enumerate(parts[:-1]):
        if part == "[]":
            continue
        part = existing(node, part)
        node = node[part][0] if parts[i + 1] == "[]" else node.setdefault(part, {})
    node[existing(node, parts[-1])] = value


def build(path, value):
    documents = load_documents()
    set_key(documents, path, value)
    if path.startswith("models[].decodeParms") or path.startswith("models[].prefillParms"):
        del documents["models"]["models"][0]["perfParms"]
    return inferno.System.from_documents(*[json.dumps(d) for d in documents.values()])


# Keys whose top value is accepted by the reader but makes a solve search that far: a batch search
# up to 10^7 takes a minute on samples/small (far more under the sanitizers); the solve is probed
# at the bottom of the range and in the middle instead.
SOLVE_ONLY_BELOW = {"optimizer.batchSearchMax": 100_000}


def accepted(path, value):
    system = build(path, value)
    if value > SOLVE_ONLY_BELOW.get(path, math.inf):
        return system
    solution = system.optimize(solver="greedy")
    text = solution.to_json()
    assert "NaN" not in text and "Infinity" not in text
    return system


def refused(path, value):
    key = path.rsplit(".", 1)[-1]
    with pytest.raises(ValueError) as info:
        build(path, value)
    message = str(info.value)
    assert key in message, message


INTEGER = re.compile(r"^integer in \[(-?\d+), (\d+)\]")
INTERVAL = re.compile(r"^in ([\[(])(\S+), (\S+)([\])])")


@pytest.mark.parametrize("path", sorted(ROWS))
def test_documented_range_is_enforced(path):
    rule = ROWS[path]
    if m := INTEGER.match(rule):
        low, high = int(m.group(1)), int(m.group(2))
        accepted(path, low)
        accepted(path, high)
        if low > -2**31:
            refused(path, low - 1)
        refused(path, high + 1)
        refused(path, low + 0.5)
    elif m := INTERVAL.match(rule):
        left, low, high, right = m.group(1), float(m.group(2)), float(m.group(3)), m.group(4)
        (accepted if left == "[" else refused)(path, low)
        (accepted if right == "]" else refused)(path, high)
        refused(path, low - 1e-9 if left == "[" else low)
        refused(path, high + 1e-9 if right == ")" else high * (1 + 1e-9))
        accepted(path, (low + high) / 2)
    else:
        assert rule.startswith("≥ 0"), rule
        accepted(path, 0)
        accepted(path, 1e300)
        refused(path, -1e-300)


def test_lenient_keys_warn_instead_of_failing():
    for path, value, warning in [("accelerators[].multiplicity", 0, "multiplicity missing or 0: taken as 1"),
                                 ("models[].accCount", 0, "accCount missing or 0: taken as 1"),
                                 ("serviceClasses[].priority", 101, "is outside [1, 100]"),
                                 ("serviceClasses[].priority", -2**31, "is outside [1, 100]")]:
        messages = " ".join(build(path, value).diagnostics["message"])
        assert warning in messages, (path, value, messages)


def test_a_number_beyond_double_range_is_malformed_json():
    text = json.dumps(load_documents()["servers"]).replace('"arrivalRate": ', '"arrivalRate": 1e400, "x": ', 1)
    with pytest.raises(ValueError, match="number overflow"):
        inferno.System.from_documents(text, base=str(SAMPLE))
