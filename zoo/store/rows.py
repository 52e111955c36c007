"""Arrays for one run from a manifest's tensor entries (``{"name", "dtype", "shape"}``, named
axes as strings): the zero state a sequence starts from, and ragged rows padded into a batch
with their lengths (the zoo's contract: a padded row gives exactly what it gives alone)."""

from typing import Any, List, Mapping, Tuple

import numpy as np


def zero_state(entry: Mapping[str, Any], sizes: Mapping[str, int]) -> np.ndarray:
    """Zeros of ``entry``'s dtype and shape, each named axis (``batch``) ``sizes[axis]`` long."""
    shape = []
    for dim in entry["shape"]:
        if isinstance(dim, str) and dim not in sizes:
            raise ValueError(f"cannot size the zero state {entry['name']!r}: no input gives its {dim!r} axis")
        shape.append(sizes[dim] if isinstance(dim, str) else dim)
    return np.zeros(shape, dtype=entry["dtype"])


def pad_rows(arrays: List[np.ndarray]) -> Tuple[np.ndarray, np.ndarray]:
    """Sequences of different lengths (time first) -> (zero-padded batch, int64 lengths)."""
    steps = np.array([a.shape[0] for a in arrays], dtype=np.int64)
    padded = np.zeros((len(arrays), int(steps.max())) + arrays[0].shape[1:], dtype=arrays[0].dtype)
    for i, array in enumerate(arrays):
        padded[i, : array.shape[0]] = array
    return padded, steps


def cut_row(array: np.ndarray, axis: int, steps: int) -> np.ndarray:
    """A padded row's first ``steps`` along ``axis``: what the row gives alone."""
    return np.take(array, np.arange(steps), axis=axis)
