"""Multi-layer recurrent layers, twins of ``torch.nn.RNN``, ``LSTM`` and ``GRU``.

Written for TorchScript first (the structure follows pytorch's
``benchmarks/fastrnns/custom_lstms.py``: step -> direction scan -> layer stack):

* Same constructor arguments and parameter names/shapes as PyTorch (``weight_ih_l0``,
  ``bias_hh_l1_reverse``, ...), so ``load_state_dict`` works in both directions.
* ``forward(input, hx=None, lengths=None)`` returns what the PyTorch module returns:
  ``(output, h_n)``, or ``(output, (h_n, c_n))`` for the LSTM.
* Each direction of each layer projects its whole input with one matrix product before the
  time loop; only the recurrent product runs per step. The loop is a scripted ``for`` over the
  time axis, so it stays dynamic in TorchScript and in an exported ONNX ``Loop``. Under
  ``torch.export`` with a symbolic time length the same steps run as one ``while_loop``
  (``zoo.nn.export_loop``), which a Python ``for`` would not be: export unrolls it.
* ``lengths`` (B,) gives a ragged batch the semantics of
  ``pack_padded_sequence(enforce_sorted=False)`` + ``pad_packed_sequence(total_length=T)``.
  The output keeps the input's time length (PyTorch's pad returns ``max(lengths)`` steps
  unless ``total_length`` is given).

Not supported: LSTM ``proj_size`` (raise), and ``PackedSequence`` input (pass ``lengths``).
"""

import warnings
from typing import List, Optional, Tuple

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from zoo.nn.checks import check_features, check_floating, check_lengths, check_state
from zoo.nn.export_loop import Step, use_while_loop, while_scan
from zoo.nn.init import check_nonlinearity, check_sizes, recurrent_parameter, reset_uniform
from zoo.nn.ragged import reverse_index, reverse_time, step_mask
from zoo.nn.steps import gru_step, lstm_step, rnn_relu_step, rnn_tanh_step


class _RecurrentBase(nn.Module):
    """Parameters, checks and the layer/direction stack shared by RNN, LSTM and GRU.

    A subclass sets ``gate_count``, ``fold_hidden_bias`` and implements ``_scan`` (one direction
    of one layer over time). States travel as ``List[Tensor]`` inside (``[h]`` or ``[h, c]``) so
    that one stack serves every kind; the public ``forward`` of each class restores PyTorch's
    types.
    """

    __constants__ = [
        "input_size",
        "hidden_size",
        "num_layers",
        "bias",
        "batch_first",
        "dropout",
        "bidirectional",
        "num_directions",
        "fold_hidden_bias",
        "params_per_direction",
    ]
    # Parameters in PyTorch's order, referenced here so that the TorchScript loop can index them:
    # TorchScript cannot look attributes up by a computed name. Kept in sync with the named
    # parameters by __setattr__ and _apply, as torch.nn.RNNBase does.
    _flat_weights: List[Tensor]

    def __init__(
        self,
        gate_count: int,
        fold_hidden_bias: bool,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: Optional[torch.device] = None,
        dtype: Optional[torch.dtype] = None,
    ) -> None:
        super().__init__()
        check_sizes(input_size, hidden_size)
        if not isinstance(num_layers, int) or num_layers < 1:
            raise ValueError(f"num_layers must be an integer >= 1, got {num_layers!r}")
        if isinstance(dropout, bool) or not 0.0 <= float(dropout) <= 1.0:
            raise ValueError(f"dropout must be a probability in [0, 1], got {dropout!r}")
        if dropout > 0 and num_layers == 1:
            # PyTorch warns the same: dropout only acts between layers.
            warnings.warn(
                f"dropout={dropout} has no effect with num_layers=1: dropout is applied to "
                "the outputs of every layer but the last",
                stacklevel=3,
            )
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.num_directions = 2 if bidirectional else 1
        self.fold_hidden_bias = fold_hidden_bias
        self.params_per_direction = 4 if bias else 2

        names: List[str] = []
        rows = gate_count * hidden_size
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size * self.num_directions
            for direction in range(self.num_directions):
                suffix = f"_l{layer}" + ("_reverse" if direction == 1 else "")
                shapes = [(f"weight_ih{suffix}", layer_input), (f"weight_hh{suffix}", hidden_size)]
                if bias:
                    shapes += [(f"bias_ih{suffix}", 0), (f"bias_hh{suffix}", 0)]
                for name, cols in shapes:
                    setattr(self, name, recurrent_parameter(rows, cols, device, dtype))
                    names.append(name)
        self._flat_weights_names = names
        self._init_flat_weights()
        self.reset_parameters()

    def _init_flat_weights(self) -> None:
        self._flat_weights = [getattr(self, name) for name in self._flat_weights_names]

    def __setattr__(self, name: str, value: object) -> None:
        # Re-point the flat list when a named weight is replaced (load_state_dict(assign=True),
        # a user swapping a Parameter), as torch.nn.RNNBase.__setattr__ does.
        names = self.__dict__.get("_flat_weights_names")
        if names is not None and name in names and "_flat_weights" in self.__dict__:
            self._flat_weights[names.index(name)] = value  # type: ignore[assignment]
        super().__setattr__(name, value)

    def _weights(self) -> List[Tensor]:
        """The parameters in PyTorch's order.

        Outside TorchScript they are looked up by name on every call: torch.export and
        torch.func.functional_call swap tensors into ``_parameters`` without ``__setattr__``, and
        a stale list would bake the real weights into an exported program as constants
        (torch.nn.RNNBase re-reads them for the same reason, in ``_update_flat_weights``).
        """
        if not torch.jit.is_scripting():
            return [getattr(self, name) for name in self._flat_weights_names]
        return self._flat_weights

    def _apply(self, fn, recurse=True):  # type: ignore[no-untyped-def]
        # .to(), .double(), .cuda() may create new Parameter objects; refresh the references.
        result = super()._apply(fn, recurse)
        self._init_flat_weights()
        return result

    def reset_parameters(self) -> None:
        reset_uniform(self, self.hidden_size)

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        if not self.bias:
            text += ", bias=False"
        if self.batch_first:
            text += ", batch_first=True"
        if self.dropout != 0:
            text += f", dropout={self.dropout}"
        if self.bidirectional:
            text += ", bidirectional=True"
        return text

    def _scan(
        self,
        gx: Tensor,
        state: List[Tensor],
        w_hh: Tensor,
        b_hh: Optional[Tensor],
        mask: Tensor,
        ragged: bool,
    ) -> Tuple[Tensor, List[Tensor]]:
        """Runs one direction over time: gx (T, B, G) -> outputs (T, B, H), final state.

        When ``ragged``, ``mask`` (T, B, 1) is True inside each sequence, and a sequence's state
        stops changing after its last valid step.
        """
        raise NotImplementedError("subclasses implement _scan")

    @torch.jit.unused
    def _step(self) -> Step:
        """One step of ``_scan``'s loop as a function of (gx_t, states, [w_hh, b_hh]), for ``while_scan``."""
        raise NotImplementedError("subclasses implement _step")

    def _time_loop(
        self,
        gx: Tensor,
        state: List[Tensor],
        w_hh: Tensor,
        b_hh: Optional[Tensor],
        mask: Tensor,
        ragged: bool,
    ) -> Tuple[Tensor, List[Tensor]]:
        """``_scan``, or under torch.export with a symbolic time length the same steps as one
        ``while_loop``, which export keeps dynamic where it would unroll ``_scan``'s ``for``."""
        if not torch.jit.is_scripting():  # TorchScript skips this branch without compiling it
            if use_while_loop(gx):
                weights = [w_hh] if b_hh is None else [w_hh, b_hh]
                return while_scan(self._step(), gx, state, mask if ragged else None, weights)
        return self._scan(gx, state, w_hh, b_hh, mask, ragged)

    def _run(
        self, input: Tensor, hx: Optional[List[Tensor]], lengths: Optional[Tensor]
    ) -> Tuple[Tensor, Tensor]:
        """Checks the arguments, runs every layer and direction.

        Returns the output and the final states stacked as (L*D, states, B, H) ((L*D, states,
        H) unbatched), states in the order ``[h]`` or ``[h, c]``.
        """
        if input.dim() not in (2, 3):
            raise ValueError(
                "input must be 3-D ({}) or 2-D (time, features) for one unbatched sequence, "
                "got {}-D".format(
                    "batch, time, features" if self.batch_first else "time, batch, features",
                    input.dim(),
                )
            )
        check_floating(input, "input")
        check_features(input, self.input_size, "input")
        unbatched = input.dim() == 2
        if unbatched:
            if lengths is not None:
                raise ValueError(
                    "lengths needs a batched 3-D input; add a batch axis to the input instead"
                )
            x = input.unsqueeze(1)
        elif self.batch_first:
            x = input.permute(1, 0, 2)
        else:
            x = input
        time = x.size(0)
        batch = x.size(1)
        if time == 0:
            raise ValueError("input has a zero-length time axis; every sequence needs >= 1 step")

        layers_dirs = self.num_layers * self.num_directions
        states: List[Tensor] = []
        if hx is None:
            zeros = x.new_zeros([layers_dirs, batch, self.hidden_size])
            for _ in range(self._state_count()):
                states.append(zeros)
        else:
            for k in range(len(hx)):
                state = hx[k]
                name = "h_0" if k == 0 else "c_0"
                if unbatched:
                    check_state(state, [layers_dirs, self.hidden_size], name)
                    state = state.unsqueeze(1)
                else:
                    check_state(state, [layers_dirs, batch, self.hidden_size], name)
                states.append(state)

        # Plain tensors and a flag rather than Optional locals: an Optional that is assigned on
        # one branch becomes an untyped ONNX Optional that onnxruntime refuses to load.
        ragged = lengths is not None
        mask = x.new_zeros([0], dtype=torch.bool)
        rev_index = x.new_zeros([0], dtype=torch.long)
        if lengths is not None:
            check_lengths(lengths, batch, time)
            # PyTorch keeps lengths on the CPU (pack_padded_sequence requires it); follow x.
            lengths = lengths.to(x.device)
            mask = step_mask(lengths, time)  # (T, B, 1)
            rev_index = reverse_index(lengths, time)  # (T, B)

        # Final states in (layer, direction, state) order, in one flat list stacked once at the end.
        finals: List[Tensor] = []
        weights = self._weights()
        layer_input = x
        for layer in range(self.num_layers):
            direction_outputs: List[Tensor] = []
            for direction in range(self.num_directions):
                index = layer * self.num_directions + direction
                first = index * self.params_per_direction
                w_ih = weights[first]
                w_hh = weights[first + 1]
                b_ih: Optional[Tensor] = None
                b_hh: Optional[Tensor] = None
                if self.bias:
                    b_ih = weights[first + 2]
                    b_hh = weights[first + 3]
                seq = layer_input
                if direction == 1:
                    seq = reverse_time(seq, rev_index) if ragged else seq.flip(0)
                if b_ih is not None and b_hh is not None and self.fold_hidden_bias:
                    b_ih = b_ih + b_hh
                gx = F.linear(seq, w_ih, b_ih)  # (T, B, G), every step in one product
                start = [state[index] for state in states]
                out, last = self._time_loop(gx, start, w_hh, b_hh, mask, ragged)
                if direction == 1:
                    out = reverse_time(out, rev_index) if ragged else out.flip(0)
                direction_outputs.append(out)
                for state in last:  # append, not extend: the ONNX exporter only lowers append
                    finals.append(state)
            output = direction_outputs[0]
            if self.num_directions == 2:
                output = torch.cat(direction_outputs, 2)  # (T, B, 2H)
            if ragged:
                output = output.masked_fill(~mask, 0.0)
            if self.dropout > 0.0 and self.training and layer < self.num_layers - 1:
                output = F.dropout(output, self.dropout, True)
            layer_input = output

        count = len(states)
        stacked = torch.stack(finals).view(layers_dirs, count, batch, self.hidden_size)
        output = layer_input
        if unbatched:
            output = output.squeeze(1)
            stacked = stacked.squeeze(2)
        elif self.batch_first:
            # permute, not transpose: the ONNX exporter needs the rank for a transpose, and
            # loses it on a tensor that comes out of a loop.
            output = output.permute(1, 0, 2)
        # Two tensors and one return: the ONNX exporter mistypes a list inside a tuple that
        # leaves a scripted function through several returns, and cannot concatenate lists.
        return output, stacked

    def _state_count(self) -> int:
        return 1


class RNN(_RecurrentBase):
    """Elman RNN, the twin of ``torch.nn.RNN`` (nonlinearity ``'tanh'`` or ``'relu'``)."""

    __constants__ = _RecurrentBase.__constants__ + ["nonlinearity"]

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: Optional[torch.device] = None,
        dtype: Optional[torch.dtype] = None,
    ) -> None:
        check_nonlinearity(nonlinearity)
        super().__init__(
            1, True, input_size, hidden_size, num_layers, bias, batch_first, dropout,
            bidirectional, device, dtype,
        )  # fmt: skip
        self.nonlinearity = nonlinearity

    def _scan(
        self,
        gx: Tensor,
        state: List[Tensor],
        w_hh: Tensor,
        b_hh: Optional[Tensor],
        mask: Tensor,
        ragged: bool,
    ) -> Tuple[Tensor, List[Tensor]]:
        h = state[0]
        w_hh_t = w_hh.t()
        relu = self.nonlinearity == "relu"
        outputs: List[Tensor] = []
        # split, not gx[t]: each gx[t]'s backward would write a zero gradient as large as gx,
        # making the backward pass quadratic in time. Not unbind either: it exports to ONNX as
        # SplitToSequence(split=1, keepdims=0), whose keepdims the ONNX spec ignores when a
        # split is given (onnxruntime drops the axis, onnx.reference keeps it).
        for t, gx_t in enumerate(gx.split(1, 0)):
            gx_t = gx_t.squeeze(0)  # (B, G*H)
            h_next = rnn_relu_step(gx_t, h, w_hh_t) if relu else rnn_tanh_step(gx_t, h, w_hh_t)
            outputs.append(h_next)
            h = torch.where(mask[t], h_next, h) if ragged else h_next
        return torch.stack(outputs), [h]

    @torch.jit.unused
    def _step(self) -> Step:
        step = rnn_relu_step if self.nonlinearity == "relu" else rnn_tanh_step
        return lambda gx_t, state, weights: [step(gx_t, state[0], weights[0].t())]

    def forward(
        self, input: Tensor, hx: Optional[Tensor] = None, lengths: Optional[Tensor] = None
    ) -> Tuple[Tensor, Tensor]:
        states: Optional[List[Tensor]] = None if hx is None else [hx]
        output, final = self._run(input, states, lengths)
        return output, final[:, 0]


class LSTM(_RecurrentBase):
    """Long short-term memory, the twin of ``torch.nn.LSTM`` (gates i, f, g, o)."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: Optional[torch.device] = None,
        dtype: Optional[torch.dtype] = None,
    ) -> None:
        if proj_size != 0:
            raise ValueError("zoo.nn.LSTM does not support proj_size; use torch.nn.LSTM for it")
        super().__init__(
            4, True, input_size, hidden_size, num_layers, bias, batch_first, dropout,
            bidirectional, device, dtype,
        )  # fmt: skip

    def _state_count(self) -> int:
        return 2

    def _scan(
        self,
        gx: Tensor,
        state: List[Tensor],
        w_hh: Tensor,
        b_hh: Optional[Tensor],
        mask: Tensor,
        ragged: bool,
    ) -> Tuple[Tensor, List[Tensor]]:
        h = state[0]
        c = state[1]
        w_hh_t = w_hh.t()
        outputs: List[Tensor] = []
        # split + squeeze, not gx[t] nor unbind: see RNN._scan.
        for t, gx_t in enumerate(gx.split(1, 0)):
            gx_t = gx_t.squeeze(0)  # (B, G*H)
            h_next, c_next = lstm_step(gx_t, h, c, w_hh_t)
            outputs.append(h_next)
            if ragged:
                keep = mask[t]
                h = torch.where(keep, h_next, h)
                c = torch.where(keep, c_next, c)
            else:
                h = h_next
                c = c_next
        return torch.stack(outputs), [h, c]

    @torch.jit.unused
    def _step(self) -> Step:
        return lambda gx_t, state, weights: list(lstm_step(gx_t, state[0], state[1], weights[0].t()))

    def forward(
        self,
        input: Tensor,
        hx: Optional[Tuple[Tensor, Tensor]] = None,
        lengths: Optional[Tensor] = None,
    ) -> Tuple[Tensor, Tuple[Tensor, Tensor]]:
        states: Optional[List[Tensor]] = None if hx is None else [hx[0], hx[1]]
        output, final = self._run(input, states, lengths)
        return output, (final[:, 0], final[:, 1])


class GRU(_RecurrentBase):
    """Gated recurrent unit, the twin of ``torch.nn.GRU`` (gates r, z, n)."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: Optional[torch.device] = None,
        dtype: Optional[torch.dtype] = None,
    ) -> None:
        # b_hn sits inside r * (W_hn h + b_hn), so b_hh cannot be folded into the input product.
        super().__init__(
            3, False, input_size, hidden_size, num_layers, bias, batch_first, dropout,
            bidirectional, device, dtype,
        )  # fmt: skip

    def _scan(
        self,
        gx: Tensor,
        state: List[Tensor],
        w_hh: Tensor,
        b_hh: Optional[Tensor],
        mask: Tensor,
        ragged: bool,
    ) -> Tuple[Tensor, List[Tensor]]:
        h = state[0]
        w_hh_t = w_hh.t()
        outputs: List[Tensor] = []
        # split + squeeze, not gx[t] nor unbind: see RNN._scan.
        for t, gx_t in enumerate(gx.split(1, 0)):
            gx_t = gx_t.squeeze(0)  # (B, G*H)
            h_next = gru_step(gx_t, h, w_hh_t, b_hh)
            outputs.append(h_next)
            h = torch.where(mask[t], h_next, h) if ragged else h_next
        return torch.stack(outputs), [h]

    @torch.jit.unused
    def _step(self) -> Step:
        # b_hn sits inside the reset gate's product: the GRU step takes b_hh when the layer has one.
        return lambda gx_t, state, weights: [gru_step(gx_t, state[0], weights[0].t(), weights[1] if len(weights) > 1 else None)]

    def forward(
        self, input: Tensor, hx: Optional[Tensor] = None, lengths: Optional[Tensor] = None
    ) -> Tuple[Tensor, Tensor]:
        states: Optional[List[Tensor]] = None if hx is None else [hx]
        output, final = self._run(input, states, lengths)
        return output, final[:, 0]
