"""Parameter creation and initialisation shared by the cells and the layers."""

import math
from typing import Optional

import torch
from torch import nn


def recurrent_parameter(
    rows: int, cols: int, device: Optional[torch.device], dtype: Optional[torch.dtype]
) -> nn.Parameter:
    """An uninitialised (rows, cols) weight, or a (rows,) bias when ``cols`` is 0."""
    shape = [rows, cols] if cols > 0 else [rows]
    return nn.Parameter(torch.empty(shape, device=device, dtype=dtype))


def reset_uniform(module: nn.Module, hidden_size: int) -> None:
    """PyTorch's recurrent initialisation: every parameter ~ U(-1/sqrt(H), 1/sqrt(H))."""
    bound = 1.0 / math.sqrt(hidden_size) if hidden_size > 0 else 0.0
    for weight in module.parameters():
        nn.init.uniform_(weight, -bound, bound)


def check_sizes(input_size: int, hidden_size: int) -> None:
    """Constructor arguments common to every cell and layer."""
    if input_size <= 0:
        raise ValueError(f"input_size must be a positive integer, got {input_size}")
    if hidden_size <= 0:
        raise ValueError(f"hidden_size must be a positive integer, got {hidden_size}")


def check_nonlinearity(nonlinearity: str) -> None:
    """An Elman RNN supports exactly the two nonlinearities PyTorch's does."""
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
