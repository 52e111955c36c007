"""Tiny files in the UNER IOB2 format, for the loader and task tests."""

from pathlib import Path
from typing import Dict, List, Tuple

Sentence = List[Tuple[str, str]]  # (token, tag)


def iob2(documents: Dict[str, List[Sentence]]) -> str:
    """The text of one file: each document's ``# newdoc`` line, then its sentences."""
    lines: List[str] = []
    for document, sentences in documents.items():
        lines.append(f"# newdoc id = {document}")
        for number, sentence in enumerate(sentences, start=1):
            lines += [f"# sent_id = {document}-{number}", "# text = " + " ".join(t for t, _ in sentence)]
            lines += [f"{i}\t{token}\t{tag}\t-\t-" for i, (token, tag) in enumerate(sentence, start=1)]
            lines.append("")
    return "\n".join(lines) + "\n"


def _sentence(text: str) -> Sentence:
    """"Anna/B-PER lives in Paris/B-LOC" -> [("Anna", "B-PER"), ("lives", "O"), ...]"""
    return [(word.partition("/")[0], word.partition("/")[2] or "O") for word in text.split()]


# Eight documents: the loader holds one out (15% of 8, rounded), whole.
DEV_DOCUMENTS = {
    f"doc{d}": [_sentence(f"Anna/B-PER Lee/I-PER met Bob{d}/B-PER in Paris/B-LOC ."), _sentence(f"Acme/B-ORG hired {d} people")]
    for d in range(8)
}
TEST_DOCUMENTS = {"t0": [_sentence("Zoe/B-PER visited New/B-LOC York/I-LOC"), _sentence("Acme/B-ORG Corp/I-ORG grew")]}


def write_uner(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "xx-ud-dev.iob2").write_text(iob2(DEV_DOCUMENTS), encoding="utf-8")
    (folder / "xx-ud-test.iob2").write_text(iob2(TEST_DOCUMENTS), encoding="utf-8")
    return folder
