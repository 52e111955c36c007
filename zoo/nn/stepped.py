"""An RNNCell stepped over time as the tutorials write it: a for loop over the steps.

``SteppedRNNCell`` is ``zoo.nn.RNNCell`` (the same parameters and state dict keys) with one more
scripted method, ``over_time``, that runs the loop. The exporter knows the type, not the models
that hold it: whichever model steps one over time gets one native ONNX ``RNN`` node for the loop
(``export.native_layers``), or an ONNX ``Loop`` with ``--recurrent loop``. Under ``torch.export``
with a symbolic time length the loop runs as one ``while_loop`` (``zoo.nn.export_loop``).
"""

from typing import List, Tuple

import torch
from torch import Tensor

from zoo.nn.cells import RNNCell
from zoo.nn.export_loop import use_while_loop, while_scan


class SteppedRNNCell(RNNCell):
    @torch.jit.export
    def over_time(self, inputs: Tensor, h: Tensor) -> Tuple[Tensor, Tensor]:
        """Batch-first ``inputs`` (B, T, I) from the state ``h`` (B, H): every step's state
        (B, T, H) and the last one (B, H)."""
        if not torch.jit.is_scripting():  # TorchScript skips this branch without compiling it
            if use_while_loop(inputs, 1):
                return self._while_over_time(inputs, h)
        steps: List[Tensor] = []
        # split + squeeze, not unbind: see the comment on the loop in zoo/nn/recurrent.py.
        for x in inputs.split(1, 1):
            h = self.forward(x.squeeze(1), h)
            steps.append(h)
        return torch.stack(steps, dim=1), h

    @torch.jit.unused
    def _while_over_time(self, inputs: Tensor, h: Tensor) -> Tuple[Tensor, Tensor]:
        """``over_time`` as one ``while_loop`` over the time-major inputs, the same cell call per step."""
        names = [name for name, _ in self.named_parameters()]

        def step(x: Tensor, state: List[Tensor], weights: List[Tensor]) -> List[Tensor]:
            # The cell's own forward, on the weights the loop passes in (while_scan: no closures).
            return [torch.func.functional_call(self, dict(zip(names, weights)), (x, state[0]))]

        steps, last = while_scan(step, inputs.transpose(0, 1), [h], None, [p for _, p in self.named_parameters()])
        return steps.transpose(0, 1), last[0]
