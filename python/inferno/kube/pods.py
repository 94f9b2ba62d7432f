"""A pod's GPU resources and node constraints, and the GPU product labels of the catalog."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:
    from ..sizing import Catalog

GPU_RESOURCE = "nvidia.com/gpu"
MIG_PREFIX = "nvidia.com/mig-"
PRODUCT_LABEL = "nvidia.com/gpu.product"  # set by NVIDIA's GPU feature discovery


def requests_mig(pod: Mapping[str, Any]) -> bool:
    """Whether any container of the pod already asks for a MIG slice resource."""
    spec = pod.get("spec") or {}
    for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        res = c.get("resources") or {}
        for section in ("limits", "requests"):
            if any(str(k).startswith(MIG_PREFIX) for k in (res.get(section) or {})):
                return True
    return False


def node_products(pod: Mapping[str, Any]) -> list[str]:
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


def gpu_products(catalog: "Catalog") -> dict[str, str]:
    """Kubernetes product label (``nvidia.com/gpu.product``) -> catalog GPU id."""
    out: dict[str, str] = {}
    for gpu in catalog.to_dict()["gpus"]:
        product = gpu.get("k8sProduct") or ""
        if product:
            out[product] = gpu["id"]
    return out
