"""What each endpoint does: the served models, their batchers and sessions, and the checks a
request passes before any model runs (``serve.app`` wires these to HTTP routes).

Every error is JSON, ``{"error": {"status": N, "message": "..."}}``: 400 malformed body, 404
unknown model, session or graph, 413 over a size limit, 422 content that does not fit the
model, 429 too many sessions or too much session state, 504 past the request timeout (the run
is stopped) — and the worker keeps serving. A 500 means a bug: its body says only that, and the
server's log has the traceback.
"""

import asyncio
import gc
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Awaitable, Callable, Dict, List, Optional, Sequence

import numpy as np
from fastapi import Request
from fastapi.responses import JSONResponse, Response
from starlette.requests import ClientDisconnect

from export.feeds import InputError
from serve import memory
from serve.answers import (
    forward_reply_bytes,
    forward_results,
    forward_rows,
    instance_feeds,
    instance_results,
    instance_rows,
    prompt_feeds,
    prompt_reply,
)
from serve.batching import Batcher, BatchPolicy
from serve.body import BodyBudgets, RequestError, integer, names, read_json
from serve.budget import ByteBudget, Ticket
from serve.endpoints import GraphEndpoint, endpoints
from serve.inputs import (
    Tokenizer,
    explicit_feeds,
    symbolic_sizes,
)
from serve.limits import Settings
from serve.metrics import Metrics
from serve.model import ServedModel
from serve.outputs import (
    TOP,
    check_reply,
    elements,
    results_bytes,
    task_result,
    tensor_json,
    tensors_bytes,
    text_bytes,
)
from serve.sessions import SessionStore
from zoo.store import zero_state

log = logging.getLogger("zoo.serve")

PREDICT_KEYS = ("instances", "inputs", "outputs", "top_k")  # and the parameters of a graph that answers raw instances
STEP_KEYS = ("instances", "inputs", "outputs", "top_k")
BODIES_AT_ONCE = 4  # bodies of the largest allowed size parsed and held together
READING_BYTES = 32 * 1024 * 1024  # bodies still arriving, past each one's first 64 KiB
TOP_MAX = 100
TENSORS_HINT = 'ask for fewer tensors with "outputs": [...], or send "instances" for top-k results'


def error_response(status: int, message: str, headers: Optional[Dict[str, str]] = None) -> JSONResponse:
    return JSONResponse({"error": {"status": status, "message": message}}, status_code=status, headers=headers)


class Server:
    """The models, their batchers and sessions; the routes call into it."""

    def __init__(self, models: List[ServedModel], settings: Settings) -> None:
        self.models = {m.name: m for m in models}
        self.settings = settings
        self.limits = settings.limits
        self.tokenizers = {m.name: Tokenizer(m.manifest.get("tokenizer"), m.manifest.get("vocabulary")) for m in models}
        # route -> the extra graph that answers it, per model (serve.endpoints)
        self.endpoints: Dict[str, Dict[str, GraphEndpoint]] = {m.name: endpoints(m.manifest, m.bundle) for m in models}
        self.sessions = SessionStore(self.limits.max_sessions, self.limits.max_session_bytes, self.limits.session_ttl_s)
        self.metrics = Metrics()
        self.executor = ThreadPoolExecutor(settings.workers, thread_name_prefix="zoo-model")
        self.budgets = BodyBudgets(ByteBudget(READING_BYTES), ByteBudget(BODIES_AT_ONCE * self.limits.max_body_bytes))
        self.batchers: Dict[str, Batcher] = {}
        self.ready = False

    def start(self) -> None:
        memory.configure()
        # Everything loaded so far (torch, onnxruntime, the models) lives as long as the server:
        # out of the collector's sight, a full collection no longer walks it (a ~100 ms pause
        # every few thousand requests, the p99 of a loaded server).
        gc.collect()
        gc.freeze()
        policy = BatchPolicy(self.settings.max_batch, self.settings.max_delay_ms / 1000, self.limits.max_tokens, self.settings.workers)
        for name, model in self.models.items():
            batcher = Batcher(model.graph(), model.pairs(), lambda feeds, m=model: m.start(feeds, self.executor),
                              policy, lambda size, name=name: self.metrics.batch.labels(name).observe(size))  # fmt: skip
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
            raise RequestError(404, f"no model {name[:64]!r} is served; GET /v1/models lists {', '.join(self.models)}")
        return self.models[name]

    async def body(self, request: Request, allowed: Sequence[str]) -> Dict[str, Any]:
        body = await read_json(request, self.limits.max_body_bytes, self.budgets, request.state.ticket)
        unknown = [k for k in body if k not in allowed]
        if unknown:
            raise RequestError(400, f"unknown key {unknown[0][:40]!r} in the body; this endpoint takes {', '.join(allowed)}")
        return body

    async def run(self, model: ServedModel, feeds: Dict[str, np.ndarray], graph: str = "forward") -> Dict[str, np.ndarray]:
        return await model.start(feeds, self.executor, graph).result()

    async def timed(self, model: str, endpoint: str, work: Callable[[], Awaitable[Any]], request: Optional[Request] = None) -> Response:
        """Runs a request under the timeout, maps errors to JSON, records the metrics, and gives
        back what the request held of the body budgets."""
        start = time.perf_counter()
        ticket = Ticket()
        if request is not None:
            request.state.ticket = ticket
        try:
            reply = await asyncio.wait_for(work(), self.limits.timeout_s)
            response: Response = JSONResponse(reply)
        except Exception as exc:  # noqa: BLE001 - a bug must not take the worker down, nor leak its details
            response = self._error(exc, endpoint, model)
            _forget_frames(exc)
        finally:
            ticket.give_back_all()
        self.metrics.observe(model if model in self.models else "-", endpoint, response.status_code, time.perf_counter() - start)
        return response

    def _error(self, exc: Exception, endpoint: str, model: str) -> Response:
        # The body may not have been read to its end: those answers close the connection.
        close = {"connection": "close"}
        if isinstance(exc, RequestError):
            return error_response(exc.status, str(exc), close if exc.close else None)
        if isinstance(exc, InputError):
            return error_response(422, str(exc))
        if isinstance(exc, ClientDisconnect):
            return error_response(400, "the client closed the connection before its body arrived", close)
        if isinstance(exc, asyncio.TimeoutError):
            return error_response(504, f"the request took longer than the {self.limits.timeout_s:g} s timeout (--timeout-s); its model run was stopped", close)
        log.error("%s %s failed", endpoint, model, exc_info=exc)
        return error_response(500, "internal error; the server's log has the details")

    # --- endpoints ---------------------------------------------------------------------------

    async def predict(self, name: str, request: Request) -> Dict[str, Any]:
        model = self.model(name)
        served = self.endpoints[name].get("predict")  # the graph that answers raw instances, if not forward
        extra = tuple(p.name for p in served.parameters) if served else ()
        body = await self.body(request, PREDICT_KEYS + extra)
        top = integer(body, "top_k", TOP, 1, TOP_MAX)
        if ("inputs" in body) == ("instances" in body):
            raise RequestError(400, 'send either "instances" (raw) or "inputs" (explicit tensors), not both or neither')
        if "inputs" in body:
            return await self._explicit(model, body, extra)
        if "outputs" in body:
            raise RequestError(400, '"outputs" selects the tensors of an explicit request ("inputs"); raw instances get results')
        if served is not None:
            return {"model": name, "results": await self._instances(model, served, body)}
        tokenizer = self.tokenizers[name]
        raw = forward_rows(model, body, tokenizer, self.limits)
        check_reply(forward_reply_bytes(model, raw, top), self.limits.max_reply_bytes, "send fewer or shorter instances")
        outputs = await self.batchers[name].submit(raw.rows)
        return {"model": name, "results": forward_results(model, outputs, raw, tokenizer, top)}

    async def _explicit(self, model: ServedModel, body: Dict[str, Any], extra: Sequence[str]) -> Dict[str, Any]:
        given = [key for key in extra if key in body]
        if given:
            raise RequestError(400, f'"{given[0]}" is for raw instances; explicit tensors run the forward graph')
        graph = model.graph()
        feeds = explicit_feeds(body, graph, model.pairs(), self.limits)
        every = [o["name"] for o in graph["outputs"]]
        wanted = names(body, "outputs", every, every) or []
        sizes = symbolic_sizes(graph["inputs"], feeds)
        check_reply(tensors_bytes(graph["outputs"], wanted, sizes), self.limits.max_reply_bytes, TENSORS_HINT)
        outputs = await self.run(model, feeds)
        return {"model": model.name, "outputs": {k: tensor_json(outputs[k]) for k in wanted}}

    async def _instances(self, model: ServedModel, served: GraphEndpoint, body: Dict[str, Any]) -> List[Dict[str, Any]]:
        """Raw instances through the extra graph that answers them in place of forward."""
        if served.graph not in model.runners:
            raise RequestError(404, f"{model.name}'s bundle has no {served.graph} graph for this runtime")
        tokenizer = self.tokenizers[model.name]
        raw = instance_rows(model, served, body, tokenizer, self.limits)
        feeds = instance_feeds(model, served, raw.rows, body, self.limits)
        graph = model.graph(served.graph)
        output = next(o for o in graph["outputs"] if o["name"] == served.output)
        ids = elements(output, {**symbolic_sizes(graph["inputs"], feeds), "batch": 1})  # per row
        hint = f"send fewer instances or a smaller {', '.join(p.name for p in served.parameters) or 'instance'}"
        check_reply(text_bytes([ids] * len(raw.rows)), self.limits.max_reply_bytes, hint)
        return instance_results(served, await self.run(model, feeds, served.graph), tokenizer)

    async def generate(self, name: str, request: Request) -> Dict[str, Any]:
        model = self.model(name)
        served = self.endpoints[name].get("generate")
        if served is None or served.graph not in model.runners:
            raise RequestError(404, f"{name} has no generate graph; GET /v1/models lists each model's graphs")
        body = await self.body(request, served.keys)
        tokenizer = self.tokenizers[name]
        feeds = prompt_feeds(model, served, body, tokenizer, self.limits)
        return prompt_reply(model, served, body, await self.run(model, feeds, served.graph), tokenizer)

    async def open_session(self, name: str) -> Dict[str, Any]:
        model = self.model(name)
        if not model.pairs().state:
            raise RequestError(404, f"{name} carries no state between calls; use /predict")
        key = self.sessions.open(name)
        self.metrics.sessions.set(self.sessions.count())
        return {"model": name, "session": key, "ttl_s": self.limits.session_ttl_s}

    async def step(self, name: str, key: str, request: Request) -> Dict[str, Any]:
        model = self.model(name)
        session = self.sessions.get(name, key)
        body = await self.body(request, STEP_KEYS)
        graph, pairs = model.graph(), model.pairs()
        top = integer(body, "top_k", TOP, 1, TOP_MAX)
        returned = [o["name"] for o in graph["outputs"] if o["name"] not in pairs.state_input]
        wanted = names(body, "outputs", returned, []) or []  # the last step's top-k by default
        feeds, unknown = self._step_feeds(model, body)
        sizes = symbolic_sizes(graph["inputs"], feeds)
        batch = sizes.get("batch", 1)
        reply = tensors_bytes(graph["outputs"], wanted, sizes) + results_bytes(model.task, graph["outputs"], [sizes.get("time", 1)] * batch, top)
        check_reply(reply, self.limits.max_reply_bytes, 'ask for fewer tensors in "outputs" (the results hold the last step\'s top-k)')
        state_outputs = [o for o in graph["outputs"] if o["name"] in pairs.state_input]
        new_bytes = sum(elements(o, sizes) * np.dtype(o["dtype"]).itemsize for o in state_outputs)
        async with session.lock:
            if session.state is not None:
                for state_input, array in session.state.items():
                    if feeds[state_input].shape != array.shape:
                        raise RequestError(422, f"this session holds state of shape {list(array.shape)}; send chunks of the same batch ({array.shape[-2] if array.ndim > 1 else array.shape[0]} rows)")
                    feeds[state_input] = array
            self.sessions.reserve(session, new_bytes)
            try:
                outputs = await self.run(model, feeds)
                session.state = {i: outputs[o] for i, o in pairs.state}
            finally:
                session.reserved = 0
            session.steps += sizes.get("time", 0)
        labels, tokenizer = model.manifest.get("labels"), self.tokenizers[name]
        results = []
        for row in range(batch):  # the state outputs stay with the session
            arrays = {k: np.take(v, row, axis=_batch_axis(graph, k)) for k, v in outputs.items() if k in returned}
            results.append(task_result(model.task, arrays, [o for o in graph["outputs"] if o["name"] in returned], labels, tokenizer, top))
        if unknown:
            results[0]["unknown_tokens"] = unknown
        reply_body: Dict[str, Any] = {"model": name, "session": key, "steps": session.steps, "results": results}
        if wanted:
            reply_body["outputs"] = {k: tensor_json(outputs[k]) for k in wanted}
        return reply_body

    def _step_feeds(self, model: ServedModel, body: Dict[str, Any]) -> tuple:
        """A step's feeds (zero state for now: the session's replaces it) and its unknown tokens."""
        graph = model.graph()
        if ("inputs" in body) == ("instances" in body):
            raise RequestError(400, 'send either "instances" (one chunk) or "inputs" (explicit tensors), not both or neither')
        if "inputs" in body:  # state given here is replaced by the session's after the first chunk
            return explicit_feeds(body, graph, model.pairs(), self.limits), 0
        raw = forward_rows(model, body, self.tokenizers[model.name], self.limits)
        if len(raw.rows) != 1:
            raise RequestError(422, "a session step takes one instance: the next chunk of its sequence")
        feeds = {k: v[None] for k, v in raw.rows[0].items()}
        pairs = model.pairs()
        for lengths, sequence in pairs.ragged:
            feeds[lengths] = np.array([feeds[sequence].shape[1]], dtype=np.int64)
        feeds.update({t["name"]: zero_state(t, {"batch": 1}) for t in graph["inputs"] if t["name"] in pairs.state_output})
        return feeds, raw.unknown[0]

    async def close_session(self, name: str, key: str) -> Dict[str, Any]:
        self.model(name)
        self.sessions.close(name, key)
        self.metrics.sessions.set(self.sessions.count())
        return {"model": name, "session": key, "closed": True}


def _forget_frames(exc: BaseException) -> None:
    """Drops the tracebacks of a handled exception and of those it came from. A traceback holds
    the frames it passed through, and so the request's parsed body; raised inside
    ``asyncio.wait_for`` it also closes a cycle (exception -> frame -> task -> exception) that
    only a full garbage collection frees, and that, after ``gc.freeze``, seldom runs: every
    refused 2 MiB body stayed in memory."""
    pending, seen = [exc], set()
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        current.__traceback__ = None
        pending += [current.__cause__, current.__context__]


def _batch_axis(graph: Dict[str, Any], output: str) -> int:
    spec = next(o for o in graph["outputs"] if o["name"] == output)
    return list(spec["shape"]).index("batch")
