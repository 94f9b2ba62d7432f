"""AutoFit: the Kubernetes mutating admission webhook that right-sizes vLLM pods (docs/sizing.md §9).

``review`` is a pure function from an AdmissionReview request to its response: it reads the vLLM
server container of a pod, runs the sizing recommendation (docs/sizing.md §5) for one replica and, when a MIG slice
is enough, returns a JSONPatch swapping ``nvidia.com/gpu`` for ``nvidia.com/mig-<profile>``.
It never raises and never denies: any problem admits the pod unchanged with one warning (docs/sizing.md §9).

``serve`` is a thin HTTPS server around it (``POST /mutate``, ``GET /healthz``, ``GET /metrics``)
on FastAPI and uvicorn, the stack every long-running inferno server uses (the ``webhook`` or
``control`` extra).

Modules: ``config`` (the deployment options), ``decision`` (the review: pod in, patch out) and
``server`` (HTTPS); the reading of pods and vLLM command lines they share with the control loop is
``inferno.kube``.

>>> import json
>>> response = review({"request": {"uid": "u1", "kind": {"kind": "Secret"}, "operation": "CREATE"}})["response"]
>>> response["allowed"], response.get("uid")
(True, 'u1')
"""

from .config import WebhookConfig
from .decision import AdmissionInput, review, review_file, review_with_result
from .server import Metrics, make_server, serve

__all__ = ["AdmissionInput", "WebhookConfig", "review", "review_file", "review_with_result", "serve", "make_server", "Metrics"]
