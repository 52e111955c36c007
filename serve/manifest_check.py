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
        elif kind != "characters":
            problems.append(f"has a tokenizer of kind {kind!r} (characters or words)")
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
