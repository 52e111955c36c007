"""The torch.nn adapters give zoo.nn's results on ragged batches (same weights)."""

import pytest
import torch
from torch import nn

import zoo.nn
from zoo.nn.packed import PackedLSTM, PackedRNN

KINDS = {"rnn": (nn.RNN, zoo.nn.RNN, PackedRNN), "lstm": (nn.LSTM, zoo.nn.LSTM, PackedLSTM), "gru": (nn.GRU, zoo.nn.GRU, PackedRNN)}


@pytest.mark.parametrize("scripted", [False, True])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("kind", list(KINDS))
def test_adapter_equals_the_zoo_twin_on_a_ragged_batch(kind, bidirectional, scripted):
    torch_cls, zoo_cls, adapter_cls = KINDS[kind]
    torch.manual_seed(0)
    layer = torch_cls(3, 5, 2, batch_first=True, bidirectional=bidirectional)
    twin = zoo_cls(3, 5, 2, batch_first=True, bidirectional=bidirectional)
    twin.load_state_dict(layer.state_dict())
    adapter = adapter_cls(layer)
    if scripted:
        adapter = torch.jit.script(adapter)
    x = torch.randn(4, 6, 3)
    lengths = torch.tensor([2, 6, 1, 4])
    for given in (lengths, None):
        out, state = adapter(x, None, given)
        expected_out, expected_state = twin(x, None, given)
        torch.testing.assert_close(out, expected_out, atol=1e-5, rtol=0)
        torch.testing.assert_close(state, expected_state, atol=1e-5, rtol=0)


def test_adapters_refuse_what_they_cannot_wrap():
    with pytest.raises(ValueError, match="batch-first nn.LSTM"):
        PackedLSTM(nn.LSTM(3, 4))
    with pytest.raises(ValueError, match="batch-first nn.RNN or nn.GRU"):
        PackedRNN(nn.LSTM(3, 4, batch_first=True))
