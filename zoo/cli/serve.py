"""`zoo serve BUNDLE...`: the HTTP server over ``serve.app``."""

import logging
import math
import socket
from pathlib import Path
from typing import Annotated, List

import typer

from serve.limits import Limits, Settings
from zoo.cli.console import console, fail, user_errors

_SETTINGS = Settings()  # every default below is the server's own
_DEFAULT = _SETTINGS.limits
_MiB = 1024 * 1024


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound before the server says it is serving (a busy port is one
    line and exit 2, not an announcement followed by uvicorn's traceback)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        fail(f"--host {host}: {exc.strerror}; give an address such as 127.0.0.1 or 0.0.0.0")
    family, kind, protocol, _, address = infos[0]
    sock = socket.socket(family, kind, protocol)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        fail(f"cannot listen on {host}:{port} ({exc.strerror}); choose another --port or stop what holds it")
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve_command(
    bundles: Annotated[List[Path], typer.Argument(metavar="BUNDLE", help="Bundle directories from `zoo export`.")],
    host: Annotated[str, typer.Option(help="Interface to bind; 0.0.0.0 exposes the server to the network.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    runtime: Annotated[str, typer.Option(help="onnxruntime (model.onnx) or torchscript (model.pt).")] = "onnxruntime",
    allow_unverified: Annotated[bool, typer.Option("--allow-unverified", help="Serve bundles whose manifest records no passed `zoo verify`.")] = False,
    max_batch: Annotated[int, typer.Option(min=1, help="Rows per model run for dynamic batching; 1 turns it off.")] = _SETTINGS.max_batch,
    max_delay_ms: Annotated[float, typer.Option(min=0, help="How long the first request of a batch waits for others.")] = _SETTINGS.max_delay_ms,
    max_instances: Annotated[int, typer.Option(min=1, help="Instances (rows) per request.")] = _DEFAULT.max_instances,
    max_sequence: Annotated[int, typer.Option(min=1, help="Steps per instance, tokens per prefix, steps to generate or decode.")] = _DEFAULT.max_sequence,
    max_tokens: Annotated[int, typer.Option(min=1, help="Rows x steps per request and per batched model run (bounds a run's memory).")] = _DEFAULT.max_tokens,
    max_body_kb: Annotated[int, typer.Option(min=1, help="Largest request body in KiB, counted as it streams in.")] = _DEFAULT.max_body_bytes // 1024,
    max_reply_kb: Annotated[int, typer.Option(min=1, help="Largest reply in KiB, estimated before the model runs.")] = _DEFAULT.max_reply_bytes // 1024,
    max_sessions: Annotated[int, typer.Option(min=1, help="Open stateful sessions.")] = _DEFAULT.max_sessions,
    max_session_mb: Annotated[float, typer.Option(min=0.001, help="MiB of state all open sessions hold together.")] = _DEFAULT.max_session_bytes / _MiB,
    session_ttl_s: Annotated[float, typer.Option(min=1, help="Idle seconds before a session expires.")] = _DEFAULT.session_ttl_s,
    timeout_s: Annotated[float, typer.Option(min=0.01, help="Per-request timeout in seconds; the model run is stopped then.")] = _DEFAULT.timeout_s,
    max_connections: Annotated[int, typer.Option(min=1, help="Open connections in all; more are answered 503 and closed.")] = _SETTINGS.max_connections,
    max_client_connections: Annotated[int, typer.Option(min=1, help="Open connections from one client address; more are answered 429.")] = _SETTINGS.max_client_connections,
    header_timeout_s: Annotated[float, typer.Option(min=0.01, help="Seconds a connection may take to send a request's headers (408 then).")] = _SETTINGS.header_timeout_s,
    threads: Annotated[int, typer.Option(min=1, help="Threads per model run (onnxruntime intra-op, torch).")] = 1,
    workers: Annotated[int, typer.Option(min=1, help="Model runs at the same time.")] = _SETTINGS.workers,
) -> None:  # fmt: skip
    """Serve bundles over HTTP: predict (dynamic batching), generate, stateful sessions, metrics."""
    import uvicorn

    from serve.app import create_app
    from serve.model import load_model
    from serve.protocol import ConnectionGuards, guarded_protocol

    for option, value in (("--max-delay-ms", max_delay_ms), ("--max-session-mb", max_session_mb),
                          ("--session-ttl-s", session_ttl_s), ("--timeout-s", timeout_s), ("--header-timeout-s", header_timeout_s)):  # fmt: skip
        if not math.isfinite(value):
            fail(f"{option} {value}: give a finite number")
    sock = _listen(host, port)  # first: a busy port fails at once, before seconds of loading
    with user_errors():
        models = [load_model(bundle, runtime, threads, allow_unverified) for bundle in bundles]
        names = [m.name for m in models]
        if len(set(names)) != len(names):
            fail(f"two bundles hold the same model name ({', '.join(names)}); serve one of each")
        limits = Limits(max_instances=max_instances, max_sequence=max_sequence, max_tokens=max_tokens,
                        max_body_bytes=max_body_kb * 1024, max_reply_bytes=max_reply_kb * 1024,
                        max_sessions=max_sessions, max_session_bytes=int(max_session_mb * _MiB),
                        session_ttl_s=session_ttl_s, timeout_s=timeout_s)  # fmt: skip
        settings = Settings(max_batch, max_delay_ms, limits, workers, max_connections, max_client_connections, header_timeout_s)
        app = create_app(models, settings)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.WARNING)
    console.print(f"serving {', '.join(names)} ({runtime}) on http://{host}:{port}  (docs: /docs, metrics: /metrics)", soft_wrap=True)
    guards = ConnectionGuards(settings.max_connections, settings.max_client_connections, settings.header_timeout_s)
    config = uvicorn.Config(app, http=guarded_protocol(guards), log_level="warning", timeout_graceful_shutdown=5)
    uvicorn.Server(config).run(sockets=[sock])
