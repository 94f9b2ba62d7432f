"""AutoFit admission webhook (docs/sizing.md §9): the pure review function and the HTTPS server."""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import os
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from inferno import kube, sizing, webhook

DATA = Path(__file__).parent / "data" / "webhook"
UID = "705ab4f5-6393-11e8-b7cc-42010a800002"
SPEC_PATCH_B64 = (
    "W3sib3AiOiJyZW1vdmUiLCJwYXRoIjoiL3NwZWMvY29udGFpbmVycy8wL3Jlc291cmNlcy9saW1pdHMvbnZpZGlhLmNvbX4xZ3B1In0seyJvcCI6"
    "ImFkZCIsInBhdGgiOiIvc3BlYy9jb250YWluZXJzLzAvcmVzb3VyY2VzL2xpbWl0cy9udmlkaWEuY29tfjFtaWctM2cuNDBnYiIsInZhbHVlIjoi"
    "MSJ9LHsib3AiOiJhZGQiLCJwYXRoIjoiL21ldGFkYXRhL2Fubm90YXRpb25zL2luZmVybm8uYWl+MW1pZy1wcm9maWxlIiwidmFsdWUiOiIzZy40"
    "MGdiIn1d")


def example() -> dict[str, Any]:
    """The AdmissionReview of docs/sizing.md §9 (Llama-3-8B, A100-SXM4-80GB, C=16, TPOT 50 ms)."""
    return {
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": UID,
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "requestKind": {"group": "", "version": "v1", "kind": "Pod"},
            "requestResource": {"group": "", "version": "v1", "resource": "pods"},
            "name": "", "namespace": "team-a", "operation": "CREATE",
            "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
            "object": {
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"generateName": "llama-8b-7c9d-", "labels": {"inferno.ai/autofit": "enabled"},
                             "annotations": {"inferno.ai/gpu-type": "A100-SXM4-80GB"}},
                "spec": {"containers": [
                    {"name": "vllm", "image": "vllm/vllm-openai:latest",
                     "args": ["--model", "/models/Meta-Llama-3-8B", "--gpu-memory-utilization", "0.9",
                              "--max-model-len", "8192"],
                     "resources": {"limits": {"nvidia.com/gpu": "1"}}},
                    {"name": "bench", "image": "vllm/vllm-openai:latest",
                     "command": ["vllm", "bench", "serve"],
                     "args": ["--dataset-name", "random", "--random-input-len", "1024",
                              "--random-output-len", "128", "--max-concurrency", "16"],
                     "env": [{"name": "TPOT", "value": "50"}]}]}},
            "oldObject": None, "dryRun": False,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"}}}


def pod(doc: dict) -> dict:
    return doc["request"]["object"]


# --- a minimal RFC 6902 applier (add/remove on objects) to prove patches apply cleanly ----------

def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def apply_patch(document: dict, patch: list[dict]) -> dict:
    doc = copy.deepcopy(document)
    for op in patch:
        assert op["op"] in ("add", "remove"), op
        assert op["path"].startswith("/"), op
        tokens = [_unescape(t) for t in op["path"][1:].split("/")]
        parent: Any = doc
        for t in tokens[:-1]:
            parent = parent[int(t)] if isinstance(parent, list) else parent[t]  # KeyError = does not apply
        assert isinstance(parent, dict), op
        last = tokens[-1]
        if op["op"] == "remove":
            assert last in parent, f"remove of missing {op['path']}"
            del parent[last]
        else:
            parent[last] = op["value"]
    return doc


def check(response: dict, uid: str = UID, request: dict | None = None) -> tuple[dict, list | None]:
    """Invariants of every response; returns (response body, decoded patch or None)."""
    assert response["apiVersion"] == "admission.k8s.io/v1"
    assert response["kind"] == "AdmissionReview"
    body = response["response"]
    assert body["allowed"] is True
    assert body["uid"] == uid
    for w in body.get("warnings", []):
        assert w.startswith("inferno-autofit: ") and len(w) <= 120, w
    if "patch" not in body:
        assert "patchType" not in body
        return body, None
    assert body["patchType"] == "JSONPatch"
    patch = json.loads(base64.b64decode(body["patch"]))
    assert isinstance(patch, list) and patch
    if request is not None:
        apply_patch(pod(request), patch)
    return body, patch


def review(doc: Any, **kwargs: Any) -> tuple[dict, list | None]:
    uid = kwargs.pop("uid", UID)
    return check(webhook.review(doc, **kwargs), uid, doc if isinstance(doc, dict) else None)


def assert_silent(body: dict) -> None:
    assert "warnings" not in body and "patch" not in body


def assert_warned(body: dict, fragment: str) -> None:
    assert "patch" not in body
    assert len(body["warnings"]) == 1 and fragment in body["warnings"][0], body["warnings"]
    assert "autofit.inferno.ai/error" in body["auditAnnotations"]


# --- docs/sizing.md §9 ------------------------------------------------------------------------------------

def test_spec_example_exact_patch() -> None:
    doc = example()
    body, patch = review(doc)
    assert body["patch"] == SPEC_PATCH_B64
    assert body["auditAnnotations"] == {"autofit.inferno.ai/decision": "3g.40gb"}
    assert body["warnings"] == ["inferno-autofit: nvidia.com/gpu -> nvidia.com/mig-3g.40gb (TPOT 46.95<=50 ms at C=16)"]
    patched = apply_patch(pod(doc), patch)
    assert patched["spec"]["containers"][0]["resources"]["limits"] == {"nvidia.com/mig-3g.40gb": "1"}
    assert patched["metadata"]["annotations"]["inferno.ai/mig-profile"] == "3g.40gb"


def test_text_and_bytes_inputs_and_review_file(tmp_path: Path) -> None:
    text = json.dumps(example())
    assert webhook.review(text)["response"]["patch"] == SPEC_PATCH_B64
    assert webhook.review(text.encode())["response"]["patch"] == SPEC_PATCH_B64
    f = tmp_path / "review.json"
    f.write_text(text)
    assert webhook.review_file(f)["response"]["patch"] == SPEC_PATCH_B64
    missing = webhook.review_file(tmp_path / "nope.json")
    assert_warned(check(missing, uid="")[0], "cannot read")


def test_idempotent_after_patch() -> None:
    doc = example()
    _, patch = review(doc)
    doc["request"]["object"] = apply_patch(pod(doc), patch)
    assert_silent(review(doc)[0])


# --- docs/sizing.md §9 applicability and failures -----------------------------------------------------------

def test_no_vllm_container() -> None:
    doc = example()
    pod(doc)["spec"]["containers"][0] = {"name": "app", "image": "nginx",
                                         "resources": {"limits": {"nvidia.com/gpu": "1"}}}
    assert_warned(review(doc)[0], "no vLLM server container")


def test_no_gpu_request_is_silent() -> None:
    doc = example()
    del pod(doc)["spec"]["containers"][0]["resources"]
    assert_silent(review(doc)[0])


def test_multi_gpu() -> None:
    doc = example()
    pod(doc)["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] = "2"
    assert_warned(review(doc)[0], "multi-GPU pods are not sliced")


def test_existing_mig_request_is_silent() -> None:
    doc = example()
    pod(doc)["spec"]["containers"][0]["resources"]["limits"] = {"nvidia.com/mig-1g.10gb": "1"}
    assert_silent(review(doc)[0])


def test_autofit_disabled_is_silent() -> None:
    doc = example()
    pod(doc)["metadata"]["annotations"]["inferno.ai/autofit"] = "disabled"
    assert_silent(review(doc)[0])


def test_tensor_parallel() -> None:
    doc = example()
    pod(doc)["spec"]["containers"][0]["args"] += ["--tensor_parallel_size=2"]
    assert_warned(review(doc)[0], "tensor-parallel-size 2")


def test_unknown_model() -> None:
    doc = example()
    pod(doc)["spec"]["containers"][0]["args"][1] = "/models/some-private-model"
    assert_warned(review(doc)[0], "unknown model")


def test_missing_tpot() -> None:
    doc = example()
    del pod(doc)["spec"]["containers"][1]["env"]
    assert_warned(review(doc)[0], "missing TPOT target")


def test_bad_json_text() -> None:
    assert_warned(check(webhook.review("{not json"), uid="")[0], "bad AdmissionReview JSON")
    assert_warned(check(webhook.review(b"\xff\xfe"), uid="")[0], "")
    assert_warned(check(webhook.review("[1, 2]"), uid="")[0], "not a JSON object")


def test_missing_request() -> None:
    assert_warned(check(webhook.review({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}),
                        uid="")[0], "no request")


def test_garbage_request_fields_echo_uid() -> None:
    doc = {"request": {"uid": "u-7", "kind": {"kind": "Pod"}, "operation": "CREATE", "object": "nope"}}
    assert_warned(check(webhook.review(doc), uid="u-7")[0], "")
    doc = {"request": {"uid": "u-8", "kind": {"kind": "Pod"}, "operation": "CREATE",
                       "object": {"spec": {"containers": [{"name": "x", "command": "vllm serve m"}]}}}}
    check(webhook.review(doc), uid="u-8")


def test_non_pod_kind_is_silent() -> None:
    doc = example()
    doc["request"]["kind"]["kind"] = "Deployment"
    assert_silent(review(doc)[0])


def test_delete_operation_is_silent() -> None:
    doc = example()
    doc["request"]["operation"] = "DELETE"
    assert_silent(review(doc)[0])


# --- docs/sizing.md §9 reading the pod --------------------------------------------------------------------

def test_sh_c_command_form() -> None:
    doc = example()
    pod(doc)["spec"]["containers"][0] = {
        "name": "server", "image": "python:3.11",
        "command": ["/bin/sh", "-c"],
        "args": ["pip list >/dev/null && exec vllm serve /models/Meta-Llama-3-8B --gpu-memory-utilization 0.9 "
                 "--max-model-len 8192"],
        "resources": {"limits": {"nvidia.com/gpu": "1"}}}
    body, _ = review(doc)
    assert body["patch"] == SPEC_PATCH_B64


def test_flag_equals_form_and_underscores() -> None:
    doc = example()
    pod(doc)["spec"]["containers"][0]["args"] = ["--model=/models/Meta-Llama-3-8B", "--gpu_memory_utilization=0.9",
                                                 "--max_model_len=8192"]
    body, _ = review(doc)
    assert body["patch"] == SPEC_PATCH_B64


def test_api_server_module_and_annotations_for_load() -> None:
    doc = example()
    p = pod(doc)
    p["spec"]["containers"] = [{
        "name": "server", "image": "registry/llm:1",
        "command": ["python3", "-m", "vllm.entrypoints.openai.api_server"],
        "args": ["--model", "meta-llama/Meta-Llama-3-8B", "--max-model-len", "8192"],
        "resources": {"limits": {"nvidia.com/gpu": 1}}}]
    p["metadata"]["annotations"].update({"inferno.ai/concurrency": "16", "inferno.ai/input-tokens": "1024",
                                         "inferno.ai/output-tokens": "128", "inferno.ai/tpot-ms": "0.05s"})
    body, _ = review(doc)
    assert body["patch"] == SPEC_PATCH_B64


def test_inline_model_config() -> None:
    doc = example()
    cfg = json.loads((Path(sizing.MODELS_DIR) / next(
        f.name for f in sizing.MODELS_DIR.glob("*.json")
        if json.loads(f.read_text()).get("_name_or_path") == "meta-llama/Meta-Llama-3-8B")).read_text())
    cfg.pop("_name_or_path", None)
    pod(doc)["spec"]["containers"][0]["args"][1] = "/mnt/weights/my-finetune"
    pod(doc)["metadata"]["annotations"]["inferno.ai/model-config"] = json.dumps(cfg)
    body, _ = review(doc)
    assert body["auditAnnotations"] == {"autofit.inferno.ai/decision": "3g.40gb"}


def test_bad_inline_model_config() -> None:
    doc = example()
    pod(doc)["spec"]["containers"][0]["args"][1] = "/mnt/weights/my-finetune"
    pod(doc)["metadata"]["annotations"]["inferno.ai/model-config"] = "{broken"
    assert_warned(review(doc)[0], "model-config")


def test_requests_and_limits() -> None:
    doc = example()
    pod(doc)["spec"]["containers"][0]["resources"]["requests"] = {"nvidia.com/gpu": "1", "cpu": "4"}
    _, patch = review(doc)
    patched = apply_patch(pod(doc), patch)
    res = patched["spec"]["containers"][0]["resources"]
    assert res["limits"] == {"nvidia.com/mig-3g.40gb": "1"}
    assert res["requests"] == {"nvidia.com/mig-3g.40gb": "1", "cpu": "4"}


def test_metadata_without_annotations() -> None:
    doc = example()
    del pod(doc)["metadata"]["annotations"]
    _, patch = review(doc, config=webhook.WebhookConfig(default_gpu_types=["A100-SXM4-80GB"]))
    adds = [op for op in patch if op["path"].startswith("/metadata")]
    assert adds == [{"op": "add", "path": "/metadata/annotations", "value": {"inferno.ai/mig-profile": "3g.40gb"}}]


def test_node_selector_product() -> None:
    doc = example()
    del pod(doc)["metadata"]["annotations"]["inferno.ai/gpu-type"]
    pod(doc)["spec"]["nodeSelector"] = {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}
    body, _ = review(doc, config=webhook.WebhookConfig(default_gpu_types=["H100-SXM5-80GB"]))
    assert body["auditAnnotations"]["autofit.inferno.ai/decision"] == "3g.40gb"


def test_unknown_gpu_type() -> None:
    doc = example()
    pod(doc)["metadata"]["annotations"]["inferno.ai/gpu-type"] = "Z9000"
    assert_warned(review(doc)[0], "unknown GPU type")


def test_whole_gpu_when_slo_unattainable() -> None:
    doc = example()
    pod(doc)["spec"]["containers"][1]["args"][-1] = "64"  # docs/sizing.md §5: C=64 at 50 ms -> whole, sloUnattainable
    pod(doc)["spec"]["containers"][1]["env"][0]["value"] = "5ms"
    body, patch = review(doc)
    assert patch == [{"op": "add", "path": "/metadata/annotations/inferno.ai~1mig-profile", "value": "whole"}]
    assert body["auditAnnotations"] == {"autofit.inferno.ai/decision": "whole"}
    assert len(body["warnings"]) == 1


def test_pin_gpu_product_and_details() -> None:
    doc = example()
    cfg = webhook.WebhookConfig(pin_gpu_product=True, annotate_details=True)
    _, patch = review(doc, config=cfg)
    patched = apply_patch(pod(doc), patch)
    assert patched["spec"]["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}
    details = json.loads(patched["metadata"]["annotations"]["inferno.ai/sizing"])
    assert details["profile"] == "3g.40gb" and details["gpu"] == "A100-SXM4-80GB"


def test_sizing_exception(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("core exploded " + "x" * 300)

    monkeypatch.setattr(sizing, "recommend", boom)
    body, _ = review(example())
    assert_warned(body, "RuntimeError: core exploded")


def test_config_from_file(tmp_path: Path) -> None:
    f = tmp_path / "cfg.json"
    f.write_text(json.dumps({"defaultGpuTypes": ["H100-SXM5-80GB"], "pinGpuProduct": True}))
    cfg = webhook.WebhookConfig.from_file(f)
    assert cfg.default_gpu_types == ["H100-SXM5-80GB"] and cfg.pin_gpu_product and not cfg.annotate_details
    f.write_text(json.dumps({"bogus": 1}))
    with pytest.raises(ValueError):
        webhook.WebhookConfig.from_file(f)


# --- HTTPS server ------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_server(tmp_path: Path | None = None, config: dict | None = None):
    """The webhook command on a free loopback port, with an optional config file; yields the base
    URL and a TLS context that trusts the committed test certificate."""
    cert, key = DATA / "cert.pem", DATA / "key.pem"
    if not (cert.exists() and key.exists()):
        pytest.skip("TLS fixtures tests/data/webhook/{cert,key}.pem missing")
    port = _free_port()
    argv = [sys.executable, "-m", "inferno.cli.webhook", "--cert", str(cert), "--key", str(key),
            "--host", "127.0.0.1", "--port", str(port)]
    if config is not None:
        path = tmp_path / "webhook.json"
        path.write_text(json.dumps(config))
        argv += ["--config", str(path)]
    proc = subprocess.Popen(argv, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    ctx = ssl.create_default_context(cafile=str(cert))
    base = f"https://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 10  # bounded wait for the port (loading the catalog takes a moment)
        while True:
            try:
                with urllib.request.urlopen(base + "/healthz", context=ctx, timeout=2) as r:
                    assert r.status == 200 and r.read() == b"ok"
                break
            except (urllib.error.URLError, ConnectionError, OSError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    _, err = proc.communicate(timeout=5) if proc.poll() is not None else (b"", b"")
                    pytest.fail(f"webhook server did not come up: {err.decode(errors='replace')[-2000:]}")
                time.sleep(0.1)
        yield base, ctx, port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def test_https_server_roundtrip() -> None:
    with running_server() as (base, ctx, _port):
        req = urllib.request.Request(base + "/mutate", data=json.dumps(example()).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
            assert r.status == 200
            body, _ = check(json.loads(r.read()))
        assert body["patch"] == SPEC_PATCH_B64

        bad = urllib.request.Request(base + "/mutate", data=b"{garbage", method="POST")
        with urllib.request.urlopen(bad, context=ctx, timeout=10) as r:
            assert_warned(check(json.loads(r.read()), uid="")[0], "")

        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(base + "/nope", context=ctx, timeout=5)
        assert err.value.code == 404

        with urllib.request.urlopen(base + "/metrics", context=ctx, timeout=5) as r:
            metrics = r.read().decode()
        assert 'inferno_autofit_decisions_total{result="patched"} 1' in metrics
        assert 'inferno_autofit_decisions_total{result="error"} 1' in metrics


def tls_socket(ctx: ssl.SSLContext, port: int) -> ssl.SSLSocket:
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    return ctx.wrap_socket(raw, server_hostname="localhost")


def test_chunked_bodies_and_missing_lengths_get_411(tmp_path) -> None:
    with running_server() as (_base, ctx, port):
        for headers in ("Transfer-Encoding: chunked\r\n", ""):
            with tls_socket(ctx, port) as s:
                s.sendall(f"POST /mutate HTTP/1.1\r\nHost: localhost\r\n{headers}Content-Type: application/json"
                          "\r\n\r\n".encode() + (b"5\r\n{}{}{\r\n0\r\n\r\n" if headers else b""))
                assert s.recv(4096).startswith(b"HTTP/1.1 411 ")


def test_a_slow_client_is_cut_off_at_the_request_deadline_and_connections_are_bounded(tmp_path) -> None:
    with running_server(tmp_path, {"requestDeadlineSeconds": 2, "maxConnections": 2}) as (base, ctx, port):
        # One byte at a time, slower than the deadline allows: the server hangs up.
        with tls_socket(ctx, port) as slow:
            started = time.monotonic()
            try:
                for byte in b"POST /mutate HTTP/1.1\r\n":
                    slow.sendall(bytes([byte]))
                    time.sleep(0.25)
                closed = slow.recv(4096) == b""
            except (ConnectionError, ssl.SSLError):
                closed = True
            assert closed and time.monotonic() - started < 9
        # Two idle connections take both places: a third is refused at once (503), then service
        # resumes; the idle ones are closed at their request deadline.
        idle = [tls_socket(ctx, port) for _ in range(2)]
        try:
            time.sleep(0.2)
            with tls_socket(ctx, port) as third:
                third.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
                assert third.recv(4096).startswith(b"HTTP/1.1 503 ")
            started = time.monotonic()
            assert idle[0].recv(4096) == b"" and time.monotonic() - started < 4
        finally:
            for s in idle:
                s.close()
        time.sleep(0.5)
        with urllib.request.urlopen(base + "/healthz", context=ctx, timeout=5) as r:
            assert r.status == 200


@pytest.mark.parametrize(("text", "ms"), [("50", 50.0), ("50ms", 50.0), ("0.05s", 50.0), ("50000us", 50.0),
                                          ("5e4us", 50.0), (" 2.5 s ", 2500.0), ("750us", 0.75)])
def test_durations_convert_to_milliseconds(text, ms) -> None:
    assert kube.duration_ms(text, "inferno.ai/tpot-ms") == ms


def test_a_tpot_in_microseconds_gives_the_same_decision_as_in_milliseconds() -> None:
    doc = example()
    pod(doc)["spec"]["containers"][1]["env"][0]["value"] = "50000us"  # the benchmark's TPOT
    body, _ = review(doc)
    assert body["patch"] == SPEC_PATCH_B64
    pod(doc)["spec"]["containers"][1]["env"][0]["value"] = "5us"  # unattainable: a different answer
    body, _ = review(doc)
    assert body.get("patch") != SPEC_PATCH_B64


@pytest.mark.parametrize(("doc", "message"), [
    ({"requestDeadlineSeconds": 0}, "requestDeadlineSeconds must be a number of seconds in (0, 3600], got 0"),
    ({"deadlineSeconds": "2"}, "deadlineSeconds must be a number of seconds in (0, 3600], got '2'"),
    ({"deadlineSeconds": 3600.001}, "deadlineSeconds must be a number of seconds in (0, 3600], got 3600.001"),
    ({"maxConnections": 0}, "maxConnections must be an integer in [1, 10000], got 0"),
    ({"maxConnections": 10001}, "maxConnections must be an integer in [1, 10000], got 10001"),
    ({"maxConnections": True}, "maxConnections must be an integer in [1, 10000], got True"),
    ({"maxConnection": 5}, "unknown key 'maxConnection'; allowed: annotateDetails, catalog, deadlineSeconds, "
                           "defaultGpuTypes, maxConnections, pinGpuProduct, registry, requestDeadlineSeconds "
                           "(or their snake_case field names)"),
])
def test_server_limits_out_of_range_are_refused_at_start_up(doc, message) -> None:
    with pytest.raises(ValueError) as err:
        webhook.WebhookConfig.from_dict(doc)
    assert str(err.value) == "webhook config: " + message
