"""Entity spans and scores with conlleval's semantics (zoo/entities.py)."""

import pytest

from zoo.entities import entity_scores, spans


@pytest.mark.parametrize(
    "tags, expected",
    [
        (["B-PER", "I-PER", "O"], [("PER", 0, 2)]),
        (["I-PER", "I-PER", "O"], [("PER", 0, 2)]),  # an I- without a B- starts a span
        (["O", "I-LOC"], [("LOC", 1, 2)]),  # ... also after O, and a trailing entity is kept
        (["B-PER", "I-LOC", "I-LOC"], [("PER", 0, 1), ("LOC", 1, 3)]),  # a type change inside a run
        (["B-PER", "B-PER", "I-PER"], [("PER", 0, 1), ("PER", 1, 3)]),  # B- after B- of the same type
        (["B-ORG", "O", "I-ORG", "B-ORG"], [("ORG", 0, 1), ("ORG", 2, 3), ("ORG", 3, 4)]),
        (["O", "O"], []),
        ([], []),
    ],
)
def test_spans(tags, expected):
    assert spans(tags) == expected


def test_scores_against_a_hand_computed_example():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "I-ORG", "O"]]
    predicted = [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "O", "O"]]
    # gold: PER(0,0-2), LOC(0,3-4), ORG(1,0-2); predicted: PER(0,0-2), ORG(0,3-4), ORG(1,0-1).
    scores = entity_scores(gold, predicted)
    assert scores["PER"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "gold": 1, "predicted": 1, "correct": 1}
    assert scores["LOC"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "gold": 1, "predicted": 0, "correct": 0}
    assert scores["ORG"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "gold": 1, "predicted": 2, "correct": 0}
    micro = scores["micro"]  # 1 correct of 3 predicted and 3 gold
    assert (micro["correct"], micro["predicted"], micro["gold"]) == (1, 3, 3)
    assert micro["precision"] == pytest.approx(1 / 3) and micro["recall"] == pytest.approx(1 / 3)
    assert micro["f1"] == pytest.approx(1 / 3)


def test_a_partial_span_is_wrong_at_both_ends():
    scores = entity_scores([["B-PER", "I-PER", "I-PER"]], [["B-PER", "I-PER", "O"]])
    assert scores["micro"]["correct"] == 0 and scores["micro"]["f1"] == 0.0


@pytest.mark.parametrize(
    "gold, predicted, message",
    [
        ([["O"]], [], "1 gold sentences but 0 predicted"),
        ([["O", "O"]], [["O"]], "sentence 0: 2 gold tags but 1 predicted"),
        ([["B-PER"]], [["X-PER"]], "tag 'X-PER' is not IOB2"),
        ([["B-"]], [["O"]], "tag 'B-' is not IOB2"),
    ],
)
def test_bad_input_is_refused(gold, predicted, message):
    with pytest.raises(ValueError, match=message):
        entity_scores(gold, predicted)


def _sentences(path):
    """(token, tag) pairs per sentence of a UNER IOB2 file."""
    sentences, current = [], []
    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        if line.startswith("#"):
            continue
        if not line.strip():
            if current:
                sentences.append(current)
            current = []
            continue
        fields = line.split("\t")
        current.append((fields[1], fields[2]))
    return sentences


def test_the_dictionary_baseline_scores_what_was_measured_independently():
    """Each word's most frequent tag in the dev file, O for unseen words, on the test file:
    issue 15 measured F1 0.350 (P 0.508, R 0.267) with its own scorer; the gold counts are the
    data's README's (LOC 317, PER 449, ORG 322)."""
    from collections import Counter, defaultdict
    from pathlib import Path

    folder = Path(__file__).resolve().parents[1] / "zoo" / "data" / "files" / "uner-ewt"
    counts = defaultdict(Counter)
    for sentence in _sentences(folder / "en_ewt-ud-dev.iob2"):
        for word, tag in sentence:
            counts[word][tag] += 1
    likeliest = {word: tags.most_common(1)[0][0] for word, tags in counts.items()}
    test = _sentences(folder / "en_ewt-ud-test.iob2")
    scores = entity_scores([[t for _, t in s] for s in test], [[likeliest.get(w, "O") for w, _ in s] for s in test])
    assert {kind: scores[kind]["gold"] for kind in ("LOC", "PER", "ORG")} == {"LOC": 317, "PER": 449, "ORG": 322}
    micro = scores["micro"]
    assert (round(micro["f1"], 3), round(micro["precision"], 3), round(micro["recall"], 3)) == (0.350, 0.508, 0.267)
