"""The recurrent layers' time loop as one ``while_loop``, for ``torch.export`` with a dynamic time axis.

``torch.export`` traces Python: a ``for`` over the time steps is unrolled at the example input's
length, and the program then only accepts that length. ``torch._higher_order_ops.while_loop`` stays
one node whose trip count is the symbolic time length; ``ep.module()`` runs it, AOTInductor compiles
it, and ``torch.onnx.export(ep, dynamo=True)`` lowers it to an ONNX ``Loop``. ``scan`` exports too,
but AOTInductor fails on it in torch 2.13 (``InductorError: KeyError: s27``), hence ``while_loop``.

Only export takes this path: eager and TorchScript keep their plain loops, and the callers reach this
module behind ``if not torch.jit.is_scripting():`` so that TorchScript never compiles it.
"""

from typing import Any, Callable, List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn
from torch.nn.utils.stateless import _reparametrize_module
from torch.utils._pytree import tree_flatten, tree_unflatten

CHUNK = 8  # steps per while_loop iteration (see while_scan)
# (input gates of one step (B, G), states [h] or [h, c], the step's weights) -> the next states,
# in the same order. It must read tensors only from its arguments (see while_scan).
Step = Callable[[Tensor, List[Tensor], List[Tensor]], List[Tensor]]


@torch.jit.unused
def use_while_loop(x: Tensor, time_dim: int = 0) -> bool:
    """True while torch.export traces ``x`` with a symbolic length on ``time_dim``.

    A concrete length (an example traced without a dynamic time axis, or a generate loop feeding one
    token) keeps the plain loop: unrolled at that length, which is then the only one the program takes.
    Strict export (``strict=True``, traced by Dynamo) shows every size as an int, so there the loop is
    always a ``while_loop``, which runs any length, that one included.
    """
    if not torch.compiler.is_exporting():
        return False
    return torch.compiler.is_dynamo_compiling() or isinstance(x.size(time_dim), torch.SymInt)


@torch.jit.unused
def while_scan(
    step: Step, xs: Tensor, state: List[Tensor], mask: Optional[Tensor], weights: List[Tensor]
) -> Tuple[Tensor, List[Tensor]]:
    """Runs ``step`` over time-major ``xs`` (T, B, G) from ``state`` (each (B, H)) with ``weights``.

    Returns every step's new h (T, B, H) and the final states. With ``mask`` (T, B, 1), a sequence's
    states stop changing after its last valid step (``torch.where(keep, new, old)`` as the scripted
    loops do); its outputs past that step are whatever the step computed, masked by the caller.

    Each iteration runs ``CHUNK`` steps, written out as Python (unrolled at trace time), and writes
    their outputs into the buffer at once. The buffer is a carried value, and a while_loop's
    carried values cannot be updated in place (Dynamo refuses input mutation in a loop body; a
    mutated extra input exports, but AOTInductor then stops on "body_fn might be modifying the
    input"), so each write copies the whole buffer: one write per CHUNK steps makes that quadratic
    cost CHUNK times smaller. The steps past T in the last chunk keep the state and write to spare rows.

    It runs through ``operand_while_loop``: the body reads no tensor or symbolic size from its
    closure, so the weights come in as operands and the time length is read off ``xs`` inside.
    """
    h = state[0]
    steps = xs.size(0)
    # Carried values must keep their shape, dtype and layout from one iteration to the next: a
    # preallocated output written in place of a list, states laid out like a step's results. And
    # they must not alias one another: the layer's zero h and c are views of one tensor, which
    # ep.run_decompositions() (and so torch.onnx) refuses ("cond_fn might be aliasing the input").
    # CHUNK spare rows take the last chunk's steps past T (sizes derived from T by padding it to a
    # multiple of CHUNK would need guards that export refuses for a free time axis).
    out = h.new_zeros([steps + CHUNK, h.size(0), h.size(1)])
    start = torch.zeros((), dtype=torch.int64, device=xs.device)
    offsets = torch.arange(CHUNK, device=xs.device)
    operands = [xs, offsets, *weights] + ([] if mask is None else [mask])

    def cond(carried: Tuple[Any, ...], given: Sequence[Tensor]) -> Tensor:
        return carried[0] < given[0].size(0)

    def body(carried: Tuple[Any, ...], given: Sequence[Tensor]) -> Tuple[Any, ...]:
        i, old, written = carried
        inputs, offsets, own = given[0], given[1], list(given[2 : 2 + len(weights)])
        at = i + offsets  # (CHUNK,): the steps of this chunk, the last one's may pass T
        inside = at < inputs.size(0)
        read = torch.where(inside, at, inputs.size(0) - 1)  # a step past T reads the last one, and is not kept
        chunk = inputs.index_select(0, read)
        keeps = inside.view(CHUNK, 1, 1)
        if mask is not None:
            keeps = given[-1].index_select(0, read) & keeps
        outputs = []
        for k in range(CHUNK):
            new = step(chunk[k], old, own)
            outputs.append(new[0])
            old = [torch.where(keeps[k], n, o) for n, o in zip(new, old)]
        return i + CHUNK, old, written.index_copy(0, at, torch.stack(outputs))

    carried = (start, [s.clone(memory_format=torch.contiguous_format) for s in state], out)
    _, final, written = operand_while_loop(cond, body, carried, operands)
    return written[:steps], final


@torch.jit.unused
def operand_while_loop(
    cond: Callable[[Any, Sequence[Tensor]], Tensor],
    body: Callable[[Any, Sequence[Tensor]], Any],
    carried: Any,
    operands: Sequence[Tensor],
) -> Any:
    """``while cond(carried, operands): carried = body(carried, operands)``, ``carried`` a nest of
    tensors (an LSTM state is a pair), through the while_loop operator itself.

    The operator is called directly rather than through ``while_loop``, which traces the body
    with Dynamo on each call: this way export takes about half the time. So neither function may
    read a tensor or a symbolic size from its closure: ``operands`` holds every tensor they read.
    """
    flat, spec = tree_flatten(carried)

    def split(args: Tuple[Tensor, ...]) -> Tuple[Any, Sequence[Tensor]]:
        return tree_unflatten(list(args[: len(flat)]), spec), args[len(flat) :]

    def cond_fn(*args: Tensor) -> Tensor:
        return cond(*split(args))

    def body_fn(*args: Tensor) -> Tuple[Tensor, ...]:
        return tuple(tree_flatten(body(*split(args)))[0])

    final = torch.ops.higher_order.while_loop(cond_fn, body_fn, tuple(flat), tuple(operands))
    return tree_unflatten(list(final), spec)


@torch.jit.unused
def module_while_loop(
    module: nn.Module,
    cond: Callable[[Any, Sequence[Tensor]], Tensor],
    body: Callable[[Any, Sequence[Tensor]], Any],
    carried: Any,
    operands: Sequence[Tensor],
) -> Any:
    """``operand_while_loop`` whose ``body`` may call ``module`` (any method): ``module``'s
    parameters and buffers are passed in as operands too and put back in place of its own while
    ``body`` runs (``torch.nn.utils.stateless``), so the program keeps them as its parameters.
    """
    named = [*module.named_parameters(), *module.named_buffers()]
    names = [name for name, _ in named]
    given = len(operands)

    def with_weights(carried: Any, extra: Sequence[Tensor]) -> Any:
        with _reparametrize_module(module, dict(zip(names, extra[given:]))):
            return body(carried, extra[:given])

    return operand_while_loop(lambda carried, extra: cond(carried, extra[:given]), with_weights, carried,
                              (*operands, *(t for _, t in named)))  # fmt: skip
