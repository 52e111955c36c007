"""``torch.nn`` recurrent layers behind ``zoo.nn``'s ``forward(input, hx, lengths)``.

The tutorials' models call ``torch.nn.RNN/LSTM/GRU`` and handle ragged batches with
``pack_padded_sequence(enforce_sorted=False)`` + ``pad_packed_sequence``. These adapters do that
packing inside ``forward`` so a model can take either a ``zoo.nn`` layer or a ``torch.nn`` one
and call it the same way; both give the same numbers (``tests/nn`` checks the twins).

Two classes, because TorchScript types the state: a tensor for RNN/GRU, a pair for LSTM.
"""

from typing import Optional, Tuple

from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence


def _pack(input: Tensor, lengths: Tensor) -> PackedSequence:
    # pack_padded_sequence wants the lengths on the CPU whatever the input's device.
    return pack_padded_sequence(input, lengths.cpu(), batch_first=True, enforce_sorted=False)


def _pad(output: PackedSequence, time: int) -> Tensor:
    """Back to (B, T, ...) with the input's T, not max(lengths) as pad_packed_sequence would."""
    return pad_packed_sequence(output, batch_first=True, total_length=time)[0]


class PackedRNN(nn.Module):
    """``torch.nn.RNN`` or ``torch.nn.GRU`` (batch first) taking ``lengths``."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        if not isinstance(layer, (nn.RNN, nn.GRU)) or not layer.batch_first:
            raise ValueError(f"PackedRNN wraps a batch-first nn.RNN or nn.GRU, got {layer!r}")
        self.layer = layer

    def forward(
        self, input: Tensor, hx: Optional[Tensor] = None, lengths: Optional[Tensor] = None
    ) -> Tuple[Tensor, Tensor]:
        if lengths is None:
            return self.layer(input, hx)
        output, state = self.layer(_pack(input, lengths), hx)
        return _pad(output, input.size(1)), state


class PackedLSTM(nn.Module):
    """``torch.nn.LSTM`` (batch first) taking ``lengths``."""

    def __init__(self, layer: nn.LSTM) -> None:
        super().__init__()
        if not isinstance(layer, nn.LSTM) or not layer.batch_first:
            raise ValueError(f"PackedLSTM wraps a batch-first nn.LSTM, got {layer!r}")
        self.layer = layer

    def forward(
        self,
        input: Tensor,
        hx: Optional[Tuple[Tensor, Tensor]] = None,
        lengths: Optional[Tensor] = None,
    ) -> Tuple[Tensor, Tuple[Tensor, Tensor]]:
        if lengths is None:
            return self.layer(input, hx)
        output, state = self.layer(_pack(input, lengths), hx)
        return _pad(output, input.size(1)), state
