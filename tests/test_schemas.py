"""The optimizer's options are defined once (cpp/src/optimizer/options.cpp); the JSON Schema
shipped with the package, the options table of docs/optimizer.md, the Python names and the core's
reader all come from that registry and must agree: every value the schema rejects, the core
rejects too, naming the key, and the boundary values both accept."""

import json
import subprocess
import sys
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

import inferno
from inferno import optimizer

REPO = Path(__file__).resolve().parents[1]
SCHEMA = json.loads(resources.files("inferno").joinpath("schemas/optimizer-data.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
REGISTRY = optimizer.option_registry()
SMALL = inferno.load(REPO / "samples" / "small")


def _core_accepts(options: dict) -> str | None:
    """None when the core reads the options document, else its message."""
    try:
        SMALL._core.with_documents([("options", {"optimizer": options})])
    except ValueError as exc:
        return str(exc)
    return None


def test_the_generated_files_are_current():
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "update_schemas.py"), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert SCHEMA == optimizer.options_schema()
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_one_registry_behind_the_python_names_and_the_effective_options():
    assert optimizer.OPTIONS == {o["name"]: o["key"] for o in REGISTRY}
    assert len(REGISTRY) == len({o["key"] for o in REGISTRY}) >= 30
    effective = SMALL._core.options
    assert list(effective) == [o["key"] for o in REGISTRY]  # the writer walks the registry
    VALIDATOR.validate({"optimizer": effective})
    # The sample sets saturationPolicy; every other option is at its registry default.
    assert {o["name"]: o["default"] for o in REGISTRY if o["key"] != "saturationPolicy"} == \
        {k: v for k, v in SMALL.options.items() if k != "saturation_policy"}


@pytest.mark.parametrize("path", sorted(REPO.glob("samples/*/optimizer-data.json")), ids=lambda p: p.parent.name)
def test_the_samples_are_valid(path):
    VALIDATOR.validate(json.loads(path.read_text()))


def _invalid_values(o: dict) -> list:
    if o["choices"]:
        return ["no-such-choice", 3]
    if o["type"] == "boolean":
        return ["yes", 1.5]
    bad: list = ["7"]
    lo, hi = o["minimum"], o["maximum"]
    bad.append(lo if o["exclusive_minimum"] else lo - 1)
    if hi is not None:
        bad.append(hi if o["exclusive_maximum"] else hi + 1)
    if o["type"] == "integer":
        bad.append(lo + 0.5 if hi is None or lo + 0.5 < hi else lo)
    return bad


def _valid_values(o: dict) -> list:
    if o["choices"]:
        return list(o["choices"])
    if o["type"] == "boolean":
        return [True, False]
    lo, hi = o["minimum"], o["maximum"]
    step = 0.5 if o["type"] == "number" and hi is not None and hi - lo <= 1 else 1
    good = [lo + step if o["exclusive_minimum"] else lo]
    if hi is not None:
        good.append(hi - step / 1000 if o["exclusive_maximum"] and o["type"] == "number" else hi - 1 if o["exclusive_maximum"] else hi)
    good = [int(v) if o["type"] == "integer" else v for v in good]
    return good + ([None] if o["nullable"] else [])


@pytest.mark.parametrize("option", REGISTRY, ids=lambda o: o["key"])
def test_the_schema_and_the_core_agree_on_every_option(option):
    key = option["key"]
    for value in _valid_values(option):
        assert VALIDATOR.is_valid({"optimizer": {key: value}}), (key, value)
        assert _core_accepts({key: value}) is None, (key, value, _core_accepts({key: value}))
    for value in _invalid_values(option):
        assert not VALIDATOR.is_valid({"optimizer": {key: value}}), (key, value)
        message = _core_accepts({key: value})
        assert message is not None and key in message, (key, value, message)


def test_an_unknown_option_is_reported_not_dropped():
    assert not VALIDATOR.is_valid({"optimizer": {"solvr": "greedy"}})
    system = inferno.System(SMALL._core.with_documents([("options", {"optimizer": {"solvr": "greedy"}})]))
    messages = " ".join(system.diagnostics["message"])
    assert "unknown option 'solvr' is ignored" in messages and "solver" in messages
