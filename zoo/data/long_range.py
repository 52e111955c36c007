"""Generated long-range tasks: remember one symbol of T for T steps.

Each example is T steps of one-hot symbols from an alphabet of ``SYMBOLS``, uniform noise, and
its class is one of them, so the model must keep that step in its state until the end:

- ``copy-first[:T]``: the symbol at step 0. A model's state starts at zero, so step 0 is the
  one step it can tell apart without gates: a plain tanh RNN learns it up to T of about 50.
- ``copy-marked[:T]``: the symbol at the step whose 9th feature (a marker) is 1, a step drawn
  uniformly from the first half. Storing a symbol only when the marker says so is a product of
  two inputs, which a gate computes and a plain RNN's sum of inputs does not: LSTM and GRU learn
  it, a plain RNN stays near chance.

Backpropagation through time carries the loss at the last step back over every step between
(Bengio, Simard and Frasconi 1994, "Learning long-term dependencies with gradient descent is
difficult"; Hochreiter and Schmidhuber 1997); ``zoo train MODEL --grad-norms`` draws it.
"""

import re
from typing import Dict, Tuple

import torch
from torch.nn import functional as F

from zoo.data.base import Arrays, DataSet

SYMBOLS = 8
MAX_LENGTH = 1000  # 5,000 examples x 1000 steps x 9 floats: 180 MB, the most we hold
SIZES = (4000, 500, 500)  # train / val / test
# name -> default length
DEFAULT_LENGTHS = {"copy-first": 50, "copy-marked": 30}


def parse_length(name: str) -> Tuple[str, int]:
    """``copy-first`` -> (``copy-first``, 50); ``copy-marked:100`` -> (``copy-marked``, 100)."""
    base = name.partition(":")[0]
    if name == base:
        return base, DEFAULT_LENGTHS[base]
    match = re.fullmatch(re.escape(base) + r":([0-9]+)", name)
    length = int(match.group(1)) if match else 0
    if not 2 <= length <= MAX_LENGTH:
        raise ValueError(f"data set {name!r}: give the length as {base}:T with an integer T from 2 to "
                         f"{MAX_LENGTH} (e.g. {base}:100), or {base} for T={DEFAULT_LENGTHS[base]}")  # fmt: skip
    return base, length


def _data_set(name: str, length: int, splits: Dict[str, Arrays], *, features: int, what: str, seed: int,
              sizes: Tuple[int, int, int]) -> DataSet:  # fmt: skip
    return DataSet(
        name=f"{name}:{length}",
        kind="steps",
        splits=splits,
        description=f"{length} one-hot symbols (of {SYMBOLS}) -> {what}",
        source="generated",
        labels=[f"s{k}" for k in range(SYMBOLS)],
        dims={"classes": SYMBOLS, "features": features},
        split_rule=f"generated: {sizes[0]}/{sizes[1]}/{sizes[2]} sequences of {length} uniform symbols, "
        f"seeds {seed}/{seed + 1}/{seed + 2}",
    )


def make_copy_first(seed: int, length: int = DEFAULT_LENGTHS["copy-first"], sizes: Tuple[int, int, int] = SIZES) -> DataSet:
    """``length`` steps of one-hot symbols, label = the first one. Seeded; each split draws its
    own examples (seeds ``seed``, ``seed + 1``, ``seed + 2``)."""
    splits = {}
    for offset, (split, count) in enumerate(zip(("train", "val", "test"), sizes)):
        generator = torch.Generator().manual_seed(seed + offset)
        symbols = torch.randint(0, SYMBOLS, (count, length), generator=generator)  # (N, T)
        splits[split] = Arrays(F.one_hot(symbols, SYMBOLS).float(), symbols[:, 0].clone())  # (N, T, K), (N,)
    return _data_set("copy-first", length, splits, features=SYMBOLS, what="the first one", seed=seed, sizes=sizes)


def make_copy_marked(seed: int, length: int = DEFAULT_LENGTHS["copy-marked"], sizes: Tuple[int, int, int] = SIZES) -> DataSet:
    """``length`` steps of one-hot symbols and a marker feature (the 9th) that is 1 at one step,
    drawn uniformly from the first half; label = the symbol at the marked step. Seeded as
    ``make_copy_first``."""
    splits = {}
    for offset, (split, count) in enumerate(zip(("train", "val", "test"), sizes)):
        generator = torch.Generator().manual_seed(seed + offset)
        symbols = torch.randint(0, SYMBOLS, (count, length), generator=generator)  # (N, T)
        marked = torch.randint(0, max(length // 2, 1), (count,), generator=generator)  # (N,)
        rows = torch.arange(count)
        marker = torch.zeros(count, length, 1)
        marker[rows, marked, 0] = 1.0
        inputs = torch.cat([F.one_hot(symbols, SYMBOLS).float(), marker], 2)  # (N, T, K + 1)
        splits[split] = Arrays(inputs, symbols[rows, marked])
    return _data_set("copy-marked", length, splits, features=SYMBOLS + 1, what="the marked one", seed=seed, sizes=sizes)
