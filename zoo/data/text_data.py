"""Text data sets: surnames by language, labelled sentences, and Shakespeare's characters."""

import re
from pathlib import Path
from typing import Dict, List, Tuple

import torch

from zoo.data.base import (
    PAD,
    UNK,
    DataFormatError,
    DataSet,
    Sequences,
    Stream,
    Vocabulary,
    check_class_sizes,
    stratified_indices,
    take,
)

FRACTIONS = (0.1, 0.1)  # validation, test; the rest trains

CHARACTERS = {"kind": "characters"}  # one token per character, as the vocabulary lists them


def _read_lines(path: Path) -> List[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as error:
        line = path.read_bytes()[: error.start].count(b"\n") + 1
        raise DataFormatError(path, line, "is not UTF-8 text") from None


def load_names(root: Path, seed: int, source: str) -> DataSet:
    """``<Language>.txt`` files, one surname per line.

    Deduplicated within each language; split by distinct name (stratified by the language a
    name is first listed under), so a name that appears in several languages is never on both
    sides of a split.
    """
    files = sorted(root.glob("*.txt"))
    if not files:
        raise DataFormatError(root, None, "holds no <Language>.txt files (one surname per line)")
    languages = [f.stem for f in files]
    pairs: Dict[Tuple[str, int], None] = {}  # (name, language id), insertion-ordered
    for language_id, path in enumerate(files):
        for number, line in enumerate(_read_lines(path), start=1):
            name = line.strip()
            if not name:
                continue  # the files end with blank lines
            if "\t" in name or len(name) > 64:
                raise DataFormatError(path, number, f"expected one surname per line, got {line[:40]!r}")
            pairs[(name, language_id)] = None
    counts = {language: 0 for language in languages}
    for _, language_id in pairs:
        counts[languages[language_id]] += 1
    check_class_sizes(counts, root, "surnames", "language")  # an empty Language.txt is a class of 0
    first_language: Dict[str, int] = {}
    for name, language_id in pairs:
        first_language.setdefault(name, language_id)
    distinct = list(first_language)
    groups = stratified_indices([first_language[n] for n in distinct], FRACTIONS, seed)
    side = {distinct[i]: split for split, indices in groups.items() for i in indices}
    chars = sorted({c for name in distinct for c in name})
    vocab = Vocabulary([PAD, UNK] + chars, unknown=1)
    splits = {s: Sequences([], []) for s in groups}
    for name, language_id in pairs:
        split = splits[side[name]]
        split.ids.append(vocab.encode(list(name)))
        split.labels.append(language_id)
    return DataSet(
        name="names",
        kind="sequences",
        splits=splits,
        description="surnames -> 18 languages (characters)",
        source=source,
        vocab=vocab,
        tokenizer=CHARACTERS,
        labels=languages,
        dims={"vocab": len(vocab), "classes": len(languages)},
        split_rule=f"distinct names, stratified by first language, 80/10/10, seed {seed}",
    )


_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[!?]")


def tokenize_words(text: str) -> List[str]:
    """Lower-cased words (with inner apostrophes) and ! ?; other punctuation is dropped."""
    return _WORD.findall(text.lower())


def load_sentiment(root: Path, seed: int, source: str) -> DataSet:
    """``*_labelled.txt`` files (or one file): ``sentence<TAB>0|1`` per line.

    Stratified by label and site, 80/10/10; the word vocabulary comes from the training split
    only (``<pad>`` = 0, ``<unk>`` = 1), so validation and test words can be unknown, as in use.
    """
    files = [root] if root.is_file() else sorted(root.glob("*_labelled.txt"))
    if not files:
        raise DataFormatError(root, None, "holds no *_labelled.txt files (sentence<TAB>0|1)")
    sentences: List[List[str]] = []
    labels: List[int] = []
    strata: List[int] = []
    for site, path in enumerate(files):
        for number, line in enumerate(_read_lines(path), start=1):
            if not line.strip():
                continue
            text, tab, label = line.rpartition("\t")
            if not tab or label.strip() not in ("0", "1"):
                raise DataFormatError(path, number, f"expected 'sentence<TAB>0' or '...<TAB>1', got {line[:60]!r}")
            sentences.append(tokenize_words(text))
            labels.append(int(label))
            strata.append(2 * site + int(label))
        if not strata or strata[-1] // 2 != site:
            raise DataFormatError(path, None, "holds no labelled sentences (sentence<TAB>0|1 per line); fill it or remove it")
    check_class_sizes({"negative": labels.count(0), "positive": labels.count(1)}, root, "sentences")
    groups = stratified_indices(strata, FRACTIONS, seed)
    counts: Dict[str, int] = {}
    for i in groups["train"]:
        for word in sentences[i]:
            counts[word] = counts.get(word, 0) + 1
    words = sorted(counts, key=lambda w: (-counts[w], w))
    vocab = Vocabulary([PAD, UNK] + words, unknown=1)

    def encoded(indices: List[int]) -> Sequences:
        # An empty sentence (only punctuation) still needs one step: it becomes <unk>.
        return Sequences([vocab.encode(sentences[i]) or [1] for i in indices], take(labels, indices))

    return DataSet(
        name="sentiment",
        kind="sequences",
        splits={s: encoded(indices) for s, indices in groups.items()},
        description="review sentences (imdb, amazon, yelp) -> negative / positive",
        source=source,
        vocab=vocab,
        tokenizer={"kind": "words", "lowercase": True, "pattern": _WORD.pattern},
        labels=["negative", "positive"],
        dims={"vocab": len(vocab), "classes": 2},
        split_rule=f"stratified by site and label, 80/10/10, seed {seed}; vocabulary from train",
    )


def load_shakespeare(path: Path, seed: int, source: str) -> DataSet:
    """One text file. The first 90% trains, the next 5% validates, the last 5% tests (the usual
    first-90% training split of Karpathy's character-level RNN and nanoGPT, its remainder halved). Contiguous, so
    ``seed`` is not used."""
    if path.is_dir():
        path = path / "input.txt"
    text = "\n".join(_read_lines(path)) + "\n"
    if len(text) < 100:
        raise DataFormatError(path, None, f"holds only {len(text)} characters; a language model needs more")
    chars = sorted(set(text))
    vocab = Vocabulary(chars)
    ids = torch.tensor(vocab.encode(list(text)), dtype=torch.long)
    a, b = int(len(ids) * 0.9), int(len(ids) * 0.95)
    return DataSet(
        name="tinyshakespeare",
        kind="stream",
        splits={"train": Stream(ids[:a]), "val": Stream(ids[a:b]), "test": Stream(ids[b:])},
        description="Shakespeare's plays, character by character",
        source=source,
        vocab=vocab,
        tokenizer=CHARACTERS,
        dims={"vocab": len(vocab)},
        split_rule="contiguous: first 90% train, next 5% validation, last 5% test",
    )

