"""Pretrained word vectors in GloVe's text format (``word v1 v2 ... vD`` per line)."""

from pathlib import Path
from typing import Tuple

import torch
from torch import Tensor

from zoo.data.base import DataFormatError, Vocabulary


def vector_size(path: Path) -> int:
    """D, read from the first line."""
    with path.open(encoding="utf-8") as handle:
        first = handle.readline().rstrip("\n").split(" ")
    if len(first) < 2:
        raise DataFormatError(path, 1, "expected 'word v1 v2 ...' (GloVe text format)")
    return len(first) - 1


def read_vectors(path: Path, vocab: Vocabulary, size: int, seed: int) -> Tuple[Tensor, int]:
    """A (len(vocab), size) matrix: the file's vector for each known word, small random values
    (normal, std 0.1, seeded) for the others, zeros for padding. Returns it and the hit count."""
    generator = torch.Generator().manual_seed(seed)
    matrix = 0.1 * torch.randn(len(vocab), size, generator=generator)
    found = 0
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            parts = line.rstrip("\n").split(" ")
            if len(parts) != size + 1:
                raise DataFormatError(path, number, f"expected a word and {size} numbers, got {len(parts) - 1} values")
            index = vocab.index.get(parts[0])
            if index is None:
                continue
            try:
                matrix[index] = torch.tensor([float(v) for v in parts[1:]])
            except ValueError:
                raise DataFormatError(path, number, f"the vector of {parts[0]!r} is not all numbers") from None
            found += 1
    matrix[0] = 0.0
    return matrix, found
