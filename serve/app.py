"""The HTTP API (FastAPI): health, models, metrics, predict, generate and stateful sessions.

Routes are thin: each hands its request to ``serve.server.Server``, which checks it against the
limits and the bundle before any model runs. The OpenAPI document (``/openapi.json``,
``/docs``) declares every request body and every error reply (``serve.schema``); the keys that
fill an extra graph's scalar inputs (/generate, raw /predict instances of a model whose extra
graph answers them) come from what the served manifests record (``serve.endpoints``).
"""

import copy
from contextlib import asynccontextmanager
from functools import reduce
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from serve import schema
from serve.model import ServedModel
from serve.server import Server, Settings, error_response

__all__ = ["Settings", "create_app"]

_TEXT = {200: {"description": "OK", "content": {"text/plain": {"schema": {"type": "string"}}}}}


def create_app(models: List[ServedModel], settings: Settings) -> FastAPI:
    server = Server(models, settings)

    def served(route: str) -> List[Tuple[str, schema.Served]]:
        """(model, (endpoint, its graph's input docs)) of the models whose extra graph answers
        ``route`` and has a runtime open."""
        found = []
        for name, model in server.models.items():
            endpoint = server.endpoints[name].get(route)
            if endpoint is not None and endpoint.graph in model.runners:
                docs = {t["name"]: t.get("doc", "") for t in model.graph(endpoint.graph)["inputs"]}
                found.append((name, (endpoint, docs)))
        return found

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # type: ignore[no-untyped-def]
        server.start()
        yield
        await server.stop()

    app = FastAPI(title="zoo serve", description="Zoo bundles over HTTP: predict, generate, stateful sessions.", lifespan=lifespan)
    app.state.server = server

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail), getattr(exc, "headers", None))  # 405 keeps its Allow

    @app.get("/healthz", responses=schema.responses(ok=schema.ANY_OBJECT))
    async def healthz() -> Dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", responses={**schema.responses(ok=schema.ANY_OBJECT), 503: {"description": "still loading", "content": {"application/json": {"schema": schema.ERROR}}}})
    async def readyz() -> Response:
        if not server.ready:
            return error_response(503, "models are still loading")
        return JSONResponse({"status": "ready", "models": list(server.models)})

    @app.get("/v1/models", responses=schema.responses(ok=schema.ANY_OBJECT))
    async def list_models() -> Dict[str, Any]:
        return {"models": [m.signature() for m in server.models.values()]}

    @app.get("/metrics", responses=_TEXT, response_class=Response)
    async def metrics() -> Response:
        server.metrics.sessions.set(server.sessions.expire())
        return Response(server.metrics.text(), media_type="text/plain; version=0.0.4")

    predict_body = schema.predict_body(e for _, e in served("predict"))

    @app.post("/v1/models/{name}/predict", operation_id="predict", openapi_extra=schema.body(predict_body),
              responses=schema.responses(400, 404, 413, 422, 504))  # fmt: skip
    async def predict(name: str, request: Request) -> Response:
        return await server.timed(name, "predict", lambda: server.predict(name, request), request)

    @app.post("/v1/models/{name}/generate", operation_id="generate", openapi_extra=schema.body(schema.generate_body(e for _, e in served("generate"))),
              responses=schema.responses(400, 404, 413, 422, 504))  # fmt: skip
    async def generate(name: str, request: Request) -> Response:
        return await server.timed(name, "generate", lambda: server.generate(name, request), request)

    opened = schema.responses(404, 429, 504, ok=schema.SESSION)
    opened[200]["links"] = schema.session_links()

    @app.post("/v1/models/{name}/sessions", operation_id="open_session", responses=opened)
    async def open_session(name: str) -> Response:
        return await server.timed(name, "sessions", lambda: server.open_session(name))

    @app.post("/v1/models/{name}/sessions/{key}/step", operation_id="step", openapi_extra=schema.body(schema.STEP),
              responses=schema.responses(400, 404, 413, 422, 429, 504))  # fmt: skip
    async def step(name: str, key: str, request: Request) -> Response:
        return await server.timed(name, "step", lambda: server.step(name, key, request), request)

    @app.delete("/v1/models/{name}/sessions/{key}", operation_id="close_session", responses=schema.responses(404, 504))
    async def close_session(name: str, key: str) -> Response:
        return await server.timed(name, "close", lambda: server.close_session(name, key))

    def models_for(operation: str) -> List[str]:
        if operation == "generate":
            return [n for n, _ in served("generate")]
        if operation in ("open_session", "step", "close_session"):
            return [n for n, m in server.models.items() if m.pairs().state]
        return list(server.models)

    def characters(operation: str, both: Callable[[Set[str], Set[str]], Set[str]]) -> Optional[str]:
        """The text pattern for an operation: the characters its models' vocabularies share
        (``both`` = intersection) or hold together (union); character tokenizers only."""
        vocabularies = [set(t.tokens) for n, t in server.tokenizers.items() if n in models_for(operation) and t.ready and t.characters]
        return schema.text_pattern(reduce(both, vocabularies)) if vocabularies else None

    def openapi() -> Dict[str, Any]:
        if app.openapi_schema is None:
            document = schema.name_enums(copy.deepcopy(FastAPI.openapi(app)), models_for)
            longest = settings.limits.max_sequence
            instance = ["properties", "instances", "items", "anyOf", 0]
            schema.with_text(document, "predict", instance, characters("predict", set.union), longest)
            schema.with_text(document, "step", instance, characters("step", set.union), longest)
            for prompt in sorted({e.prompt["name"] for _, (e, _) in served("generate")}):
                schema.with_text(document, "generate", ["properties", prompt], characters("generate", set.intersection), longest)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
