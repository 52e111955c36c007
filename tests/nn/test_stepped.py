"""``zoo.nn.SteppedRNNCell``: ``over_time`` is the tutorials' loop of ``torch.nn.RNNCell`` calls,
eager and scripted, and export runs it as one native node without knowing the model."""

import torch

from export.native_layers import NativeSteppedRNNCell, with_native_layers
from zoo import nn as znn


def _reference(cell: torch.nn.RNNCell, inputs: torch.Tensor, h: torch.Tensor):
    steps = []
    for t in range(inputs.size(1)):
        h = cell(inputs[:, t], h)
        steps.append(h)
    return torch.stack(steps, 1), h


def test_over_time_is_the_loop_of_cell_calls_eager_scripted_and_native():
    torch.manual_seed(0)
    reference = torch.nn.RNNCell(5, 7, nonlinearity="relu")
    cell = znn.SteppedRNNCell(5, 7, nonlinearity="relu")
    cell.load_state_dict(reference.state_dict())  # the same keys as torch.nn.RNNCell
    inputs, h = torch.randn(3, 11, 5), torch.randn(3, 7)
    expected_steps, expected_last = _reference(reference, inputs, h)
    holder = torch.nn.Module()
    holder.cell = cell
    native, records = with_native_layers(holder)
    assert isinstance(native.cell, NativeSteppedRNNCell) and records[0]["onnx_nodes"] == ["RNN"]
    for run in (cell, torch.jit.script(cell), native.cell):
        steps, last = run.over_time(inputs, h)
        torch.testing.assert_close(steps, expected_steps, atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(last, expected_last, atol=1e-6, rtol=1e-5)
