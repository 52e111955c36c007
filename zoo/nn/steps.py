"""One time step of each recurrent cell, shared by the single-step cells and the layers.

The math is PyTorch's own (torch.nn.RNNCell / LSTMCell / GRUCell documentation): LSTM gates in
the order i, f, g, o; GRU gates r, z, n with n = tanh(W_in x + b_in + r * (W_hn h + b_hn)).
Every function takes the input half of the pre-activations, ``gx``, already computed, so that a
layer can project all time steps with one matrix product before its loop and only the recurrent
product runs per step. ``w_hh_t`` is the transposed recurrent weight (a view: ``mm`` reads it
without a copy).
"""

from typing import Optional, Tuple

import torch
from torch import Tensor


def rnn_tanh_step(gx: Tensor, h: Tensor, w_hh_t: Tensor) -> Tensor:
    """h' = tanh(gx + h W_hh^T); ``gx`` already holds x W_ih^T + b_ih + b_hh."""
    return torch.tanh(torch.addmm(gx, h, w_hh_t))


def rnn_relu_step(gx: Tensor, h: Tensor, w_hh_t: Tensor) -> Tensor:
    """h' = relu(gx + h W_hh^T); ``gx`` already holds x W_ih^T + b_ih + b_hh."""
    return torch.relu(torch.addmm(gx, h, w_hh_t))


def lstm_step(gx: Tensor, h: Tensor, c: Tensor, w_hh_t: Tensor) -> Tuple[Tensor, Tensor]:
    """One LSTM step; ``gx`` (B, 4H) already holds x W_ih^T + b_ih + b_hh."""
    gates = torch.addmm(gx, h, w_hh_t)  # (B, 4H)
    hidden = h.size(1)
    # One sigmoid over all four gates is cheaper per step than three separate calls; the
    # sigmoid of the g block is simply unused. Slices, not chunk(4, 1): TorchScript's autodiff
    # drops the gradient of an unused chunk and then concatenates too few columns.
    sig = torch.sigmoid(gates)
    i = sig[:, :hidden]
    f = sig[:, hidden : 2 * hidden]
    o = sig[:, 3 * hidden :]
    g = torch.tanh(gates[:, 2 * hidden : 3 * hidden])
    c_next = torch.addcmul(f * c, i, g)
    h_next = o * torch.tanh(c_next)
    return h_next, c_next


def gru_step(gx: Tensor, h: Tensor, w_hh_t: Tensor, b_hh: Optional[Tensor]) -> Tensor:
    """One GRU step; ``gx`` (B, 3H) holds x W_ih^T + b_ih, and ``b_hh`` stays with the
    recurrent product because b_hn sits inside r * (W_hn h + b_hn)."""
    if b_hh is None:
        gh = torch.mm(h, w_hh_t)
    else:
        gh = torch.addmm(b_hh, h, w_hh_t)  # (B, 3H)
    hidden = h.size(1)
    rz = torch.sigmoid(gx[:, : 2 * hidden] + gh[:, : 2 * hidden])
    r = rz[:, :hidden]
    z = rz[:, hidden:]
    n = torch.tanh(torch.addcmul(gx[:, 2 * hidden :], r, gh[:, 2 * hidden :]))
    # h' = (1 - z) * n + z * h, written as one lerp.
    return torch.lerp(n, h, z)
