"""The HTTP API (FastAPI): health, models, metrics, predict, generate and stateful sessions.

Every error is JSON, ``{"error": {"status": N, "message": "..."}}``: 400 malformed body, 404
unknown model, session or graph, 413 over a size limit, 422 content that does not fit the
model, 429 too many sessions, 504 past the request timeout, 500 anything else — and the worker
keeps serving.
"""

import asyncio
import json
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Dict, List

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from export.feeds import InputError
from serve.batching import Batcher
from serve.inputs import (
    Limits,
    RequestError,
    Tokenizer,
    explicit_feeds,
    pad_rows,
    raw_rows,
    zero_state,
)
from serve.metrics import Metrics
from serve.model import ServedModel
from serve.outputs import decoded_result, task_result, tensor_json
from serve.sessions import SessionStore


@dataclass(frozen=True)
class Settings:
    max_batch: int = 32  # rows per model run; 1 turns batching off
    max_delay_ms: float = 5.0
    limits: Limits = field(default_factory=Limits)
    workers: int = 2  # threads running models


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"status": status, "message": message}}, status_code=status)


class Server:
    """The models, their batchers and sessions; the routes below call into it."""

    def __init__(self, models: List[ServedModel], settings: Settings) -> None:
        self.models = {m.name: m for m in models}
        self.settings = settings
        self.tokenizers = {m.name: Tokenizer(m.manifest.get("tokenizer"), m.manifest.get("vocabulary")) for m in models}
        self.sessions = SessionStore(settings.limits.max_sessions, settings.limits.session_ttl_s)
        self.metrics = Metrics()
        self.executor = ThreadPoolExecutor(settings.workers, thread_name_prefix="zoo-model")
        self.batchers: Dict[str, Batcher] = {}
        self.ready = False

    def start(self) -> None:
        for name, model in self.models.items():
            batcher = Batcher(model.graph(), model.state_pairs, model.ragged, model.run, self.settings.max_batch,
                              self.settings.max_delay_ms / 1000, self.executor,
                              lambda size, name=name: self.metrics.batch.labels(name).observe(size))  # fmt: skip
            batcher.start()
            self.batchers[name] = batcher
        self.ready = True

    async def stop(self) -> None:
        self.ready = False
        for batcher in self.batchers.values():
            await batcher.stop()
        self.executor.shutdown(wait=False, cancel_futures=True)

    def model(self, name: str) -> ServedModel:
        if name not in self.models:
            raise RequestError(404, f"no model {name!r} is served; GET /v1/models lists {', '.join(self.models)}")
        return self.models[name]

    async def body(self, request: Request) -> Dict[str, Any]:
        limit = self.settings.limits.max_body_bytes
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise RequestError(413, f"the body is {declared} bytes; the limit is {limit}")
        raw = await request.body()
        if len(raw) > limit:
            raise RequestError(413, f"the body is {len(raw)} bytes; the limit is {limit}")
        try:
            body = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise RequestError(400, f"the body is not valid JSON ({exc})") from None
        if not isinstance(body, dict):
            raise RequestError(400, "the body must be a JSON object")
        return body

    async def run(self, model: ServedModel, feeds: Dict[str, np.ndarray], graph: str = "forward") -> Dict[str, np.ndarray]:
        return await asyncio.get_running_loop().run_in_executor(self.executor, model.run, feeds, graph)

    async def timed(self, model: str, endpoint: str, work: Callable[[], Awaitable[Any]]) -> Response:
        """Runs a request under the timeout, maps errors to JSON, records the metrics."""
        start = time.perf_counter()
        try:
            reply = await asyncio.wait_for(work(), self.settings.limits.timeout_s)
            response: Response = JSONResponse(reply)
        except RequestError as exc:
            response = _error(exc.status, str(exc))
        except InputError as exc:
            response = _error(422, str(exc))
        except asyncio.TimeoutError:
            response = _error(504, f"the request took longer than the {self.settings.limits.timeout_s:g} s timeout")
        except Exception as exc:  # noqa: BLE001 - a bad request must not take the worker down
            response = _error(500, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
        self.metrics.observe(model if model in self.models else "-", endpoint, response.status_code, time.perf_counter() - start)
        return response

    # --- endpoints ---------------------------------------------------------------------------

    async def predict(self, name: str, request: Request) -> Dict[str, Any]:
        model = self.model(name)
        body = await self.body(request)
        graph = model.graph()
        if "inputs" in body:
            feeds = explicit_feeds(body, graph, model.state_pairs, model.ragged, self.settings.limits)
            outputs = await self.run(model, feeds)
            return {"model": name, "outputs": {k: tensor_json(v) for k, v in outputs.items()}}
        tokenizer = self.tokenizers[name]
        if model.task == "seq2seq":
            return {"model": name, "results": await self._decode(model, body, tokenizer)}
        rows = raw_rows(body, graph, tokenizer, self.settings.limits, set(model.state_pairs) | set(model.ragged))
        outputs = await self.batchers[name].submit(rows)
        names = [o["name"] for o in graph["outputs"]]
        labels = model.manifest.get("labels")
        return {"model": name, "results": [task_result(model.task, row, names, labels, tokenizer) for row in outputs]}

    async def _decode(self, model: ServedModel, body: Dict[str, Any], tokenizer: Tokenizer) -> List[Dict[str, Any]]:
        if "decode" not in model.runners:
            raise RequestError(404, f"{model.name}'s bundle has no decode graph for this runtime")
        graph = model.graph("decode")
        ragged = {p["lengths"]: p["sequence"] for p in model.manifest["ragged"]}
        rows = raw_rows(body, graph, tokenizer, self.settings.limits, set(ragged) | {"max_len"})
        (sequence,) = [t["name"] for t in graph["inputs"] if t["name"] not in ragged and t["shape"]]
        lengths_name = next(k for k, v in ragged.items() if v == sequence)
        padded, steps = pad_rows([row[sequence] for row in rows])
        max_len = int(body.get("max_len", 2 * int(steps.max()) + 2))
        if not 1 <= max_len <= self.settings.limits.max_sequence:
            raise RequestError(422, f"max_len must be in [1, {self.settings.limits.max_sequence}], got {max_len}")
        outputs = await self.run(model, {sequence: padded, lengths_name: steps, "max_len": np.array(max_len, dtype=np.int64)}, "decode")
        return [decoded_result(row, tokenizer) for row in outputs["tokens"]]

    async def generate(self, name: str, request: Request) -> Dict[str, Any]:
        model = self.model(name)
        if "generate" not in model.runners:
            raise RequestError(404, f"{name} has no generate graph (only the character language models do)")
        body = await self.body(request)
        prefix = body.get("prefix")
        if not isinstance(prefix, str) or not prefix:
            raise RequestError(400, '"prefix" must be a non-empty string')
        try:
            steps, temperature = int(body.get("steps", 100)), float(body.get("temperature", 1.0))
            top_k, seed = int(body.get("top_k", 0)), int(body.get("seed", 0))
        except (TypeError, ValueError):
            raise RequestError(422, "steps, top_k and seed must be integers and temperature a number") from None
        if not 0 <= steps <= self.settings.limits.max_sequence or top_k < 0:
            raise RequestError(422, f"steps must be in [0, {self.settings.limits.max_sequence}] and top_k >= 0")
        tokenizer = self.tokenizers[name]
        ids = np.asarray([tokenizer.encode(prefix)], dtype=np.int64)
        if ids.shape[1] > self.settings.limits.max_sequence:
            raise RequestError(413, f"the prefix has {ids.shape[1]} tokens; the limit is {self.settings.limits.max_sequence}")
        feeds = {"prefix": ids, "steps": np.array(steps, dtype=np.int64), "temperature": np.array(temperature, dtype=np.float32),
                 "top_k": np.array(top_k, dtype=np.int64), "seed": np.array(seed, dtype=np.int64)}  # fmt: skip
        tokens = (await self.run(model, feeds, "generate"))["tokens"][0]
        return {"model": name, "prefix": prefix, "text": prefix + tokenizer.decode([int(t) for t in tokens]), "tokens": tokens.tolist()}

    async def open_session(self, name: str) -> Dict[str, Any]:
        model = self.model(name)
        if not model.state_pairs:
            raise RequestError(404, f"{name} carries no state between calls; use /predict")
        key = self.sessions.open(name)
        self.metrics.sessions.set(self.sessions.count())
        return {"model": name, "session": key, "ttl_s": self.settings.limits.session_ttl_s}

    async def step(self, name: str, key: str, request: Request) -> Dict[str, Any]:
        model = self.model(name)
        session = self.sessions.get(name, key)
        body = await self.body(request)
        graph = model.graph()
        if "inputs" in body:  # state given here is replaced by the session's below, after the first chunk
            feeds = explicit_feeds(body, graph, model.state_pairs, model.ragged, self.settings.limits)
        else:
            rows = raw_rows(body, graph, self.tokenizers[name], self.settings.limits, set(model.state_pairs) | set(model.ragged))
            if len(rows) != 1:
                raise RequestError(422, "a session step takes one instance: the next chunk of its sequence")
            feeds = {k: v[None] for k, v in rows[0].items()}
            for lengths, sequence in model.ragged.items():
                feeds[lengths] = np.array([feeds[sequence].shape[1]], dtype=np.int64)
            feeds.update({t["name"]: zero_state(t, 1) for t in graph["inputs"] if t["name"] in model.state_pairs})
        async with session.lock:
            if session.state is not None:
                for state_input, array in session.state.items():
                    if feeds[state_input].shape != array.shape:
                        raise RequestError(422, f"a session holds batch {array.shape} state; send chunks of the same batch")
                    feeds[state_input] = array
            outputs = await self.run(model, feeds)
            session.state = {i: outputs[o] for i, o in model.state_pairs.items()}
            session.steps += max((v.shape[1] for k, v in feeds.items() if k not in model.state_pairs and v.ndim >= 2), default=0)
        names = [o["name"] for o in graph["outputs"]]
        row = {k: v[0] for k, v in outputs.items() if k not in model.state_pairs.values()}
        result = task_result(model.task, row, names, model.manifest.get("labels"), self.tokenizers[name])
        return {"model": name, "session": key, "steps": session.steps, "results": [result],
                "outputs": {k: tensor_json(v) for k, v in outputs.items() if k not in model.state_pairs.values()}}  # fmt: skip

    async def close_session(self, name: str, key: str) -> Dict[str, Any]:
        self.model(name)
        self.sessions.close(name, key)
        self.metrics.sessions.set(self.sessions.count())
        return {"model": name, "session": key, "closed": True}


def create_app(models: List[ServedModel], settings: Settings) -> FastAPI:
    server = Server(models, settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # type: ignore[no-untyped-def]
        server.start()
        yield
        await server.stop()

    app = FastAPI(title="zoo serve", description="Zoo bundles over HTTP: predict, generate, stateful sessions.", lifespan=lifespan)
    app.state.server = server

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail))

    @app.get("/healthz")
    async def healthz() -> Dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> Response:
        if not server.ready:
            return _error(503, "models are still loading")
        return JSONResponse({"status": "ready", "models": list(server.models)})

    @app.get("/v1/models")
    async def list_models() -> Dict[str, Any]:
        return {"models": [m.signature() for m in server.models.values()]}

    @app.get("/metrics")
    async def metrics() -> Response:
        server.metrics.sessions.set(server.sessions.expire())
        return Response(server.metrics.text(), media_type="text/plain; version=0.0.4")

    @app.post("/v1/models/{name}/predict")
    async def predict(name: str, request: Request) -> Response:
        return await server.timed(name, "predict", lambda: server.predict(name, request))

    @app.post("/v1/models/{name}/generate")
    async def generate(name: str, request: Request) -> Response:
        return await server.timed(name, "generate", lambda: server.generate(name, request))

    @app.post("/v1/models/{name}/sessions")
    async def open_session(name: str) -> Response:
        return await server.timed(name, "sessions", lambda: server.open_session(name))

    @app.post("/v1/models/{name}/sessions/{key}/step")
    async def step(name: str, key: str, request: Request) -> Response:
        return await server.timed(name, "step", lambda: server.step(name, key, request))

    @app.delete("/v1/models/{name}/sessions/{key}")
    async def close_session(name: str, key: str) -> Response:
        return await server.timed(name, "close", lambda: server.close_session(name, key))

    return app
