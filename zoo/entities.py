"""Entity spans in IOB2 tag sequences, and entity-level precision, recall and F1.

The semantics are conlleval's (the CoNLL shared tasks' scorer): a span starts at ``B-X``, and
also at an ``I-X`` that does not continue a span of type X (after ``O``, or after a span of
another type); it ends before ``O``, ``B-``, or an ``I-`` of another type. A predicted entity is
correct only when its type and both of its ends equal a gold entity's. Scores are per type and
micro-averaged over every entity of every sentence.

Pure Python, no torch: training's metrics and the server's span replies share it.
"""

from dataclasses import dataclass
from typing import Dict, List, Sequence, Set, Tuple

Span = Tuple[str, int, int]  # (type, first token, one past the last token)
OUTSIDE = "O"


def _split(tag: str) -> Tuple[str, str]:
    """``("B", "PER")`` for ``B-PER``; ``("O", "")`` for ``O``; ValueError for anything else."""
    if tag == OUTSIDE:
        return OUTSIDE, ""
    prefix, _, kind = tag.partition("-")
    if prefix not in ("B", "I") or not kind:
        raise ValueError(f"tag {tag!r} is not IOB2: use O, B-TYPE or I-TYPE")
    return prefix, kind


def spans(tags: Sequence[str]) -> List[Span]:
    """The entity spans of one sentence's tags, in order."""
    found: List[Span] = []
    kind, start = "", -1  # the open span's type and first token (start < 0: none is open)
    for index, tag in enumerate(tags):
        prefix, tag_kind = _split(tag)
        continues = prefix == "I" and start >= 0 and tag_kind == kind
        if start >= 0 and not continues:
            found.append((kind, start, index))
            start = -1
        if prefix != OUTSIDE and not continues:
            kind, start = tag_kind, index
    if start >= 0:
        found.append((kind, start, len(tags)))
    return found


@dataclass(frozen=True)
class Counts:
    gold: int = 0
    predicted: int = 0
    correct: int = 0

    def scores(self) -> Dict[str, float]:
        """precision, recall and F1 (each 0 where its denominator is), with the counts."""
        precision = self.correct / self.predicted if self.predicted else 0.0
        recall = self.correct / self.gold if self.gold else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {"precision": precision, "recall": recall, "f1": f1,
                "gold": self.gold, "predicted": self.predicted, "correct": self.correct}  # fmt: skip


def entity_scores(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> Dict[str, Dict[str, float]]:
    """``{type: scores, ..., "micro": scores}`` of ``predicted`` against ``gold``, one tag
    sequence per sentence; every type seen in either appears. ValueError for sentences of
    different lengths or a tag that is not IOB2."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold sentences but {len(predicted)} predicted ones")
    expected: Set[Tuple[int, Span]] = set()
    found: Set[Tuple[int, Span]] = set()
    for index, (truth, guess) in enumerate(zip(gold, predicted)):
        if len(truth) != len(guess):
            raise ValueError(f"sentence {index}: {len(truth)} gold tags but {len(guess)} predicted ones")
        expected.update((index, span) for span in spans(truth))
        found.update((index, span) for span in spans(guess))
    kinds = sorted({span[0] for _, span in expected | found})
    per_type = {
        kind: Counts(
            gold=sum(span[0] == kind for _, span in expected),
            predicted=sum(span[0] == kind for _, span in found),
            correct=sum(span[0] == kind for _, span in expected & found),
        )
        for kind in kinds
    }
    micro = Counts(len(expected), len(found), len(expected & found))
    return {**{kind: counts.scores() for kind, counts in per_type.items()}, "micro": micro.scores()}
