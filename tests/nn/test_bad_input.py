"""Every bad input to the cells and layers raises a ValueError that names the problem.

Eager modules raise ``ValueError``; scripted ones raise ``torch.jit.Error`` whose message carries
``ValueError: <the same text>`` (TorchScript cannot raise Python exception classes as such).
"""

import pytest
import torch

import zoo.nn

H = 4
LAYERS = {"rnn": zoo.nn.RNN, "lstm": zoo.nn.LSTM, "gru": zoo.nn.GRU}
CELLS = {"rnn": zoo.nn.RNNCell, "lstm": zoo.nn.LSTMCell, "gru": zoo.nn.GRUCell}


def _state(kind, shape):
    return (torch.zeros(shape), torch.zeros(shape)) if kind == "lstm" else torch.zeros(shape)


LAYER_CASES = {
    # name: (input, hx, lengths, message pattern)
    "rank_1": (lambda k: (torch.zeros(3), None, None), r"input must be 3-D .* got 1-D"),
    "rank_4": (lambda k: (torch.zeros(2, 3, 4, 3), None, None), r"got 4-D"),
    "features": (lambda k: (torch.zeros(5, 2, 7), None, None), r"input has 7 features .* input_size=3"),
    "integer_input": (lambda k: (torch.zeros(5, 2, 3, dtype=torch.long), None, None), r"floating-point"),
    "zero_time": (lambda k: (torch.zeros(0, 2, 3), None, None), r"zero-length time axis"),
    "length_zero": (lambda k: (torch.zeros(5, 2, 3), None, torch.tensor([0, 5])), r"lengths must lie in \[1, 5\].* from 0 to 5"),
    "length_too_long": (lambda k: (torch.zeros(5, 2, 3), None, torch.tensor([6, 2])), r"lengths must lie in \[1, 5\]"),
    "lengths_2d": (lambda k: (torch.zeros(5, 2, 3), None, torch.tensor([[1, 2]])), r"lengths has shape \[1, 2\] but \[2\] was expected"),
    "lengths_batch": (lambda k: (torch.zeros(5, 2, 3), None, torch.tensor([1, 2, 3])), r"lengths has shape \[3\] but \[2\]"),
    "lengths_float": (lambda k: (torch.zeros(5, 2, 3), None, torch.tensor([1.0, 2.0])), r"lengths must be an integer tensor"),
    "lengths_unbatched": (lambda k: (torch.zeros(5, 3), None, torch.tensor([2])), r"lengths needs a batched 3-D input"),
    "state_shape": (lambda k: (torch.zeros(5, 2, 3), _state(k, (1, 3, H)), None), r"h_0 has shape \[1, 3, 4\] but \[1, 2, 4\] was expected"),
    "state_unbatched": (lambda k: (torch.zeros(5, 3), _state(k, (1, 2, H)), None), r"h_0 has shape \[1, 2, 4\] but \[1, 4\]"),
}


@pytest.mark.parametrize("mode", ["eager", "scripted"])
@pytest.mark.parametrize("case", list(LAYER_CASES))
@pytest.mark.parametrize("kind", list(LAYERS))
def test_layer_rejects_bad_input(kind, case, mode):
    layer = LAYERS[kind](3, H)
    make, pattern = LAYER_CASES[case]
    x, hx, lengths = make(kind)
    if mode == "eager":
        with pytest.raises(ValueError, match=pattern):
            layer(x, hx, lengths)
    else:
        with pytest.raises(torch.jit.Error, match="ValueError: .*" + pattern):
            torch.jit.script(layer)(x, hx, lengths)


def test_lstm_cell_state_is_checked():
    layer = zoo.nn.LSTM(3, H)
    hx = (torch.zeros(1, 2, H), torch.zeros(1, 2, H + 1))
    with pytest.raises(ValueError, match=r"c_0 has shape \[1, 2, 5\]"):
        layer(torch.zeros(5, 2, 3), hx)


CELL_CASES = {
    "rank_3": (lambda k: (torch.zeros(2, 2, 3), None), r"expects a 2-D .* got 3-D"),
    "features": (lambda k: (torch.zeros(2, 5), None), r"input has 5 features .* input_size=3"),
    "state_shape": (lambda k: (torch.zeros(2, 3), _state(k, (3, H))), r"has shape \[3, 4\] but \[2, 4\] was expected"),
    "state_unbatched": (lambda k: (torch.zeros(3), _state(k, (1, H))), r"has shape \[1, 4\] but \[4\] was expected"),
}


@pytest.mark.parametrize("mode", ["eager", "scripted"])
@pytest.mark.parametrize("case", list(CELL_CASES))
@pytest.mark.parametrize("kind", list(CELLS))
def test_cell_rejects_bad_input(kind, case, mode):
    cell = CELLS[kind](3, H)
    make, pattern = CELL_CASES[case]
    x, hx = make(kind)
    if mode == "eager":
        with pytest.raises(ValueError, match=pattern):
            cell(x, hx)
    else:
        with pytest.raises(torch.jit.Error, match="ValueError: .*" + pattern):
            torch.jit.script(cell)(x, hx)


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        ({"input_size": 0, "hidden_size": 4}, "input_size must be a positive integer"),
        ({"input_size": 3, "hidden_size": -1}, "hidden_size must be a positive integer"),
        ({"input_size": 3, "hidden_size": 4, "num_layers": 0}, "num_layers must be an integer >= 1"),
        ({"input_size": 3, "hidden_size": 4, "dropout": 1.5}, r"dropout must be a probability in \[0, 1\]"),
    ],
)
@pytest.mark.parametrize("kind", list(LAYERS))
def test_layer_rejects_bad_arguments(kind, kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        LAYERS[kind](**kwargs)


def test_bad_nonlinearity_and_proj_size():
    with pytest.raises(ValueError, match="nonlinearity must be 'tanh' or 'relu'"):
        zoo.nn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="nonlinearity must be 'tanh' or 'relu'"):
        zoo.nn.RNNCell(3, 4, nonlinearity="gelu")
    with pytest.raises(ValueError, match="does not support proj_size"):
        zoo.nn.LSTM(3, 4, proj_size=2)


def test_dropout_with_one_layer_warns_like_torch():
    with pytest.warns(UserWarning, match="no effect with num_layers=1"):
        zoo.nn.GRU(3, 4, dropout=0.2)
