"""The live sensor: vLLM's metrics per pod from Prometheus's HTTP API, the pods from the live
Kubernetes pod list, aggregated per server into a :class:`FleetSnapshot` (docs/control-live.md,
"Sensing").

Nothing is invented: a metric that one of a server's serving pods does not report (no series,
NaN) makes that quantity *missing* for the server, never zero, and a Prometheus that does not
answer makes every server unavailable for the cycle, never an empty fleet. Series of pods that
are not in the pod list (deleted pods linger for minutes) are ignored.
"""

from __future__ import annotations

import math
from typing import Any

from .cluster import Managed
from .config import PrometheusSettings
from .snapshot import FRESH, STALE, UNAVAILABLE, FleetSnapshot, ServerSnapshot

STALE_AFTER_S = 300.0  # older than this the newest sample is unavailable, not stale


class PrometheusError(RuntimeError):
    """Prometheus did not answer, or answered with an error."""


class PrometheusClient:
    """Instant queries through the HTTP API. The bearer token is read from its file on every
    request, and the CA bundle again whenever its file changes, so a rotated Secret takes effect
    without a restart."""

    def __init__(self, settings: PrometheusSettings) -> None:
        self.settings = settings
        self._ca_stamp: tuple[float, int] | None = None
        self._http = self._client()

    def _client(self) -> Any:
        import httpx
        verify: Any = True
        if self.settings.ca_file is not None:
            import ssl
            verify = ssl.create_default_context(cafile=str(self.settings.ca_file))
        return httpx.Client(base_url=self.settings.url, timeout=self.settings.timeout_s, verify=verify)

    def _fresh_ca(self) -> None:
        """A CA bundle that changed on disk (a rotated Secret) is loaded before the next request."""
        if self.settings.ca_file is None:
            return
        try:
            st = self.settings.ca_file.stat()
        except OSError as error:
            raise PrometheusError(f"cannot read the CA file {self.settings.ca_file}: {error.strerror}") from None
        stamp = (st.st_mtime, st.st_size)
        if self._ca_stamp is not None and stamp != self._ca_stamp:
            try:
                client = self._client()
            except (OSError, ValueError) as error:  # ssl.SSLError is an OSError
                raise PrometheusError(f"cannot load the CA file {self.settings.ca_file}: {error}") from None
            self._http.close()
            self._http = client
        self._ca_stamp = stamp

    def close(self) -> None:
        self._http.close()

    def query(self, promql: str, at_s: float | None = None) -> dict[tuple[str, str], float]:
        """{(namespace, pod): value} of an instant query; NaN and infinite values are left out."""
        import httpx
        headers = {}
        if self.settings.token_file is not None:
            try:
                token = self.settings.token_file.read_text(encoding="utf-8").strip()
            except OSError as error:
                raise PrometheusError(f"cannot read the token file {self.settings.token_file}: {error.strerror}") from None
            headers["Authorization"] = f"Bearer {token}"
        self._fresh_ca()
        params = {"query": promql}
        if at_s is not None:
            params["time"] = f"{at_s:.3f}"
        try:
            response = self._http.get("/api/v1/query", params=params, headers=headers)
        except httpx.HTTPError as error:
            raise PrometheusError(f"Prometheus at {self.settings.url} did not answer: {error}") from None
        try:
            body = response.json()
        except ValueError:
            raise PrometheusError(f"Prometheus answered HTTP {response.status_code} without JSON") from None
        if response.status_code != 200 or body.get("status") != "success":
            raise PrometheusError(f"Prometheus answered HTTP {response.status_code}: {body.get('errorType', '')} "
                                  f"{body.get('error', '')}".rstrip())
        data = body.get("data") or {}
        if data.get("resultType") != "vector":
            raise PrometheusError(f"expected an instant vector, got {data.get('resultType')!r} for {promql}")
        out: dict[tuple[str, str], float] = {}
        for item in data.get("result", []):
            labels = item.get("metric", {})
            try:
                value = float(item["value"][1])
            except (KeyError, IndexError, TypeError, ValueError):
                continue
            if math.isfinite(value) and "namespace" in labels and "pod" in labels:
                out[(labels["namespace"], labels["pod"])] = value
        return out


class PrometheusSensor:
    """The sensor of the live loop: ``collect(now_s)`` with ``now_s`` the wall clock (s since the
    epoch), for the servers and pods of ``managed`` (set before each cycle from the discovery of
    that cycle) in ``namespaces``."""

    def __init__(self, settings: PrometheusSettings, namespaces: tuple[str, ...], client: PrometheusClient | None = None) -> None:
        self.settings = settings
        self.namespaces = namespaces
        self.client = client or PrometheusClient(settings)
        self.managed: dict[str, Managed] = {}
        self.error: str | None = None  # why the last read failed, if it did
        self.offered_sources: dict[str, str] = {}  # per server: which estimate of the offered load the last read used

    def collect(self, now_s: float) -> FleetSnapshot:
        namespaces = self.namespaces
        self.offered_sources = {}
        names = list(self.settings.queries) + (["gateway"] if self.settings.offered_load == "gateway" else [])
        window = self.settings.window_s
        try:
            values = {n: self.client.query(self.settings.query(n, namespaces), now_s) for n in names}
            self.error = None
        except PrometheusError as error:
            self.error = str(error)
            return FleetSnapshot(now_s, window, {name: _unavailable(m) for name, m in self.managed.items()})
        return FleetSnapshot(now_s, window, {name: self._server(m, values, now_s) for name, m in self.managed.items()})

    def _server(self, m: Managed, values: dict[str, dict[tuple[str, str], float]], now_s: float) -> ServerSnapshot:
        pods = [(m.namespace, p) for p in m.pods_serving]
        newest = [values["newest_sample"][p] for p in pods if p in values["newest_sample"]]
        if not pods or not newest:
            return _unavailable(m)
        age = max(0.0, now_s - max(newest))
        state = FRESH if age <= 2 * self.settings.window_s else STALE if age <= STALE_AFTER_S else UNAVAILABLE

        def total(name: str) -> float | None:  # summed over the serving pods; missing if any lacks it
            got = [values[name].get(p) for p in pods]
            return None if any(v is None for v in got) else float(sum(v for v in got if v is not None))

        requests = total("requests")
        # Requests in the server (waiting and running) at both ends of the window, summed over its
        # pods: what arrived is what finished plus what piled up. A pod that became ready less than
        # two windows ago and has no sample at the window's start held none then (its first scrape
        # may come a scrape interval after it is ready). A per-pod deriv() would read requests
        # moving to new pods as a fall in demand, and leaving the batch out would hide a filling batch.
        in_now = total("in_system_now")
        before = 0.0
        for p in pods:
            value = values["in_system_before"].get(p)
            if value is None and m.pod_started_s.get(p[1], -math.inf) <= now_s - 2 * self.settings.window_s:
                before = math.nan  # an older pod without a sample then (a gap, as after an outage): unknown
                break
            before += value or 0.0
        growth = None if in_now is None or math.isnan(before) else (in_now - before) / self.settings.window_s
        ttft_sum, ttft_count = total("ttft_sum"), total("ttft_count")
        itl_sum, itl_count = total("itl_sum"), total("itl_count")
        if self.settings.offered_load == "gateway":
            offered, source = total("gateway"), "gateway arrivals"
        elif requests is not None and growth is not None:  # saturation no longer hides the demand
            offered, source = max(0.0, requests + growth), "throughput + queue growth"
        elif requests is not None and in_now is not None:
            # The queue is read now but not at the window's start (a gap in the series, as after a
            # Prometheus outage): what finished, a lower bound, never a growth over the gap.
            offered, source = requests, "throughput only (no queue sample at the window's start)"
        else:
            offered, source = None, "missing"
        self.offered_sources[m.server] = source
        kv = [values["kv_cache_usage"].get(p) for p in pods]
        return ServerSnapshot(
            name=m.server, state=state, age_s=age, offered_rps=offered, throughput_rps=requests,
            in_tokens=_ratio(total("prompt_tokens"), ttft_count), out_tokens=_ratio(total("generation_tokens"), requests),
            ttft_ms=_scaled(_ratio(ttft_sum, ttft_count), 1000), itl_ms=_scaled(_ratio(itl_sum, itl_count), 1000),
            running=total("running"), waiting=total("waiting"),
            kv_cache_usage=None if any(v is None for v in kv) else sum(v for v in kv if v is not None) / len(kv),
            replicas_serving=len(m.pods_serving), replicas_starting=len(m.pods_starting))


def _ratio(num: float | None, den: float | None) -> float | None:
    return None if num is None or den is None or den <= 0 else num / den


def _scaled(value: float | None, k: float) -> float | None:
    return None if value is None else value * k


def _unavailable(m: Managed) -> ServerSnapshot:
    return ServerSnapshot(m.server, UNAVAILABLE, math.inf, None, None, None, None, None, None, None, None, None,
                          len(m.pods_serving), len(m.pods_starting))
