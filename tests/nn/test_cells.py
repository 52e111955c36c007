"""zoo.nn.RNNCell/LSTMCell/GRUCell against their torch.nn twins with copied weights."""

import pytest
import torch

from tests.nn.twins import CELL_KINDS, TOLERANCE, assert_backward_matches, assert_same, flat, make_twins, with_grad

INPUT, HIDDEN, BATCH = 3, 5, 4


@pytest.mark.parametrize("mode", ["eager", "scripted"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["fp32", "fp64"])
@pytest.mark.parametrize("batched", [True, False], ids=["batched", "unbatched"])
@pytest.mark.parametrize("with_state", [False, True], ids=["no_hx", "hx"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("kind", list(CELL_KINDS))
def test_cell_matches_torch(kind, bias, with_state, batched, dtype, mode):
    ours, ref = make_twins(CELL_KINDS, kind, dtype, input_size=INPUT, hidden_size=HIDDEN, bias=bias)
    if mode == "scripted":
        ours = torch.jit.script(ours)
    generator = torch.Generator().manual_seed(5)
    lead = (BATCH,) if batched else ()
    x = torch.randn(lead + (INPUT,), generator=generator, dtype=torch.float64).to(dtype)
    hx = None
    if with_state:
        states = tuple(torch.randn(lead + (HIDDEN,), generator=generator, dtype=torch.float64).to(dtype) for _ in range(2))
        hx = states if kind == "lstm" else states[0]
    x_ours, hx_ours, x_ref, hx_ref = with_grad(x), with_grad(hx), with_grad(x), with_grad(hx)
    got, want = flat(ours(x_ours, hx_ours)), flat(ref(x_ref, hx_ref))
    atol = TOLERANCE[dtype]
    assert_same(got, want, atol, "outputs")

    leaves_ours = [x_ours] + ([] if hx is None else flat(hx_ours))
    leaves_ref = [x_ref] + ([] if hx is None else flat(hx_ref))
    assert_backward_matches(got, want, (leaves_ours, leaves_ref), (ours, ref), atol)


@pytest.mark.parametrize("kind", list(CELL_KINDS))
def test_cell_unrolled_equals_layer(kind):
    """A cell stepped by hand over time equals the one-layer layer with the same weights."""
    import zoo.nn

    layer_cls = {"rnn_tanh": zoo.nn.RNN, "rnn_relu": zoo.nn.RNN, "lstm": zoo.nn.LSTM, "gru": zoo.nn.GRU}[kind]
    extra = {"nonlinearity": "relu"} if kind == "rnn_relu" else {}
    cell, _ = make_twins(CELL_KINDS, kind, torch.float64, input_size=INPUT, hidden_size=HIDDEN)
    layer = layer_cls(INPUT, HIDDEN, **extra).double()
    layer.load_state_dict({f"{name}_l0": value for name, value in cell.state_dict().items()})
    x = torch.randn(7, BATCH, INPUT, dtype=torch.float64)
    state = None
    steps = []
    for t in range(x.size(0)):
        state = cell(x[t], state)
        steps.append(state[0] if kind == "lstm" else state)
    output, final = layer(x)
    assert_same([torch.stack(steps)] + flat(state), [output] + [s[0] for s in flat(final)], 1e-12, "unrolled")
