"""What predict, decode and generate read from a request and answer, apart from how the request
travels. The HTTP server (``serve.server``) and the command line (``zoo predict``, ``zoo
generate`` through ``serve.local``) share these, so the same text is tokenized, checked and
answered the same way in both."""

from typing import Any, Dict, List, Tuple

import numpy as np

from serve.body import INT64_MAX, RequestError, integer, number, text
from serve.inputs import RawRows, Row, Tokenizer, check_cost, pad_rows, raw_rows
from serve.limits import SEED_MAX, Limits
from serve.model import ServedModel
from serve.outputs import decoded_result, task_result


def forward_rows(model: ServedModel, body: Dict[str, Any], tokenizer: Tokenizer, limits: Limits) -> RawRows:
    """One row per raw instance for the forward graph (state and lengths are the batcher's)."""
    return raw_rows(body, model.graph(), tokenizer, limits, set(model.state_pairs) | set(model.ragged))


def row_steps(rows: List[Row]) -> List[int]:
    return [max((a.shape[0] if a.ndim else 1) for a in row.values()) for row in rows]


def forward_results(model: ServedModel, outputs: List[Dict[str, np.ndarray]], unknown: List[int], tokenizer: Tokenizer,
                    top: int) -> List[Dict[str, Any]]:  # fmt: skip
    """Each row's outputs as its task's result, with the count of unknown tokens it held."""
    output_names = [o["name"] for o in model.graph()["outputs"]]
    labels = model.manifest.get("labels")
    results = [task_result(model.task, row, output_names, labels, tokenizer, top) for row in outputs]
    for result, count in zip(results, unknown):
        if count:
            result["unknown_tokens"] = count  # the model saw <unk> for these
    return results


def decode_rows(model: ServedModel, body: Dict[str, Any], tokenizer: Tokenizer, limits: Limits) -> RawRows:
    """One source row per raw instance for the decode graph."""
    return raw_rows(body, model.graph("decode"), tokenizer, limits, set(model.ragged) | {"max_len"})


def decode_sequence(model: ServedModel) -> Tuple[str, str]:
    """The decode graph's (source input, its lengths input)."""
    ragged = model.ragged
    (sequence,) = [t["name"] for t in model.graph("decode")["inputs"] if t["name"] not in ragged and t["shape"]]
    return sequence, next(k for k, v in ragged.items() if v == sequence)


def decode_feeds(model: ServedModel, rows: List[Row], body: Dict[str, Any], limits: Limits) -> Dict[str, np.ndarray]:
    """Padded sources, their lengths and ``max_len`` (default: twice the longest source + 2),
    checked against ``max_tokens`` as one run."""
    sequence, lengths_name = decode_sequence(model)
    padded, steps = pad_rows([row[sequence] for row in rows])
    longest = min(2 * int(steps.max()) + 2, limits.max_sequence)
    max_len = integer(body, "max_len", longest, 1, limits.max_sequence, "--max-sequence")
    check_cost({"batch": len(rows), "src_time": padded.shape[1], "max_len": max_len}, limits)
    return {sequence: padded, lengths_name: steps, "max_len": np.array(max_len, dtype=np.int64)}


def decode_results(outputs: Dict[str, np.ndarray], tokenizer: Tokenizer) -> List[Dict[str, Any]]:
    return [decoded_result(row, tokenizer) for row in outputs["tokens"]]


def generate_feeds(model: ServedModel, body: Dict[str, Any], tokenizer: Tokenizer, limits: Limits) -> Dict[str, np.ndarray]:
    """The generate graph's feeds from ``prefix``, ``steps``, ``temperature`` (0: greedy),
    ``top_k`` (0: every token) and ``seed``, each checked against its range and the limits."""
    graph = model.graph("generate")
    vocab = next((t.get("vocab") for t in graph["inputs"] if t["name"] == "prefix"), None) or INT64_MAX
    prefix = text(body, "prefix")
    steps = integer(body, "steps", 100, 1, limits.max_sequence, "--max-sequence")
    temperature = number(body, "temperature", 1.0, 1e-3, 1e3, zero=True)
    top_k = integer(body, "top_k", 0, 0, vocab)
    seed = integer(body, "seed", 0, 0, SEED_MAX)
    if tokenizer.characters and len(prefix) > limits.max_sequence:  # before tokenizing it
        raise RequestError(413, f"the prefix has {len(prefix)} characters; the limit is {limits.max_sequence} (--max-sequence)")
    ids = np.asarray([tokenizer.encode(prefix, "the prefix")], dtype=np.int64)
    if ids.shape[1] > limits.max_sequence:
        raise RequestError(413, f"the prefix has {ids.shape[1]} tokens; the limit is {limits.max_sequence} (--max-sequence)")
    check_cost({"batch": 1, "time": ids.shape[1], "steps": steps}, limits)
    return {"prefix": ids, "steps": np.array(steps, dtype=np.int64), "temperature": np.array(temperature, dtype=np.float32),
            "top_k": np.array(top_k, dtype=np.int64), "seed": np.array(seed, dtype=np.int64)}  # fmt: skip


def generated(model: ServedModel, prefix: str, tokens: np.ndarray, tokenizer: Tokenizer) -> Dict[str, Any]:
    return {"model": model.name, "prefix": prefix, "text": prefix + tokenizer.decode([int(t) for t in tokens]), "tokens": tokens.tolist()}
