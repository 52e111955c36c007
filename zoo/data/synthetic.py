"""Data sets made from a seed: the course's toy examples and a seq2seq task."""

import random
from typing import List

import torch

from zoo.data.base import PAD, Arrays, DataSet, Pairs, Vocabulary
from zoo.data.text_data import CHARACTERS

HELLO_CHARS = ["e", "h", "l", "o"]
BOS, EOS = "<bos>", "<eos>"
DIGITS = [str(d) for d in range(10)]


def make_hello() -> DataSet:
    """The course's lecture 12 task: read "hello", write "ohlol". One example, every split."""
    vocab = Vocabulary(HELLO_CHARS)
    pair = Pairs([vocab.encode(list("hello"))], [vocab.encode(list("ohlol"))])
    return DataSet(
        name="hello",
        kind="pairs",
        splits={"train": pair, "val": pair, "test": pair},
        description='"hello" -> "ohlol", one character per step',
        source="generated",
        vocab=vocab,
        tokenizer=CHARACTERS,
        dims={"vocab": len(vocab)},
        split_rule="one example, used for every split",
    )


def make_seq_reverse(seed: int, sizes=(8000, 1000, 1000), max_length: int = 10) -> DataSet:
    """Random digit strings of 1 to ``max_length`` digits; the target is the string reversed,
    then <eos>. Seeded; each split draws its own strings (seed, seed + 1, seed + 2)."""
    vocab = Vocabulary([PAD, BOS, EOS] + DIGITS)
    splits = {}
    for offset, (split, count) in enumerate(zip(("train", "val", "test"), sizes)):
        rng = random.Random(seed + offset)
        sources: List[List[int]] = []
        targets: List[List[int]] = []
        for _ in range(count):
            digits = [rng.choice(DIGITS) for _ in range(rng.randint(1, max_length))]
            sources.append(vocab.encode(digits))
            targets.append(vocab.encode(digits[::-1] + [EOS]))
        splits[split] = Pairs(sources, targets)
    return DataSet(
        name="seq-reverse",
        kind="pairs",
        splits=splits,
        description=f"reverse a string of 1-{max_length} digits",
        source="generated",
        vocab=vocab,
        tokenizer=CHARACTERS,
        dims={"vocab": len(vocab)},
        split_rule=f"generated: {sizes[0]}/{sizes[1]}/{sizes[2]} strings, seeds {seed}/{seed + 1}/{seed + 2}",
    )


PASS_HOURS = 2.5  # lecture 6: 1 and 2 hours of study fail, 3 hours pass


def make_regression_toy(seed: int, binary: bool = False, count: int = 100) -> DataSet:
    """The course's first data: x in [0, 4], y = 2x (lecture 5). With ``binary`` the target is
    whether x > 2.5 (lecture 6's hours studied -> pass). Seeded, split 80/10/10."""
    generator = torch.Generator().manual_seed(seed)
    x = 4.0 * torch.rand(count, 1, generator=generator)
    y = (x > PASS_HOURS).float() if binary else 2.0 * x
    cuts = (int(count * 0.8), int(count * 0.9))
    splits = {
        "train": Arrays(x[: cuts[0]], y[: cuts[0]]),
        "val": Arrays(x[cuts[0] : cuts[1]], y[cuts[0] : cuts[1]]),
        "test": Arrays(x[cuts[1] :], y[cuts[1] :]),
    }
    return DataSet(
        name="regression-toy",
        kind="vectors",
        splits=splits,
        description="x -> pass (x > 2.5)" if binary else "x -> y = 2x",
        source="generated",
        labels=["fail", "pass"] if binary else None,
        dims={"features": 1, "targets": 1},
        split_rule=f"generated: {count} points, x ~ U(0, 4), seed {seed}, 80/10/10",
    )
