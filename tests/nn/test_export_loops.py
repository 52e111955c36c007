"""zoo.nn's recurrent loops under ``torch.export`` with a dynamic batch and time axis.

A symbolic time length runs each direction's loop as one ``while_loop`` (``zoo.nn.export_loop``):
the program takes any (batch, time) >= 1 and matches the eager layer and torch.nn's twin. A
concrete time length keeps the plain (unrolled) loop; TorchScript keeps compiling the plain loop;
the value checks become runtime asserts of the exported program (``zoo.nn.checks``).

Export traces each ``while_loop`` with Dynamo, which is slow, so the default run takes every loop path once
(two states, ragged ``where``, ``b_hh`` in the step, a reversed direction, stacked layers) and the
full grid runs with ``-m exhaustive``.
"""

import functools
from typing import Any, NamedTuple, Optional, Tuple

import pytest
import torch
from torch import Tensor, nn
from torch.export import Dim, ExportedProgram

import zoo.nn as znn
from tests.nn.twins import LAYER_KINDS, TOLERANCE, assert_same, flat, make_twins, run_reference
from zoo.nn.checks import check_token_batch

INPUT, HIDDEN = 3, 5
EXAMPLE = (3, 4)  # (batch, time) traced: >= 2 each, or export specializes the size to 0/1
RUN_SHAPES = [(1, 1), (7, 9)]  # the smallest, and larger than the example on both axes
ATOL = TOLERANCE[torch.float32]
# torch 2.13's own deprecation, raised inside run_decompositions and aoti_compile_and_package.
TORCH_TREESPEC_WARNING = pytest.mark.filterwarnings("ignore:`isinstance\\(treespec, LeafSpec\\)` is deprecated:FutureWarning")


class Case(NamedTuple):
    kind: str
    num_layers: int
    bidirectional: bool
    batch_first: bool
    ragged: bool
    with_state: bool

    def __str__(self) -> str:
        flags = [("bi", self.bidirectional), ("batch_first", self.batch_first), ("ragged", self.ragged), ("hx", self.with_state)]
        return "-".join([self.kind, f"l{self.num_layers}"] + [name for name, on in flags if on])


DEFAULT_CASES = [
    Case("lstm", 2, False, True, True, False),  # no hx: h and c start as views of one zero tensor
    Case("gru", 1, True, False, True, True),
    Case("rnn_tanh", 1, False, False, False, True),
    Case("rnn_relu", 1, False, True, True, False),
]
FULL_GRID = [
    Case(kind, 2, True, batch_first, True, with_state)
    for kind in LAYER_KINDS
    for batch_first in (False, True)
    for with_state in (False, True)
]


def _inputs(case: Case, batch: int, time: int, seed: int) -> Tuple[Tensor, Any, Optional[Tensor]]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn((batch, time, INPUT) if case.batch_first else (time, batch, INPUT), generator=generator)
    hx: Any = None
    if case.with_state:
        shape = (case.num_layers * (2 if case.bidirectional else 1), batch, HIDDEN)
        states = [torch.randn(shape, generator=generator) for _ in range(2 if case.kind == "lstm" else 1)]
        hx = tuple(states) if case.kind == "lstm" else states[0]
    lengths = None
    if case.ragged:  # unsorted, with a full-length sequence and one of length 1
        lengths = torch.randint(1, time + 1, (batch,), generator=generator)
        lengths[batch // 2] = time
        lengths[-1] = 1
    return x, hx, lengths


@functools.cache
def _exported(case: Case) -> Tuple[ExportedProgram, nn.Module, nn.Module]:
    """(program, eager zoo layer, torch.nn twin), exported once per case for all the tests."""
    ours, ref = make_twins(
        LAYER_KINDS, case.kind, torch.float32, input_size=INPUT, hidden_size=HIDDEN, num_layers=case.num_layers,
        batch_first=case.batch_first, bidirectional=case.bidirectional,
    )  # fmt: skip
    batch, time = Dim("batch", min=1), Dim("time", min=1)
    x, hx, lengths = _inputs(case, *EXAMPLE, seed=0)
    state_dims = {1: batch}
    dynamic_shapes = (
        {0: batch, 1: time} if case.batch_first else {0: time, 1: batch},
        None if hx is None else (state_dims, state_dims) if case.kind == "lstm" else state_dims,
        None if lengths is None else {0: batch},
    )
    return torch.export.export(ours.eval(), (x, hx, lengths), dynamic_shapes=dynamic_shapes), ours, ref.eval()


def _while_loops(program: ExportedProgram) -> int:
    return sum(node.target is torch.ops.higher_order.while_loop for node in program.graph_module.graph.nodes)


def _check_program(case: Case) -> None:
    program, ours, ref = _exported(case)
    run = program.module()
    for batch, time in RUN_SHAPES:
        x, hx, lengths = _inputs(case, batch, time, seed=1)
        got = flat(run(x, hx, lengths))
        assert_same(got, flat(ours(x, hx, lengths)), ATOL, f"{case} {batch}x{time} vs eager")
        assert_same(got, flat(run_reference(ref, x, hx, lengths, case.batch_first)), ATOL, f"{case} {batch}x{time} vs torch.nn")


@pytest.mark.parametrize("case", DEFAULT_CASES, ids=str)
def test_exported_layer_takes_any_batch_and_time(case):
    _check_program(case)


@pytest.mark.exhaustive
@pytest.mark.parametrize("case", FULL_GRID, ids=str)
def test_exported_layer_full_grid(case):
    _check_program(case)


def test_each_direction_is_one_while_loop_not_unrolled():
    case = DEFAULT_CASES[0]
    program, _, _ = _exported(case)
    assert _while_loops(program) == case.num_layers * (2 if case.bidirectional else 1)


@TORCH_TREESPEC_WARNING
def test_the_program_holds_the_parameters_and_decomposes():
    # A stale list of weights would bake them in as constants; aliasing carried values would stop
    # run_decompositions, where torch.onnx and AOTInductor start.
    case = DEFAULT_CASES[0]
    program, ours, _ = _exported(case)
    assert list(program.graph_signature.parameters) == [name for name, _ in ours.named_parameters()]
    assert not program.constants
    x, hx, lengths = _inputs(case, 7, 9, seed=1)
    decomposed = program.run_decompositions().module()
    assert_same(flat(decomposed(x, hx, lengths)), flat(ours(x, hx, lengths)), ATOL, "decomposed program")


def test_strict_export_runs_the_loop_as_a_while_loop():
    # Dynamo shows every size as an int, so strict export takes the while_loop at any length.
    ours, _ = make_twins(LAYER_KINDS, "rnn_tanh", torch.float32, input_size=INPUT, hidden_size=HIDDEN)
    dims = {0: Dim("time", min=1), 1: Dim("batch", min=1)}
    program = torch.export.export(ours, (torch.randn(4, 3, INPUT),), dynamic_shapes=(dims,), strict=True)
    assert _while_loops(program) == 1
    x = torch.randn(9, 7, INPUT)
    assert_same(flat(program.module()(x)), flat(ours(x)), ATOL, "strict program")


def test_a_concrete_time_length_keeps_the_plain_loop():
    # A generate loop feeds one step at a time: T=1 is fixed, only the batch is dynamic.
    ours, _ = make_twins(LAYER_KINDS, "gru", torch.float32, input_size=INPUT, hidden_size=HIDDEN)
    x = torch.randn(1, 3, INPUT)
    program = torch.export.export(ours, (x,), dynamic_shapes=({1: Dim("batch", min=1)},))
    assert _while_loops(program) == 0
    x = torch.randn(1, 6, INPUT)
    assert_same(flat(program.module()(x)), flat(ours(x)), ATOL, "T=1 program")


@pytest.mark.parametrize("kind", list(LAYER_KINDS))
def test_torchscript_still_compiles_the_plain_loop(kind):
    ours, _ = make_twins(LAYER_KINDS, kind, torch.float32, input_size=INPUT, hidden_size=HIDDEN, bidirectional=True)
    scripted = torch.jit.script(ours)
    assert scripted.inlined_graph.findAllNodes("prim::Loop"), "the scripted layer lost its time loop"
    assert not scripted.inlined_graph.findAllNodes("prim::PythonOp"), "export-only code leaked into TorchScript"
    case = Case(kind, 1, True, False, True, True)
    x, hx, lengths = _inputs(case, 4, 6, seed=1)
    for value, expected in zip(flat(scripted(x, hx, lengths)), flat(ours(x, hx, lengths))):
        assert torch.equal(value, expected)


class _OverTime(nn.Module):
    def __init__(self, cell: znn.SteppedRNNCell) -> None:
        super().__init__()
        self.cell = cell

    def forward(self, inputs: Tensor, h: Tensor) -> Tuple[Tensor, Tensor]:
        return self.cell.over_time(inputs, h)


def test_stepped_cell_exports_its_loop_as_one_while_loop():
    torch.manual_seed(0)
    reference = nn.RNNCell(INPUT, HIDDEN, nonlinearity="relu")
    cell = znn.SteppedRNNCell(INPUT, HIDDEN, nonlinearity="relu")
    cell.load_state_dict(reference.state_dict())
    batch, time = Dim("batch", min=1), Dim("time", min=1)
    example = (torch.randn(*EXAMPLE, INPUT), torch.randn(EXAMPLE[0], HIDDEN))
    program = torch.export.export(_OverTime(cell), example, dynamic_shapes=({0: batch, 1: time}, {0: batch}))
    assert _while_loops(program) == 1
    for batch_size, steps in RUN_SHAPES:
        inputs, h = torch.randn(batch_size, steps, INPUT), torch.randn(batch_size, HIDDEN)
        h_ref, states = h, []
        for t in range(steps):  # the tutorials' loop of torch.nn.RNNCell calls
            h_ref = reference(inputs[:, t], h_ref)
            states.append(h_ref)
        expected = [torch.stack(states, 1), h_ref]
        got = flat(program.module()(inputs, h))
        assert_same(got, flat(cell.over_time(inputs, h)), ATOL, f"{batch_size}x{steps} vs eager")
        assert_same(got, expected, ATOL, f"{batch_size}x{steps} vs torch.nn.RNNCell")


class _TokenIds(nn.Module):
    def forward(self, ids: Tensor) -> Tensor:
        check_token_batch(ids, 10, "ids")
        return ids * 2


def test_value_checks_are_runtime_asserts_of_the_program():
    # Eager raises ValueError with the module's message; the program asserts the same bounds and
    # raises RuntimeError with torch's text. The sizes stay dynamic: (1, 1) runs.
    dims = {0: Dim("batch", min=1), 1: Dim("time", min=1)}
    ids = torch.export.export(_TokenIds(), (torch.tensor([[1, 2, 3], [4, 5, 9]]),), dynamic_shapes=(dims,)).module()
    assert torch.equal(ids(torch.tensor([[7]])), torch.tensor([[14]]))
    for bad in (-1, 10):
        with pytest.raises(ValueError, match="vocabulary has 10 entries"):
            _TokenIds()(torch.tensor([[bad]]))
        with pytest.raises(RuntimeError, match="Runtime assertion failed"):
            ids(torch.tensor([[1, bad]]))
    case = DEFAULT_CASES[0]
    program, ours, _ = _exported(case)
    x, hx, _ = _inputs(case, 2, 3, seed=1)
    for bad in ([0, 2], [3, 4]):  # a length below 1, and one past the time axis
        with pytest.raises(ValueError, match=r"lengths must lie in \[1, 3\]"):
            ours(x, hx, torch.tensor(bad))
        with pytest.raises(RuntimeError, match="Runtime assertion failed"):
            program.module()(x, hx, torch.tensor(bad))


@pytest.mark.aoti
@TORCH_TREESPEC_WARNING
def test_aot_inductor_compiles_the_loop_and_keeps_the_value_checks(tmp_path):
    case = Case("gru", 1, False, True, True, True)
    program, ours, _ = _exported(case)
    package = torch._inductor.aoti_compile_and_package(program, package_path=str(tmp_path / "gru.pt2"))
    compiled = torch._inductor.aoti_load_package(package)
    for batch, time in RUN_SHAPES:
        x, hx, lengths = _inputs(case, batch, time, seed=1)
        assert_same(flat(compiled(x, hx, lengths)), flat(ours(x, hx, lengths)), ATOL, f"AOTI {batch}x{time}")
    x, hx, _ = _inputs(case, 2, 3, seed=1)
    for bad in ([0, 2], [3, 4]):
        with pytest.raises(RuntimeError, match="Expected"):
            compiled(x, hx, torch.tensor(bad))
