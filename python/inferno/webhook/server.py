"""The webhook's HTTPS server: ``POST /mutate``, ``GET /healthz`` and ``GET /metrics``, with a
deadline per review and per request and a bound on the connections served at once
(docs/sizing.md §9)."""

from __future__ import annotations

import concurrent.futures
import json
import socket
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Union

from .config import WebhookConfig
from .decision import RESULTS, admit_with_warning, review_with_result, warm

MAX_BODY = 8 << 20  # an AdmissionReview of a pod is far smaller; refuse to buffer more


class Metrics:
    """``inferno_autofit_decisions_total`` by result (patched, whole, skipped, error), exposed by
    prometheus-client (the ``webhook`` extra) in its own registry, so two servers in one process
    count apart."""

    def __init__(self) -> None:
        try:
            from prometheus_client import CollectorRegistry, Counter
        except ImportError:  # pragma: no cover - the extra is installed wherever the webhook runs
            raise ImportError("the webhook's /metrics needs prometheus-client: pip install 'inferno[webhook]'") from None
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
            from prometheus_client import CONTENT_TYPE_LATEST
            self._send(200, self.server.metrics.render(), CONTENT_TYPE_LATEST)
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
            response = admit_with_warning(doc, f"internal deadline {self.server.config.deadline_s:g} s exceeded")
            result = "error"
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
    warm(server.config)
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
