"""Export-time modules that run each recurrent layer as native ONNX ``RNN``/``LSTM``/``GRU`` nodes.

``with_native_layers(model)`` returns a copy of ``model`` in which every recurrent layer — a
``zoo.nn`` layer, a bare ``torch.nn`` layer, a ``torch.nn`` layer behind ``PackedRNN``/
``PackedLSTM``, and a ``zoo.nn.RNNCell`` stepped over one-hot characters — is replaced by a module
that calls the ``export.native_ops`` operators, one per layer, and a record of each
replacement for the manifest. Only the ONNX export sees the copy: ``model.pt`` keeps the
original modules and their scripted loops.

Weights are converted once, here: PyTorch stacks LSTM gates as i, f, g, o and ONNX as i, o, f, c;
PyTorch's GRU gates are r, z, n and ONNX's z, r, h. Each layer's directions are stacked on a
leading axis (forward, then reverse) and the two biases side by side, as the nodes take them.
``lengths`` becomes the node's int32 ``sequence_lens``; a batch-first layer is transposed to
time-first around the nodes (onnxruntime's CPU kernels refuse ``layout=1``). Dropout between
layers is a training-time operation and has no node.
"""

import copy
from typing import Any, Collection, Dict, List, Optional, Tuple

import torch
from torch import Tensor, nn

import export.native_ops  # registers the zoo::onnx_* operators and their ONNX symbolics
from export.native_ops import gru_cell, lstm_cell, rnn_cell
from zoo import nn as znn
from zoo.nn.packed import PackedLSTM, PackedRNN
from zoo.nn.stepped import SteppedRNNCell

# ONNX gate block k is PyTorch's block GATE_ORDER[kind][k].
GATE_ORDER = {"lstm": (0, 3, 1, 2), "gru": (1, 0, 2), "rnn": (0,)}
ONNX_OP = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}
_KINDS = ((nn.LSTM, "lstm"), (znn.LSTM, "lstm"), (nn.GRU, "gru"), (znn.GRU, "gru"), (nn.RNN, "rnn"), (znn.RNN, "rnn"))


def recurrent_kind(layer: nn.Module) -> Optional[str]:
    """``lstm``, ``gru`` or ``rnn`` for a torch.nn or zoo.nn layer, else None."""
    return next((kind for cls, kind in _KINDS if type(layer) is cls), None)


def onnx_gate_order(weight: Tensor, kind: str) -> Tensor:
    """Rows of a stacked (G*H, ...) weight or (G*H,) bias, regrouped into ONNX's gate order."""
    blocks = weight.chunk(len(GATE_ORDER[kind]), 0)
    return torch.cat([blocks[k] for k in GATE_ORDER[kind]], 0)


def onnx_weights(layer: nn.Module, kind: str, index: int) -> Tuple[Tensor, Tensor, Tensor]:
    """W (D, G*H, I), R (D, G*H, H) and B (D, 2*G*H) of layer ``index`` of a multi-layer module."""
    ws, rs, bs = [], [], []
    for suffix in [f"_l{index}"] + ([f"_l{index}_reverse"] if layer.bidirectional else []):
        w = getattr(layer, f"weight_ih{suffix}").detach()
        r = getattr(layer, f"weight_hh{suffix}").detach()
        ws.append(onnx_gate_order(w, kind))
        rs.append(onnx_gate_order(r, kind))
        if layer.bias:
            b_ih = getattr(layer, f"bias_ih{suffix}").detach()
            b_hh = getattr(layer, f"bias_hh{suffix}").detach()
            bs.append(torch.cat([onnx_gate_order(b_ih, kind), onnx_gate_order(b_hh, kind)]))
        else:
            bs.append(w.new_zeros(2 * w.size(0)))
    return torch.stack(ws), torch.stack(rs), torch.stack(bs)


class _NativeLayer(nn.Module):
    """One layer, all its directions, as one ONNX node: (T, B, I) -> (T, B, D*H), h_n, c_n."""

    __constants__ = ["hidden_size", "direction"]

    def __init__(self, weights: Tuple[Tensor, Tensor, Tensor], hidden_size: int) -> None:
        super().__init__()
        w, r, b = weights
        # Buffers, not parameters: they are export-time copies, never trained.
        self.register_buffer("W", w.clone())
        self.register_buffer("R", r.clone())
        self.register_buffer("B", b.clone())
        self.hidden_size = hidden_size
        self.direction = "bidirectional" if w.size(0) == 2 else "forward"

    def _input_part(self, x: Tensor) -> Tensor:
        """x W^T + Wb of the forward direction for one step (B, I) -> (B, G*H)."""
        return torch.addmm(self.B[0, : self.W.size(1)], x, self.W[0].t())

    def _outputs(self, y: Tensor) -> Tensor:
        """(T, D, B, H) -> (T, B, D*H): the directions side by side, as torch.nn concatenates
        them; one direction is one Squeeze (the general form costs five nodes a layer, which
        shows at batch 1)."""
        if self.direction == "forward":
            return y.squeeze(1)
        return y.permute(0, 2, 1, 3).flatten(2)


class NativeLSTMLayer(_NativeLayer):
    def step(self, x: Tensor, h: Tensor, c: Tensor) -> Tuple[Tensor, Tensor]:
        """One time step of the forward direction in plain matrix products, ONNX gate order."""
        return lstm_cell(self._input_part(x), h, c, self.R[0], self.B[0, self.W.size(1) :])

    def forward(
        self, x: Tensor, lengths: Optional[Tensor], h0: Optional[Tensor], c0: Optional[Tensor]
    ) -> Tuple[Tensor, Tensor, Tensor]:
        y, h, c = torch.ops.zoo.onnx_lstm(x, self.W, self.R, self.B, lengths, h0, c0, self.hidden_size, self.direction)
        return self._outputs(y), h, c


class NativeGRULayer(_NativeLayer):
    def step(self, x: Tensor, h: Tensor, c: Tensor) -> Tuple[Tensor, Tensor]:
        h_next = gru_cell(self._input_part(x), h, self.R[0], self.B[0, self.W.size(1) :])
        return h_next, h_next

    def forward(
        self, x: Tensor, lengths: Optional[Tensor], h0: Optional[Tensor], c0: Optional[Tensor]
    ) -> Tuple[Tensor, Tensor, Tensor]:
        y, h = torch.ops.zoo.onnx_gru(x, self.W, self.R, self.B, lengths, h0, self.hidden_size, self.direction)
        return self._outputs(y), h, h


class NativeRNNLayer(_NativeLayer):
    __constants__ = _NativeLayer.__constants__ + ["activation"]

    def __init__(self, weights: Tuple[Tensor, Tensor, Tensor], hidden_size: int, activation: str) -> None:
        super().__init__(weights, hidden_size)
        self.activation = activation

    def step(self, x: Tensor, h: Tensor, c: Tensor) -> Tuple[Tensor, Tensor]:
        h_next = rnn_cell(self._input_part(x), h, self.R[0], self.B[0, self.W.size(1) :], self.activation)
        return h_next, h_next

    def forward(
        self, x: Tensor, lengths: Optional[Tensor], h0: Optional[Tensor], c0: Optional[Tensor]
    ) -> Tuple[Tensor, Tensor, Tensor]:
        y, h = torch.ops.zoo.onnx_rnn(x, self.W, self.R, self.B, lengths, h0, self.hidden_size, self.direction, self.activation)
        return self._outputs(y), h, h


def _native_layers(layer: nn.Module, kind: str) -> nn.ModuleList:
    hidden = layer.hidden_size
    layers: List[nn.Module] = []
    for index in range(layer.num_layers):
        weights = onnx_weights(layer, kind, index)
        if kind == "lstm":
            layers.append(NativeLSTMLayer(weights, hidden))
        elif kind == "gru":
            layers.append(NativeGRULayer(weights, hidden))
        else:
            activation = export.native_ops.RNN_ACTIVATIONS[layer.nonlinearity]
            layers.append(NativeRNNLayer(weights, hidden, activation))
    return nn.ModuleList(layers)


class _NativeStack(nn.Module):
    """A multi-layer recurrent module over native layers, called as the layer it replaces:
    ``forward(input, hx=None, lengths=None)``, batch-first or not."""

    __constants__ = ["batch_first", "directions", "gemm_step", "num_layers"]

    def __init__(self, layer: nn.Module, kind: str, gemm_step: bool = False) -> None:
        super().__init__()
        self.layers = _native_layers(layer, kind)
        self.batch_first = bool(layer.batch_first)
        self.directions = 2 if layer.bidirectional else 1
        self.num_layers = int(layer.num_layers)
        # Inside an autoregressive ONNX Loop the layer runs one step at a time: with
        # ``gemm_step`` a one-step call is plain matrix products (an ONNX If picks them when
        # the time axis is 1) instead of a native node over a sequence of one.
        self.gemm_step = gemm_step and self.directions == 1

    def _one_step(self, input: Tensor) -> bool:
        return self.gemm_step and input.size(1 if self.batch_first else 0) == 1

    def _time_first(self, input: Tensor) -> Tensor:
        if input.dim() != 3:
            raise ValueError("the exported layer takes batched 3-D input")
        # permute, not transpose: the ONNX exporter needs the rank for a transpose.
        return input.permute(1, 0, 2) if self.batch_first else input

    def _back(self, output: Tensor) -> Tensor:
        return output.permute(1, 0, 2) if self.batch_first else output

    def _layer_state(self, state: Tensor, index: int) -> Tensor:
        """Layer ``index``'s rows of an (L*D, B, H) state (all of it for one layer: no Slice)."""
        if self.num_layers == 1:
            return state
        return state[index * self.directions : (index + 1) * self.directions]


class NativeRNN(_NativeStack):
    """Replaces an RNN or GRU (the state is one tensor (L*D, B, H))."""

    def forward(
        self, input: Tensor, hx: Optional[Tensor] = None, lengths: Optional[Tensor] = None
    ) -> Tuple[Tensor, Tensor]:
        x = self._time_first(input)
        if self._one_step(input):  # lengths of a one-step batch are all 1: nothing to mask
            return self._gemm_steps(x, hx)
        sequence_lens: Optional[Tensor] = None
        if lengths is not None:
            sequence_lens = lengths.to(torch.int32)
        finals: List[Tensor] = []
        for index, layer in enumerate(self.layers):
            h0: Optional[Tensor] = None
            if hx is not None:
                h0 = self._layer_state(hx, index)
            x, h, _ = layer(x, sequence_lens, h0, None)
            finals.append(h)
        return self._back(x), torch.cat(finals, 0)

    def _gemm_steps(self, x: Tensor, hx: Optional[Tensor]) -> Tuple[Tensor, Tensor]:
        finals: List[Tensor] = []
        x = x[0]
        for index, layer in enumerate(self.layers):
            h = x.new_zeros([x.size(0), layer.hidden_size]) if hx is None else hx[index]
            x, _ = layer.step(x, h, h)
            finals.append(x)
        return self._back(x.unsqueeze(0)), torch.stack(finals)


class NativeLSTM(_NativeStack):
    """Replaces an LSTM (the state is the pair (h, c), each (L*D, B, H))."""

    def forward(
        self, input: Tensor, hx: Optional[Tuple[Tensor, Tensor]] = None, lengths: Optional[Tensor] = None
    ) -> Tuple[Tensor, Tuple[Tensor, Tensor]]:
        x = self._time_first(input)
        # Both branches return three flat tensors: the ONNX exporter fails (dead code
        # elimination assert) on an If whose branches return nested tuples or append to lists.
        if self._one_step(input):
            y, h_n, c_n = self._gemm_steps(x, hx)
        else:
            y, h_n, c_n = self._nodes(x, hx, lengths)
        return self._back(y), (h_n, c_n)

    def _nodes(
        self, x: Tensor, hx: Optional[Tuple[Tensor, Tensor]], lengths: Optional[Tensor]
    ) -> Tuple[Tensor, Tensor, Tensor]:
        sequence_lens: Optional[Tensor] = None
        if lengths is not None:
            sequence_lens = lengths.to(torch.int32)
        hs: List[Tensor] = []
        cs: List[Tensor] = []
        for index, layer in enumerate(self.layers):
            h0: Optional[Tensor] = None
            c0: Optional[Tensor] = None
            if hx is not None:
                h0 = self._layer_state(hx[0], index)
                c0 = self._layer_state(hx[1], index)
            x, h, c = layer(x, sequence_lens, h0, c0)
            hs.append(h)
            cs.append(c)
        return x, torch.cat(hs, 0), torch.cat(cs, 0)

    def _gemm_steps(self, x: Tensor, hx: Optional[Tuple[Tensor, Tensor]]) -> Tuple[Tensor, Tensor, Tensor]:
        hs: List[Tensor] = []
        cs: List[Tensor] = []
        x = x[0]
        for index, layer in enumerate(self.layers):
            zeros = x.new_zeros([x.size(0), layer.hidden_size])
            h = zeros if hx is None else hx[0][index]
            c = zeros if hx is None else hx[1][index]
            x, c = layer.step(x, h, c)
            hs.append(x)
            cs.append(c)
        return x.unsqueeze(0), torch.stack(hs), torch.stack(cs)


class NativeSteppedRNNCell(nn.Module):
    """A ``zoo.nn.SteppedRNNCell``: its loop over time is a one-layer RNN, one ONNX node."""

    def __init__(self, cell: SteppedRNNCell) -> None:
        super().__init__()
        w = onnx_gate_order(cell.weight_ih.detach(), "rnn").unsqueeze(0)
        r = onnx_gate_order(cell.weight_hh.detach(), "rnn").unsqueeze(0)
        b = torch.cat([cell.bias_ih.detach(), cell.bias_hh.detach()]).unsqueeze(0) if cell.bias else w.new_zeros(1, 2 * w.size(1))
        self.layer = NativeRNNLayer((w, r, b), cell.hidden_size, export.native_ops.RNN_ACTIVATIONS[cell.nonlinearity])
        # What a model's init_state reads for the state's dtype and device, as on the cell.
        self.register_buffer("weight_hh", cell.weight_hh.detach().clone())

    def forward(self, input: Tensor, hx: Tensor) -> Tensor:
        return self.over_time(input.unsqueeze(1), hx)[1]

    @torch.jit.export
    def over_time(self, inputs: Tensor, h: Tensor) -> Tuple[Tensor, Tensor]:
        y, h_n, _ = self.layer(inputs.permute(1, 0, 2), None, h.unsqueeze(0), None)
        return y.permute(1, 0, 2), h_n[0]


STEPPED_CELL = "zoo.nn.RNNCell stepped over time"  # the layer a SteppedRNNCell's record names


def _describe(path: str, module: nn.Module, kind: str, layers: int, directions: int, packed: bool) -> Dict[str, Any]:
    cls = type(module)
    return {
        "module": path or "(model)",
        "layer": f"{cls.__module__.split('.')[0]}.nn.{cls.__name__}" + (" (packed)" if packed else ""),
        "implementation": "native",
        "onnx_nodes": [ONNX_OP[kind]] * layers,
        "direction": "bidirectional" if directions == 2 else "forward",
        "replaced_by_twin": False,
    }


def recurrent_layers(model: nn.Module) -> List[Tuple[str, nn.Module, nn.Module, str]]:
    """(path, module, layer, kind) of every recurrent layer of ``model``: ``module`` is what an
    export replaces (a ``Packed*`` wrapper, or the layer itself), ``layer`` the torch.nn or
    zoo.nn layer that holds the weights; a wrapped layer is not listed twice."""
    found: List[Tuple[str, nn.Module, nn.Module, str]] = []
    for path, module in model.named_modules():
        if any(path.startswith(done + ".") for done, *_ in found):
            continue  # the torch.nn layer inside a Packed* wrapper already listed
        layer = module.layer if isinstance(module, (PackedRNN, PackedLSTM)) else module
        kind = recurrent_kind(layer)
        if kind is not None:
            found.append((path, module, layer, kind))
    return found


def with_native_layers(model: nn.Module, gemm_step: Collection[str] = ()) -> Tuple[nn.Module, List[Dict[str, Any]]]:
    """A copy of ``model`` (eval mode) whose recurrent layers run as native ONNX nodes, and one
    record per replaced module. Nothing else changes: the copy computes the same function.
    Layers of the kinds in ``gemm_step`` (``lstm``, ``gru``, ``rnn``) run one-step calls
    (inside generate/decode loops) as plain matrix products."""
    copied = copy.deepcopy(model).eval()
    records: List[Dict[str, Any]] = []
    for path, cell in [(p, m) for p, m in copied.named_modules() if isinstance(m, SteppedRNNCell)]:
        records.append({**_describe(path, cell, "rnn", 1, 1, False), "layer": STEPPED_CELL})
        if not path:  # the model is the cell
            return NativeSteppedRNNCell(cell).eval(), records
        copied.set_submodule(path, NativeSteppedRNNCell(cell))
    for path, module, layer, kind in recurrent_layers(copied):
        packed = module is not layer
        replacement = (NativeLSTM if kind == "lstm" else NativeRNN)(layer, kind, kind in gemm_step)
        records.append(_describe(path, layer, kind, layer.num_layers, 2 if layer.bidirectional else 1, packed))
        if replacement.gemm_step:
            records[-1]["one_step"] = "plain matrix products (ONNX If on a time axis of 1)"
        if not path:  # the model is the layer (the manual-* encoders)
            return replacement.eval(), records
        copied.set_submodule(path, replacement)
    return copied.eval(), records
