"""Universal NER's English Web Treebank (UNER v1, Mayhew et al., NAACL 2024): named entities
(PER, ORG, LOC) tagged in IOB2 on UD_English-EWT's tokens.

Only the official dev and test files are bundled (the train file is too large to ship), so the
zoo trains on the dev file with whole documents held out for validation, and reports on the
official test file, whose scores stay comparable with the published ones. Documents are held out
whole because sentences of one document share names: a held-out sentence whose neighbours were
trained on would flatter the validation score.
"""

import random
import re
from pathlib import Path
from typing import Dict, List, NamedTuple, Sequence, Tuple

from zoo.data.base import PAD, UNK, DataFormatError, DataSet, TaggedSentences, Vocabulary

VALIDATION_SHARE = 0.15  # of the dev file's documents, held out whole
WORD_WIDTH = 20  # characters of a word the model reads (longer words keep their first 20)

# Splits raw text into tokens as UD_English-EWT does, as far as a regex can: URLs and e-mail
# addresses whole; abbreviations (U.S., Inc., Dr.) with their period; clitics apart ("do" "n't",
# "it" "'s"); numbers with their inner separators (5,000 08/16/2000 555-1234) but hyphenated
# words split ("al" "-" "Sadr"), except e-mail; file names whole; runs of dots, dashes, !?, = and
# * as one token; simple emoticons. 99.4% of the dev file's tokens (94.9% of its sentences, all
# tokens equal) come back as themselves from the sentence's `# text` (test file: 99.2%, 93.3%).
TOKEN_PATTERN = (
    r"(?:https?://|www\.)[^\s<>\"]+"
    # An address starts where no address character precedes: else a long run of "+" or "."
    # is retried from every position (quadratic; a served request could stall the server).
    r"|(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
    r"|(?:[A-Za-z]\.){2,}"
    r"|(?:Mr|Mrs|Ms|Dr|St|Inc|Corp|Co|Ltd|Jr|Sr|Capt|Gen|Gov|Sen|Rep|Prof|Mt|Ave|vs|etc|No"
    r"|Jan|Feb|Mar|Apr|Aug|Sept|Sep|Oct|Nov|Dec)\."
    r"|[Ee]-mail"
    r"|\w+(?=n[’']t\b)|n[’']t\b"
    r"|[’'](?:[sdmSDM]|re|ve|ll|RE|VE|LL)\b"
    r"|\d+(?:[.,/:-]\d+)+"
    r"|\w+(?:[._]\w+)*"
    r"|\.{2,}|-{2,}|[!?]{2,}|=+|\*+|<<|>>|[:;]-?[()DPp]|\$+"
    r"|[^\w\s]"
)
_TAG = re.compile(r"O|[BI]-\S+")


class Sentence(NamedTuple):
    document: str  # the id of the `# newdoc` above it
    tokens: List[str]
    tags: List[str]


def read_iob2(path: Path) -> List[Sentence]:
    """The sentences of one file: ``index<TAB>token<TAB>tag[<TAB>...]`` lines, ``#`` comment lines,
    a blank line after each sentence. A sentence before any ``# newdoc`` line is a document of
    its own."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as error:
        line = path.read_bytes()[: error.start].count(b"\n") + 1
        raise DataFormatError(path, line, "is not UTF-8 text") from None
    sentences: List[Sentence] = []
    document = ""
    tokens: List[str] = []
    tags: List[str] = []
    for number, line in enumerate(lines + [""], start=1):
        if line.startswith("#"):
            if line.startswith("# newdoc"):
                document = line.partition("=")[2].strip() or f"line {number}"
            continue
        if not line.strip():
            if tokens:
                sentences.append(Sentence(document or f"sentence {len(sentences) + 1}", tokens, tags))
                tokens, tags = [], []
            continue
        columns = line.split("\t")
        if len(columns) < 3 or columns[0] != str(len(tokens) + 1) or not columns[1] or not _TAG.fullmatch(columns[2]):
            raise DataFormatError(path, number, f"expected 'index<TAB>token<TAB>tag' with index {len(tokens) + 1} and "
                                                f"a tag O, B-TYPE or I-TYPE, got {line[:60]!r}")  # fmt: skip
        tokens.append(columns[1])
        tags.append(columns[2])
    if not sentences:
        raise DataFormatError(path, None, "holds no sentences (index<TAB>token<TAB>tag lines)")
    return sentences


def _one_file(root: Path, part: str) -> Path:
    found = sorted(root.glob(f"*{part}.iob2"))
    if len(found) != 1:
        listed = ", ".join(p.name for p in found) or "none"
        raise DataFormatError(root, None, f"needs exactly one *{part}.iob2 file (found {listed})")
    return found[0]


def held_out_documents(documents: Sequence[str], seed: int) -> List[str]:
    """A seeded ~15% of the distinct documents (at least one, never all), in file order."""
    distinct = list(dict.fromkeys(documents))
    if len(distinct) < 2:
        raise ValueError(f"holds {len(distinct)} document(s); holding whole documents out for validation needs at least 2 "
                         "(separate them with '# newdoc id = ...' lines)")  # fmt: skip
    count = min(max(1, round(len(distinct) * VALIDATION_SHARE)), len(distinct) - 1)
    chosen = set(random.Random(seed).sample(distinct, count))
    return [d for d in distinct if d in chosen]


def _vocabularies(train: List[Sentence]) -> Tuple[Vocabulary, Vocabulary]:
    """Words (lower-cased) by training frequency, and characters (case kept) in code-point order."""
    counts: Dict[str, int] = {}
    for sentence in train:
        for token in sentence.tokens:
            counts[token.lower()] = counts.get(token.lower(), 0) + 1
    words = sorted(counts, key=lambda w: (-counts[w], w))
    characters = sorted({c for sentence in train for token in sentence.tokens for c in token})
    return Vocabulary([PAD, UNK] + words, unknown=1), Vocabulary([PAD, UNK] + characters, unknown=1)


def load_uner(root: Path, seed: int, source: str) -> DataSet:
    """A folder holding one ``*dev.iob2`` and one ``*test.iob2`` file (the bundled
    ``en_ewt-ud-dev.iob2`` and ``en_ewt-ud-test.iob2``).

    train: the dev file's sentences but those of the held-out documents (a seeded 15% of its
    ``# newdoc`` documents); val: the held-out documents; test: the test file. The vocabularies
    come from train only, so validation and test meet unknown words as a server does.
    """
    if not root.is_dir():
        raise DataFormatError(root, None, "must be a folder holding one *dev.iob2 and one *test.iob2 file")
    dev_path, test_path = _one_file(root, "dev"), _one_file(root, "test")
    dev, test = read_iob2(dev_path), read_iob2(test_path)
    try:
        held = set(held_out_documents([s.document for s in dev], seed))
    except ValueError as error:
        raise DataFormatError(dev_path, None, str(error)) from None
    parts = {"train": [s for s in dev if s.document not in held], "val": [s for s in dev if s.document in held],
             "test": test}  # fmt: skip
    vocab, characters = _vocabularies(parts["train"])
    kinds = sorted({tag[2:] for s in dev + test for tag in s.tags if tag != "O"})
    labels = ["O"] + [f"{prefix}-{kind}" for kind in kinds for prefix in ("B", "I")]
    label_ids = {label: i for i, label in enumerate(labels)}

    def encoded(sentences: List[Sentence]) -> TaggedSentences:
        return TaggedSentences(
            tokens=[s.tokens for s in sentences],
            words=[vocab.encode([t.lower() for t in s.tokens]) for s in sentences],
            chars=[[characters.encode(list(t)) for t in s.tokens] for s in sentences],
            tags=[[label_ids[t] for t in s.tags] for s in sentences],
        )

    return DataSet(
        name="uner-ewt",
        kind="tagged",
        splits={name: encoded(sentences) for name, sentences in parts.items()},
        description="English Web Treebank sentences -> IOB2 named entities (PER, ORG, LOC)",
        source=source,
        vocab=vocab,
        labels=labels,
        dims={"vocab": len(vocab), "characters": len(characters), "classes": len(labels)},
        split_rule=(f"train: the dev file less {len(held)} whole documents (a seeded {VALIDATION_SHARE:.0%} of its "
                    f"# newdoc documents, seed {seed}); val: those documents; test: the official test file; "
                    "vocabularies from train"),  # fmt: skip
        tokenizer={
            "kind": "words",
            "pattern": TOKEN_PATTERN,
            "lowercase": True,
            "characters": {"input": "chars", "width": WORD_WIDTH, "vocabulary": characters.to_dict()},
            "words_input": "words",
        },
    )
