"""Helpers for tests that are generic over the registry: concrete shapes from a signature, and
example inputs taken apart and put back together by input name."""

import functools
from typing import Any, Dict, List, Sequence, Tuple

import torch
from torch import Tensor

import zoo
from zoo.registry import Dim, Signature
from zoo.store import flatten, unflatten


def is_time(dim: Dim) -> bool:
    return isinstance(dim, str) and dim.endswith("time")


def concrete(shape: Sequence[Dim], batch: int, time: int) -> Tuple[int, ...]:
    return tuple(batch if d == "batch" else time if is_time(d) else d for d in shape)


def has_time(signature: Signature) -> bool:
    return any(is_time(d) for s in signature.inputs for d in s.shape)


def axis_of(shape: Sequence[Dim], predicate) -> int:  # type: ignore[no-untyped-def]
    matches = [i for i, d in enumerate(shape) if predicate(d)]
    assert len(matches) == 1, f"expected one such axis in {shape}"
    return matches[0]


def named_inputs(name: str, batch: int, time: int, seed: int = 0) -> Tuple[Any, Dict[str, Tensor]]:
    """The spec's example arguments, and the same tensors by input name."""
    spec = zoo.get_spec(name)
    config = spec.make_config()
    args = spec.example_inputs(config, batch, time, torch.Generator().manual_seed(seed))
    names = [s.name for s in spec.signature(config).inputs]
    return args, dict(zip(names, flatten(args)))


def call(model: Any, like: Any, inputs: Dict[str, Tensor]) -> List[Tensor]:
    """Runs ``model`` on ``inputs`` (by name, in the signature's order), flat outputs."""
    return flatten(model(*unflatten(like, list(inputs.values()))))


def seeded_model(name: str, seed: int = 0) -> torch.nn.Module:
    spec = zoo.get_spec(name)
    torch.manual_seed(seed)
    return spec.build(spec.make_config()).eval()


@functools.lru_cache(maxsize=None)
def scripted_model(name: str) -> torch.jit.ScriptModule:
    """The seeded model scripted once per test session (scripting is the slow part)."""
    return torch.jit.script(seeded_model(name))
