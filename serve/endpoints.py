"""What a served bundle's extra graphs answer, read from its manifest: each graph's ``endpoint``
(``zoo.registry.Endpoint``, written by ``export.graphs.graph_entry``) with the inputs it binds:
the prompt or instances fill the graph's one token input (and its lengths input, from the
graph's ragged pairs), the body's keys fill its scalar inputs. The server and ``zoo
predict``/``zoo generate`` answer with a graph from this alone, without the model's code.

A manifest written before the record (schema 1 without ``endpoint``) is read the way such
bundles were served: a graph named ``generate`` answers /generate and one named ``decode``
answers raw /predict instances, with the parameters they had then (``LEGACY``).
"""

import math
from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional, Tuple, Union

from zoo.routes import REPLIES, ROUTES
from zoo.store import MANIFEST, BundleError, Pairs, graph_pairs

_PARAMETER_KEYS = ("name", "default", "minimum", "maximum", "zero", "per_step")


def _parameter(name: str, default: float, minimum: float, maximum: Union[float, str], zero: bool = False, per_step: int = 0) -> Dict[str, Any]:
    return {"name": name, "default": default, "minimum": minimum, "maximum": maximum, "zero": zero, "per_step": per_step}


# The endpoints of the extra graphs of bundles exported before manifests recorded them: the
# values zoo/models/graphs.py declares, as the server had them written in.
LEGACY: Dict[str, Dict[str, Any]] = {
    "generate": {"route": "generate", "reply": "continuation", "parameters": [
        _parameter("steps", 100, 1, "max_sequence"), _parameter("temperature", 1.0, 1e-3, 1e3, zero=True),
        _parameter("top_k", 0, 0, "vocab"), _parameter("seed", 0, 0, 2**31 - 2)]},
    "decode": {"route": "predict", "reply": "text", "parameters": [_parameter("max_len", 2, 1, "max_sequence", per_step=2)]},
}  # fmt: skip


@dataclass(frozen=True)
class Parameter:
    """A scalar input read from the request body's key of the same name."""

    name: str
    integer: bool  # an integer input (else a float one)
    default: float
    minimum: float
    maximum: Union[float, str]  # a number, "max_sequence" (the --max-sequence limit) or "vocab"
    zero: bool  # 0 is accepted besides [minimum, maximum]
    per_step: int  # the default grows by this many per step of the longest instance


@dataclass(frozen=True)
class GraphEndpoint:
    """An extra graph as an endpoint answers with it."""

    graph: str  # the manifest's graph name
    route: str  # "generate": /generate; "predict": raw /predict instances, in place of forward
    reply: str  # "text": each row's ids and their text; "continuation": the prompt continued
    prompt: Dict[str, Any]  # the manifest entry of the token input the text or instances fill
    lengths: Optional[str]  # the prompt's lengths input, where the graph takes one
    output: str  # the output whose token ids come back
    parameters: Tuple[Parameter, ...]
    axes: Tuple[str, ...]  # the graph's named axes: what a run's cost is counted over

    @property
    def keys(self) -> Tuple[str, ...]:
        """The body keys a /generate request may hold: the prompt, then each parameter."""
        return (self.prompt["name"], *(p.name for p in self.parameters))

    @property
    def vocab(self) -> Optional[int]:
        return self.prompt.get("vocab")


def _number(value: Any) -> bool:
    """A finite JSON number (Python's json reads NaN and Infinity, which no bound may be)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _parameters(records: Any, scalars: Mapping[str, str]) -> Tuple[Parameter, ...]:
    if not isinstance(records, list):
        raise ValueError("parameters is not a list")
    parameters = []
    for record in records:
        if not isinstance(record, dict) or set(record) != set(_PARAMETER_KEYS):
            raise ValueError(f"a parameter is not {{{', '.join(_PARAMETER_KEYS)}}}")
        name, maximum = record["name"], record["maximum"]
        if not isinstance(name, str) or name not in scalars:
            raise ValueError(f"parameter {name!r} is not a scalar input of the graph")
        if not (_number(record["default"]) and _number(record["minimum"]) and (_number(maximum) or maximum in ("max_sequence", "vocab"))
                and isinstance(record["zero"], bool) and isinstance(record["per_step"], int)):  # fmt: skip
            raise ValueError(f"parameter {name!r} has a default or range that is not a number")
        integral = scalars[name] != "float32"
        if integral and not all(isinstance(v, int) for v in (record["default"], record["minimum"], maximum) if _number(v)):
            raise ValueError(f"parameter {name!r} takes integers; its default and range must be integers")
        parameters.append(Parameter(name, scalars[name] != "float32", record["default"], record["minimum"], maximum,
                                    record["zero"], record["per_step"]))  # fmt: skip
    missing = set(scalars) - {p.name for p in parameters}
    if missing:
        raise ValueError(f"no parameter for the scalar input(s) {', '.join(sorted(missing))}")
    return tuple(parameters)


def _endpoint(name: str, graph: Dict[str, Any], record: Any, pairs: Pairs) -> GraphEndpoint:
    if not isinstance(record, dict) or record.get("route") not in ROUTES or record.get("reply") not in REPLIES:
        raise ValueError(f"the route or reply is not one of {', '.join(ROUTES)} / {', '.join(REPLIES)}")
    if record["reply"] == "continuation" and record["route"] != "generate":
        raise ValueError("a continuation answers /generate only")
    inputs, outputs = graph["inputs"], graph["outputs"]
    scalars = {t["name"]: t["dtype"] for t in inputs if not t["shape"]}
    prompts = [t for t in inputs if t["shape"] and t["name"] not in pairs.skipped()]
    if len(prompts) != 1 or len(prompts[0]["shape"]) != 2 or prompts[0]["dtype"] != "int64":
        raise ValueError("the graph has no single token input (batch, time) besides lengths, state and scalars")
    prompt = prompts[0]
    lengths_name = pairs.lengths.get(prompt["name"])
    if {t["name"] for t in inputs} - set(scalars) - {prompt["name"], lengths_name} or not outputs:
        raise ValueError("the graph takes inputs an endpoint cannot fill, or has no output")
    axes = tuple(dict.fromkeys(d for t in inputs + outputs for d in t["shape"] if isinstance(d, str)))
    return GraphEndpoint(name, record["route"], record["reply"], prompt, lengths_name, outputs[0]["name"],
                         _parameters(record.get("parameters", []), scalars), axes)  # fmt: skip


def endpoints(manifest: Mapping[str, Any], where: object) -> Dict[str, GraphEndpoint]:
    """route -> the endpoint of the extra graph that answers it; a record that does not fit its
    graph refuses the bundle (``where``: its path) before anything is served."""
    graphs = manifest["graphs"]
    # Manifests that record endpoints record every output's meaning too: its absence marks one
    # written before.
    legacy = not all("meaning" in output for output in graphs["forward"]["outputs"])
    found: Dict[str, GraphEndpoint] = {}
    for name, entry in graphs.items():
        if name == "forward":
            continue
        record = LEGACY.get(name) if legacy else entry.get("endpoint")
        if record is None:
            continue
        try:
            endpoint = _endpoint(name, entry, record, graph_pairs(manifest, name))
        except ValueError as exc:
            raise BundleError(f"{where} is refused: its {MANIFEST} graph {name!r} has an endpoint that does not fit it ({exc}); export it again") from None
        if endpoint.route in found:
            raise BundleError(f"{where} is refused: its {MANIFEST} has graphs {found[endpoint.route].graph!r} and {name!r} both answering {endpoint.route}")
        found[endpoint.route] = endpoint
    return found
