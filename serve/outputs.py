"""Model outputs -> what the task needs: labels with probabilities, next-token distributions,
forecasts, decoded text; tensors as JSON for explicit requests; and the size a reply will have,
known from the output shapes before the model runs.

Whether an output already holds probabilities is its manifest entry's ``meaning``; a manifest
written before it records none, and there an output named ``probability`` holds them.

A tagger whose labels are IOB2 tags and whose tokenizer keeps offsets (issue 15) answers raw
text with entity spans: ``{"entities": [{"text", "type", "start", "end", "score"}], "tokens":
[{"text", "start", "end", "tag"}]}``, offsets in characters of the request's string (Python's
``text[start:end]``: code points, not UTF-16 units), end exclusive. The tags are the likeliest
valid IOB2 sequence (``zoo.entities.best_tags``, as the training task decodes them, so both find
the same entities), read into spans by conlleval's rules (``zoo.entities.spans``); each entity is
scored by the mean probability of its tokens' tags."""

import json
from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np

from serve.body import RequestError
from serve.inputs import Tokenizer, Words
from zoo.entities import OUTSIDE, best_tags, spans

TOP = 5  # labels / tokens listed per result unless the request asks for another top_k
JSON_BYTES_PER_NUMBER = 24  # "-1.2345678901234567e-05, ": the longest a float32 prints as
RESULT_BYTES = 200  # a result's fixed part: label, probability, keys
PER_STEP_BYTES = 2 * JSON_BYTES_PER_NUMBER  # a step's id or value and its text
TENSOR_TASKS = ("encoder",)  # tasks whose result is the output tensors themselves
STEP_TASKS = ("tagging", "forecasting")  # one number per step in the result


def tensor_json(array: np.ndarray) -> Dict[str, Any]:
    return {"shape": list(array.shape), "dtype": str(array.dtype), "data": array.reshape(-1).tolist()}


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits.astype(np.float64) - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def _label(labels: Optional[List[str]], index: int) -> str:
    return labels[index] if labels and index < len(labels) else str(index)


def _ranked(probabilities: np.ndarray, names: List[str], top: int) -> List[Dict[str, Any]]:
    order = np.argsort(-probabilities, kind="stable")[:top]
    return [{"label": names[i], "probability": float(probabilities[i])} for i in order]


def meaning(output: Mapping[str, Any]) -> str:
    """What an output's values are (``zoo.registry.MEANINGS``), from its manifest entry."""
    recorded = output.get("meaning")
    if recorded is not None:
        return str(recorded)
    return "probability" if output["name"] == "probability" else "logits"  # a manifest from before the field


def iob_tags(labels: Optional[Sequence[str]]) -> bool:
    """Labels that are IOB2 tags (``O``, ``B-TYPE``, ``I-TYPE``) with at least one entity type."""
    if not labels or not all(isinstance(label, str) for label in labels):
        return False
    try:
        spans(list(labels))
    except ValueError:
        return False
    return any(label != OUTSIDE for label in labels)


def span_result(scores: np.ndarray, probability: bool, labels: Sequence[str], words: Words) -> Dict[str, Any]:
    """The entities and the tagged words of one text; ``scores``: (time, tags) logits, or
    probabilities when ``probability``. Steps past the text's words (padding) are not read."""
    scores = scores[: len(words)].astype(np.float64)
    if probability:
        probabilities = scores
        with np.errstate(divide="ignore"):
            log_probabilities = np.log(scores)  # a probability of 0 is -inf: never chosen
    else:
        shifted = scores - scores.max(axis=-1, keepdims=True)
        log_probabilities = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
        probabilities = np.exp(log_probabilities)
    best = np.array(best_tags(log_probabilities.tolist(), labels), dtype=np.int64)
    tags = [labels[int(i)] for i in best]
    chosen = probabilities[np.arange(len(best)), best]
    tokens = [{"text": words.word(i), "start": start, "end": end, "tag": tag} for i, ((start, end), tag) in enumerate(zip(words.offsets, tags))]
    entities = []
    for kind, first, last in spans(tags):
        start, end = words.offsets[first][0], words.offsets[last - 1][1]
        entities.append({"text": words.text[start:end], "type": kind, "start": start, "end": end, "score": float(chosen[first:last].mean())})
    return {"entities": entities, "tokens": tokens}


def task_result(task: str, outputs: Dict[str, np.ndarray], specs: Sequence[Mapping[str, Any]], labels: Optional[List[str]],
                tokenizer: Tokenizer, top: int = TOP, words: Optional[Words] = None) -> Dict[str, Any]:  # fmt: skip
    """One instance's reply; ``outputs`` are that row's arrays (no batch axis), ``specs`` the
    manifest entries of the outputs it returns, the task's main output first; ``words``: the
    instance's words with their offsets, where the tokenizer keeps them."""
    output_names = [spec["name"] for spec in specs]
    main = outputs[output_names[0]]
    if task == "classification":
        probabilities = _softmax(main)
        names = [_label(labels, i) for i in range(len(probabilities))]
        best = int(np.argmax(probabilities))
        return {"label": names[best], "probability": float(probabilities[best]), "top": _ranked(probabilities, names, top)}
    if task == "binary-classification":
        value = float(main.reshape(-1)[0])
        probability = value if meaning(specs[0]) == "probability" else float(1 / (1 + np.exp(-value)))
        return {"label": _label(labels, int(probability >= 0.5)), "probability": probability}
    if task == "language-model":
        probabilities = _softmax(main[-1])  # after the last step
        names = tokenizer.tokens if len(tokenizer.tokens) == len(probabilities) else [str(i) for i in range(len(probabilities))]
        return {"next": [{"token": r["label"], "probability": r["probability"]} for r in _ranked(probabilities, names, top)]}
    if task == "tagging" and words is not None and iob_tags(labels) and main.shape[-1] == len(labels or ()):
        return span_result(main, meaning(specs[0]) == "probability", labels or [], words)
    if task == "tagging":
        ids = main.argmax(axis=-1).tolist()
        return {"tokens": ids, "text": tokenizer.decode(ids) if tokenizer.ready else None}
    if task == "forecasting":
        steps = main.reshape(main.shape[0], -1)[:, 0]
        return {"forecast": float(steps[-1]), "predictions": steps.tolist()}
    if task == "regression":
        return {"prediction": main.reshape(-1).tolist()}
    return {name: tensor_json(outputs[name]) for name in output_names}  # encoders: the tensors


def decoded_result(tokens: np.ndarray, tokenizer: Tokenizer) -> Dict[str, Any]:
    """An endpoint's ``text`` reply for one row: its token ids and their text."""
    ids = [int(t) for t in tokens]
    return {"tokens": ids, "text": tokenizer.decode(ids) if tokenizer.ready else None}


def continuation(prompt_key: str, prompt: str, tokens: np.ndarray, tokenizer: Tokenizer) -> Dict[str, Any]:
    """An endpoint's ``continuation`` reply: the prompt, the prompt followed by the text of the
    ids, and the ids."""
    return {prompt_key: prompt, "text": prompt + tokenizer.decode([int(t) for t in tokens]), "tokens": tokens.tolist()}


def elements(spec: Mapping[str, Any], sizes: Mapping[str, int]) -> int:
    """Values in an output of ``spec``'s shape, its named axes sized by ``sizes``."""
    count = 1
    for dim in spec["shape"]:
        count *= sizes.get(dim, 1) if isinstance(dim, str) else dim
    return count


def tensors_bytes(outputs: Sequence[Mapping[str, Any]], names: Sequence[str], sizes: Mapping[str, int]) -> int:
    """The JSON size of returning the ``names`` outputs as tensors, at most."""
    return sum(elements(o, sizes) for o in outputs if o["name"] in names) * JSON_BYTES_PER_NUMBER


def results_bytes(task: str, outputs: Sequence[Mapping[str, Any]], row_steps: Sequence[int], top: int) -> int:
    """The JSON size of ``task_result`` for rows of these lengths, at most."""
    if task in TENSOR_TASKS:
        return sum(tensors_bytes(outputs, [o["name"] for o in outputs], {"batch": 1, "time": steps}) for steps in row_steps)
    per_step = PER_STEP_BYTES if task in STEP_TASKS else 0
    return sum(RESULT_BYTES + top * 60 + per_step * steps for steps in row_steps)


TOKEN_BYTES = 100  # a tagged word's keys, two offsets of up to 20 digits and punctuation, less its text and tag
ENTITY_BYTES = 140  # an entity's keys, offsets and score, less its text and type


def json_bytes(text: str) -> int:
    """Bytes of ``text`` as a JSON string in a reply (UTF-8, escapes as the server writes them)."""
    return len(json.dumps(text, ensure_ascii=False).encode("utf-8", "surrogatepass"))


def span_bytes(texts: Sequence[Words], labels: Sequence[str]) -> int:
    """The JSON size of ``span_result`` for these texts, at most: every word a token and an
    entity of the longest tag; the words' texts and the entities' (which do not overlap) each
    at most the whole text's."""
    tag = max((json_bytes(label) for label in labels), default=2)
    return sum(RESULT_BYTES + 2 * json_bytes(words.text) + len(words) * (TOKEN_BYTES + ENTITY_BYTES + 2 * tag) for words in texts)


def text_bytes(row_steps: Sequence[int]) -> int:
    """The JSON size of ``decoded_result`` for rows of these many ids, at most."""
    return sum(RESULT_BYTES + PER_STEP_BYTES * steps for steps in row_steps)


def check_reply(size: int, limit: int, hint: str) -> None:
    if size > limit:
        raise RequestError(413, f"the reply would be about {size // 1024} KiB; the limit is {limit // 1024} KiB (--max-reply-kb); {hint}")
