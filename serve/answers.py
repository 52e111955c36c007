"""What predict, the extra graphs' endpoints and generate read from a request and answer, apart
from how the request travels. The HTTP server (``serve.server``) and the command line (``zoo
predict``, ``zoo generate`` through ``serve.local``) share these, so the same text is tokenized,
checked and answered the same way in both.

An extra graph is answered from what its manifest records (``serve.endpoints``): the text or
raw instances fill its token input, the body's keys its scalar inputs (each with its default
and range), and its first output's ids come back as the reply it declares.
"""

from typing import Any, Dict, List, Optional

import numpy as np

from serve.body import INT64_MAX, RequestError, integer, number, text
from serve.endpoints import GraphEndpoint
from serve.inputs import RawRows, Row, Tokenizer, Words, check_cost, raw_rows, symbolic_sizes
from serve.limits import Limits
from serve.model import ServedModel
from serve.outputs import continuation, decoded_result, iob_tags, results_bytes, span_bytes, task_result
from zoo.store import pad_rows


def forward_rows(model: ServedModel, body: Dict[str, Any], tokenizer: Tokenizer, limits: Limits) -> RawRows:
    """One row per raw instance for the forward graph (state and lengths are the batcher's)."""
    return raw_rows(body, model.graph(), tokenizer, limits, model.pairs().skipped())


def row_steps(rows: List[Row]) -> List[int]:
    return [max((a.shape[0] if a.ndim else 1) for a in row.values()) for row in rows]


def forward_reply_bytes(model: ServedModel, raw: RawRows, top: int) -> int:
    """The JSON size of ``forward_results`` for these rows, at most (before the model runs)."""
    size = results_bytes(model.task, model.graph()["outputs"], row_steps(raw.rows), top)
    labels = model.manifest.get("labels")
    if raw.words and model.task == "tagging" and iob_tags(labels):
        size = max(size, span_bytes(raw.words, labels))
    return size


def forward_results(model: ServedModel, outputs: List[Dict[str, np.ndarray]], raw: RawRows, tokenizer: Tokenizer,
                    top: int) -> List[Dict[str, Any]]:  # fmt: skip
    """Each row's outputs as its task's result (a tagger's entity spans where the rows kept
    their words' offsets), with the count of unknown tokens it held."""
    specs = model.graph()["outputs"]
    labels = model.manifest.get("labels")
    texts: List[Optional[Words]] = list(raw.words) or [None] * len(outputs)
    results = [task_result(model.task, row, specs, labels, tokenizer, top, words) for row, words in zip(outputs, texts)]
    for result, count in zip(results, raw.unknown):
        if count:
            result["unknown_tokens"] = count  # the model saw <unk> for these
    return results


def parameters(endpoint: GraphEndpoint, body: Dict[str, Any], limits: Limits, longest: int = 0) -> Dict[str, np.ndarray]:
    """The graph's scalar inputs from the body's keys of the same names, each checked against
    its range (a bound of ``max_sequence`` is the --max-sequence limit: past it is a 413)."""
    values: Dict[str, np.ndarray] = {}
    for parameter in endpoint.parameters:
        if parameter.maximum == "max_sequence":
            high, limit = limits.max_sequence, "--max-sequence"
        elif parameter.maximum == "vocab":
            high, limit = endpoint.vocab or INT64_MAX, ""
        else:
            high, limit = parameter.maximum, ""
        default = parameter.default + parameter.per_step * longest
        if parameter.per_step:
            default = min(default, high)
        if parameter.integer:
            value: float = integer(body, parameter.name, int(default), int(parameter.minimum), int(high), limit)
        else:
            value = number(body, parameter.name, float(default), parameter.minimum, float(high), zero=parameter.zero)
        values[parameter.name] = np.array(value, dtype=np.int64 if parameter.integer else np.float32)
    return values


def _check_cost(model: ServedModel, endpoint: GraphEndpoint, feeds: Dict[str, np.ndarray], limits: Limits) -> None:
    """Rows x steps over the graph's named axes (the prompt's, and the scalars outputs are sized by)."""
    sizes = symbolic_sizes(model.graph(endpoint.graph)["inputs"], feeds)
    check_cost({axis: size for axis, size in sizes.items() if axis in endpoint.axes}, limits)


def instance_rows(model: ServedModel, endpoint: GraphEndpoint, body: Dict[str, Any], tokenizer: Tokenizer, limits: Limits) -> RawRows:
    """One row per raw instance for the endpoint's token input."""
    graph = model.graph(endpoint.graph)
    return raw_rows(body, graph, tokenizer, limits, {t["name"] for t in graph["inputs"]} - {endpoint.prompt["name"]})


def instance_feeds(model: ServedModel, endpoint: GraphEndpoint, rows: List[Row], body: Dict[str, Any], limits: Limits) -> Dict[str, np.ndarray]:
    """The padded instances, their lengths and the scalar inputs, checked against
    ``max_tokens`` as one run."""
    prompt = endpoint.prompt["name"]
    padded, steps = pad_rows([row[prompt] for row in rows])
    if endpoint.lengths is None and len(set(steps.tolist())) > 1:
        raise RequestError(422, f"{model.name}'s {endpoint.graph} graph takes no lengths: send instances of one length")
    feeds = {prompt: padded, **({endpoint.lengths: steps} if endpoint.lengths else {})}
    feeds.update(parameters(endpoint, body, limits, int(steps.max())))
    _check_cost(model, endpoint, feeds, limits)
    return feeds


def instance_results(endpoint: GraphEndpoint, outputs: Dict[str, np.ndarray], tokenizer: Tokenizer) -> List[Dict[str, Any]]:
    """Each instance's reply (a ``text`` endpoint: its ids and their text)."""
    return [decoded_result(row, tokenizer) for row in outputs[endpoint.output]]


def prompt_feeds(model: ServedModel, endpoint: GraphEndpoint, body: Dict[str, Any], tokenizer: Tokenizer, limits: Limits) -> Dict[str, np.ndarray]:
    """A /generate request's feeds: its text under the name of the token input (one row), and
    the scalar inputs, each checked against its range and the limits."""
    name = endpoint.prompt["name"]
    prompt = text(body, name)
    values = parameters(endpoint, body, limits)
    if tokenizer.characters and len(prompt) > limits.max_sequence:  # before tokenizing it
        raise RequestError(413, f"the {name} has {len(prompt)} characters; the limit is {limits.max_sequence} (--max-sequence)")
    ids = np.asarray([tokenizer.encode(prompt, f"the {name}")], dtype=np.int64)
    if ids.shape[1] > limits.max_sequence:
        raise RequestError(413, f"the {name} has {ids.shape[1]} tokens; the limit is {limits.max_sequence} (--max-sequence)")
    feeds = {name: ids, **({endpoint.lengths: np.array([ids.shape[1]], dtype=np.int64)} if endpoint.lengths else {}), **values}
    _check_cost(model, endpoint, feeds, limits)
    return feeds


def prompt_reply(model: ServedModel, endpoint: GraphEndpoint, body: Dict[str, Any], outputs: Dict[str, np.ndarray],
                 tokenizer: Tokenizer) -> Dict[str, Any]:  # fmt: skip
    """A /generate reply: the model's name and the row's reply (``continuation``: the prompt
    continued; ``text``: the ids and their text)."""
    tokens = outputs[endpoint.output][0]
    if endpoint.reply == "continuation":
        return {"model": model.name, **continuation(endpoint.prompt["name"], body[endpoint.prompt["name"]], tokens, tokenizer)}
    return {"model": model.name, **decoded_result(tokens, tokenizer)}
