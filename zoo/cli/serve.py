"""`zoo serve BUNDLE...`: the HTTP server over ``serve.app``."""

from pathlib import Path
from typing import Annotated, List

import typer

from zoo.cli.console import console, fail, user_errors


def serve_command(
    bundles: Annotated[List[Path], typer.Argument(help="Bundle directories from `zoo export`.")],
    host: Annotated[str, typer.Option(help="Interface to bind; 0.0.0.0 exposes the server to the network.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    runtime: Annotated[str, typer.Option(help="onnxruntime (model.onnx) or torchscript (model.pt).")] = "onnxruntime",
    max_batch: Annotated[int, typer.Option(min=1, help="Rows per model run for dynamic batching; 1 turns it off.")] = 32,
    max_delay_ms: Annotated[float, typer.Option(min=0, help="How long the first request of a batch waits for others.")] = 5.0,
    max_instances: Annotated[int, typer.Option(min=1, help="Instances (batch) per request.")] = 256,
    max_sequence: Annotated[int, typer.Option(min=1, help="Steps per instance, tokens per prefix, steps to generate.")] = 4096,
    max_body_kb: Annotated[int, typer.Option(min=1, help="Largest request body in KiB.")] = 2048,
    max_sessions: Annotated[int, typer.Option(min=1, help="Open stateful sessions.")] = 1000,
    session_ttl_s: Annotated[float, typer.Option(min=1, help="Idle seconds before a session expires.")] = 600.0,
    timeout_s: Annotated[float, typer.Option(min=0.01, help="Per-request timeout in seconds.")] = 30.0,
    threads: Annotated[int, typer.Option(min=1, help="Threads per model run (onnxruntime intra-op, torch).")] = 1,
    workers: Annotated[int, typer.Option(min=1, help="Model runs at the same time.")] = 2,
) -> None:  # fmt: skip
    """Serve bundles over HTTP: predict (dynamic batching), generate, stateful sessions, metrics."""
    import uvicorn

    from serve.app import Settings, create_app
    from serve.inputs import Limits
    from serve.model import load_model

    with user_errors():
        models = [load_model(bundle, runtime, threads) for bundle in bundles]
        names = [m.name for m in models]
        if len(set(names)) != len(names):
            fail(f"two bundles hold the same model name ({', '.join(names)}); serve one of each")
        limits = Limits(max_instances, max_sequence, max_body_kb * 1024, max_sessions, session_ttl_s, timeout_s)
        app = create_app(models, Settings(max_batch, max_delay_ms, limits, workers))
    console.print(f"serving {', '.join(names)} ({runtime}) on http://{host}:{port}  (docs: /docs, metrics: /metrics)")
    uvicorn.run(app, host=host, port=port, log_level="warning")
