"""ONNX's ``RNN``, ``LSTM`` and ``GRU`` operators as torch operators, with their ONNX symbolics.

Exporting a recurrent layer as one native ONNX node (instead of an ONNX ``Loop`` that runs the
cell step by step) takes an operator the TorchScript exporter can map to that node. These are
registered with ``torch.library`` as ``zoo::onnx_rnn``, ``zoo::onnx_lstm`` and ``zoo::onnx_gru``:
TorchScript calls them like any other op, and ``torch.onnx.register_custom_op_symbolic`` maps each
call to the ONNX node with the same inputs and attributes. Only the export-time modules of
``export.native_layers`` call them; ``model.pt`` never holds them.

Their eager kernels compute the ONNX operator's definition (onnx.ai operator docs) from
ONNX-layout weights — one layer, time-first, gates in ONNX's order — so the export-time modules
can be checked against the original layers in plain torch before any ONNX runtime is involved:

* ``X`` (T, B, I); ``W`` (D, G*H, I); ``R`` (D, G*H, H); ``B`` (D, 2*G*H) = [Wb, Rb]; D = 1 or 2.
* ``sequence_lens`` (B,) int32, optional: steps past a row's length are not run and their
  outputs are zero; the reverse direction starts at each row's own last step.
* Outputs ``Y`` (T, D, B, H) and ``Y_h`` (D, B, H) (the state after each row's last valid step);
  the LSTM adds ``Y_c``.
* LSTM gates i, o, f, c; GRU gates z, r, h with ``linear_before_reset=1`` (PyTorch's formula:
  h~ = tanh(W_h x + b_Wh + r * (R_h h + b_Rh))); RNN activation ``Tanh`` or ``Relu``.
"""

from typing import List, Optional, Tuple

import torch
from torch import Tensor
from torch.onnx import register_custom_op_symbolic, symbolic_helper

from zoo.nn.ragged import reverse_index, reverse_time

RNN_ACTIVATIONS = {"tanh": "Tanh", "relu": "Relu"}  # zoo nonlinearity -> ONNX activation name
_REGISTERED_FROM_OPSET = 13  # the lowest opset `zoo export --opset` accepts


def _directions(direction: str) -> List[bool]:
    """Reverse flag of each direction in ``W``'s order."""
    return {"forward": [False], "reverse": [True], "bidirectional": [False, True]}[direction]


def _reversed_rows(x: Tensor, lengths: Tensor) -> Tensor:
    """Each row's first ``length`` steps reversed; steps past it stay where they are."""
    return reverse_time(x, reverse_index(lengths, x.size(0)))


# One step of each node in ONNX's gate order, from ``gx`` = x W^T + Wb of that step: the eager
# kernels below and the one-step matrix-product form of ``export.native_layers`` (scripted, inside
# generate/decode loops) share them. ``r`` is one direction's R (G*H, H), ``rb`` its Rb.


def lstm_cell(gx: Tensor, h: Tensor, c: Tensor, r: Tensor, rb: Tensor) -> Tuple[Tensor, Tensor]:
    """LSTM, gates i, o, f, c: (h', c')."""
    hidden = h.size(1)
    gates = gx + torch.mm(h, r.t()) + rb
    i = torch.sigmoid(gates[:, :hidden])
    o = torch.sigmoid(gates[:, hidden : 2 * hidden])
    f = torch.sigmoid(gates[:, 2 * hidden : 3 * hidden])
    c_next = f * c + i * torch.tanh(gates[:, 3 * hidden :])
    return o * torch.tanh(c_next), c_next


def gru_cell(gx: Tensor, h: Tensor, r: Tensor, rb: Tensor) -> Tensor:
    """GRU with ``linear_before_reset=1``, gates z, r, h: R_h h + Rb_h is reset afterwards."""
    hidden = h.size(1)
    gh = torch.mm(h, r.t()) + rb
    z = torch.sigmoid(gx[:, :hidden] + gh[:, :hidden])
    reset = torch.sigmoid(gx[:, hidden : 2 * hidden] + gh[:, hidden : 2 * hidden])
    candidate = torch.tanh(gx[:, 2 * hidden :] + reset * gh[:, 2 * hidden :])
    return (1 - z) * candidate + z * h


def rnn_cell(gx: Tensor, h: Tensor, r: Tensor, rb: Tensor, activation: str) -> Tensor:
    """RNN with one activation, ``Tanh`` or ``Relu``."""
    pre = gx + torch.mm(h, r.t()) + rb
    return torch.relu(pre) if activation == "Relu" else torch.tanh(pre)


def _scan(
    x: Tensor,
    h0: Tensor,
    c0: Optional[Tensor],
    lengths: Tensor,
    step,  # (x_t W^T + Wb (B, G*H), h, c) -> (h', c')
) -> Tuple[Tensor, Tensor, Tensor]:
    """One direction over time: outputs (T, B, H), the last valid h and c."""
    h = h0
    c = c0 if c0 is not None else h0
    outputs = []
    for t in range(x.size(0)):
        h_next, c_next = step(x[t], h, c)
        valid = (lengths > t).unsqueeze(1)  # (B, 1)
        outputs.append(torch.where(valid, h_next, torch.zeros_like(h_next)))
        h = torch.where(valid, h_next, h)
        c = torch.where(valid, c_next, c)
    return torch.stack(outputs), h, c


def _run(
    kind: str,
    X: Tensor,
    W: Tensor,
    R: Tensor,
    B: Tensor,
    sequence_lens: Optional[Tensor],
    initial_h: Optional[Tensor],
    initial_c: Optional[Tensor],
    hidden_size: int,
    direction: str,
    activation: str = "Tanh",
) -> Tuple[Tensor, Tensor, Tensor]:
    time, batch = X.size(0), X.size(1)
    lengths = sequence_lens if sequence_lens is not None else X.new_full([batch], time, dtype=torch.int32)
    lengths = lengths.to(torch.long)
    zeros = X.new_zeros([W.size(0), batch, hidden_size])
    h0 = initial_h if initial_h is not None else zeros
    c0 = initial_c if initial_c is not None else zeros
    outputs, last_h, last_c = [], [], []
    for d, reverse in enumerate(_directions(direction)):
        w, r = W[d], R[d]
        wb, rb = B[d, : W.size(1)], B[d, W.size(1) :]
        seq = _reversed_rows(X, lengths) if reverse else X
        gx = seq @ w.t() + wb  # (T, B, G*H), every step's input part at once

        if kind == "lstm":

            def step(gx_t: Tensor, h: Tensor, c: Tensor) -> Tuple[Tensor, Tensor]:
                return lstm_cell(gx_t, h, c, r, rb)

        elif kind == "gru":

            def step(gx_t: Tensor, h: Tensor, c: Tensor) -> Tuple[Tensor, Tensor]:
                return gru_cell(gx_t, h, r, rb), c

        else:

            def step(gx_t: Tensor, h: Tensor, c: Tensor) -> Tuple[Tensor, Tensor]:
                return rnn_cell(gx_t, h, r, rb, activation), c

        y, h, c = _scan(gx, h0[d], c0[d] if kind == "lstm" else None, lengths, step)
        outputs.append(_reversed_rows(y, lengths) if reverse else y)
        last_h.append(h)
        last_c.append(c)
    return torch.stack(outputs, 1), torch.stack(last_h), torch.stack(last_c)


@torch.library.custom_op("zoo::onnx_lstm", mutates_args=())
def onnx_lstm(
    X: Tensor,
    W: Tensor,
    R: Tensor,
    B: Tensor,
    sequence_lens: Optional[Tensor],
    initial_h: Optional[Tensor],
    initial_c: Optional[Tensor],
    hidden_size: int,
    direction: str,
) -> Tuple[Tensor, Tensor, Tensor]:
    """ONNX ``LSTM`` (gates i, o, f, c): Y (T, D, B, H), Y_h, Y_c (D, B, H)."""
    return _run("lstm", X, W, R, B, sequence_lens, initial_h, initial_c, hidden_size, direction)


@torch.library.custom_op("zoo::onnx_gru", mutates_args=())
def onnx_gru(
    X: Tensor,
    W: Tensor,
    R: Tensor,
    B: Tensor,
    sequence_lens: Optional[Tensor],
    initial_h: Optional[Tensor],
    hidden_size: int,
    direction: str,
) -> Tuple[Tensor, Tensor]:
    """ONNX ``GRU`` with ``linear_before_reset=1`` (gates z, r, h): Y (T, D, B, H), Y_h."""
    y, h, _ = _run("gru", X, W, R, B, sequence_lens, initial_h, None, hidden_size, direction)
    return y, h


@torch.library.custom_op("zoo::onnx_rnn", mutates_args=())
def onnx_rnn(
    X: Tensor,
    W: Tensor,
    R: Tensor,
    B: Tensor,
    sequence_lens: Optional[Tensor],
    initial_h: Optional[Tensor],
    hidden_size: int,
    direction: str,
    activation: str,
) -> Tuple[Tensor, Tensor]:
    """ONNX ``RNN`` with one activation (``Tanh`` or ``Relu``): Y (T, D, B, H), Y_h."""
    y, h, _ = _run("rnn", X, W, R, B, sequence_lens, initial_h, None, hidden_size, direction, activation)
    return y, h


def _inputs(g, *values):  # type: ignore[no-untyped-def]
    """The node's inputs; a None becomes an omitted optional input, and trailing omitted
    inputs are dropped (a node may end its input list early)."""
    values = list(values)
    while values and symbolic_helper._is_none(values[-1]):
        values.pop()
    inputs = []
    for value in values:
        if symbolic_helper._is_none(value):
            # An empty input name, written as torch.onnx's own RNN symbolics write it.
            value = g.op("prim::Constant")
            value.setType(torch._C.OptionalType.ofTensor())
        inputs.append(value)
    return inputs


@symbolic_helper.parse_args("v", "v", "v", "v", "v", "v", "v", "i", "s")
def _lstm_symbolic(g, X, W, R, B, sequence_lens, initial_h, initial_c, hidden_size, direction):  # type: ignore[no-untyped-def]
    inputs = _inputs(g, X, W, R, B, sequence_lens, initial_h, initial_c)
    return g.op("LSTM", *inputs, hidden_size_i=hidden_size, direction_s=direction, outputs=3)


@symbolic_helper.parse_args("v", "v", "v", "v", "v", "v", "i", "s")
def _gru_symbolic(g, X, W, R, B, sequence_lens, initial_h, hidden_size, direction):  # type: ignore[no-untyped-def]
    inputs = _inputs(g, X, W, R, B, sequence_lens, initial_h)
    return g.op("GRU", *inputs, hidden_size_i=hidden_size, direction_s=direction, linear_before_reset_i=1, outputs=2)


@symbolic_helper.parse_args("v", "v", "v", "v", "v", "v", "i", "s", "s")
def _rnn_symbolic(g, X, W, R, B, sequence_lens, initial_h, hidden_size, direction, activation):  # type: ignore[no-untyped-def]
    inputs = _inputs(g, X, W, R, B, sequence_lens, initial_h)
    activations = [activation] * len(_directions(direction))
    return g.op("RNN", *inputs, hidden_size_i=hidden_size, direction_s=direction, activations_s=activations, outputs=2)


register_custom_op_symbolic("zoo::onnx_lstm", _lstm_symbolic, _REGISTERED_FROM_OPSET)
register_custom_op_symbolic("zoo::onnx_gru", _gru_symbolic, _REGISTERED_FROM_OPSET)
register_custom_op_symbolic("zoo::onnx_rnn", _rnn_symbolic, _REGISTERED_FROM_OPSET)
