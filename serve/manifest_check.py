"""The parts of a bundle's manifest the server acts on, checked before it serves them.

The manifest is the one file of a bundle without a hash (it holds the others'), so a hand-edited
one passes ``check_files``; a wrong type or a broken tokenizer pattern here is one line, not a
traceback at start-up or a 500 at the first request.
"""

import re
from pathlib import Path
from typing import Any, Dict, List, Mapping

from zoo.store import MANIFEST, BundleError

DTYPES = ("float32", "float64", "int64", "int32", "bool")
MAX_CHAR_WIDTH = 128  # characters kept per word: a request's char array is at most this x --max-tokens ids


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _tensor_problem(entry: Any) -> str:
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        return "has an input or output without a name"
    if entry.get("dtype") not in DTYPES:
        return f"gives {entry['name']!r} the dtype {entry.get('dtype')!r}"
    shape = entry.get("shape")
    if not isinstance(shape, list) or not all(isinstance(d, str) or (isinstance(d, int) and not isinstance(d, bool) and d >= 1) for d in shape):
        return f"gives {entry['name']!r} the shape {shape!r}"
    vocab = entry.get("vocab")
    if vocab is not None and (isinstance(vocab, bool) or not isinstance(vocab, int) or vocab < 1):
        return f"gives {entry['name']!r} the vocabulary size {vocab!r}"
    return ""


def _graph_problems(graphs: Any) -> List[str]:
    if not isinstance(graphs, dict) or "forward" not in graphs:
        return ["has no forward graph"]
    problems = []
    for name, graph in graphs.items():
        if not isinstance(graph, dict) or not isinstance(graph.get("inputs"), list) or not isinstance(graph.get("outputs"), list):
            problems.append(f"has a graph {name!r} without inputs and outputs")
            continue
        problems += [f"graph {name!r} {p}" for p in map(_tensor_problem, graph["inputs"] + graph["outputs"]) if p]
    return problems


def _pairs_problems(manifest: Mapping[str, Any]) -> List[str]:
    forward = manifest["graphs"]["forward"]
    inputs = {t["name"] for t in forward["inputs"]}
    outputs = {t["name"] for t in forward["outputs"]}
    problems = []
    pairs = manifest.get("state_pairs")
    if not isinstance(pairs, list) or not all(isinstance(p, dict) and p.get("input") in inputs and p.get("output") in outputs for p in pairs):
        problems.append("has state_pairs that do not pair forward inputs with outputs")
    ragged = manifest.get("ragged")
    if not isinstance(ragged, list) or not all(isinstance(p, dict) and p.get("lengths") in inputs and p.get("sequence") in inputs for p in ragged):
        problems.append("has ragged pairs that do not name forward inputs")
    return problems


def _text_problems(manifest: Mapping[str, Any]) -> List[str]:
    problems = []
    labels = manifest.get("labels")
    if labels is not None and not _strings(labels):
        problems.append("has labels that are not a list of strings")
    vocabulary = manifest.get("vocabulary")
    if vocabulary is not None:
        tokens = vocabulary.get("tokens") if isinstance(vocabulary, dict) else None
        unknown = vocabulary.get("unknown") if isinstance(vocabulary, dict) else None
        if not _strings(tokens) or not (unknown is None or (isinstance(unknown, int) and 0 <= unknown < len(tokens))):
            problems.append("has a vocabulary that is not {tokens: [strings], unknown: null or an index}")
    tokenizer = manifest.get("tokenizer")
    if tokenizer is not None:
        kind = tokenizer.get("kind") if isinstance(tokenizer, dict) else None
        if kind == "words":
            try:
                re.compile(tokenizer.get("pattern"))
            except (re.error, TypeError) as exc:
                problems.append(f"has a words tokenizer whose pattern does not compile ({exc})")
            else:
                problems += _offsets_problems(tokenizer, manifest["graphs"]["forward"]["inputs"])
        elif kind != "characters":
            problems.append(f"has a tokenizer of kind {kind!r} (characters or words)")
    return problems


def _int64_input(inputs: List[Mapping[str, Any]], name: Any, rank: int) -> Mapping[str, Any]:
    """The forward input ``name`` if it is int64 of ``rank`` axes; else an empty mapping."""
    spec = next((t for t in inputs if t["name"] == name), {})
    return spec if spec and spec["dtype"] == "int64" and len(spec["shape"]) == rank else {}


def _offsets_problems(tokenizer: Mapping[str, Any], inputs: List[Mapping[str, Any]]) -> List[str]:
    """The keys of a words tokenizer that keeps offsets (issue 15's tagger): ``lowercase``,
    ``words_input`` and the ``characters`` record, each against the forward graph's inputs."""
    problems = []
    if not isinstance(tokenizer.get("lowercase", False), bool):
        problems.append(f"has a words tokenizer whose lowercase is {tokenizer.get('lowercase')!r}, not true or false")
    if re.compile(tokenizer["pattern"]).match("") and ("characters" in tokenizer or "words_input" in tokenizer):
        problems.append(f"has a words tokenizer whose pattern {tokenizer['pattern']!r} matches the empty string")
    if "words_input" in tokenizer and not _int64_input(inputs, tokenizer["words_input"], 2):
        problems.append(f"has a words tokenizer whose words_input {tokenizer['words_input']!r} is not an int64 (batch, time) forward input")
    if "characters" not in tokenizer:
        return problems
    chars = tokenizer["characters"]
    if not isinstance(chars, dict):
        return problems + [f"has a words tokenizer whose characters record is {chars!r}, not {{input, width, vocabulary}}"]
    spec = _int64_input(inputs, chars.get("input"), 3)
    width = chars.get("width")
    vocabulary = chars.get("vocabulary")
    tokens = vocabulary.get("tokens") if isinstance(vocabulary, dict) else None
    unknown = vocabulary.get("unknown") if isinstance(vocabulary, dict) else None
    if not spec:
        problems.append(f"has a characters record whose input {chars.get('input')!r} is not an int64 (batch, time, width) forward input")
    if isinstance(width, bool) or not isinstance(width, int) or not 1 <= width <= MAX_CHAR_WIDTH:
        problems.append(f"has a characters record whose width is {width!r}, not a number of characters in [1, {MAX_CHAR_WIDTH}]")
    elif spec and spec["shape"][2] != width:
        problems.append(f"has a characters record of width {width} but its input {spec['name']!r} has shape {spec['shape']}")
    if not _strings(tokens) or not tokens or not (unknown is None or (isinstance(unknown, int) and not isinstance(unknown, bool) and 0 < unknown < len(tokens))):
        problems.append("has a characters record whose vocabulary is not {tokens: [strings], unknown: null or an index past the padding 0}")
    elif spec and isinstance(spec.get("vocab"), int) and len(tokens) > spec["vocab"]:
        problems.append(f"has {len(tokens)} characters in its characters vocabulary but its input {spec['name']!r} takes ids below {spec['vocab']}")
    return problems


def check_manifest(bundle: Path, manifest: Dict[str, Any]) -> None:
    model = manifest.get("model")
    if not isinstance(model, dict) or not isinstance(model.get("name"), str) or not isinstance(model.get("task"), str):
        problems = ["has no model name and task"]
    else:
        problems = _graph_problems(manifest.get("graphs"))
        if not problems:
            problems = _pairs_problems(manifest) + _text_problems(manifest)
    if problems:
        raise BundleError(f"{bundle} is refused: its {MANIFEST} {problems[0]}; export it again")
