"""What every long-running inferno server shares (the controller, the emulator): FastAPI on
uvicorn, request bodies read with a size limit, a bearer token read from a file on every request,
loopback by default. Needs the ``inferno[control]`` extra."""

from __future__ import annotations

import hmac
import json
from pathlib import Path
from typing import Any

from fastapi import HTTPException, Request


async def read_json(request: Request, limit_bytes: int) -> Any:
    """The body as JSON: 413 past ``limit_bytes`` (counted as it arrives, whatever the
    Content-Length says), 400 when it is not JSON."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit_bytes:
                raise HTTPException(413, f"request body over the limit of {limit_bytes} bytes")
        except ValueError:
            raise HTTPException(400, "Content-Length is not a number") from None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit_bytes:
            raise HTTPException(413, f"request body over the limit of {limit_bytes} bytes")
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise HTTPException(400, f"the body is not JSON: {error}") from None


def require_bearer(request: Request, token_file: Path | None) -> None:
    """401 unless the request carries the token of ``token_file`` (read now: a rotated Secret
    applies at once). ``None``: no token is configured (``auth: none``)."""
    if token_file is None:
        return
    try:
        expected = token_file.read_text(encoding="utf-8").strip()
    except OSError:
        raise HTTPException(503, "the token file cannot be read") from None
    given = request.headers.get("authorization", "")
    scheme, _, token = given.partition(" ")
    if not expected or scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected.encode()):
        raise HTTPException(401, "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"})


def serve(app: Any, host: str, port: int, cert_file: Path | None = None, key_file: Path | None = None) -> None:
    """Runs ``app`` until SIGTERM or SIGINT; uvicorn then runs the app's shutdown, which ends
    the running cycle first."""
    import signal
    import sys

    import uvicorn

    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again so that the process
    # ends as the signal says; here it ends with status 0, as a clean stop should.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False,
                ssl_certfile=None if cert_file is None else str(cert_file),
                ssl_keyfile=None if key_file is None else str(key_file))
