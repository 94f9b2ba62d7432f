"""The webhook's HTTPS server: ``POST /mutate``, ``GET /healthz`` and ``GET /metrics`` on the same
HTTP stack as the live controller (FastAPI on uvicorn, the ``inferno[control]`` extra), with a
deadline per review, a deadline per request, and a bound on the connections served at once
(docs/sizing.md §9)."""

# No "from __future__ import annotations": FastAPI reads the route functions' annotations, and
# they name classes imported inside webhook_app (FastAPI is an extra).

import asyncio
import concurrent.futures
import json
import socket
import ssl
import sys
from pathlib import Path
from typing import Any, Union

from .config import WebhookConfig
from .decision import RESULTS, admit_with_warning, review_with_result, warm

MAX_BODY = 8 << 20  # an AdmissionReview of a pod is far smaller; refuse to buffer more


class Metrics:
    """``inferno_autofit_decisions_total`` by result (patched, whole, skipped, error), exposed by
    prometheus-client in its own registry, so two servers in one process count apart."""

    def __init__(self) -> None:
        try:
            from prometheus_client import CollectorRegistry, Counter
        except ImportError:  # pragma: no cover - the extra is installed wherever the webhook runs
            raise ImportError("the webhook's /metrics needs prometheus-client: pip install 'inferno[control]'") from None
        self.registry = CollectorRegistry(auto_describe=True)
        self._decisions = Counter("inferno_autofit_decisions", "Admission reviews by outcome.", ["result"],
                                  registry=self.registry)
        for result in RESULTS:  # every outcome is exposed from the start, at 0
            self._decisions.labels(result=result)

    def inc(self, result: str) -> None:
        self._decisions.labels(result=result).inc()

    def render(self) -> bytes:
        """The exposition, in Prometheus text format."""
        from prometheus_client import generate_latest
        return generate_latest(self.registry)


def webhook_app(config: WebhookConfig, metrics: Metrics, pool: concurrent.futures.Executor) -> Any:
    """The webhook's FastAPI app: the review runs in ``pool``, and past ``config.deadline_s`` the
    pod is admitted unchanged with a warning while the review finishes in the background."""
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse, PlainTextResponse, Response
    from prometheus_client import CONTENT_TYPE_LATEST

    app = FastAPI(title="inferno AutoFit webhook", version="1", docs_url=None, redoc_url=None,
                  description="The MIG right-sizing admission webhook: AdmissionReview v1 in and out; it never denies a pod.")

    @app.get("/healthz", response_class=PlainTextResponse)
    def healthz() -> Response:
        return PlainTextResponse("ok")

    @app.get("/metrics", response_class=PlainTextResponse)
    def prometheus_metrics() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    review_body = {"type": "object", "description": "an AdmissionReview v1 (anything else admits the pod unchanged, with a warning)"}

    text = {"text/plain": {"schema": {"type": "string"}}}

    @app.post("/mutate", responses={400: {"description": "a Content-Length that is not a number", "content": text},
                                    411: {"description": "no Content-Length, or a chunked body", "content": text},
                                    413: {"description": "a body over 8 MiB", "content": text}},
              openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": review_body}}}})
    async def mutate(request: Request) -> Response:
        declared = request.headers.get("content-length")
        if request.headers.get("transfer-encoding") is not None or declared is None:
            # The API server always sends Content-Length; a chunked body used to be read as empty
            # and the pod admitted unchanged without a word.
            return PlainTextResponse("Content-Length required (chunked bodies are not accepted)\n", status_code=411,
                                     headers={"Connection": "close"})
        try:
            length = int(declared)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            return PlainTextResponse("bad Content-Length\n", status_code=413 if length > MAX_BODY else 400,
                                     headers={"Connection": "close"})
        body = await request.body()
        review = asyncio.wrap_future(pool.submit(review_with_result, body, config))
        try:
            response, result = await asyncio.wait_for(asyncio.shield(review), timeout=config.deadline_s)
        except asyncio.TimeoutError:
            # The review keeps running in the pool; the pod is admitted unchanged now (docs/sizing.md §9).
            try:
                doc = json.loads(body)
            except ValueError:
                doc = None
            response = admit_with_warning(doc, f"internal deadline {config.deadline_s:g} s exceeded")
            result = "error"
        metrics.inc(result)
        return JSONResponse(response)

    return app


def _deadline_protocol(deadline_s: float) -> Any:
    """uvicorn's HTTP/1.1 protocol with one deadline for each whole request, from the connection's
    start or the previous response: a client that sends a byte every few seconds cannot hold a
    connection (one of the few the server serves at once) for ever. At the deadline the
    connection is closed."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class DeadlineProtocol(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None

        def _arm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
            self._deadline = self.loop.call_later(deadline_s, self._expire)

        def _expire(self) -> None:
            if not self.transport.is_closing():
                self.transport.close()

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
            super().connection_lost(exc)

    return DeadlineProtocol


class WebhookServer:
    """A bound HTTPS server (``serve_forever`` runs it until SIGTERM or SIGINT)."""

    def __init__(self, host: str, port: int, cert: Union[str, Path], key: Union[str, Path], config: WebhookConfig) -> None:
        import uvicorn
        # TLS material is checked now, so that a bad certificate is an error at start, not at the first client.
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(str(cert), str(key))
        self.config = config
        self.metrics = Metrics()
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="autofit-review")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.socket = socket.socket(family, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind((host, port))
        self.server_address = self.socket.getsockname()
        app = webhook_app(config, self.metrics, self.pool)
        # uvicorn's limit counts the connection that asks too: one more than the connections served.
        self.uvicorn = uvicorn.Server(uvicorn.Config(
            app, ssl_certfile=str(cert), ssl_keyfile=str(key), ssl_version=ssl.PROTOCOL_TLS_SERVER,
            http=_deadline_protocol(config.request_deadline_s), limit_concurrency=config.max_connections + 1,
            timeout_keep_alive=5, log_level="warning", access_log=False, lifespan="off"))
        warm(config)

    def serve_forever(self) -> None:
        self.uvicorn.run(sockets=[self.socket])

    def server_close(self) -> None:
        self.socket.close()
        self.pool.shutdown(wait=False, cancel_futures=True)


def make_server(host: str, port: int, cert: Union[str, Path], key: Union[str, Path],
                config: WebhookConfig | None = None) -> WebhookServer:
    """A bound HTTPS server (not yet serving); ``port=0`` picks a free port."""
    return WebhookServer(host, port, cert, key, config or WebhookConfig())


def serve(host: str, port: int, cert: Union[str, Path], key: Union[str, Path],
          config: WebhookConfig | None = None) -> None:
    """Serves ``POST /mutate``, ``GET /healthz`` and ``GET /metrics`` over HTTPS until SIGTERM or SIGINT."""
    server = make_server(host, port, cert, key, config)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        sys.stderr.flush()
