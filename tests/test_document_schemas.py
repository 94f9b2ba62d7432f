"""Every document inferno reads or writes has a JSON Schema generated from the format table its
reader uses (docs/schemas.md). The samples and real outputs validate against them, and on every
numeric field the schema and the core agree: a value out of range (or of the wrong type) is
rejected by both, the core naming the key, and the lower end is accepted by both."""

import copy
import json
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest

import inferno
from inferno import _core, schemas, sizing, tuner

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"
VALIDATORS = {name: jsonschema.Draft202012Validator(schemas.schema(name)) for name in schemas.names()}
OPTIMIZER_FILES = ["accelerator-data", "capacity-data", "model-data", "serviceclass-data", "server-data",
                   "optimizer-data"]


def test_every_schema_is_a_valid_draft_2020_12_schema_and_current():
    assert schemas.names() == [*OPTIMIZER_FILES, "system-data", "solution-data", "queue-request", "queue-result",
                               "simulate-request", "sizing-request", "sizing-points", "gpu-catalog", "tuner-options"]
    for name in schemas.names():
        jsonschema.Draft202012Validator.check_schema(schemas.schema(name))
        assert schemas.schema(name) == schemas.generated(name), name
        assert schemas.schema(name)["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    with pytest.raises(ValueError, match="unknown schema 'solution'; the schemas are accelerator-data, "):
        schemas.schema("solution")


@pytest.mark.parametrize("path", sorted(p for p in SAMPLES.glob("*/*-data.json") if p.parent.name != "queue"),
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_the_samples_are_valid(path):
    VALIDATORS[path.name.removesuffix(".json")].validate(json.loads(path.read_text()))


def test_a_simulate_line_with_a_trace_and_a_schedule_is_valid_and_rows_are_checked():
    line = {**BASE_SIMULATE, "trace": [[0, 100, 50], [0.5, 200, 20]], "arrivals": "poisson", "router": "jsq"}
    assert VALIDATORS["simulate-request"].is_valid(line) and _simulate_core(line) is None
    assert VALIDATORS["simulate-request"].is_valid({**BASE_SIMULATE, "schedule": [[0, 1], [10, 2]], "scheduleKind": "linear"})
    for bad in ({"trace": [[0, 100]]}, {"trace": []}, {"schedule": [[0, -1]]}, {"router": "random"}, {"durationSecs": 5}):
        doc = {**BASE_SIMULATE, **bad}
        assert not VALIDATORS["simulate-request"].is_valid(doc), bad
        assert _simulate_core(doc) is not None, bad


def test_the_queue_and_sizing_samples_are_valid():
    # problems.jsonl ends with a line that shows an error (RPS -1): schema and core both refuse it.
    text = (SAMPLES / "queue" / "problems.jsonl").read_text().splitlines()
    lines = [json.loads(line) for line in text]
    assert [VALIDATORS["queue-request"].is_valid(line) for line in lines] == [True, True, True, False]
    out, failures = _core.io.run_queue_requests("solve", text, 1)
    assert failures == 1 and "error" in json.loads(out[3])
    VALIDATORS["queue-request"].validate(json.loads((SAMPLES / "queue" / "problem-data.json").read_text()))
    VALIDATORS["sizing-request"].validate(json.loads((SAMPLES / "sizing" / "request.json").read_text()))
    VALIDATORS["sizing-points"].validate(json.loads((SAMPLES / "sizing" / "points.json").read_text()))


def test_the_builtin_catalog_and_a_catalog_written_back_are_valid():
    VALIDATORS["gpu-catalog"].validate(json.loads(sizing.BUILTIN_CATALOG.read_text()))
    VALIDATORS["gpu-catalog"].validate(sizing.Catalog.builtin().to_dict())
    # a misspelt key is refused by both, naming it
    doc = {"gpus": [{"id": "X", "memGiB": 80, "bwGBps": 2000, "bf16TFlops": 300, "bwGBPS": 1}]}
    assert not VALIDATORS["gpu-catalog"].is_valid(doc)
    assert "bwGBPS" in _catalog_core(doc)


def _errors(name: str, doc: object) -> list[str]:
    return [e.message for e in VALIDATORS[name].iter_errors(doc)]


def test_a_misspelt_or_mistyped_key_is_caught_in_any_letter_case():
    # The optimizer's documents match keys without regard to case, and so does the schema.
    doc = {"accelerators": [{"name": "A", "MEMSIZE": -1}]}
    assert set(_errors("accelerator-data", doc)) == {"-1 is less than the minimum of 0"}
    assert _errors("queue-request", {"maxBatchSize": 8, "rps": "fast"}) == ["'fast' is not of type 'number'"]
    assert [e.split(" does not")[0] for e in _errors("queue-request", {"maxBatchSize": 8, "maxBatch": 3})] == ["'maxBatch'"]
    assert _errors("queue-request", {"maxBatchSize": 8, "TARGETttft_P99.9": 500, "targetITL_p95": -1}) == \
        ["-1 is less than the minimum of 0"]
    # The sizing request is case-sensitive.
    assert _errors("sizing-request", {"servers": [], "Menu": {}}) == \
        ["Additional properties are not allowed ('Menu' was unexpected)"]


# ---------------------------------------------------------------------------------------------- outputs
def _solution(system: inferno.System, **options) -> dict:
    return json.loads(system.optimize(**options).to_json(candidates=True, timing=True))


@pytest.mark.parametrize("sample", ["small", "large"])
def test_solutions_are_valid(sample):
    system = inferno.load(SAMPLES / sample)
    for solver in ("greedy", "milp"):
        VALIDATORS["solution-data"].validate(_solution(system, solver=solver))
    VALIDATORS["solution-data"].validate(json.loads(system.optimize().to_json(format="reference")))


def test_heterogeneous_and_sliced_solutions_are_valid():
    hetero = _solution(inferno.load(SAMPLES / "large"), heterogeneous=True, solver="milp")
    assert any("parts" in a for a in hetero["allocations"].values())
    VALIDATORS["solution-data"].validate(hetero)
    # MIG slices: the documents size recommend emits, optimised (allocationByType has slices).
    emitted = sizing.emit_optimizer_data(SAMPLES / "sizing" / "request.json")
    for key in ("accelerators", "count", "models", "serviceClasses", "servers"):
        VALIDATORS[{"accelerators": "accelerator-data", "count": "capacity-data", "models": "model-data",
                    "serviceClasses": "serviceclass-data", "servers": "server-data"}[key]].validate({key: emitted[key]})
    sliced = _solution(inferno.System.from_documents(*({k: v} for k, v in emitted.items() if k != "notes")))
    assert any("slices" in use for use in sliced["allocationByType"].values())
    VALIDATORS["solution-data"].validate(sliced)


def test_queue_results_and_errors_are_valid():
    lines = [line for line in (SAMPLES / "queue" / "problems.jsonl").read_text().splitlines() if line.strip()]
    lines.append(json.dumps({"RPS": 2, "maxBatchSize": 16, "alpha": 10, "beta": 0.1, "gamma": 0.001,
                             "avgInputTokens": 100, "avgOutputTokens": 100, "maxQueueSize": 64,
                             "targetTTFT_p95": 500, "targetITL": 30, "percentiles": [50, 99]}))
    lines.append('{"RPS": -1}')
    seen = set()
    for operation in ("solve", "target", "optimize"):
        out, _ = _core.io.run_queue_requests(operation, lines, 1)
        for text in out:
            record = json.loads(text)
            VALIDATORS["queue-result"].validate(record)
            seen |= set(record)
    assert {"error", "ttft_p95", "RPSTargetTTFT_p95", "concurrency", "sizeStatus", "tpot_p99"} <= seen


# ---------------------------------------------------------------------------------- schema == core
def _numeric_fields(schema: dict, path: tuple = ()) -> list[tuple[tuple, dict]]:
    """(path, subschema) of every number or integer field; list items are addressed by index 0."""
    out = []
    for key, sub in schema.get("properties", {}).items():
        kinds = sub.get("type", [])
        kinds = [kinds] if isinstance(kinds, str) else kinds
        if "number" in kinds or "integer" in kinds:
            out.append(((*path, key), sub))
        if "properties" in sub:
            out += _numeric_fields(sub, (*path, key))
        if "items" in sub and "properties" in sub["items"]:
            out += _numeric_fields(sub["items"], (*path, key, 0))
    return out


def _set(doc: dict, path: tuple, value: object) -> dict:
    doc = copy.deepcopy(doc)
    node = doc
    for step in path[:-1]:
        if isinstance(step, int):
            node = node[step]
        else:
            node = node.setdefault(step, {})
    node[path[-1]] = value
    return doc


def _out_of_range(s: dict) -> list:
    bad: list = ["7", True]
    if "minimum" in s:
        bad.append(s["minimum"] - 1 if s["type"] == "integer" or "integer" in s["type"] else s["minimum"] - 0.5)
    if "exclusiveMinimum" in s:
        bad.append(s["exclusiveMinimum"])
    if "maximum" in s and s["maximum"] < 2**53:
        bad.append(s["maximum"] + 1)
    if "exclusiveMaximum" in s:
        bad.append(s["exclusiveMaximum"])
    if s["type"] == "integer" or "integer" in s["type"]:
        bad.append(1.5)
    return bad


def _lowest(s: dict) -> object:
    if "minimum" in s:
        return s["minimum"]
    if "exclusiveMinimum" in s:
        lo = s["exclusiveMinimum"]
        return lo + 1 if (s["type"] == "integer" or "integer" in s["type"]) else lo + 1e-6
    return 0


def _refusal(read) -> Callable[[dict], str | None]:
    """The core's check of a document through `read`: its error message, or None when accepted."""
    def check(doc: dict) -> str | None:
        try:
            read(doc)
        except ValueError as exc:
            return str(exc)
        return None
    return check


def _queue_core(doc: dict) -> str | None:
    out, failures = _core.io.run_queue_requests("target", [json.dumps(doc)], 1)
    return json.loads(out[0])["error"] if failures else None


def _simulate_core(doc: dict) -> str | None:
    out, failures = _core.sim.run_simulation_requests([json.dumps(doc)], 1)
    return json.loads(out[0])["error"] if failures else None


_optimizer_core = _refusal(inferno.System.from_documents)
_sizing_core = _refusal(sizing.recommend)
_catalog_core = _refusal(sizing.Catalog.load)
_points_core = _refusal(lambda doc: sizing.calibrate("facebook/opt-1.3b", doc, mode="theta"))


BASE_QUEUE = {"RPS": 1, "maxBatchSize": 16, "maxQueueSize": 64, "avgInputTokens": 100, "avgOutputTokens": 100,
              "alpha": 10, "beta": 0.1, "gamma": 0.001, "targetITL": 50}
BASE_SIMULATE = {**BASE_QUEUE, "durationSeconds": 20, "seed": 3}
BASE_SIZING = {"servers": [{"name": "s", "model": "facebook/opt-1.3b",
                            "load": {"arrivalRateRps": 1, "avgInTokens": 100, "avgOutTokens": 50},
                            "slo": {"itl": 100, "ttft": 2000}}],
               "menu": {"gpuTypes": ["A100-SXM4-80GB"], "includeSlices": False}}


BASE_POINTS = {"points": [{"accelerator": "A100-SXM4-80GB", "concurrency": c, "n": n, "m": m, "tpot_ms": t, "ttft_ms": f,
                            "throughput_rps": r}
                           for c, n, m, t, f, r in ((1, 512, 128, 7.0, 40.0, 1.0), (8, 512, 128, 9.0, 90.0, 6.0),
                                                    (16, 1024, 256, 12.0, 200.0, 5.0), (4, 256, 64, 8.0, 30.0, 7.0))]}


def _cases() -> list:
    cases = []
    for name in OPTIMIZER_FILES[:-1]:  # the options have their own test (test_schemas.py)
        base = json.loads((SAMPLES / "small" / f"{name}.json").read_text())
        for path, s in _numeric_fields(schemas.schema(name)):
            record = base
            if {"decodeParms", "prefillParms"} & set(path):  # the other form of a performance record
                record = copy.deepcopy(base)
                del record["models"][0]["perfParms"]
            cases.append((name, record, path, s, _optimizer_core))
    cases += [("queue-request", BASE_QUEUE, path, s, _queue_core) for path, s in _numeric_fields(schemas.schema("queue-request"))]
    cases += [("sizing-request", BASE_SIZING, path, s, _sizing_core) for path, s in _numeric_fields(schemas.schema("sizing-request"))]
    catalog = json.loads(sizing.BUILTIN_CATALOG.read_text())
    base_catalog = {"gpus": [catalog["gpus"][0]], "migFamilies": {catalog["gpus"][0]["migFamily"]:
                                                                  catalog["migFamilies"][catalog["gpus"][0]["migFamily"]]}}
    cases += [("gpu-catalog", base_catalog, path, s, _catalog_core) for path, s in _numeric_fields(schemas.schema("gpu-catalog"))]
    cases += [("sizing-points", BASE_POINTS, path, s, _points_core) for path, s in _numeric_fields(schemas.schema("sizing-points"))]
    queue_keys = set(schemas.schema("queue-request")["properties"])  # probed above: the simulation's own keys here
    cases += [("simulate-request", BASE_SIMULATE, path, s, _simulate_core)
              for path, s in _numeric_fields(schemas.schema("simulate-request")) if path[0] not in queue_keys]
    return cases


# A lower end a schema cannot refuse but the core does, for a reason the schema cannot state.
DEPENDENT = {
    ("sizing-request", ("servers", 0, "load", "concurrency")): "give exactly one of concurrency and arrivalRateRps",
    ("sizing-request", ("servers", 0, "load", "arrivalRate")): "the deprecated name beside arrivalRateRps",
    ("sizing-request", ("efficiency", "etaBw")): "a near-zero efficiency derives times beyond the queue model's range",
    ("sizing-request", ("efficiency", "etaFlops")): "a near-zero efficiency derives times beyond the queue model's range",
    ("gpu-catalog", ("gpus", 0, "smCount")): "a GPU with a MIG family needs at least one SM",
    ("sizing-points", ("points", 0, "itl_ms")): "another name of tpot_ms, which the base gives",
}


@pytest.mark.parametrize("case", _cases(), ids=lambda c: c[0] + ":" + ".".join(map(str, c[2])))
def test_the_schema_and_the_core_agree_on_every_number(case):
    name, base, path, s, core = case
    key = path[-1]
    assert core(base) is None and VALIDATORS[name].is_valid(base)
    for value in _out_of_range(s):
        doc = _set(base, path, value)
        assert not VALIDATORS[name].is_valid(doc), (path, value)
        message = core(doc)
        assert message is not None and key in message, (path, value, message)
    if (name, path) in DEPENDENT:
        return
    doc = _set(base, path, _lowest(s))
    assert VALIDATORS[name].is_valid(doc), (path, _lowest(s))
    assert core(doc) is None, (path, _lowest(s), core(doc))


# ------------------------------------------------------------------------------------------- CLI
def _cli(*args: str):
    import subprocess

    from cli_helpers import cli_command
    return subprocess.run([*cli_command(), "schema", *args], capture_output=True, text=True, timeout=60)


def test_the_schema_command_lists_and_prints():
    listed = _cli()
    assert listed.returncode == 0 and listed.stdout.splitlines()[0].split()[0] == "accelerator-data"
    assert [row["name"] for row in json.loads(_cli("--format", "json").stdout)] == schemas.names()
    assert _cli("--format", "csv").stdout.splitlines()[:2] == \
        ["name,document", "accelerator-data,accelerator-data.json: the accelerator profiles"]
    assert json.loads(_cli("solution-data").stdout) == schemas.schema("solution-data")
    unknown = _cli("solution")
    assert unknown.returncode == 1 and "unknown schema 'solution'; the schemas are accelerator-data" in unknown.stderr
    assert _cli("solution-data", "--format", "csv").returncode == 1


# ------------------------------------------------------------------------------------------ tuner
TUNER_OPTIONS = tuner.option_registry()


@pytest.mark.parametrize("option", [o for o in TUNER_OPTIONS if o["kind"] != "flag"], ids=lambda o: o["name"])
def test_the_tuner_options_schema_and_the_core_agree(option):
    """Every value the schema refuses, Tuner(**options) refuses too, naming the option; the
    defaults are valid on both sides (the ranges come from one table, cpp/src/tuner/options.cpp)."""
    name = option["name"]
    validator = VALIDATORS["tuner-options"]
    assert validator.is_valid({o["name"]: o["default"] for o in TUNER_OPTIONS})
    if option["kind"] == "name":
        bad: list = ["no-such-choice"]
    else:
        bad = []
        lo, hi = option["minimum"], option["maximum"]
        if lo is not None:
            bad.append(lo if option["exclusive_minimum"] else lo - 1)
        if hi is not None:
            bad.append(hi if option["exclusive_maximum"] else hi + 1)
    for value in bad:
        given = [value] * 3 if option["kind"].endswith("vector") else value
        assert not validator.is_valid({name: given}), (name, given)
        with pytest.raises(ValueError, match=name):
            tuner.Tuner(**{name: given})


def test_every_tuner_option_is_a_flag_of_inferno_tune():
    """The command line's tuner flags are generated from the same table (--init-state and --init
    stand for init_state and start)."""
    from inferno.cli import build_parser
    tune = next(a for a in build_parser()._actions if a.__class__.__name__ == "_SubParsersAction").choices["tune"]
    flags = {s for a in tune._actions for s in a.option_strings}
    for o in TUNER_OPTIONS:
        expected = {"init_state": "--init-state", "start": "--init"}.get(o["name"], "--" + o["name"].replace("_", "-"))
        assert expected in flags, o["name"]
