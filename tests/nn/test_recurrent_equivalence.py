"""zoo.nn.RNN/LSTM/GRU against torch.nn.RNN/LSTM/GRU with copied weights.

The grid: kind (RNN tanh/relu, LSTM, GRU) x layers 1-3 x bidirectional x batch_first x bias x
initial state given/omitted x ragged lengths (vs torch on a packed sequence) x float32/float64
x eager/scripted. Outputs, final states and the gradients with respect to the input, the
initial state and every parameter must agree to float rounding.
"""

import pytest
import torch

from tests.nn.twins import (
    LAYER_KINDS,
    TOLERANCE,
    assert_backward_matches,
    assert_same,
    flat,
        make_twins,
    run_reference,
    with_grad,
)

INPUT, HIDDEN, BATCH, TIME = 3, 5, 4, 6


def _inputs(kind, num_layers, bidirectional, batch_first, dtype, with_state, ragged):
    generator = torch.Generator().manual_seed(1)
    shape = (BATCH, TIME, INPUT) if batch_first else (TIME, BATCH, INPUT)
    x = torch.randn(shape, generator=generator, dtype=torch.float64).to(dtype)
    hx = None
    if with_state:
        state_shape = (num_layers * (2 if bidirectional else 1), BATCH, HIDDEN)
        states = [torch.randn(state_shape, generator=generator, dtype=torch.float64).to(dtype) for _ in range(2 if kind == "lstm" else 1)]
        hx = tuple(states) if kind == "lstm" else states[0]
    # Unsorted, with the shortest (1) and the longest (TIME) possible lengths.
    lengths = torch.tensor([3, TIME, 1, 4]) if ragged else None
    return x, hx, lengths


@pytest.mark.parametrize("mode", ["eager", "scripted"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["fp32", "fp64"])
@pytest.mark.parametrize("ragged", [False, True], ids=["dense", "ragged"])
@pytest.mark.parametrize("with_state", [False, True], ids=["no_hx", "hx"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("batch_first", [False, True], ids=["time_first", "batch_first"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
# Three layers add no code path that two do not take: the default run stops at two.
@pytest.mark.parametrize("num_layers", [1, 2, pytest.param(3, marks=pytest.mark.exhaustive)], ids=["l1", "l2", "l3"])
@pytest.mark.parametrize("kind", list(LAYER_KINDS))
def test_layer_matches_torch(kind, num_layers, bidirectional, batch_first, bias, with_state, ragged, dtype, mode):
    ours, ref = make_twins(
        LAYER_KINDS, kind, dtype, input_size=INPUT, hidden_size=HIDDEN, num_layers=num_layers,
        bias=bias, batch_first=batch_first, bidirectional=bidirectional,
    )  # fmt: skip
    if mode == "scripted":
        ours = torch.jit.script(ours)
    x, hx, lengths = _inputs(kind, num_layers, bidirectional, batch_first, dtype, with_state, ragged)

    x_ours, hx_ours = with_grad(x), with_grad(hx)
    x_ref, hx_ref = with_grad(x), with_grad(hx)
    got = flat(ours(x_ours, hx_ours, lengths))
    want = flat(run_reference(ref, x_ref, hx_ref, lengths, batch_first))
    atol = TOLERANCE[dtype]
    assert_same(got, want, atol, "outputs")

    leaves_ours = [x_ours] + ([] if hx is None else flat(hx_ours))
    leaves_ref = [x_ref] + ([] if hx is None else flat(hx_ref))
    assert_backward_matches(got, want, (leaves_ours, leaves_ref), (ours, ref), atol)


@pytest.mark.parametrize("mode", ["eager", "scripted"])
@pytest.mark.parametrize("kind", list(LAYER_KINDS))
def test_dropout_layer_equals_torch_in_eval_mode(kind, mode):
    ours, ref = make_twins(
        LAYER_KINDS, kind, torch.float32, input_size=INPUT, hidden_size=HIDDEN, num_layers=3,
        dropout=0.4, bidirectional=True,
    )  # fmt: skip
    ours.eval()
    ref.eval()
    if mode == "scripted":
        ours = torch.jit.script(ours)
    x, hx, lengths = _inputs(kind, 3, True, False, torch.float32, True, True)
    assert_same(flat(ours(x, hx, lengths)), flat(run_reference(ref, x, hx, lengths, False)), 1e-5, "eval")


@pytest.mark.parametrize("kind", list(LAYER_KINDS))
def test_dropout_acts_between_layers_in_training(kind):
    ours, _ = make_twins(LAYER_KINDS, kind, torch.float32, input_size=INPUT, hidden_size=HIDDEN, num_layers=2, dropout=0.5)
    x, _, _ = _inputs(kind, 2, False, False, torch.float32, False, False)
    scripted = torch.jit.script(ours)
    eval_out = scripted.eval()(x)[0]
    scripted.train()
    torch.manual_seed(3)
    first = scripted(x)[0]
    torch.manual_seed(3)
    second = scripted(x)[0]
    assert torch.equal(first, second), "dropout must follow torch's RNG"
    assert not torch.allclose(first, eval_out), "dropout had no effect in training mode"


@pytest.mark.parametrize("mode", ["eager", "scripted"])
@pytest.mark.parametrize("kind", list(LAYER_KINDS))
def test_unbatched_input_matches_torch(kind, mode):
    ours, ref = make_twins(LAYER_KINDS, kind, torch.float64, input_size=INPUT, hidden_size=HIDDEN, num_layers=2, bidirectional=True)
    if mode == "scripted":
        ours = torch.jit.script(ours)
    generator = torch.Generator().manual_seed(4)
    x = torch.randn(TIME, INPUT, generator=generator, dtype=torch.float64)
    states = [torch.randn(4, HIDDEN, generator=generator, dtype=torch.float64) for _ in range(2)]
    hx = tuple(states) if kind == "lstm" else states[0]
    assert_same(flat(ours(x)), flat(ref(x)), 1e-10, "unbatched, no state")
    assert_same(flat(ours(x, hx)), flat(ref(x, hx)), 1e-10, "unbatched, state")


@pytest.mark.parametrize("kind", list(LAYER_KINDS))
def test_chunked_run_equals_whole_run(kind):
    """State in, state out: two chunks with the state fed back equal one pass."""
    ours, _ = make_twins(LAYER_KINDS, kind, torch.float64, input_size=INPUT, hidden_size=HIDDEN, num_layers=2)
    scripted = torch.jit.script(ours)
    x = torch.randn(TIME, BATCH, INPUT, dtype=torch.float64)
    whole, whole_state = scripted(x)
    head, state = scripted(x[:2])
    tail, tail_state = scripted(x[2:], state)
    assert_same([torch.cat([head, tail])] + flat(tail_state), [whole] + flat(whole_state), 1e-12, "chunked")
