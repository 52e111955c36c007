"""Single-step recurrent cells, twins of ``torch.nn.RNNCell``, ``LSTMCell`` and ``GRUCell``.

Same constructor arguments, parameter names (``weight_ih``, ``weight_hh``, ``bias_ih``,
``bias_hh``) and shapes, so ``load_state_dict`` works in both directions; same ``forward``
(batched (B, F) or unbatched (F,) input, optional state). The step math lives in
``zoo.nn.steps`` and is shared with the layers.
"""

from typing import Optional, Tuple

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from zoo.nn.checks import check_features, check_floating, check_state
from zoo.nn.init import check_nonlinearity, check_sizes, recurrent_parameter, reset_uniform
from zoo.nn.steps import gru_step, lstm_step, rnn_relu_step, rnn_tanh_step


class _CellBase(nn.Module):
    """Parameters and input handling common to the three cells."""

    __constants__ = ["input_size", "hidden_size", "bias"]

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool,
        gate_count: int,
        device: Optional[torch.device] = None,
        dtype: Optional[torch.dtype] = None,
    ) -> None:
        super().__init__()
        check_sizes(input_size, hidden_size)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        rows = gate_count * hidden_size
        self.weight_ih = recurrent_parameter(rows, input_size, device, dtype)
        self.weight_hh = recurrent_parameter(rows, hidden_size, device, dtype)
        if bias:
            self.bias_ih = recurrent_parameter(rows, 0, device, dtype)
            self.bias_hh = recurrent_parameter(rows, 0, device, dtype)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        reset_uniform(self, self.hidden_size)

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        return text if self.bias else text + ", bias=False"

    def _batched(self, input: Tensor) -> Tensor:
        """Checks ``input`` and returns it as (B, F)."""
        if input.dim() not in (1, 2):
            raise ValueError(
                "a recurrent cell expects a 2-D (batch, features) or 1-D (features,) input, "
                "got {}-D".format(input.dim())
            )
        check_floating(input, "input")
        check_features(input, self.input_size, "input")
        return input.unsqueeze(0) if input.dim() == 1 else input

    def _state(self, state: Optional[Tensor], input: Tensor, batched: Tensor, what: str) -> Tensor:
        """Checks a given state against the input (same batching) or makes the zero state."""
        if state is None:
            return batched.new_zeros([batched.size(0), self.hidden_size])
        if input.dim() == 1:
            check_state(state, [self.hidden_size], what)
            return state.unsqueeze(0)
        check_state(state, [batched.size(0), self.hidden_size], what)
        return state

    def _input_gates(self, x: Tensor, fold_hidden_bias: bool) -> Tensor:
        """x W_ih^T + b_ih, plus b_hh where the cell's math lets it be added up front."""
        b_ih = self.bias_ih
        b_hh = self.bias_hh
        if b_ih is not None and b_hh is not None and fold_hidden_bias:
            return F.linear(x, self.weight_ih, b_ih + b_hh)
        return F.linear(x, self.weight_ih, b_ih)


class RNNCell(_CellBase):
    """Elman cell: h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (or relu)."""

    __constants__ = ["input_size", "hidden_size", "bias", "nonlinearity"]

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        device: Optional[torch.device] = None,
        dtype: Optional[torch.dtype] = None,
    ) -> None:
        check_nonlinearity(nonlinearity)
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)

    def extra_repr(self) -> str:
        text = super().extra_repr()
        return text if self.nonlinearity == "tanh" else text + f", nonlinearity={self.nonlinearity}"

    def forward(self, input: Tensor, hx: Optional[Tensor] = None) -> Tensor:
        x = self._batched(input)
        h = self._state(hx, input, x, "hx")
        gx = self._input_gates(x, True)
        if self.nonlinearity == "tanh":
            h = rnn_tanh_step(gx, h, self.weight_hh.t())
        else:
            h = rnn_relu_step(gx, h, self.weight_hh.t())
        return h.squeeze(0) if input.dim() == 1 else h


class LSTMCell(_CellBase):
    """LSTM cell with gates i, f, g, o stacked in that order in ``weight_ih``/``weight_hh``."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: Optional[torch.device] = None,
        dtype: Optional[torch.dtype] = None,
    ) -> None:
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def forward(
        self, input: Tensor, hx: Optional[Tuple[Tensor, Tensor]] = None
    ) -> Tuple[Tensor, Tensor]:
        x = self._batched(input)
        if hx is None:
            h = self._state(None, input, x, "h_0")
            c = self._state(None, input, x, "c_0")
        else:
            h = self._state(hx[0], input, x, "h_0")
            c = self._state(hx[1], input, x, "c_0")
        h, c = lstm_step(self._input_gates(x, True), h, c, self.weight_hh.t())
        if input.dim() == 1:
            return h.squeeze(0), c.squeeze(0)
        return h, c


class GRUCell(_CellBase):
    """GRU cell with gates r, z, n stacked in that order in ``weight_ih``/``weight_hh``."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: Optional[torch.device] = None,
        dtype: Optional[torch.dtype] = None,
    ) -> None:
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)

    def forward(self, input: Tensor, hx: Optional[Tensor] = None) -> Tensor:
        x = self._batched(input)
        h = self._state(hx, input, x, "hx")
        h = gru_step(self._input_gates(x, False), h, self.weight_hh.t(), self.bias_hh)
        return h.squeeze(0) if input.dim() == 1 else h
