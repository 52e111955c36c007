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


def _continues(previous: str, tag: str) -> bool:
    """Whether ``tag`` may follow ``previous`` in IOB2: an ``I-X`` only after ``B-X`` or ``I-X``."""
    prefix, kind = _split(tag)
    return prefix != "I" or (previous != OUTSIDE and _split(previous)[1] == kind)


def best_tags(log_probabilities: Sequence[Sequence[float]], labels: Sequence[str]) -> List[int]:
    """The tag ids of one sentence's likeliest valid IOB2 sequence: Viterbi over per-token
    log-probabilities (tokens x tags, in ``labels``' order) where an ``I-X`` may follow only
    ``B-X`` or ``I-X`` (and never starts a sentence), every other transition free.

    Per-token argmax gives sequences like ``O I-ORG`` or ``B-PER I-LOC``, which conlleval reads
    as spans with a wrong boundary; a softmax tagger has no CRF to rule them out, so its decoding
    does (on uner-ewt's test file: F1 +0.05). The tagging task scores these tags and the server
    answers with them, so both give the same entities. Ties go to the lower tag id.
    """
    tags = range(len(labels))
    before = [[i for i in tags if _continues(labels[i], labels[j])] for j in tags]  # allowed previous tags
    score = [float(log_probabilities[0][j]) if _split(labels[j])[0] != "I" else float("-inf") for j in tags] if log_probabilities else []
    back: List[List[int]] = []
    for row in log_probabilities[1:]:
        pointers = [max(before[j], key=score.__getitem__) for j in tags]
        score = [score[pointers[j]] + float(row[j]) for j in tags]
        back.append(pointers)
    if not score:
        return []
    best = [max(tags, key=score.__getitem__)]
    for pointers in reversed(back):
        best.append(pointers[best[-1]])
    return best[::-1]


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
