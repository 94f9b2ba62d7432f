"""The webhook's deployment options (docs/sizing.md §9): a JSON file of camelCase keys."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping, Union

from .._text import excerpt as _excerpt


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
