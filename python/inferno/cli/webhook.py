"""``inferno webhook --cert CERT --key KEY``: the AutoFit mutating admission webhook over HTTPS.

Serves POST /mutate (AdmissionReview v1 in, AdmissionReview v1 out; never denies a pod),
GET /healthz and GET /metrics (inferno_autofit_decisions_total{result=...}). TLS material usually
comes from a mounted Secret. --config FILE is JSON: defaultGpuTypes, pinGpuProduct, annotateDetails,
catalog, registry, deadlineSeconds.

Also runnable on its own: python -m inferno.cli.webhook --cert ... --key ...
"""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any, Sequence

from .common import EXIT_INPUT, non_negative_int, usage_errors_exit_1


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cert", required=True, metavar="FILE", help="TLS certificate chain (PEM)")
    p.add_argument("--key", required=True, metavar="FILE", help="TLS private key (PEM)")
    p.add_argument("--port", type=non_negative_int, default=8443, help="listen port (default 8443)")
    p.add_argument("--host", default="0.0.0.0", help="listen address (default 0.0.0.0)")
    p.add_argument("--config", metavar="FILE", help="webhook configuration (JSON)")
    p.set_defaults(run=run)


def add_parser(commands: Any) -> None:
    p = commands.add_parser("webhook", help="serve the AutoFit MIG right-sizing admission webhook (HTTPS)",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_arguments(p)


def _terminate(signum: int, frame: Any) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a repeated SIGTERM must not interrupt the shutdown
    raise KeyboardInterrupt  # SIGTERM (kubelet, tests) shuts down like Ctrl-C


def run(args: argparse.Namespace) -> int:
    from .. import webhook as W  # the HTTP stack (asyncio, uvicorn) only for this command
    try:
        config = W.WebhookConfig.from_file(args.config) if args.config else W.WebhookConfig()
        server = W.make_server(args.host, args.port, args.cert, args.key, config)
    except ImportError as exc:
        print(f"inferno webhook: error: needs the webhook extra (pip install 'inferno[webhook]'): {exc}", file=sys.stderr)
        return EXIT_INPUT
    except (OSError, ValueError) as exc:
        print(f"inferno webhook: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    host, port = server.server_address[:2]
    host = host.decode() if isinstance(host, bytes) else host
    print(f"inferno webhook: listening on https://{host}:{port}", file=sys.stderr, flush=True)
    # uvicorn shuts down gracefully on SIGTERM and SIGINT, then raises the signal again: here it
    # ends the process like Ctrl-C, with status 0.
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        signal.signal(signal.SIGTERM, previous)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="inferno webhook", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_arguments(parser)
    usage_errors_exit_1(parser)
    args = parser.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
