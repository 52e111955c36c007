"""Helpers for ragged batches described by a ``lengths`` tensor.

They give a padded batch the semantics of ``pack_padded_sequence(enforce_sorted=False)`` +
``pad_packed_sequence(total_length=T)``: steps past a sequence's length do not touch its state,
their outputs are zero, and the reverse direction starts at each sequence's own last step.
"""

import torch
from torch import Tensor


def _steps(lengths: Tensor, time: int) -> Tensor:
    """(T, 1) step numbers 0..T-1 with the dtype and device of ``lengths``."""
    return torch.arange(time, dtype=lengths.dtype, device=lengths.device).unsqueeze(1)


def step_mask(lengths: Tensor, time: int) -> Tensor:
    """(T, B, 1) bool, True where step t is inside sequence b."""
    steps = _steps(lengths, time)
    return (steps < lengths.unsqueeze(0)).unsqueeze(2)


def reverse_index(lengths: Tensor, time: int) -> Tensor:
    """(T, B) time index that reverses each sequence within its own length.

    Step t of sequence b maps to ``length_b - 1 - t`` inside the sequence and to itself in the
    padding, so the map is its own inverse: the same index reverses the outputs back.
    """
    steps = _steps(lengths, time)
    lengths = lengths.unsqueeze(0)  # (1, B)
    return torch.where(steps < lengths, lengths - 1 - steps, steps.expand(time, lengths.size(1)))


def reverse_time(x: Tensor, index: Tensor) -> Tensor:
    """Reorder a (T, B, F) tensor along time by a (T, B) ``reverse_index``."""
    return torch.gather(x, 0, index.unsqueeze(2).expand(x.size(0), x.size(1), x.size(2)))
