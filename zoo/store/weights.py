"""Weights files (safetensors) as numpy arrays: no pickle, and no torch needed to read them.

``zoo.rebuild`` turns these arrays into a model's state and back; a bundle's loaders and the
server read them without torch.
"""

from pathlib import Path
from typing import Dict, Mapping

import numpy as np
from safetensors.numpy import load as _load
from safetensors.numpy import save as _save

from zoo.store import atomic

Arrays = Dict[str, np.ndarray]


def read_weights(path: Path) -> Arrays:
    """Every tensor of ``path`` by name (writable arrays); a corrupt file raises
    ``safetensors.SafetensorError``, a missing one OSError."""
    return _load(path.read_bytes())


def weights_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    # np.ascontiguousarray would turn a 0-d array (BatchNorm's num_batches_tracked) into shape (1,).
    return _save({name: np.require(array, requirements="C") for name, array in arrays.items()})


def write_weights(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    data = weights_bytes(arrays)
    atomic.write_atomic(path, lambda p: atomic.write_bytes(p, data))
