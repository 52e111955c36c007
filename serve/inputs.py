"""Request bodies -> arrays: raw instances the way a user has them, or explicit tensors.

Raw instances (``{"instances": [...]}``) are read by what the model's first input is:
- int64 ``(batch, time)`` token ids: strings, tokenized with the bundle's tokenizer and
  vocabulary (names, sentences, a text prefix); unknown tokens become ``<unk>`` where the
  vocabulary has one, else the request is refused;
- float ``(batch, time, F)``: sequences, each a list of steps (a number when F = 1, else F numbers);
- float ``(batch, C, H, W)``: images as nested lists of that shape (or flat C*H*W numbers);
- float ``(batch, F)``: vectors of F numbers.
Each instance becomes one row (arrays without the batch axis); the batcher pads and stacks rows.
Explicit tensors (``{"inputs": {NAME: {"shape", "dtype", "data"}}}``) are used as given; state
inputs left out start at zeros and a left-out ``lengths`` means every step is valid.
"""

import re
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

Row = Dict[str, np.ndarray]


class RequestError(ValueError):
    """A request the server refuses; ``status`` is the HTTP code."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Limits:
    max_instances: int = 256  # per request
    max_sequence: int = 4096  # steps per instance
    max_body_bytes: int = 2 * 1024 * 1024
    max_sessions: int = 1000
    session_ttl_s: float = 600.0
    timeout_s: float = 30.0


class Tokenizer:
    """The bundle's tokenizer (characters or words) and vocabulary."""

    def __init__(self, description: Optional[Dict[str, Any]], vocabulary: Optional[Dict[str, Any]]) -> None:
        self.description = description
        self.tokens: List[str] = list(vocabulary["tokens"]) if vocabulary else []
        self.unknown: Optional[int] = vocabulary.get("unknown") if vocabulary else None
        self.index = {t: i for i, t in enumerate(self.tokens)}
        self.pattern = re.compile(description["pattern"]) if description and description["kind"] == "words" else None

    @property
    def ready(self) -> bool:
        return bool(self.description and self.tokens)

    def encode(self, text: str) -> List[int]:
        if not self.ready:
            raise RequestError(422, "this bundle has no tokenizer (exported from a registry name, not a run); send explicit tensors under \"inputs\"")
        if self.pattern is not None:
            pieces = self.pattern.findall(text.lower() if self.description.get("lowercase") else text)  # type: ignore[union-attr]
        else:
            pieces = list(text)
        ids = []
        for piece in pieces:
            if piece in self.index:
                ids.append(self.index[piece])
            elif self.unknown is not None:
                ids.append(self.unknown)
            else:
                raise RequestError(422, f"{piece!r} is not in the model's vocabulary")
        if not ids:
            if self.unknown is None:
                raise RequestError(422, f"{text!r} has no tokens the model knows")
            ids = [self.unknown]  # as the training data did for an empty sentence
        return ids

    def decode(self, ids: List[int]) -> str:
        """Text of ``ids``, leaving out the special tokens (``<pad>``, ``<unk>``, ``<eos>``, ...)."""
        joiner = " " if self.pattern is not None else ""
        kept = [self.tokens[i] for i in ids if 0 <= i < len(self.tokens) and not _special(self.tokens[i])]
        return joiner.join(kept)


def _special(token: str) -> bool:
    return len(token) > 2 and token.startswith("<") and token.endswith(">")


def _instances(body: Dict[str, Any], limits: Limits) -> List[Any]:
    instances = body.get("instances")
    if not isinstance(instances, list) or not instances:
        raise RequestError(400, 'the body must hold "instances": a non-empty list (or explicit tensors under "inputs")')
    if len(instances) > limits.max_instances:
        raise RequestError(413, f"{len(instances)} instances in one request; the limit is {limits.max_instances}")
    return instances


def _float_array(value: Any, shape: tuple, what: str) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError):
        raise RequestError(422, f"{what} must hold numbers") from None
    if array.size == int(np.prod(shape)) and array.shape != shape:
        array = array.reshape(shape)
    if array.shape != shape:
        raise RequestError(422, f"{what} must have shape {list(shape)}, got {list(array.shape)}")
    if not np.isfinite(array).all():
        raise RequestError(422, f"{what} holds NaN or infinity")
    return array


def raw_rows(body: Dict[str, Any], graph: Dict[str, Any], tokenizer: Tokenizer, limits: Limits,
             skip: set) -> List[Row]:  # fmt: skip
    """One row per instance for the graph's data input (``skip``: state and lengths inputs)."""
    data = [t for t in graph["inputs"] if t["name"] not in skip]
    if len(data) != 1:
        raise RequestError(422, f"this model takes {', '.join(t['name'] for t in data)}; send explicit tensors under \"inputs\"")
    spec = data[0]
    shape, name = spec["shape"], spec["name"]
    rows = []
    for number, instance in enumerate(_instances(body, limits)):
        what = f"instance {number}"
        if spec["dtype"] == "int64" and len(shape) == 2:
            if not isinstance(instance, str):
                raise RequestError(422, f"{what} must be a string of text")
            array = np.asarray(tokenizer.encode(instance), dtype=np.int64)
        elif len(shape) == 3:  # (batch, time, features)
            features = shape[2]
            if not isinstance(instance, list) or not instance:
                raise RequestError(422, f"{what} must be a non-empty list of steps")
            array = _float_array(instance, (len(instance), features), what)
        else:
            array = _float_array(instance, tuple(shape[1:]), what)
        if len(shape) >= 2 and isinstance(shape[1], str) and array.shape[0] > limits.max_sequence:
            raise RequestError(413, f"{what} has {array.shape[0]} steps; the limit is {limits.max_sequence}")
        rows.append({name: array})
    return rows


def zero_state(spec: Dict[str, Any], batch: int) -> np.ndarray:
    """The zeros a state input starts from, its ``batch`` axis ``batch`` long."""
    return np.zeros([batch if d == "batch" else d for d in spec["shape"]], dtype=spec["dtype"])


def pad_rows(arrays: List[np.ndarray]) -> Tuple[np.ndarray, np.ndarray]:
    """Sequences of different lengths (time first) -> (zero-padded batch, int64 lengths)."""
    steps = np.array([a.shape[0] for a in arrays], dtype=np.int64)
    padded = np.zeros((len(arrays), int(steps.max())) + arrays[0].shape[1:], dtype=arrays[0].dtype)
    for i, array in enumerate(arrays):
        padded[i, : array.shape[0]] = array
    return padded, steps


_DTYPES = {"float32": np.float32, "float64": np.float64, "int64": np.int64, "int32": np.int32, "bool": np.bool_}


def explicit_feeds(body: Dict[str, Any], graph: Dict[str, Any], states: Dict[str, str], ragged: Dict[str, str],
                   limits: Limits) -> Dict[str, np.ndarray]:  # fmt: skip
    """``{"inputs": {NAME: {"shape", "dtype", "data"}}}`` -> arrays; zeros for missing state."""
    given = body.get("inputs")
    if not isinstance(given, dict):
        raise RequestError(400, '"inputs" must map input names to {"shape", "dtype", "data"}')
    feeds: Dict[str, np.ndarray] = {}
    for name, tensor in given.items():
        if not isinstance(tensor, dict) or not {"shape", "dtype", "data"} <= set(tensor):
            raise RequestError(400, f'input {name!r} must be {{"shape": [...], "dtype": "...", "data": [...]}}')
        if tensor["dtype"] not in _DTYPES:
            raise RequestError(422, f"input {name!r}: unknown dtype {tensor['dtype']!r}; use one of {', '.join(_DTYPES)}")
        try:
            feeds[name] = np.asarray(tensor["data"], dtype=_DTYPES[tensor["dtype"]]).reshape(tensor["shape"])
        except (TypeError, ValueError) as exc:
            raise RequestError(422, f"input {name!r}: data does not fit shape {tensor['shape']} ({exc})") from None
    specs = {t["name"]: t for t in graph["inputs"]}
    sizes = {d: feeds[n].shape[i] for n in feeds if n in specs for i, d in enumerate(specs[n]["shape"]) if isinstance(d, str) and i < feeds[n].ndim}  # fmt: skip
    if sizes.get("batch", 0) > limits.max_instances:
        raise RequestError(413, f"batch {sizes['batch']} in one request; the limit is {limits.max_instances}")
    if any(size > limits.max_sequence for dim, size in sizes.items() if dim.endswith("time")):
        raise RequestError(413, f"a time axis is longer than the limit of {limits.max_sequence} steps")
    for name in list(states) + list(ragged):
        if name in feeds or name not in specs:
            continue
        if name in states:
            feeds[name] = zero_state(specs[name], sizes.get("batch", 1))
        else:
            sequence = feeds.get(ragged[name])
            if sequence is not None:
                feeds[name] = np.full(sequence.shape[0], sequence.shape[1], dtype=np.int64)
    return feeds
