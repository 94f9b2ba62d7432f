"""The live controller's configuration: one YAML file, checked key by key when it is read
(docs/control-live.md, "Configuration"). Unknown keys, bad URLs, unreadable token or CA files and
a missing namespace are errors at start, each naming its key and what is allowed."""

from __future__ import annotations

import os
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from .._text import excerpt as _excerpt
from .planning import PlanningSettings
from .prediction import PredictionSettings
from .scenario import ScenarioError, _keys, _number, _settings, documents_path, read_yaml
from .stabilizer import StabilizerSettings
from .tuning import TuningSettings


class ConfigError(ScenarioError):
    """A configuration the controller cannot start with: the message names the key."""


# Per-pod PromQL (docs/control-live.md, "Sensing"). $selector is the namespaces' label matcher and
# $window the sensor's window (e.g. 1m); each result must keep the labels namespace and pod.
DEFAULT_QUERIES: dict[str, str] = {
    "requests": 'sum by (namespace, pod) (rate(vllm:request_success_total{$selector}[$window]))',
    "prompt_tokens": 'sum by (namespace, pod) (rate(vllm:prompt_tokens_total{$selector}[$window]))',
    "generation_tokens": 'sum by (namespace, pod) (rate(vllm:generation_tokens_total{$selector}[$window]))',
    "ttft_sum": 'sum by (namespace, pod) (rate(vllm:time_to_first_token_seconds_sum{$selector}[$window]))',
    "ttft_count": 'sum by (namespace, pod) (rate(vllm:time_to_first_token_seconds_count{$selector}[$window]))',
    "itl_sum": 'sum by (namespace, pod) (rate(vllm:time_per_output_token_seconds_sum{$selector}[$window]))',
    "itl_count": 'sum by (namespace, pod) (rate(vllm:time_per_output_token_seconds_count{$selector}[$window]))',
    "running": 'sum by (namespace, pod) (avg_over_time(vllm:num_requests_running{$selector}[$window]))',
    "waiting": 'sum by (namespace, pod) (avg_over_time(vllm:num_requests_waiting{$selector}[$window]))',
    "in_system_now": 'sum by (namespace, pod) (vllm:num_requests_waiting{$selector}) + '
                     'sum by (namespace, pod) (vllm:num_requests_running{$selector})',
    "in_system_before": 'sum by (namespace, pod) (last_over_time(vllm:num_requests_waiting{$selector}[$window] offset $window)) + '
                        'sum by (namespace, pod) (last_over_time(vllm:num_requests_running{$selector}[$window] offset $window))',
    "kv_cache_usage": 'avg by (namespace, pod) (avg_over_time(vllm:kv_cache_usage_perc{$selector}[$window]))',
    "newest_sample": 'max by (namespace, pod) (timestamp(vllm:num_requests_running{$selector}))',
}
OFFERED_LOAD = ("queue_growth", "gateway")
ACTUATORS = ("kubernetes", "metrics", "log")


@dataclass(frozen=True)
class HttpSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    token_file: Path | None = None   # POST /invoke needs this bearer token; None only with auth: none
    cert_file: Path | None = None
    key_file: Path | None = None
    max_body_bytes: int = 1 << 20


@dataclass(frozen=True)
class PrometheusSettings:
    url: str = "http://127.0.0.1:9090"
    token_file: Path | None = None   # read again on every request (a rotated Secret)
    ca_file: Path | None = None
    timeout_s: float = 5.0
    window_s: float = 60.0
    queries: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_QUERIES))
    offered_load: str = "queue_growth"
    gateway_query: str | None = None  # per pod arrivals (req/s), when offered_load is gateway

    def query(self, name: str, namespaces: tuple[str, ...]) -> str:
        selector = 'namespace=~"' + "|".join(namespaces) + '"'
        template = self.gateway_query if name == "gateway" else self.queries[name]
        assert template is not None
        return string.Template(template).substitute(selector=selector, window=f"{int(round(self.window_s))}s")


@dataclass(frozen=True)
class DiscoverySettings:
    namespaces: tuple[str, ...] = ("default",)
    label_prefix: str = "inferno.server"
    controller: str | None = None   # the instance label value: two controllers never share servers
    extra_selector: str | None = None  # more label selector terms, ANDed (e.g. "team=llm,tier!=canary")
    kubeconfig: Path | None = None  # None: the in-cluster service account

    def label(self, name: str) -> str:
        return f"{self.label_prefix}.{name}"

    def selector(self) -> str:
        out = f"{self.label('managed')}=true"
        if self.controller:
            out += f",{self.label('controller')}={self.controller}"
        if self.extra_selector:
            out += f",{self.extra_selector}"
        return out


@dataclass(frozen=True)
class DaemonConfig:
    documents: Path
    period_s: float = 60.0
    startup_delay_s: float = 120.0
    startup_delay_per_variant: dict[str, float] = field(default_factory=dict)  # "model/accelerator": s
    state_path: Path | None = None
    cycle_log_path: Path | None = None
    http: HttpSettings = field(default_factory=HttpSettings)
    prometheus: PrometheusSettings = field(default_factory=PrometheusSettings)
    discovery: DiscoverySettings = field(default_factory=DiscoverySettings)
    actuator: str = "kubernetes"
    actuator_retries: int = 3
    prediction: PredictionSettings = field(default_factory=PredictionSettings)
    stabilizer: StabilizerSettings = field(default_factory=StabilizerSettings)
    planning: PlanningSettings = field(default_factory=PlanningSettings)
    tuning: TuningSettings = field(default_factory=lambda: TuningSettings(enabled=False))

    def startup_of(self, model: str, accelerator: str) -> float:
        return self.startup_delay_per_variant.get(f"{model}/{accelerator}", self.startup_delay_s)


_TOP = ("documents", "period_s", "startup_delay_s", "state_path", "cycle_log_path", "http", "prometheus", "discovery",
        "actuator", "prediction", "stabilizer", "planning", "tuning")


def _file(doc: dict, key: str, where: str, base: Path, must_read: bool) -> Path | None:
    value = doc.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}{key} must be a file path, got {_excerpt(value)}")
    path = (base / value).resolve()
    if must_read:
        try:
            with open(path, "rb"):
                pass
        except OSError as error:
            raise ConfigError(f"{where}{key}: cannot read {path}: {error.strerror}") from None
    return path


def _writable(doc: dict, key: str, base: Path) -> Path | None:
    path = _file(doc, key, "", base, must_read=False)
    if path is not None and not os.access(path.parent, os.W_OK):
        raise ConfigError(f"{key}: cannot write in {path.parent}")
    return path


def _integer(doc: dict, key: str, where: str, low: int, high: int, default: int) -> int:
    value = doc.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{where}{key} must be an integer in [{low}, {high}], got {_excerpt(value)}")
    return value


def load_config(source: str | os.PathLike[str] | dict, base_dir: str | os.PathLike[str] | None = None) -> DaemonConfig:
    """The configuration from a YAML file (paths in it relative to the file) or a mapping
    (paths relative to ``base_dir``, default the working directory)."""
    try:
        return _load(source, base_dir)
    except ConfigError:
        raise
    except ScenarioError as error:  # the shared key checks raise the scenario's error type
        raise ConfigError(str(error)) from None


def _load(source: str | os.PathLike[str] | dict, base_dir: str | os.PathLike[str] | None) -> DaemonConfig:
    doc, base = read_yaml(source, base_dir, "configuration", ConfigError)
    _keys(doc, _TOP, "")
    out: dict[str, Any] = {"documents": documents_path(doc, "documents", base)}
    out["period_s"] = _number(doc, "period_s", "", 0, 86400, 60.0, open_low=True)
    startup = doc.get("startup_delay_s", 120.0)
    if isinstance(startup, dict):
        _keys(startup, {"default", "per_variant"}, "startup_delay_s.")
        out["startup_delay_s"] = _number(startup, "default", "startup_delay_s.", 0, 86400, 120.0)
        per = _keys(startup.get("per_variant", {}) or {}, set(startup.get("per_variant", {}) or {}),
                    "startup_delay_s.per_variant.")
        for key in per:
            if not isinstance(key, str) or key.count("/") != 1:
                raise ConfigError(f"startup_delay_s.per_variant: keys are model/accelerator, got {_excerpt(key)}")
        out["startup_delay_per_variant"] = {k: _number(per, k, "startup_delay_s.per_variant.", 0, 86400) for k in per}
    else:
        out["startup_delay_s"] = _number(doc, "startup_delay_s", "", 0, 86400, 120.0)
    out["state_path"] = _writable(doc, "state_path", base)
    out["cycle_log_path"] = _writable(doc, "cycle_log_path", base)
    out["http"] = _http(doc.get("http", {}) or {}, base)
    out["prometheus"] = _prometheus(doc.get("prometheus", {}) or {}, base)
    out["discovery"] = _discovery(doc.get("discovery", {}) or {}, base)
    actuator = doc.get("actuator", {"backend": "kubernetes"}) or {}
    _keys(actuator, {"backend", "retries"}, "actuator.")
    if actuator.get("backend", "kubernetes") not in ACTUATORS:
        raise ConfigError(f"actuator.backend must be one of {', '.join(ACTUATORS)}, got {_excerpt(actuator.get('backend'))}")
    out["actuator"] = actuator.get("backend", "kubernetes")
    out["actuator_retries"] = _integer(actuator, "retries", "actuator.", 0, 10, 3)
    out["prediction"] = _settings(PredictionSettings, doc.get("prediction"), "prediction.")
    out["stabilizer"] = _settings(StabilizerSettings, doc.get("stabilizer"), "stabilizer.")
    out["planning"] = _settings(PlanningSettings, doc.get("planning"), "planning.")
    out["tuning"] = _settings(TuningSettings, doc.get("tuning", {"enabled": False}), "tuning.")
    return DaemonConfig(**out)


def _http(doc: Any, base: Path) -> HttpSettings:
    where = "http."
    _keys(doc, {"host", "port", "auth", "token_file", "cert_file", "key_file", "max_body_bytes"}, where)
    host = doc.get("host", "127.0.0.1")
    if not isinstance(host, str) or not host:
        raise ConfigError(f"{where}host must be an address to bind to, got {_excerpt(host)}")
    auth = doc.get("auth", "token")
    if auth not in ("token", "none"):
        raise ConfigError(f"{where}auth must be token (POST /invoke needs the bearer token of token_file) or none, "
                          f"got {_excerpt(auth)}")
    token_file = _file(doc, "token_file", where, base, must_read=True)
    if auth == "token" and token_file is None:
        raise ConfigError(f"{where}token_file is required with auth: token (say auth: none to run without one)")
    cert, key = _file(doc, "cert_file", where, base, True), _file(doc, "key_file", where, base, True)
    if (cert is None) != (key is None):
        raise ConfigError(f"{where}cert_file and key_file go together (TLS needs both)")
    return HttpSettings(host=host, port=_integer(doc, "port", where, 0, 65535, 8080),
                        token_file=token_file if auth == "token" else None, cert_file=cert, key_file=key,
                        max_body_bytes=_integer(doc, "max_body_bytes", where, 1024, 1 << 30, 1 << 20))


def _url(value: Any, key: str) -> str:
    parsed = urlparse(value) if isinstance(value, str) else None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ConfigError(f"{key} must be an http:// or https:// URL, got {_excerpt(value)}")
    return str(value).rstrip("/")


def _prometheus(doc: Any, base: Path) -> PrometheusSettings:
    where = "prometheus."
    _keys(doc, {"url", "token_file", "ca_file", "timeout_s", "window_s", "queries", "offered_load", "gateway_query"}, where)
    queries = dict(DEFAULT_QUERIES)
    given = _keys(doc.get("queries", {}) or {}, set(DEFAULT_QUERIES), f"{where}queries.")
    for key, template in given.items():
        if not isinstance(template, str) or not template.strip():
            raise ConfigError(f"{where}queries.{key} must be a PromQL template, got {_excerpt(template)}")
        queries[key] = template
    offered = doc.get("offered_load", "queue_growth")
    if offered not in OFFERED_LOAD:
        raise ConfigError(f"{where}offered_load must be one of {', '.join(OFFERED_LOAD)}, got {_excerpt(offered)}")
    gateway = doc.get("gateway_query")
    if offered == "gateway" and not isinstance(gateway, str):
        raise ConfigError(f"{where}gateway_query (per pod arrivals, req/s) is required with offered_load: gateway")
    for key, template in [*queries.items(), *([("gateway_query", gateway)] if isinstance(gateway, str) else [])]:
        try:
            string.Template(template).substitute(selector="", window="1m")
        except (KeyError, ValueError) as error:
            raise ConfigError(f"{where}queries.{key}: only $selector and $window may be substituted ({error})") from None
    ca_file = _file(doc, "ca_file", where, base, True)
    if ca_file is not None:
        import ssl
        try:
            ssl.create_default_context(cafile=str(ca_file))
        except (ssl.SSLError, ValueError) as error:
            raise ConfigError(f"{where}ca_file: not a CA bundle (PEM certificates) in {ca_file}: {error}") from None
    return PrometheusSettings(url=_url(doc.get("url", "http://127.0.0.1:9090"), f"{where}url"),
                              token_file=_file(doc, "token_file", where, base, True),
                              ca_file=ca_file,
                              timeout_s=_number(doc, "timeout_s", where, 0, 600, 5.0, open_low=True),
                              window_s=_number(doc, "window_s", where, 1, 86400, 60.0), queries=queries,
                              offered_load=offered, gateway_query=gateway if isinstance(gateway, str) else None)


def _discovery(doc: Any, base: Path) -> DiscoverySettings:
    where = "discovery."
    _keys(doc, {"namespaces", "label_prefix", "controller", "selector", "kubeconfig"}, where)
    namespaces = doc.get("namespaces")
    if not isinstance(namespaces, list) or not namespaces or not all(isinstance(n, str) and n for n in namespaces):
        raise ConfigError(f"{where}namespaces (a non-empty list of the namespaces to manage) is required, "
                          f"got {_excerpt(namespaces)}")
    prefix = doc.get("label_prefix", "inferno.server")
    if not isinstance(prefix, str) or not prefix or " " in prefix:
        raise ConfigError(f"{where}label_prefix must be a label key prefix, got {_excerpt(prefix)}")
    controller = doc.get("controller")
    if controller is not None and (not isinstance(controller, str) or not controller):
        raise ConfigError(f"{where}controller must be a label value, got {_excerpt(controller)}")
    selector = doc.get("selector")
    if selector is not None and (not isinstance(selector, str) or not selector.strip() or
                                 any(not term.strip() for term in selector.split(","))):
        raise ConfigError(f"{where}selector must be label selector terms separated by commas (k=v, k!=v, k, !k), "
                          f"got {_excerpt(selector)}")
    return DiscoverySettings(namespaces=tuple(namespaces), label_prefix=prefix, controller=controller,
                             extra_selector=selector.strip() if isinstance(selector, str) else None,
                             kubeconfig=_file(doc, "kubeconfig", where, base, True))
