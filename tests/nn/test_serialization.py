"""Saving, loading and moving the layers: TorchScript files, state dicts both ways, dtypes."""

import io

import pytest
import torch

import zoo.nn
from tests.nn.twins import CELL_KINDS, LAYER_KINDS, flat, make_twins


def _save_load(module: torch.jit.ScriptModule) -> torch.jit.ScriptModule:
    buffer = io.BytesIO()
    torch.jit.save(module, buffer)
    buffer.seek(0)
    return torch.jit.load(buffer)


@pytest.mark.parametrize("kind", list(LAYER_KINDS))
def test_layer_save_load_gives_identical_outputs(kind):
    ours, _ = make_twins(LAYER_KINDS, kind, torch.float32, input_size=3, hidden_size=5, num_layers=2, bidirectional=True, batch_first=True)
    scripted = torch.jit.script(ours)
    loaded = _save_load(scripted)
    x = torch.randn(4, 6, 3)
    lengths = torch.tensor([6, 2, 1, 5])
    for args in ((x,), (x, None, lengths)):
        # TorchScript shares a compiled method's executor between instances of one class, so
        # ``scripted`` may already run an optimised plan from earlier tests while ``loaded``
        # starts profiling; a few calls bring both to the optimised plan before comparing.
        for _ in range(3):
            scripted(*args)
            loaded(*args)
        expected = flat(scripted(*args))
        got = flat(loaded(*args))
        assert len(got) == len(expected)
        assert all(torch.equal(g, e) for g, e in zip(got, expected))
    assert sorted(dict(loaded.named_parameters())) == sorted(dict(ours.named_parameters()))


@pytest.mark.parametrize("kind", list(CELL_KINDS))
def test_cell_save_load_gives_identical_outputs(kind):
    ours, _ = make_twins(CELL_KINDS, kind, torch.float32, input_size=3, hidden_size=5)
    scripted = torch.jit.script(ours)
    loaded = _save_load(scripted)
    x = torch.randn(4, 3)
    assert all(torch.equal(g, e) for g, e in zip(flat(loaded(x)), flat(scripted(x))))


@pytest.mark.parametrize("kinds, kind", [(LAYER_KINDS, k) for k in LAYER_KINDS] + [(CELL_KINDS, k) for k in CELL_KINDS])
@pytest.mark.parametrize("bias", [True, False])
def test_state_dict_loads_both_ways(kinds, kind, bias):
    kwargs = {"input_size": 3, "hidden_size": 5, "bias": bias}
    if kinds is LAYER_KINDS:
        kwargs.update(num_layers=2, bidirectional=True)
    ours_cls, ref_cls, extra = kinds[kind]
    ours, ref = ours_cls(**kwargs, **extra), ref_cls(**kwargs, **extra)
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in ref.state_dict().items()}
    ref.load_state_dict(ours.state_dict())  # strict: same names and shapes
    for name, value in ours.state_dict().items():
        assert torch.equal(ref.state_dict()[name], value)
    ours.load_state_dict(make_twins(kinds, kind, torch.float32, **kwargs)[1].state_dict())


def test_layer_follows_dtype_moves_and_replaced_parameters():
    """The flat weight list used by the scripted loop tracks .double() and Parameter swaps."""
    ours, ref = make_twins(LAYER_KINDS, "lstm", torch.float32, input_size=3, hidden_size=5)
    ours.double()
    ref.double()
    x = torch.randn(6, 2, 3, dtype=torch.float64)
    torch.testing.assert_close(ours(x)[0], ref(x)[0], rtol=0, atol=1e-12)

    replacement = torch.nn.Parameter(torch.zeros_like(ours.weight_hh_l0))
    ours.weight_hh_l0 = replacement
    ref.weight_hh_l0 = torch.nn.Parameter(torch.zeros_like(ref.weight_hh_l0))
    torch.testing.assert_close(ours(x)[0], ref(x)[0], rtol=0, atol=1e-12)

    state = {k: torch.randn_like(v) for k, v in ref.state_dict().items()}
    ours.load_state_dict(state, assign=True)
    ref.load_state_dict(state, assign=True)
    torch.testing.assert_close(torch.jit.script(ours)(x)[0], ref(x)[0], rtol=0, atol=1e-12)


def test_repr_matches_torch():
    assert repr(zoo.nn.LSTM(3, 5, num_layers=2, batch_first=True, bidirectional=True)) == repr(
        torch.nn.LSTM(3, 5, num_layers=2, batch_first=True, bidirectional=True)
    )
    assert repr(zoo.nn.RNNCell(3, 5, bias=False, nonlinearity="relu")) == repr(
        torch.nn.RNNCell(3, 5, bias=False, nonlinearity="relu")
    )
    assert repr(zoo.nn.RNN(3, 5, nonlinearity="relu", num_layers=2, bias=False, dropout=0.5)) == repr(
        torch.nn.RNN(3, 5, nonlinearity="relu", num_layers=2, bias=False, dropout=0.5)
    )
