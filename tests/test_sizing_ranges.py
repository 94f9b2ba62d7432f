"""The sizing inputs' documented ranges (docs/sizing.md, "Input ranges") are the ones enforced:
every row of the request and profiling-point tables is probed at both ends and just outside,
and a recommendation at a bound has no NaN and no zero standing in for a missing prediction."""
import copy
import json
import math
import re
from pathlib import Path

import pytest
from doc_tables import range_rows

from inferno import sizing

DOC = Path(__file__).resolve().parents[1] / "docs" / "sizing.md"
LLAMA = "meta-llama/Meta-Llama-3-8B"


def table(title):
    text = DOC.read_text(encoding="utf-8").split("## 12. Input ranges", 1)[1]
    return range_rows(text.split(title, 1)[1].split("\n\n", 2)[1], 3, 2)


REQUEST_ROWS = table("**Recommendation request**")
POINT_ROWS = table("**Profiling points**")

CLOSED = {"name": "closed", "model": LLAMA, "load": {"concurrency": 8, "avgInTokens": 1024, "avgOutTokens": 128},
          "slo": {"itl": 50}}
OPEN = {"name": "open", "model": LLAMA, "load": {"arrivalRateRps": 3.0, "avgInTokens": 512, "avgOutTokens": 256},
        "slo": {"itl": 40, "ttft": 1000}}
REQUEST = {"servers": [CLOSED, OPEN], "menu": {"gpuTypes": ["A100-SXM4-80GB", "H100-SXM5-80GB"]},
           "costs": {"A100-SXM4-80GB": 40.0, "H100-SXM5-80GB": 75.0}, "capacity": {"A100-SXM4-80GB": 8},
           "queueToBatchRatio": 10, "efficiency": {}}


def test_tables_are_complete():
    assert len(REQUEST_ROWS) == 29 and len(POINT_ROWS) == 6


def request_with(path, value):
    request = copy.deepcopy(REQUEST)
    parts = path.split(".")
    if parts[0] == "servers[]":
        # open-loop keys on the open server, the rest on the closed one (concurrency and
        # arrivalRate are alternatives)
        server = request["servers"][1 if parts[-1] == "arrivalRateRps" or parts[1] == "slo" else 0]
        node = server
        for part in parts[1:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
        return request
    key = parts[-1]
    if key == "perSequenceMs":
        request["serviceModel"] = "vllm"  # the model that uses it
    if key == "<gpu type>":
        request[parts[0]]["A100-SXM4-80GB"] = value
    else:
        node = request
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[key] = value
    return request


def accepted(path, value):
    request = request_with(path, value)
    if path == "servers[].serving.tensorParallelSize" and value > 1:
        request["menu"]["includeSlices"] = False
    result = sizing.recommend(request).document
    text = json.dumps(result, allow_nan=False)  # raises on NaN or infinity
    for server in result["servers"]:
        for option in server["options"]:
            # a missing prediction is null, never a zero latency
            assert option["itl"] is None or option["itl"] > 0, option
            assert option["ttft"] is None or option["ttft"] > 0, option
    return text


def refused(path, value):
    with pytest.raises(ValueError) as info:
        sizing.recommend(request_with(path, value))
    key = path.rsplit(".", 1)[-1]
    assert (key if key != "<gpu type>" else "A100-SXM4-80GB") in str(info.value), str(info.value)


INTEGER = re.compile(r"^integer in \[(\d+), (\d+)\]")
INTERVAL = re.compile(r"^in ([\[(])(\d+(?:\.\d+)?), (\d+(?:\.\d+)?)([\])])")


def probe(rule, ok, bad):
    if m := INTEGER.match(rule):
        low, high = int(m.group(1)), int(m.group(2))
        ok(low)
        ok(high)
        if low > 0:
            bad(low - 1)
        bad(high + 1)
        bad(low + 0.5)
    elif m := INTERVAL.match(rule):
        left, low, high, right = m.group(1), float(m.group(2)), float(m.group(3)), m.group(4)
        (ok if left == "[" else bad)(low)
        (ok if right == "]" else bad)(high)
        bad(low - 1e-9 if left == "[" else low)
        bad(high * (1 + 1e-9) if right == "]" else high)
        ok((low + high) / 2)
    else:
        assert rule.startswith("≥ 0"), rule
        ok(0)
        ok(1e300)
        bad(-1e-300)


@pytest.mark.parametrize("path", sorted(REQUEST_ROWS))
def test_request_range_is_enforced(path):
    probe(REQUEST_ROWS[path], lambda v: accepted(path, v), lambda v: refused(path, v))


POINTS = [{"accelerator": "H100-SXM5-80GB:3g.40gb", "concurrency": c, "n": 1024, "m": 128, "tpot_ms": t}
          for c, t in ((1, 20.0), (8, 24.0), (32, 35.0))]


def points_with(key, value):
    points = copy.deepcopy(POINTS)
    points[1][key.split(".")[-1]] = value
    return points


@pytest.mark.parametrize("path", sorted(POINT_ROWS))
def test_point_range_is_enforced(path):
    key = path.split(".")[-1]

    def ok(value):
        cal = sizing.calibrate(LLAMA, points_with(key, value), mode="theta")
        assert all(math.isfinite(v) for v in cal.rows.select_dtypes("number").to_numpy().ravel()
                   if v == v), cal.rows  # NaN marks a metric a point did not measure

    def bad(value):
        with pytest.raises(ValueError, match=re.escape(f"points[1].{key}")):
            sizing.calibrate(LLAMA, points_with(key, value), mode="theta")

    probe(POINT_ROWS[path], ok, bad)


def test_closed_loop_fallback_never_reports_zero_latency_or_zero_replicas():
    # 5 ms ITL is below α everywhere: the fallback is the whole GPU with every replica count tried
    request = {"servers": [{**CLOSED, "slo": {"itl": 5}}], "menu": {"gpuTypes": ["A100-SXM4-80GB"], "maxReplicas": 1000000}}
    server = sizing.recommend(request).document["servers"][0]
    assert server["sloUnattainable"] and server["choice"] == "A100-SXM4-80GB"
    chosen = next(o for o in server["options"] if o["accelerator"] == server["choice"])
    assert chosen["replicas"] == 8 and chosen["batch"] == 1 and chosen["itl"] > 5
    # a context no GPU holds: unallocated, not a whole GPU with 0 replicas and 0 ms
    request["servers"][0]["serving"] = {"maxModelLen": 2000000000}
    server = sizing.recommend(request).document["servers"][0]
    assert server["unallocated"] and not server["sloUnattainable"] and server["choice"] == ""
    assert all(o["itl"] is None and o["ttft"] is None for o in server["options"])
    choices = sizing.recommend(request).choices
    assert math.isnan(choices.loc["closed", "itl_ms"]) and choices.loc["closed", "replicas"] == 0


def test_the_open_loop_can_size_with_the_vllm_service_model():
    """serviceModel "vllm" (docs/sizing.md §5): the iteration wait and delta*b^2 lower the rate a
    replica sustains within the SLO; an unknown model is named with the allowed ones."""
    def open_option(**extra):
        request = {**copy.deepcopy(REQUEST), "servers": [OPEN], **extra}
        server = sizing.recommend(request).document["servers"][0]
        return next(o for o in server["options"] if o["accelerator"] == "H100-SXM5-80GB")

    plain, waited, loaded = open_option(), open_option(serviceModel="vllm"), \
        open_option(serviceModel="vllm", perSequenceMs=0.001)
    assert plain["feasible"] and waited["feasible"] and loaded["feasible"]
    assert waited["ratePerReplica"] < plain["ratePerReplica"] and loaded["ratePerReplica"] < waited["ratePerReplica"]
    with pytest.raises(ValueError, match='serviceModel: unknown "token"; allowed: iteration, vllm'):
        sizing.recommend({**REQUEST, "serviceModel": "token"})
