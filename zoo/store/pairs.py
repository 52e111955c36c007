"""The state pairs and ragged pairs of one graph, read from a bundle's manifest or from a model's
``Signature``: which output continues which state input, and which lengths input gives each
row of which sequence input its valid steps.

A manifest (schema 1) holds the pairs of ``forward`` at the top level (``state_pairs``,
``ragged``); each graph has those that name its own tensors, so seq2seq's ``decode`` graph gets
its ``(src_lengths, src)`` pair and ``generate`` none.
"""

from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Set, Tuple

Pair = Tuple[str, str]


@dataclass(frozen=True)
class Pairs:
    state: Tuple[Pair, ...] = ()  # (state input, state output)
    ragged: Tuple[Pair, ...] = ()  # (lengths input, sequence input)

    @property
    def state_output(self) -> Dict[str, str]:
        """state input -> the output that continues it"""
        return dict(self.state)

    @property
    def state_input(self) -> Dict[str, str]:
        """state output -> the input it is fed back into"""
        return {output: input for input, output in self.state}

    @property
    def sequence(self) -> Dict[str, str]:
        """lengths input -> its sequence input"""
        return dict(self.ragged)

    @property
    def lengths(self) -> Dict[str, str]:
        """sequence input -> its lengths input"""
        return {sequence: lengths for lengths, sequence in self.ragged}

    def skipped(self) -> Set[str]:
        """The inputs a caller never fills with data: state (zeros, or carried) and lengths
        (from the padding)."""
        return {input for input, _ in self.state} | {lengths for lengths, _ in self.ragged}


def _read(entries: Any, first: str, second: str) -> Tuple[Pair, ...]:
    return tuple((entry[first], entry[second]) for entry in entries or ())


def graph_pairs(manifest: Mapping[str, Any], graph: str = "forward") -> Pairs:
    """The pairs of ``manifest``'s graph ``graph``: the manifest's pairs that name its tensors."""
    entry = manifest["graphs"][graph]
    inputs = {t["name"] for t in entry["inputs"]}
    outputs = {t["name"] for t in entry["outputs"]}
    state = tuple(p for p in _read(manifest.get("state_pairs"), "input", "output") if p[0] in inputs and p[1] in outputs)
    ragged = tuple(p for p in _read(manifest.get("ragged"), "lengths", "sequence") if p[0] in inputs and p[1] in inputs)
    return Pairs(state, ragged)


def signature_pairs(signature: Any) -> Pairs:
    """The pairs a ``zoo.registry.Signature`` declares."""
    return Pairs(tuple(map(tuple, signature.state_pairs)), tuple(map(tuple, signature.ragged)))


def pairs_entries(pairs: Pairs) -> Dict[str, List[Dict[str, str]]]:
    """The manifest's form: ``{"state_pairs": [{"input", "output"}], "ragged": [{"lengths", "sequence"}]}``."""
    return {
        "state_pairs": [{"input": i, "output": o} for i, o in pairs.state],
        "ragged": [{"lengths": l, "sequence": s} for l, s in pairs.ragged],
    }
