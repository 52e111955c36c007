"""Builds zoo.nn modules next to their torch.nn twins with the same weights, and runs both."""

from typing import Any, Dict, List, Optional, Tuple

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import zoo.nn

# kind -> (zoo class, torch class, extra constructor arguments)
LAYER_KINDS: Dict[str, Tuple[type, type, Dict[str, Any]]] = {
    "rnn_tanh": (zoo.nn.RNN, nn.RNN, {"nonlinearity": "tanh"}),
    "rnn_relu": (zoo.nn.RNN, nn.RNN, {"nonlinearity": "relu"}),
    "lstm": (zoo.nn.LSTM, nn.LSTM, {}),
    "gru": (zoo.nn.GRU, nn.GRU, {}),
}
CELL_KINDS: Dict[str, Tuple[type, type, Dict[str, Any]]] = {
    "rnn_tanh": (zoo.nn.RNNCell, nn.RNNCell, {"nonlinearity": "tanh"}),
    "rnn_relu": (zoo.nn.RNNCell, nn.RNNCell, {"nonlinearity": "relu"}),
    "lstm": (zoo.nn.LSTMCell, nn.LSTMCell, {}),
    "gru": (zoo.nn.GRUCell, nn.GRUCell, {}),
}
# Float rounding only: the manual layers compute the same math in a different order.
TOLERANCE = {torch.float32: 1e-5, torch.float64: 1e-10}


def make_twins(kinds: Dict[str, Tuple[type, type, Dict[str, Any]]], kind: str, dtype: torch.dtype, **kwargs: Any) -> Tuple[nn.Module, nn.Module]:
    """(zoo module, torch module) with the torch module's seeded weights copied into ours."""
    ours_cls, ref_cls, extra = kinds[kind]
    torch.manual_seed(0)
    ref = ref_cls(**kwargs, **extra).to(dtype)
    ours = ours_cls(**kwargs, **extra).to(dtype)
    ours.load_state_dict(ref.state_dict())
    return ours, ref


def flat(value: Any) -> List[Tensor]:
    if isinstance(value, Tensor):
        return [value]
    return [t for item in value for t in flat(item)]


def with_grad(value: Any) -> Any:
    """A detached copy of a tensor or tuple of tensors that records gradients."""
    if value is None:
        return None
    if isinstance(value, Tensor):
        return value.detach().clone().requires_grad_()
    return tuple(with_grad(v) for v in value)


def run_reference(
    ref: nn.Module, x: Tensor, hx: Any, lengths: Optional[Tensor], batch_first: bool
) -> Tuple[Tensor, Any]:
    """The torch module on a padded batch, through pack/pad when ``lengths`` is given."""
    if lengths is None:
        return ref(x, hx)
    time = x.size(1) if batch_first else x.size(0)
    packed = pack_padded_sequence(x, lengths, batch_first=batch_first, enforce_sorted=False)
    out, state = ref(packed, hx)
    out, _ = pad_packed_sequence(out, batch_first=batch_first, total_length=time)
    return out, state


def assert_same(actual: List[Tensor], expected: List[Tensor], atol: float, what: str) -> None:
    """count -> dtype -> shape -> values."""
    assert len(actual) == len(expected), f"{what}: {len(actual)} tensors, expected {len(expected)}"
    for i, (a, e) in enumerate(zip(actual, expected)):
        assert a.dtype == e.dtype, f"{what}[{i}]: dtype {a.dtype}, expected {e.dtype}"
        assert a.shape == e.shape, f"{what}[{i}]: shape {tuple(a.shape)}, expected {tuple(e.shape)}"
        torch.testing.assert_close(a, e, rtol=0.0, atol=atol, msg=lambda m: f"{what}[{i}]: {m}")


def loss_weights(outputs: List[Tensor], seed: int) -> List[Tensor]:
    """Fixed random weights so the loss's gradient reaches every element differently."""
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(o.shape, generator=generator, dtype=torch.float64).to(o.dtype) for o in outputs]


def weighted_sum(outputs: List[Tensor], weights: List[Tensor]) -> Tensor:
    return sum((o * w).sum() for o, w in zip(outputs, weights))  # type: ignore[return-value]


def assert_backward_matches(
    got: List[Tensor],
    want: List[Tensor],
    leaves: Tuple[List[Tensor], List[Tensor]],
    modules: Tuple[nn.Module, nn.Module],
    atol: float,
) -> None:
    """Backpropagates one weighted loss through both runs and compares the gradients of the
    input leaves (ours, reference) and of every parameter, matched by name."""
    weights = loss_weights(want, seed=2)
    weighted_sum(got, weights).backward()
    weighted_sum(want, weights).backward()
    ours_leaves, ref_leaves = leaves
    assert_same([t.grad for t in ours_leaves], [t.grad for t in ref_leaves], atol, "input grads")
    our_params = dict(modules[0].named_parameters())
    ref_params = dict(modules[1].named_parameters())
    assert sorted(our_params) == sorted(ref_params)
    names = sorted(ref_params)
    assert_same([our_params[n].grad for n in names], [ref_params[n].grad for n in names], atol, f"param grads {names}")
