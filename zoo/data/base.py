"""What every data set loader returns: named splits in one of a few shapes, a vocabulary or
labels, and the sizes the model must be built with."""

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

PAD, UNK = "<pad>", "<unk>"
SPLITS = ("train", "val", "test")


class DataFormatError(ValueError):
    """A data file that is not in the expected format; the message names the file and line."""

    def __init__(self, path: Path | str, line: Optional[int], problem: str) -> None:
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {problem}")


@dataclass
class Vocabulary:
    """Tokens by id. Id 0 is padding; id 1 is the unknown token where the data needs one."""

    tokens: List[str]
    unknown: Optional[int] = None  # id given to a token not in the vocabulary; None = refuse

    def __post_init__(self) -> None:
        self.index = {t: i for i, t in enumerate(self.tokens)}

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, items: Sequence[str]) -> List[int]:
        if self.unknown is None:
            missing = [t for t in items if t not in self.index]
            if missing:
                raise ValueError(f"tokens {missing[:5]} are not in the vocabulary")
            return [self.index[t] for t in items]
        return [self.index.get(t, self.unknown) for t in items]

    def decode(self, ids: Sequence[int]) -> List[str]:
        return [self.tokens[i] for i in ids]

    def to_dict(self) -> Dict[str, Any]:
        return {"tokens": self.tokens, "unknown": self.unknown}

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "Vocabulary":
        return cls(list(data["tokens"]), data.get("unknown"))


@dataclass
class Sequences:
    """Variable-length token id lists with one class label each (names, sentences)."""

    ids: List[List[int]]
    labels: List[int]

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class Arrays:
    """Fixed-size examples: inputs (N, ...) and targets (N,) labels or (N, k) values."""

    inputs: Tensor
    targets: Tensor

    def __len__(self) -> int:
        return self.inputs.size(0)


@dataclass
class Pairs:
    """Source and target token id lists (seq2seq; tagging when both have the same length)."""

    sources: List[List[int]]
    targets: List[List[int]]

    def __len__(self) -> int:
        return len(self.sources)


@dataclass
class TaggedSentences:
    """Sentences with one tag per token (named entities): the tokens as written, their word ids
    (lower-cased), each token's character ids (case kept, every character) and tag ids."""

    tokens: List[List[str]]
    words: List[List[int]]
    chars: List[List[List[int]]]
    tags: List[List[int]]

    def __len__(self) -> int:
        return len(self.tokens)


@dataclass
class Stream:
    """One long token stream (language modelling)."""

    ids: Tensor  # (N,) int64

    def __len__(self) -> int:
        return self.ids.numel()


@dataclass
class Series:
    """A real-valued series; a split is the steps [start, end) each predicted from all before.

    ``values`` are what the model reads and predicts: standardised month-on-month changes of
    the log level, ``(log level[t] - log level[t - 1] - offset) / factor`` (0 at t = 0), so a
    prediction for step t becomes the level ``level[t - 1] * exp(value * factor + offset)``.
    """

    values: Tensor  # (N, F) float, the whole series (scaled changes)
    levels: Tensor  # (N,) float64, the original series
    start: int
    end: int
    scale: Tuple[float, float]  # (offset, factor) of the changes

    def to_levels(self, predicted: Tensor) -> Tensor:
        """Predicted scaled changes for steps [start, end) -> predicted original levels."""
        offset, factor = self.scale
        previous = self.levels[self.start - 1 : self.end - 1]
        return previous * (predicted.double() * factor + offset).exp()

    def __len__(self) -> int:
        return self.end - self.start


@dataclass
class DataSet:
    name: str
    kind: str  # "sequences", "images", "vectors", "stream", "pairs", "series", "tagged"
    # "train", "val", "test" -> Sequences | Arrays | Pairs | Stream | Series | TaggedSentences
    splits: Dict[str, Any]
    description: str
    source: str  # where it was read from ("bundled" or the user's path)
    vocab: Optional[Vocabulary] = None
    labels: Optional[List[str]] = None
    # The sizes the data fixes, by what they measure (zoo.registry.DATA_SIZES: "vocab",
    # "classes", "features", "targets"); each model says which config field takes which
    # (ModelSpec.data_fields), so a data set never names a model's field.
    dims: Dict[str, int] = field(default_factory=dict)
    split_rule: str = ""  # how the splits were made (documented in zoo/data/README.md)
    # How raw text becomes vocabulary tokens, for tools that meet raw text (the server):
    # {"kind": "characters"} or {"kind": "words", "lowercase": True, "pattern": regex}.
    tokenizer: Optional[Dict[str, Any]] = None
    # How an image file's 8-bit pixels become the model's input, for tools that meet image
    # files (`zoo predict`): {"scale": s, "mean": m, "std": d} -> (pixel * s - m) / d.
    pixels: Optional[Dict[str, float]] = None

    def sizes(self) -> Dict[str, int]:
        return {name: len(split) for name, split in self.splits.items()}

    def metadata(self) -> Dict[str, Any]:
        """What a run records about its data (config.json)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "source": self.source,
            "split_rule": self.split_rule,
            "sizes": self.sizes(),
            "vocab": self.vocab.to_dict() if self.vocab else None,
            "labels": self.labels,
            "dims": self.dims,
            "tokenizer": self.tokenizer,
            "pixels": self.pixels,
        }


def _share(count: int, fraction: float) -> int:
    """round(count * fraction), but at least one example when the fraction is not 0 and there
    are enough for every split (so a small class still reaches validation and test)."""
    size = round(count * fraction)
    return 1 if size == 0 and fraction > 0 and count >= len(SPLITS) else size


def split_indices(count: int, fractions: Tuple[float, float], seed: int) -> Dict[str, List[int]]:
    """A seeded shuffle of range(count) cut into train / val / test by (val, test) fractions."""
    order = list(range(count))
    random.Random(seed).shuffle(order)
    n_val, n_test = _share(count, fractions[0]), _share(count, fractions[1])
    return {
        "train": sorted(order[n_val + n_test :]),
        "val": sorted(order[:n_val]),
        "test": sorted(order[n_val : n_val + n_test]),
    }


def stratified_indices(
    labels: Sequence[int], fractions: Tuple[float, float], seed: int
) -> Dict[str, List[int]]:
    """``split_indices`` within each class, so every split keeps the class proportions."""
    by_class: Dict[int, List[int]] = {}
    for i, label in enumerate(labels):
        by_class.setdefault(label, []).append(i)
    result: Dict[str, List[int]] = {s: [] for s in SPLITS}
    for label in sorted(by_class):
        members = by_class[label]
        for split, positions in split_indices(len(members), fractions, seed + label).items():
            result[split].extend(members[p] for p in positions)
    return {s: sorted(v) for s, v in result.items()}


def check_class_sizes(counts: Dict[str, int], where: Path | str, unit: str, kind: str = "class") -> None:
    """Every class has at least one example per split (train, validation, test): a class with
    fewer cannot be learned and measured. ``counts`` maps each class's name to its examples;
    ``unit`` names them ("surnames") and ``kind`` the class ("language")."""
    small = sorted((name, n) for name, n in counts.items() if n < len(SPLITS))
    need = f"every {kind} needs at least {len(SPLITS)} (one per split: train, validation, test)"
    if len(small) == 1:
        name, n = small[0]
        raise DataFormatError(where, None, f"{kind} {name!r} has {n} {unit}; {need}: add {unit} or remove it")
    if small:
        listed = ", ".join(f"{name!r} ({n})" for name, n in small)
        raise DataFormatError(where, None, f"{kind}s {listed} have too few {unit}; {need}: add {unit} or remove them")
    if len(counts) < 2:
        raise DataFormatError(where, None, f"holds {len(counts)} {kind}(s); a classifier needs at least 2")


def check_splits(data: "DataSet") -> None:
    """No split is empty (validation and test measure every epoch and the end)."""
    empty = [name for name, size in data.sizes().items() if size == 0]
    if empty:
        raise DataFormatError(data.source, None, f"gives an empty {' and '.join(empty)} split; it needs more examples")


def take(items: Sequence[Any], indices: List[int]) -> List[Any]:
    return [items[i] for i in indices]


def tensor_take(t: Tensor, indices: List[int]) -> Tensor:
    return t[torch.tensor(indices, dtype=torch.long)]
