"""AutoFit: the Kubernetes mutating admission webhook that right-sizes vLLM pods (docs/sizing.md §9).

``review`` is a pure function from an AdmissionReview request to its response: it reads the vLLM
server container of a pod, runs the sizing recommendation (docs/sizing.md §5) for one replica and, when a MIG slice
is enough, returns a JSONPatch swapping ``nvidia.com/gpu`` for ``nvidia.com/mig-<profile>``.
It never raises and never denies: any problem admits the pod unchanged with one warning (docs/sizing.md §9).

``serve`` is a thin standard-library HTTPS wrapper (``POST /mutate``, ``GET /healthz``,
``GET /metrics``).

>>> import json
>>> resp = review({"request": {"uid": "u1", "kind": {"kind": "Secret"}, "operation": "CREATE"}})
>>> resp["response"]["allowed"], resp["response"]["uid"]
(True, 'u1')
"""

from __future__ import annotations

import base64
import concurrent.futures
import functools
import json
import math
import re
import shlex
import socket
import ssl
import sys
import threading
from dataclasses import dataclass, field, fields
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Mapping, Union

from . import sizing
from ._text import excerpt as _excerpt

__all__ = ["WebhookConfig", "review", "review_file", "serve", "make_server", "Metrics"]

API_VERSION = "admission.k8s.io/v1"
ANN = "inferno.ai/"
GPU_RESOURCE = "nvidia.com/gpu"
MIG_PREFIX = "nvidia.com/mig-"
PRODUCT_LABEL = "nvidia.com/gpu.product"
WARNING_PREFIX = "inferno-autofit: "
MAX_WARNING = 120  # Kubernetes turns warnings into HTTP Warning headers; keep them short
MAX_BODY = 8 << 20  # an AdmissionReview of a pod is far smaller; refuse to buffer more
RESULTS = ("patched", "whole", "skipped", "error")

# vLLM flags whose value we read (names normalised: "_" -> "-").
VALUE_FLAGS = ("--model", "--gpu-memory-utilization", "--max-model-len", "--max-num-seqs", "--tensor-parallel-size",
               "--dtype", "--quantization", "--kv-cache-dtype", "--max-num-batched-tokens")
SHELLS = {"sh", "bash", "ash", "dash", "zsh"}
SHELL_OPERATORS = {"&&", "||", ";", "|", "&"}

AdmissionInput = Union[Mapping[str, Any], str, bytes]


@dataclass
class WebhookConfig:
    """Deployment options. ``catalog`` adds a catalog file to the built-in one; ``registry`` adds
    HF-config files (a file or a directory of them) to the shipped model registry."""
    default_gpu_types: list[str] = field(default_factory=lambda: ["A100-SXM4-80GB"])
    pin_gpu_product: bool = False
    annotate_details: bool = False
    catalog: str | None = None
    registry: str | None = None
    deadline_s: float = 2.0  # internal deadline of the HTTPS server per review (docs/sizing.md §9)
    request_deadline_s: float = 10.0  # whole request, TLS handshake and body included (slow clients)
    max_connections: int = 64  # connections served at once; more are closed at once

    _ALIASES = {"defaultGpuTypes": "default_gpu_types", "pinGpuProduct": "pin_gpu_product",
                "annotateDetails": "annotate_details", "deadlineSeconds": "deadline_s",
                "requestDeadlineSeconds": "request_deadline_s", "maxConnections": "max_connections"}

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> "WebhookConfig":
        """Accepts the documented camelCase keys and the snake_case field names."""
        known = {f.name for f in fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in doc.items():
            name = cls._ALIASES.get(key, key)
            if name not in known:
                allowed = ", ".join(sorted(set(cls._ALIASES) | {"catalog", "registry"}))
                raise ValueError(f"webhook config: unknown key {_excerpt(key)}; allowed: {allowed} "
                                 "(or their snake_case field names)")
            kwargs[name] = value
        cfg = cls(**kwargs)
        for name, key in (("deadline_s", "deadlineSeconds"), ("request_deadline_s", "requestDeadlineSeconds")):
            value = getattr(cfg, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 3600:
                raise ValueError(f"webhook config: {key} must be a number of seconds in (0, 3600], got {_excerpt(value)}")
        if isinstance(cfg.max_connections, bool) or not isinstance(cfg.max_connections, int) \
                or not 1 <= cfg.max_connections <= 10_000:
            raise ValueError(f"webhook config: maxConnections must be an integer in [1, 10000], "
                             f"got {_excerpt(cfg.max_connections)}")
        if isinstance(cfg.default_gpu_types, str):
            cfg.default_gpu_types = [cfg.default_gpu_types]
        return cfg

    @classmethod
    def from_file(cls, path: Union[str, Path]) -> "WebhookConfig":
        doc = json.loads(Path(path).read_text())
        if not isinstance(doc, dict):
            raise ValueError(f"webhook config {path}: expected a JSON object")
        return cls.from_dict(doc)


class _Skip(Exception):
    """The pod is admitted unchanged; with a reason, the reason is reported as a warning."""

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason)
        self.reason = reason


# ---------------------------------------------------------------------------------------------
# Loading the catalog and registry (cached: both are immutable for the life of the process)

@functools.lru_cache(maxsize=8)
def _catalog(path: str | None) -> sizing.Catalog:
    return sizing.Catalog.load(path) if path else sizing.Catalog.builtin()


@functools.lru_cache(maxsize=8)
def _registry(path: str | None) -> dict[str, sizing.ModelArch]:
    reg = dict(sizing.models())
    if path:
        reg.update(sizing.load_models(path))
    return reg


@functools.lru_cache(maxsize=8)
def _product_map(path: str | None) -> dict[str, str]:
    return _products(_catalog(path))


def _products(cat: sizing.Catalog) -> dict[str, str]:
    """k8s product label (GFD's ``nvidia.com/gpu.product``) -> catalog GPU id."""
    out: dict[str, str] = {}
    for gpu in cat.to_dict()["gpus"]:
        product = gpu.get("k8sProduct") or ""
        if product:
            out[product] = gpu["id"]
    return out


# ---------------------------------------------------------------------------------------------
# Reading the pod (docs/sizing.md §9)

def _argv(container: Mapping[str, Any]) -> list[str]:
    """command + args; the script of ``sh -c SCRIPT`` is split with POSIX rules."""
    argv = [str(a) for a in (container.get("command") or []) + (container.get("args") or [])]
    if argv and Path(argv[0]).name in SHELLS and "-c" in argv:
        i = argv.index("-c")
        if i + 1 < len(argv):
            argv = argv[:i] + shlex.split(argv[i + 1], posix=True) + argv[i + 2:]
    return argv


def _contains(argv: list[str], first: str, second: str) -> int:
    """Index after the first occurrence of the token pair, or -1 (``first`` may be a path)."""
    for i in range(len(argv) - 1):
        if (argv[i] == first or Path(argv[i]).name == first) and argv[i + 1] == second:
            return i + 2
    return -1


def _is_benchmark(argv: list[str]) -> bool:
    return _contains(argv, "vllm", "bench") >= 0 or any("benchmark_serving" in a for a in argv)


def _norm_flag(token: str) -> tuple[str, str | None]:
    name, eq, value = token.partition("=")
    return name.replace("_", "-"), (value if eq else None)


def _parse_flags(tokens: list[str]) -> tuple[dict[str, str], list[str]]:
    """``--flag value`` / ``--flag=value`` pairs and the positional arguments."""
    flags: dict[str, str] = {}
    positional: list[str] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok in SHELL_OPERATORS:  # the rest of a shell script is another command
            break
        if tok.startswith("--"):
            name, value = _norm_flag(tok)
            if value is None and i + 1 < len(tokens) and not tokens[i + 1].startswith("-") \
                    and tokens[i + 1] not in SHELL_OPERATORS:
                value = tokens[i + 1]
                i += 1
            flags[name] = value if value is not None else ""
        elif not tok.startswith("-"):
            positional.append(tok)
        i += 1
    return flags, positional


def _server_args(container: Mapping[str, Any]) -> tuple[str, dict[str, str]] | None:
    """(model, flags) when the container is a vLLM server, else None."""
    argv = _argv(container)
    if _is_benchmark(argv):
        return None
    start = _contains(argv, "vllm", "serve")
    if start < 0:
        start = _contains(argv, "-m", "vllm.entrypoints.openai.api_server")
    if start < 0:
        if "vllm" not in str(container.get("image", "")):
            return None
        start = 0  # the image's entrypoint is the server; argv holds only its arguments
    flags, positional = _parse_flags(argv[start:])
    model = flags.get("--model") or (positional[0] if positional else "")
    if not model and start == 0 and _contains(argv, "vllm", "serve") < 0:
        return None  # an image named vllm without a model argument is not known to be a server
    return model, flags


def _find_server(pod: Mapping[str, Any], annotations: Mapping[str, str]) -> tuple[int, Mapping[str, Any], str, dict[str, str]]:
    containers = pod.get("spec", {}).get("containers") or []
    wanted = annotations.get(ANN + "container")
    for i, c in enumerate(containers):
        if wanted is not None and c.get("name") != wanted:
            continue
        parsed = _server_args(c)
        if parsed is None:
            if wanted is not None:  # the named container must still be a server we can read
                argv = _argv(c)
                flags, positional = _parse_flags(argv)
                return i, c, flags.get("--model") or (positional[-1] if positional else ""), flags
            continue
        return i, c, parsed[0], parsed[1]
    if wanted is not None:
        raise _Skip(f"container {wanted!r} (inferno.ai/container) not found")
    raise _Skip("no vLLM server container found")


def _requests_mig(pod: Mapping[str, Any]) -> bool:
    spec = pod.get("spec") or {}
    for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        res = c.get("resources") or {}
        for section in ("limits", "requests"):
            if any(str(k).startswith(MIG_PREFIX) for k in (res.get(section) or {})):
                return True
    return False


def _gpu_sections(container: Mapping[str, Any]) -> list[str]:
    """The resource sections ("limits", "requests") holding exactly one ``nvidia.com/gpu``."""
    res = container.get("resources") or {}
    present = [s for s in ("limits", "requests") if GPU_RESOURCE in (res.get(s) or {})]
    if not present:
        raise _Skip()  # no GPU: nothing to size
    for s in present:
        raw = str(res[s][GPU_RESOURCE]).strip()
        try:
            count = float(raw)
        except ValueError:
            raise _Skip(f"unreadable nvidia.com/gpu quantity {raw!r}") from None
        if count == 0:
            raise _Skip()
        if count != 1:
            raise _Skip("multi-GPU pods are not sliced")
    return present


def _number(text: Any, what: str) -> float:
    try:
        value = float(str(text).strip())
    except ValueError:
        raise _Skip(f"bad {what} {str(text)[:30]!r}") from None
    if not math.isfinite(value) or value < 0:
        raise _Skip(f"bad {what} {str(text)[:30]!r}")
    return value


_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(ms|s|us)?\s*$")


def _ms(text: Any, what: str) -> float:
    """A duration in ms: plain number = ms; "50ms", "0.05s" accepted."""
    m = _DURATION.match(str(text))
    if not m:
        raise _Skip(f"bad {what} {str(text)[:30]!r}")
    scale = {"ms": 1.0, None: 1.0, "s": 1000.0, "us": 0.001}[m.group(2)]
    return float(m.group(1)) * scale


def _resolve_arch(model: str, annotations: Mapping[str, str],
                  registry: Mapping[str, sizing.ModelArch]) -> tuple[str, sizing.ModelArch]:
    """Registry name + architecture of the model id/path; never downloads (docs/sizing.md §9 step 5)."""
    key = model.rstrip("/")
    if key in registry:
        return key, registry[key]
    tail = key.split("/")[-1]
    matches = [name for name in registry if name.split("/")[-1] == tail] if tail else []
    if len(matches) == 1:
        return matches[0], registry[matches[0]]
    inline = annotations.get(ANN + "model-config")
    if inline:
        try:
            cfg = json.loads(inline)
            if not isinstance(cfg, dict):
                raise ValueError("not an object")
            name = key or str(cfg.get("_name_or_path") or "inline-model")
            return name, sizing.ModelArch.from_hf_config(cfg, name)
        except (ValueError, RuntimeError) as exc:
            raise _Skip(f"bad inferno.ai/model-config: {exc}") from None
    if len(matches) > 1:
        raise _Skip(f"ambiguous model {key[-40:]!r}")
    raise _Skip(f"unknown model {key[-50:]!r} (add inferno.ai/model-config)")


def _load_and_target(pod: Mapping[str, Any], annotations: Mapping[str, str]) -> dict[str, float]:
    """Concurrency or arrival rate, token counts and TPOT/TTFT targets; first source wins (docs/sizing.md §9 step 6)."""
    found: dict[str, float] = {}
    ann_keys = {"concurrency": "concurrency", "arrival-rate": "arrivalRate", "input-tokens": "avgInTokens",
                "output-tokens": "avgOutTokens", "tpot-ms": "itl", "ttft-ms": "ttft"}
    for ann, key in ann_keys.items():
        if ANN + ann in annotations:
            text = annotations[ANN + ann]
            found[key] = _ms(text, ann) if key in ("itl", "ttft") else _number(text, ann)
    containers = (pod.get("spec") or {}).get("containers") or []
    bench_keys = {"--random-input-len": "avgInTokens", "--random-output-len": "avgOutTokens",
                  "--max-concurrency": "concurrency", "--request-rate": "arrivalRate"}
    for c in containers:
        argv = _argv(c)
        if not _is_benchmark(argv):
            continue
        flags, _ = _parse_flags(argv)
        for flag, key in bench_keys.items():
            if key in found or not flags.get(flag):
                continue
            if flag == "--request-rate" and flags[flag].lower() in ("inf", "infinity"):
                continue  # vLLM's default: a burst, not a rate
            found[key] = _number(flags[flag], flag)
    if "itl" not in found:
        for c in containers:
            for env in c.get("env") or []:
                if env.get("name") in ("TPOT", "TPOT_MS") and env.get("value") not in (None, ""):
                    found["itl"] = _ms(env["value"], env["name"])
                    break
            if "itl" in found:
                break
    # Closed loop wins when both are known (docs/sizing.md §9).
    if found.get("concurrency"):
        found.pop("arrivalRate", None)
    missing = [name for name, ok in (("concurrency or arrival rate", found.get("concurrency") or found.get("arrivalRate")),
                                     ("input tokens", "avgInTokens" in found),
                                     ("output tokens", found.get("avgOutTokens")),
                                     ("TPOT target", found.get("itl"))) if not ok]
    if missing:
        raise _Skip("missing " + ", ".join(missing))
    return found


def _node_products(pod: Mapping[str, Any]) -> list[str]:
    """Values the pod requires for ``nvidia.com/gpu.product`` (nodeSelector, else required affinity)."""
    spec = pod.get("spec") or {}
    selector = spec.get("nodeSelector") or {}
    if PRODUCT_LABEL in selector:
        return [str(selector[PRODUCT_LABEL])]
    terms = ((((spec.get("affinity") or {}).get("nodeAffinity") or {})
              .get("requiredDuringSchedulingIgnoredDuringExecution") or {}).get("nodeSelectorTerms") or [])
    values: list[str] = []
    for term in terms:
        for expr in term.get("matchExpressions") or []:
            if expr.get("key") == PRODUCT_LABEL and expr.get("operator") == "In":
                values.extend(str(v) for v in expr.get("values") or [])
    return values


def _gpu_types(pod: Mapping[str, Any], annotations: Mapping[str, str], cat: sizing.Catalog,
               products: Mapping[str, str], config: WebhookConfig) -> tuple[list[str], bool]:
    """(catalog GPU ids, whether the pod already constrains the GPU product)."""
    known = set(cat.gpu_ids)
    constrained = bool(_node_products(pod))
    if ANN + "gpu-type" in annotations:
        types = [t.strip() for t in annotations[ANN + "gpu-type"].split(",") if t.strip()]
        source = "inferno.ai/gpu-type"
    elif constrained:
        types = [products.get(p, p) for p in _node_products(pod)]
        source = PRODUCT_LABEL
    else:
        types, source = list(config.default_gpu_types), "default GPU types"
    unknown = [t for t in types if t not in known]
    if unknown or not types:
        raise _Skip(f"unknown GPU type {(unknown or [''])[0][:40]!r} from {source}")
    return types, constrained


# ---------------------------------------------------------------------------------------------
# The decision and patch (docs/sizing.md §9)

def _ptr(*parts: Any) -> str:
    """RFC 6901 JSON pointer: "~" -> "~0", "/" -> "~1"."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _fmt(x: float) -> str:
    return f"{x:g}" if abs(x - round(x)) < 1e-9 else f"{x:.2f}"


def _warning(text: str) -> str:
    text = WARNING_PREFIX + " ".join(text.split())
    return text if len(text) <= MAX_WARNING else text[:MAX_WARNING - 3] + "..."


def _serving(flags: Mapping[str, str]) -> dict[str, Any]:
    serving: dict[str, Any] = {"gpuMemoryUtilization": 0.9}
    numeric = {"--gpu-memory-utilization": ("gpuMemoryUtilization", float), "--max-model-len": ("maxModelLen", int),
               "--max-num-seqs": ("maxNumSeqs", int), "--max-num-batched-tokens": ("maxNumBatchedTokens", int)}
    for flag, (key, kind) in numeric.items():
        if flags.get(flag):
            text = flags[flag]
            if key == "maxModelLen" and text.lower().endswith("k"):  # vLLM accepts "8k"
                text = str(int(float(text[:-1]) * 1024))
            try:
                serving[key] = kind(float(text)) if kind is int else kind(text)
            except ValueError:
                raise _Skip(f"bad {flag} {text[:30]!r}") from None
    for flag, key in (("--dtype", "dtype"), ("--kv-cache-dtype", "kvCacheDtype")):
        if flags.get(flag) and flags[flag] != "auto":
            serving[key] = flags[flag]
    return serving


def _decide(doc: Mapping[str, Any], config: WebhookConfig, catalog: sizing.Catalog | None,
            registry: Mapping[str, sizing.ModelArch] | None) -> tuple[dict[str, Any], str]:
    """The response body (without uid) and the metrics result. Raises _Skip for admitted-unchanged."""
    req = doc["request"]
    if not isinstance(req, dict):
        raise ValueError("request is not an object")
    kind = (req.get("kind") or {}).get("kind")
    if kind != "Pod" or req.get("operation") != "CREATE":
        raise _Skip()
    pod = req.get("object")
    if not isinstance(pod, dict):
        raise ValueError("request.object is not a pod")
    metadata = pod.get("metadata") or {}
    annotations = {str(k): str(v) for k, v in (metadata.get("annotations") or {}).items()}
    if annotations.get(ANN + "autofit") == "disabled" or _requests_mig(pod):
        raise _Skip()  # opted out, or already sized (idempotence)

    index, container, model, flags = _find_server(pod, annotations)
    sections = _gpu_sections(container)
    tp = flags.get("--tensor-parallel-size") or "1"
    if tp not in ("", "1"):
        raise _Skip(f"tensor-parallel-size {tp[:10]} pods are not sliced")
    if not model:
        raise _Skip("vLLM server has no model argument")

    cat = catalog if catalog is not None else _catalog(config.catalog)
    reg = registry if registry is not None else _registry(config.registry)
    products = _product_map(config.catalog) if catalog is None else _products(cat)
    name, arch = _resolve_arch(model, annotations, reg)
    load = _load_and_target(pod, annotations)
    gpu_types, constrained = _gpu_types(pod, annotations, cat, products, config)

    closed = bool(load.get("concurrency"))
    server_load: dict[str, Any] = {"avgInTokens": load["avgInTokens"], "avgOutTokens": load["avgOutTokens"]}
    if closed:
        server_load["concurrency"] = int(load["concurrency"])
    else:
        server_load["arrivalRate"] = load["arrivalRate"]
    request = {"servers": [{"name": "pod", "model": name, "serving": _serving(flags), "load": server_load,
                            "slo": {"itl": load.get("itl", 0.0), "ttft": load.get("ttft", 0.0)}}],
               "menu": {"gpuTypes": gpu_types, "maxReplicas": 1}}
    raw = sizing.recommend(request, cat, {**reg, name: arch}).raw
    server = raw["servers"][0]
    choice = server.get("choice") or ""
    option = next((o for o in server.get("options", []) if o.get("accelerator") == choice), None)
    if option is None:
        raise _Skip("no accelerator can serve this model")
    profile = option.get("profile") or ""
    gpu = option.get("gpu") or choice.split(":")[0]
    unattainable = bool(server.get("sloUnattainable"))
    sliced = bool(profile) and not unattainable
    decision = profile if sliced else "whole"

    patch: list[dict[str, Any]] = []
    if sliced:
        for section in sections:  # limits first, then requests (docs/sizing.md §9 mixed strategy)
            base = ("spec", "containers", index, "resources", section)
            patch.append({"op": "remove", "path": _ptr(*base, GPU_RESOURCE)})
            patch.append({"op": "add", "path": _ptr(*base, MIG_PREFIX + profile), "value": "1"})
    if config.pin_gpu_product and not constrained:
        product = next((p for p, g in products.items() if g == gpu), "")
        if product:
            if isinstance((pod.get("spec") or {}).get("nodeSelector"), dict):
                patch.append({"op": "add", "path": _ptr("spec", "nodeSelector", PRODUCT_LABEL), "value": product})
            else:
                patch.append({"op": "add", "path": "/spec/nodeSelector", "value": {PRODUCT_LABEL: product}})
    new_annotations = {ANN + "mig-profile": decision}
    if config.annotate_details:
        details = {"gpu": gpu, "profile": decision, "tpotMs": round(option.get("itl", 0.0), 3),
                   "ttftMs": round(option.get("ttft", 0.0), 3), "nMax": option.get("nMax"),
                   "theta": [option.get("alpha"), option.get("beta"), option.get("gamma")],
                   "calibrated": bool(option.get("calibrated"))}
        new_annotations[ANN + "sizing"] = json.dumps(details, separators=(",", ":"))
    if "metadata" not in pod:
        patch.append({"op": "add", "path": "/metadata", "value": {"annotations": new_annotations}})
    elif not isinstance(metadata.get("annotations"), dict):
        patch.append({"op": "add", "path": "/metadata/annotations", "value": new_annotations})
    else:
        patch.extend({"op": "add", "path": _ptr("metadata", "annotations", k), "value": v}
                     for k, v in new_annotations.items())

    at = f"C={int(load['concurrency'])}" if closed else f"rate={_fmt(load['arrivalRate'])}/s"
    fit = f"TPOT {option.get('itl', 0.0):.2f}<={_fmt(load['itl'])} ms at {at}"
    if sliced:
        message = f"{GPU_RESOURCE} -> {MIG_PREFIX}{profile} ({fit})"
    elif unattainable:
        message = f"SLO unattainable on {gpu}; whole GPU kept (TPOT {option.get('itl', 0.0):.2f} ms at {at})"
    else:
        message = f"whole {gpu} needed ({fit})"
    body = {"allowed": True, "patchType": "JSONPatch",
            "patch": base64.b64encode(json.dumps(patch, separators=(",", ":")).encode()).decode(),
            "warnings": [_warning(message)],
            "auditAnnotations": {"autofit.inferno.ai/decision": decision}}
    return body, ("patched" if sliced else "whole")


def _uid(doc: Any) -> str:
    try:
        uid = doc["request"]["uid"]
        return uid if isinstance(uid, str) else ""
    except (KeyError, TypeError, IndexError):
        return ""


def _envelope(doc: Any, uid: str, body: Mapping[str, Any]) -> dict[str, Any]:
    api = doc.get("apiVersion") if isinstance(doc, dict) else None
    return {"apiVersion": api if isinstance(api, str) and api.startswith("admission.k8s.io/") else API_VERSION,
            "kind": "AdmissionReview", "response": {"uid": uid, **body}}


def _failure(doc: Any, reason: str) -> dict[str, Any]:
    """Admit unchanged with one warning and the audit error annotation (docs/sizing.md §9)."""
    return _envelope(doc, _uid(doc), {"allowed": True, "warnings": [_warning(reason)],
                                      "auditAnnotations": {"autofit.inferno.ai/error": reason[:256]}})


def review_with_result(admission_review: AdmissionInput, config: WebhookConfig | None = None,
                       catalog: sizing.Catalog | None = None,
                       registry: Mapping[str, sizing.ModelArch] | None = None) -> tuple[dict[str, Any], str]:
    """``review`` plus the metrics result: patched, whole, skipped or error."""
    doc: Any = None
    try:
        cfg = config or WebhookConfig()
        if isinstance(admission_review, (str, bytes, bytearray)):
            try:
                doc = json.loads(admission_review)
            except ValueError as exc:  # includes undecodable bytes
                raise ValueError(f"bad AdmissionReview JSON: {exc}") from None
        else:
            doc = admission_review
        if not isinstance(doc, dict):
            raise ValueError("AdmissionReview is not a JSON object")
        if "request" not in doc:
            raise ValueError("AdmissionReview has no request")
        body, result = _decide(doc, cfg, catalog, registry)
        return _envelope(doc, _uid(doc), body), result
    except _Skip as skip:
        if not skip.reason:
            return _envelope(doc, _uid(doc), {"allowed": True}), "skipped"
        return _failure(doc, skip.reason), "skipped"
    except Exception as exc:  # noqa: BLE001 - sizing must never block a pod (docs/sizing.md §9)
        reason = f"{type(exc).__name__}: {exc}" if not isinstance(exc, ValueError) else str(exc)
        return _failure(doc, reason or type(exc).__name__), "error"


def review(admission_review: AdmissionInput, config: WebhookConfig | None = None,
           catalog: sizing.Catalog | None = None,
           registry: Mapping[str, sizing.ModelArch] | None = None) -> dict[str, Any]:
    """The AdmissionReview v1 response to ``admission_review`` (dict, JSON text or bytes).

    Never raises and never denies: failures admit the pod unchanged with one warning."""
    return review_with_result(admission_review, config, catalog, registry)[0]


def review_file(path: Union[str, Path], config: WebhookConfig | None = None) -> dict[str, Any]:
    """Offline review of an AdmissionReview JSON file (``inferno size review``)."""
    try:
        text = Path(path).read_bytes()
    except OSError as exc:
        return _failure(None, f"cannot read {path}: {exc.strerror or exc}")
    return review(text, config)


# ---------------------------------------------------------------------------------------------
# HTTPS server

class Metrics:
    """``inferno_autofit_decisions_total`` by result, in Prometheus text format."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = {r: 0 for r in RESULTS}

    def inc(self, result: str) -> None:
        with self._lock:
            self._counts[result] = self._counts.get(result, 0) + 1

    def render(self) -> str:
        with self._lock:
            counts = dict(self._counts)
        lines = ["# HELP inferno_autofit_decisions_total Admission reviews by outcome.",
                 "# TYPE inferno_autofit_decisions_total counter"]
        lines += [f'inferno_autofit_decisions_total{{result="{r}"}} {n}' for r, n in counts.items()]
        return "\n".join(lines) + "\n"


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a stuck client must not keep the process alive on shutdown
    config: WebhookConfig
    metrics: Metrics
    pool: concurrent.futures.ThreadPoolExecutor
    slots: threading.BoundedSemaphore

    def process_request(self, request: Any, client_address: Any) -> None:
        # A bound on the threads clients can hold: past it a connection is closed at once.
        if not self.slots.acquire(blocking=False):
            sys.stderr.write(f"inferno webhook: {client_address[0]}: refused: "
                             f"{self.config.max_connections} connections are open\n")
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # TLS failures, resets and garbage from one client are logged in one line, never fatal.
        exc = sys.exc_info()[1]
        sys.stderr.write(f"inferno webhook: {client_address[0]}: {type(exc).__name__}: {exc}\n")


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = 10  # seconds per socket operation: slow or half-open clients are dropped

    def handle_one_request(self) -> None:
        # One deadline for the whole request: the per-operation timeout alone lets a client that
        # sends a byte every few seconds hold a thread for ever. At the deadline the socket is shut,
        # which ends any read in progress.
        timer = threading.Timer(self.server.config.request_deadline_s, self._expire)
        timer.daemon = True
        timer.start()
        try:
            super().handle_one_request()
        finally:
            timer.cancel()

    def _expire(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base class
        sys.stderr.write(f"inferno webhook: {self.address_string()} {format % args}\n")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        path = self.path.split("?")[0]
        if path == "/healthz":
            self._send(200, b"ok", "text/plain; charset=utf-8")
        elif path == "/metrics":
            self._send(200, self.server.metrics.render().encode(), "text/plain; version=0.0.4; charset=utf-8")
        else:
            self._send(404, b"not found\n", "text/plain; charset=utf-8")

    def do_POST(self) -> None:  # noqa: N802
        if self.path.split("?")[0] != "/mutate":
            self._send(404, b"not found\n", "text/plain; charset=utf-8")
            return
        if self.headers.get("Transfer-Encoding") is not None or self.headers.get("Content-Length") is None:
            # The API server always sends Content-Length; a chunked body used to be read as empty
            # and the pod admitted unchanged without a word.
            self.close_connection = True
            self._send(411, b"Content-Length required (chunked bodies are not accepted)\n",
                       "text/plain; charset=utf-8")
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            self.close_connection = True
            self._send(413 if length > MAX_BODY else 400, b"bad Content-Length\n", "text/plain; charset=utf-8")
            return
        body = self.rfile.read(length)
        future = self.server.pool.submit(review_with_result, body, self.server.config)
        try:
            response, result = future.result(timeout=self.server.config.deadline_s)
        except concurrent.futures.TimeoutError:
            # The review keeps running in the pool; the pod is admitted unchanged now (docs/sizing.md §9).
            try:
                doc = json.loads(body)
            except ValueError:
                doc = None
            response, result = _failure(doc, f"internal deadline {_fmt(self.server.config.deadline_s)} s exceeded"), "error"
        self.server.metrics.inc(result)
        self._send(200, json.dumps(response, separators=(",", ":")).encode(), "application/json")


def make_server(host: str, port: int, cert: Union[str, Path], key: Union[str, Path],
                config: WebhookConfig | None = None) -> _Server:
    """A bound HTTPS server (not yet serving); ``port=0`` picks a free port."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(cert), str(key))
    server = _Server((host, port), _Handler)
    server.config = config or WebhookConfig()
    server.metrics = Metrics()
    server.pool = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="autofit-review")
    server.slots = threading.BoundedSemaphore(server.config.max_connections)
    # Handshake lazily in the handler thread, so a client that never completes TLS cannot block accept().
    server.socket = ctx.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    # Warm the caches so the first admission is not slowed by loading the catalog and registry.
    _catalog(server.config.catalog), _registry(server.config.registry), _product_map(server.config.catalog)
    return server


def serve(host: str, port: int, cert: Union[str, Path], key: Union[str, Path],
          config: WebhookConfig | None = None) -> None:
    """Serves ``POST /mutate``, ``GET /healthz`` and ``GET /metrics`` over HTTPS until interrupted."""
    server = make_server(host, port, cert, key, config)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        server.pool.shutdown(wait=False, cancel_futures=True)
