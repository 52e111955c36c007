"""Input checks shared by the cells and layers, written so that TorchScript compiles them.

Each failure raises ``ValueError`` naming the problem and what was expected. Under
``torch.jit.script`` the interpreter re-raises it as ``torch.jit.Error`` whose message ends in
``ValueError: <the same text>`` (TorchScript cannot raise Python exception classes as such).

Shapes are formatted as plain int lists (``[2, 3, 4]``): building text with a comprehension
and ``join`` inside a scripted function breaks the ONNX exporter ("len(node_outputs)=1 !=
n_outputs=0"), even on a branch that only raises.

Under ``torch.export`` the value checks cannot branch on a tensor's values (export fails with
``GuardOnDataDependentSymNode``); there they become runtime asserts that the exported program
keeps, in ``ep.module()`` and in an AOTInductor package alike. A bad value then raises
``RuntimeError`` with torch's text, not the message below (``ep.module()``: ``Runtime assertion
failed for expression u2 >= 1``; a package: ``Expected u0 >= 1 but received 0``).
"""

from typing import List

import torch
from torch import Tensor


def check_features(input: Tensor, input_size: int, what: str) -> None:
    """The last axis of ``input`` must hold ``input_size`` features."""
    if input.size(-1) != input_size:
        raise ValueError(
            "{} has {} features on its last axis but the module was built with "
            "input_size={}".format(what, input.size(-1), input_size)
        )


def check_floating(input: Tensor, what: str) -> None:
    """Recurrent math needs a floating-point input (token ids go through an embedding first)."""
    if not input.is_floating_point():
        raise ValueError(
            "{} must be a floating-point tensor, got {}; embed integer ids first".format(
                what, input.dtype
            )
        )


def check_state(state: Tensor, expected: List[int], what: str) -> None:
    """A hidden or cell state must have exactly the ``expected`` shape."""
    if list(state.size()) != expected:
        raise ValueError(
            "{} has shape {} but {} was expected".format(what, list(state.size()), expected)
        )


def check_lengths(lengths: Tensor, batch: int, time: int, what: str = "lengths") -> None:
    """``lengths`` must be integer, shape (batch,), every value in [1, time]."""
    if lengths.dim() != 1 or lengths.size(0) != batch:
        raise ValueError(
            "{} has shape {} but [{}] was expected, one length per sequence".format(
                what, list(lengths.size()), batch
            )
        )
    if lengths.is_floating_point() or lengths.dtype == torch.bool:
        raise ValueError("{} must be an integer tensor (int64), got {}".format(what, lengths.dtype))
    if batch > 0:
        if not torch.jit.is_scripting():  # TorchScript skips this branch without compiling it
            if torch.compiler.is_exporting():
                _assert_range(lengths, 1, time)
                return
        low = int(lengths.min())
        high = int(lengths.max())
        if low < 1 or high > time:
            raise ValueError(
                "{} must lie in [1, {}] (the time axis), got values from {} to {}".format(
                    what, time, low, high
                )
            )


@torch.jit.unused
def _assert_range(values: Tensor, low: int, high: int) -> None:
    """Under torch.export: every value in [low, high], asserted when the program runs.

    ``.item()``, not ``int()``: it gives export an unbacked symbol to assert on. ``high`` may be a
    symbolic size (the time axis); the assert compares against it without fixing it. No message:
    the program's assert has torch's own text, and strict export refuses a message closure.
    """
    torch._check(values.min().item() >= low)
    torch._check(values.max().item() <= high)


def check_dims(input: Tensor, dims: int, layout: str, what: str) -> None:
    """``input`` must have ``dims`` axes, laid out as ``layout`` (for the message)."""
    if input.dim() != dims:
        raise ValueError(
            "{} must be {}-D {}, got shape {}".format(what, dims, layout, list(input.size()))
        )


def check_token_ids(ids: Tensor, vocab_size: int, what: str) -> None:
    """``ids`` must be an integer tensor whose values index a vocabulary of ``vocab_size``."""
    if ids.is_floating_point() or ids.is_complex() or ids.dtype == torch.bool:
        raise ValueError(
            "{} must hold integer token ids (int64), got {}".format(what, ids.dtype)
        )
    if ids.numel() > 0:
        if not torch.jit.is_scripting():
            if torch.compiler.is_exporting():
                _assert_range(ids, 0, vocab_size - 1)
                return
        low = int(ids.min())
        high = int(ids.max())
        if low < 0 or high >= vocab_size:
            raise ValueError(
                "{} holds token ids from {} to {} but the vocabulary has {} entries "
                "(ids 0 to {})".format(what, low, high, vocab_size, vocab_size - 1)
            )


def check_token_batch(ids: Tensor, vocab_size: int, what: str) -> None:
    """A (batch, time) batch of token ids in [0, vocab_size) with at least one step."""
    check_dims(ids, 2, "(batch, time) token ids", what)
    check_token_ids(ids, vocab_size, what)
    if ids.size(1) < 1:
        raise ValueError("{} must hold at least one step per sequence".format(what))
