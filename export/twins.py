"""``zoo export --recurrent loop``: swap ``torch.nn`` recurrent layers behind
``pack_padded_sequence`` for their ``zoo.nn`` twins, whose scripted time loops export as ONNX
``Loop``s (the literal translation, kept for comparison; the default is ``export.native_layers``).

Why: exporting a packed ``torch.nn`` layer fails in every path torch 2.13 offers — tracing
stops at ``vector::_M_range_check`` inside the ONNX pass, scripting meets ``aten::cpu`` (the
lengths must be on the CPU for packing), and ``dynamo=True`` fails in ``torch.export``. The
``zoo.nn`` twins compute the same function with a scripted time loop that exports to an ONNX
``Loop`` and take ``lengths`` as a tensor.

The twin runs time-first inside: a batch-first layer with two or more layers and ``lengths``
makes torch 2.13's ONNX shape inference crash with a segmentation fault (see
``tests/nn/test_onnx_export.py``), while the time-first one exports.
"""

import copy
from typing import Any, Dict, List, Optional, Tuple

from torch import Tensor, nn

from export.native_layers import ONNX_OP, STEPPED_CELL, recurrent_layers
from zoo import nn as znn
from zoo.nn.packed import PackedLSTM
from zoo.nn.stepped import SteppedRNNCell

TWINS = {nn.RNN: znn.RNN, nn.GRU: znn.GRU, nn.LSTM: znn.LSTM}


def twin_of(layer: nn.Module, batch_first: bool = False) -> nn.Module:
    """A ``zoo.nn`` layer with ``layer``'s hyper-parameters and weights (time-first unless asked)."""
    kwargs = dict(
        input_size=layer.input_size,
        hidden_size=layer.hidden_size,
        num_layers=layer.num_layers,
        bias=layer.bias,
        dropout=layer.dropout,
        bidirectional=layer.bidirectional,
        batch_first=batch_first,
    )
    if type(layer) is nn.RNN:  # GRU and LSTM have no nonlinearity
        kwargs["nonlinearity"] = layer.nonlinearity
    twin = TWINS[type(layer)](**kwargs)
    twin.load_state_dict(layer.state_dict())  # same parameter names and layouts
    twin.to(next(layer.parameters()).device)
    twin.train(layer.training)
    return twin


class BatchFirstRNN(nn.Module):
    """``forward(input (B, T, F), hx, lengths)`` of a batch-first RNN/GRU over a time-first twin."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.layer = twin_of(layer)  # keeps PackedRNN's ``layer.*`` parameter names

    def forward(
        self, input: Tensor, hx: Optional[Tensor] = None, lengths: Optional[Tensor] = None
    ) -> Tuple[Tensor, Tensor]:
        output, state = self.layer(input.permute(1, 0, 2), hx, lengths)  # (T, B, D*H)
        return output.permute(1, 0, 2), state


class BatchFirstLSTM(nn.Module):
    """The same for an LSTM, whose state is a pair."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.layer = twin_of(layer)

    def forward(
        self,
        input: Tensor,
        hx: Optional[Tuple[Tensor, Tensor]] = None,
        lengths: Optional[Tensor] = None,
    ) -> Tuple[Tensor, Tuple[Tensor, Tensor]]:
        output, state = self.layer(input.permute(1, 0, 2), hx, lengths)
        return output.permute(1, 0, 2), state


def twin_in_place_of(module: nn.Module, layer: nn.Module) -> nn.Module:
    """The ``zoo.nn`` twin to put where ``module`` is: behind ``PackedRNN``/``PackedLSTM``
    (``module`` is not ``layer``) the batch-first wrapper over a time-first twin, which keeps the
    ``layer.*`` parameter names; a bare ``torch.nn`` layer's twin with its own ``batch_first``."""
    if module is not layer:
        return (BatchFirstLSTM if isinstance(module, PackedLSTM) else BatchFirstRNN)(layer)
    return twin_of(layer, batch_first=layer.batch_first)


def _record(path: str, layer: nn.Module, implementation: str, nodes: List[str], twin: Optional[str]) -> Dict[str, Any]:
    cls = type(layer)
    return {
        "module": path or "(model)",
        "layer": f"{cls.__module__.split('.')[0]}.nn.{cls.__name__}" + (" (packed)" if twin else ""),
        "implementation": implementation,
        "onnx_nodes": nodes,
        "direction": "bidirectional" if getattr(layer, "bidirectional", False) else "forward",
        "replaced_by_twin": twin is not None,
        **({"twin": twin} if twin else {}),
    }


def with_exportable_layers(model: nn.Module) -> Tuple[nn.Module, List[Dict[str, Any]]]:
    """A copy of ``model`` whose packed ``torch.nn`` layers are ``zoo.nn`` twins, and a record
    per recurrent layer of what it exports as (``--recurrent loop``).

    The copy has the same state dict keys, so the bundle's weights load into either. Each
    direction of each ``zoo.nn`` layer is one ONNX ``Loop``; a bare ``torch.nn`` layer goes
    through torch.onnx's own symbolic (one native node per layer).
    """
    twin = copy.deepcopy(model)
    records: List[Dict[str, Any]] = []
    for path, cell in twin.named_modules():
        if isinstance(cell, SteppedRNNCell):  # its scripted loop is the Loop already
            records.append({**_record(path, cell, "loop", ["Loop"], None), "layer": STEPPED_CELL})
    for name, module, layer, kind in recurrent_layers(twin):
        packed = module is not layer
        loops = ["Loop"] * layer.num_layers * (2 if layer.bidirectional else 1)
        if packed:
            twin.set_submodule(name, twin_in_place_of(module, layer))
            records.append(_record(name, layer, "loop", loops, f"zoo.nn.{TWINS[type(layer)].__name__}"))
        elif isinstance(layer, tuple(TWINS.values())):
            records.append(_record(name, layer, "loop", loops, None))
        else:
            records.append(_record(name, layer, "torch.onnx symbolic", [ONNX_OP[kind]] * layer.num_layers, None))
    return twin, records
