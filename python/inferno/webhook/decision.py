"""The webhook's decision: from an AdmissionReview of a vLLM pod to the JSONPatch that swaps a
whole GPU for the MIG slice the sizing recommendation chose (docs/sizing.md §9). A pure function
of the review, the config, the catalog and the model registry; it never raises and never denies."""

from __future__ import annotations

import base64
import functools
import json
import math
from pathlib import Path
from typing import Any, Mapping, Union

from .. import kube, sizing
from ..kube import GPU_RESOURCE, MIG_PREFIX, PRODUCT_LABEL
from .config import WebhookConfig

API_VERSION = "admission.k8s.io/v1"
ANN = "inferno.ai/"
WARNING_PREFIX = "inferno-autofit: "
MAX_WARNING = 120  # Kubernetes turns warnings into HTTP Warning headers; keep them short
RESULTS = ("patched", "whole", "skipped", "error")

AdmissionInput = Union[Mapping[str, Any], str, bytes]


class _Skip(Exception):
    """The pod is admitted unchanged; with a reason, the reason is reported as a warning."""

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason)
        self.reason = reason


# ---------------------------------------------------------------------------------------------
# Loading the catalog and registry (cached: both are immutable for the life of the process)

@functools.lru_cache(maxsize=8)
def catalog_of(path: str | None) -> sizing.Catalog:
    return sizing.Catalog.load(path) if path else sizing.Catalog.builtin()


@functools.lru_cache(maxsize=8)
def registry_of(path: str | None) -> dict[str, sizing.ModelArch]:
    reg = dict(sizing.models())
    if path:
        reg.update(sizing.load_models(path))
    return reg


@functools.lru_cache(maxsize=8)
def products_of(path: str | None) -> dict[str, str]:
    return kube.gpu_products(catalog_of(path))


def warm(config: WebhookConfig) -> None:
    """Loads the catalog and registry now, so the first admission is not slowed by it."""
    catalog_of(config.catalog), registry_of(config.registry), products_of(config.catalog)


# ---------------------------------------------------------------------------------------------
# Reading the pod (docs/sizing.md §9); kube holds what the control loop reads too

def _find_server(pod: Mapping[str, Any], annotations: Mapping[str, str]) -> tuple[int, Mapping[str, Any], str, dict[str, str]]:
    containers = pod.get("spec", {}).get("containers") or []
    wanted = annotations.get(ANN + "container")
    for i, c in enumerate(containers):
        if wanted is not None and c.get("name") != wanted:
            continue
        parsed = kube.vllm_server(c)
        if parsed is None:
            if wanted is not None:  # the named container must still be a server we can read
                flags, positional = kube.parse_flags(kube.container_argv(c))
                return i, c, flags.get("--model") or (positional[-1] if positional else ""), flags
            continue
        return i, c, parsed.model, parsed.flags
    if wanted is not None:
        raise _Skip(f"container {wanted!r} (inferno.ai/container) not found")
    raise _Skip("no vLLM server container found")


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


def _ms(text: Any, what: str) -> float:
    try:
        return kube.duration_ms(text, what)
    except ValueError as exc:
        raise _Skip(str(exc)) from None


def _serving(flags: Mapping[str, str]) -> dict[str, Any]:
    try:
        return kube.serving_options(flags)
    except ValueError as exc:
        raise _Skip(str(exc)) from None


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
        argv = kube.container_argv(c)
        if not kube.is_benchmark(argv):
            continue
        flags, _ = kube.parse_flags(argv)
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


def _gpu_types(pod: Mapping[str, Any], annotations: Mapping[str, str], cat: sizing.Catalog,
               products: Mapping[str, str], config: WebhookConfig) -> tuple[list[str], bool]:
    """(catalog GPU ids, whether the pod already constrains the GPU product)."""
    known = set(cat.gpu_ids)
    constrained = bool(kube.node_products(pod))
    if ANN + "gpu-type" in annotations:
        types = [t.strip() for t in annotations[ANN + "gpu-type"].split(",") if t.strip()]
        source = "inferno.ai/gpu-type"
    elif constrained:
        types = [products.get(p, p) for p in kube.node_products(pod)]
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
    if annotations.get(ANN + "autofit") == "disabled" or kube.requests_mig(pod):
        raise _Skip()  # opted out, or already sized (idempotence)

    index, container, model, flags = _find_server(pod, annotations)
    sections = _gpu_sections(container)
    tp = flags.get("--tensor-parallel-size") or "1"
    if tp not in ("", "1"):
        raise _Skip(f"tensor-parallel-size {tp[:10]} pods are not sliced")
    if not model:
        raise _Skip("vLLM server has no model argument")

    cat = catalog if catalog is not None else catalog_of(config.catalog)
    reg = registry if registry is not None else registry_of(config.registry)
    products = products_of(config.catalog) if catalog is None else kube.gpu_products(cat)
    name, arch = _resolve_arch(model, annotations, reg)
    load = _load_and_target(pod, annotations)
    gpu_types, constrained = _gpu_types(pod, annotations, cat, products, config)

    closed = bool(load.get("concurrency"))
    server_load: dict[str, Any] = {"avgInTokens": load["avgInTokens"], "avgOutTokens": load["avgOutTokens"]}
    if closed:
        server_load["concurrency"] = int(load["concurrency"])
    else:
        server_load["arrivalRateRps"] = load["arrivalRate"]
    request = {"servers": [{"name": "pod", "model": name, "serving": _serving(flags), "load": server_load,
                            "slo": {"itl": load.get("itl", 0.0), "ttft": load.get("ttft", 0.0)}}],
               "menu": {"gpuTypes": gpu_types, "maxReplicas": 1}}
    server = sizing.recommend(request, cat, {**reg, name: arch}).servers[0]
    option = server.chosen
    if option is None:
        raise _Skip("no accelerator can serve this model")
    profile = option.profile
    gpu = option.gpu
    itl_ms = option.itl_ms if option.itl_ms is not None else 0.0
    unattainable = server.slo_unattainable
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
        details = {"gpu": gpu, "profile": decision, "tpotMs": round(itl_ms, 3),
                   "ttftMs": round(option.ttft_ms if option.ttft_ms is not None else 0.0, 3), "nMax": option.n_max,
                   "theta": [option.alpha_ms, option.beta_ms, option.gamma_ms], "calibrated": option.calibrated}
        new_annotations[ANN + "sizing"] = json.dumps(details, separators=(",", ":"))
    if "metadata" not in pod:
        patch.append({"op": "add", "path": "/metadata", "value": {"annotations": new_annotations}})
    elif not isinstance(metadata.get("annotations"), dict):
        patch.append({"op": "add", "path": "/metadata/annotations", "value": new_annotations})
    else:
        patch.extend({"op": "add", "path": _ptr("metadata", "annotations", k), "value": v}
                     for k, v in new_annotations.items())

    at = f"C={int(load['concurrency'])}" if closed else f"rate={_fmt(load['arrivalRate'])}/s"
    fit = f"TPOT {itl_ms:.2f}<={_fmt(load['itl'])} ms at {at}"
    if sliced:
        message = f"{GPU_RESOURCE} -> {MIG_PREFIX}{profile} ({fit})"
    elif unattainable:
        message = f"SLO unattainable on {gpu}; whole GPU kept (TPOT {itl_ms:.2f} ms at {at})"
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


def admit_with_warning(doc: Any, reason: str) -> dict[str, Any]:
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
        return admit_with_warning(doc, skip.reason), "skipped"
    except Exception as exc:  # noqa: BLE001 - sizing must never block a pod (docs/sizing.md §9)
        reason = f"{type(exc).__name__}: {exc}" if not isinstance(exc, ValueError) else str(exc)
        return admit_with_warning(doc, reason or type(exc).__name__), "error"


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
        return admit_with_warning(None, f"cannot read {path}: {exc.strerror or exc}")
    return review(text, config)
