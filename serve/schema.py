"""The OpenAPI description of request bodies and replies, so that clients and schema-driven
fuzzers (schemathesis) see what each endpoint takes and every error it can answer.

The server reads bodies itself (``serve.body``) rather than through pydantic models: it counts
bytes while they stream and checks values against the bundle's manifest, which a static schema
cannot express. These schemas describe the same rules, as far as JSON Schema can, and the
server refuses whatever they refuse. The keys that fill an extra graph's scalar inputs (the
/generate body, ``max_len`` beside raw /predict instances) come from the endpoints the served
manifests record (``generate_body``, ``predict_body``).
"""

from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from serve.endpoints import GraphEndpoint, Parameter

ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["status", "message"],
            "properties": {"status": {"type": "integer"}, "message": {"type": "string"}},
        }
    },
}

TENSOR = {
    "type": "object",
    "required": ["shape", "dtype", "data"],
    "additionalProperties": False,
    "properties": {
        "shape": {"type": "array", "maxItems": 8, "items": {"type": "integer", "minimum": 1}},
        "dtype": {"type": "string", "enum": ["float32", "float64", "int64", "int32", "bool"]},
        "data": {"type": ["array", "number"]},
    },
}

_OUTPUTS = {"type": "array", "items": {"type": "string"}, "description": "names of the output tensors to return"}
_TOP_K = {"type": "integer", "minimum": 1, "maximum": 100, "description": "labels or tokens listed per result (default 5)"}
_INSTANCES = {
    "type": "array",
    "minItems": 1,
    "items": {"anyOf": [{"type": "string", "minLength": 1}, {"type": "number"}, {"type": "array"}]},
    "description": "raw instances: strings for text models, lists of steps, images or vectors",
}
_INPUTS = {"type": "object", "minProperties": 1, "additionalProperties": TENSOR,
           "description": "explicit tensors by input name; state left out starts at zeros"}  # fmt: skip

PREDICT = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "instances": _INSTANCES,
        "inputs": _INPUTS,
        "outputs": _OUTPUTS,
        "top_k": _TOP_K,
    },
    "oneOf": [{"required": ["instances"]}, {"required": ["inputs"]}],
}  # and the parameters of the graphs that answer raw instances (predict_body)

STEP = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"instances": {**_INSTANCES, "maxItems": 1}, "inputs": _INPUTS, "outputs": _OUTPUTS, "top_k": _TOP_K},
    "oneOf": [{"required": ["instances"]}, {"required": ["inputs"]}],
}

# An extra graph's endpoint as the served manifests record it, with its graph's input docs.
Served = Tuple[GraphEndpoint, Mapping[str, str]]


def _parameter(parameter: Parameter, doc: str) -> Dict[str, Any]:
    node: Dict[str, Any] = {"type": "integer" if parameter.integer else "number", "minimum": 0 if parameter.zero else parameter.minimum}
    if not isinstance(parameter.maximum, str):  # "max_sequence", "vocab": known to the server and the bundle
        node["maximum"] = parameter.maximum
    default = f"{parameter.per_step} x the longest instance + {parameter.default:g}" if parameter.per_step else f"{parameter.default:g}"
    if parameter.zero:
        high = parameter.maximum if isinstance(parameter.maximum, str) else f"{parameter.maximum:g}"
        doc += f"; 0 or in [{parameter.minimum:g}, {high}]"
    node["description"] = f"{doc} (default {default})"
    return node


def predict_body(served: Iterable[Served]) -> Dict[str, Any]:
    """PREDICT with the keys of the graphs that answer raw instances in place of forward."""
    properties = dict(PREDICT["properties"])  # type: ignore[call-overload]
    for endpoint, docs in served:
        for parameter in endpoint.parameters:
            properties.setdefault(parameter.name, _parameter(parameter, f"{endpoint.graph}: {docs.get(parameter.name, '')}"))
    return {**PREDICT, "properties": properties}


def generate_body(served: Iterable[Served]) -> Dict[str, Any]:
    """A /generate body: the prompt under the name of each served graph's token input, and the
    keys of its scalar inputs."""
    properties: Dict[str, Any] = {}
    prompts = set()
    for endpoint, docs in served:
        prompt = endpoint.prompt["name"]
        prompts.add(prompt)
        properties.setdefault(prompt, {"type": "string", "minLength": 1, "description": f"text, its tokens as {prompt!r}: {docs.get(prompt, '')}"})
        for parameter in endpoint.parameters:
            properties.setdefault(parameter.name, _parameter(parameter, docs.get(parameter.name, "")))
    body: Dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": properties}
    if len(prompts) == 1:
        body["required"] = sorted(prompts)
    return body

REPLY = {"type": "object", "required": ["model"], "properties": {"model": {"type": "string"}}}
SESSION = {"type": "object", "required": ["model", "session"], "properties": {"model": {"type": "string"}, "session": {"type": "string"}}}
ANY_OBJECT = {"type": "object"}

_MEANING = {
    400: "malformed body (not JSON, not an object, unknown keys)",
    404: "unknown model, graph or session",
    413: "over a size limit: body, instances, steps, rows x steps or reply size",
    422: "content that does not fit the model (types, shapes, ranges, vocabulary)",
    429: "too many sessions or too much session state",
    504: "past the request timeout; the model run was stopped",
}


def responses(*codes: int, ok: Dict[str, Any] = REPLY) -> Dict[int, Dict[str, Any]]:
    """OpenAPI ``responses`` for a route: 200 (``ok``) plus the given error codes, each with the body."""
    table: Dict[int, Dict[str, Any]] = {200: {"description": "OK", "content": {"application/json": {"schema": ok}}}}
    for code in codes:
        table[code] = {"description": _MEANING[code], "content": {"application/json": {"schema": ERROR}}}
    return table


def body(schema: Dict[str, Any], required: bool = True) -> Dict[str, Any]:
    """``openapi_extra`` declaring a JSON request body."""
    return {"requestBody": {"required": required, "content": {"application/json": {"schema": schema}}}}


def session_links() -> Dict[str, Any]:
    """Links from opening a session to stepping and closing it, so a stateful fuzzer can chain them."""
    parameters = {"name": "$request.path.name", "key": "$response.body#/session"}
    return {"step": {"operationId": "step", "parameters": parameters},
            "close": {"operationId": "close_session", "parameters": parameters}}  # fmt: skip


def text_pattern(characters: Iterable[str]) -> Optional[str]:
    """A regular expression for non-empty text made of ``characters`` (a vocabulary's single
    characters), or None when there are none."""
    chosen = sorted({c for c in characters if len(c) == 1})
    if not chosen:
        return None
    escaped = "".join(f"\\u{ord(c):04x}" if not c.isprintable() or c in "\\]^-[" else c for c in chosen if ord(c) <= 0xFFFF)
    return f"^[{escaped}]+$"


def with_text(document: Dict[str, Any], operation_id: str, where: Sequence[Any], pattern: Optional[str], max_length: int) -> None:
    """Narrows the string schema at ``where`` (keys and indices into the request body schema) of one
    operation to ``pattern``: a fuzzer then writes text the models can read, and reaches past
    the tokenizer into the model runs."""
    if pattern is None:
        return
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            if operation.get("operationId") != operation_id:
                continue
            node = operation["requestBody"]["content"]["application/json"]["schema"]
            for key in where:
                node = node[key]
            node["pattern"] = pattern
            node["maxLength"] = max_length


def name_enums(document: Dict[str, Any], models_for: Callable[[str], List[str]]) -> Dict[str, Any]:
    """The generated document with each route's ``name`` path parameter limited to the models
    it serves (``models_for(operation_id)``: every model for predict, the stateful ones for
    sessions, those with a generate graph for generate)."""
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            models = models_for(operation.get("operationId", ""))
            for parameter in operation.get("parameters", []):
                if parameter.get("name") == "name" and parameter.get("in") == "path" and models:
                    parameter["schema"] = {"type": "string", "enum": models}
    return document
