"""Gradient norms through time (`zoo train MODEL --grad-norms`).

A probe measures, on a fixed batch, the norm of dLoss/dh for the hidden state of every step of
every recurrent layer and direction: the gradient that backpropagation through time carries
from the loss back to each step. A plain RNN's shrinks geometrically with the distance from the
loss (vanishing gradients: Bengio, Simard and Frasconi 1994; Pascanu, Mikolov and Bengio 2013,
"On the difficulty of training recurrent neural networks"); gated cells keep more of it.

``torch.nn`` layers run their time loop in one fused kernel and never hold a step's state as a
tensor of its own, so for the probe each recurrent layer (``torch.nn.RNN/LSTM/GRU``, bare or
behind ``zoo.nn.packed``, and the ``zoo.nn`` twins) is swapped for an eager loop over
``zoo.nn.steps`` with the layer's own parameters, which keeps each step's state; the gradients
come from ``torch.autograd.grad``, so the parameters' ``.grad`` and the optimizer never see the
probe. It runs in eval mode (no dropout draws, no batch-norm statistics updated), so training
with the probe gives the same weights as training without it.

Only tasks with one loss per sequence (classification, binary classification, regression) are
measured: there the loss reads each direction's final state, and ``norms[d]`` is the gradient
``d`` steps before it (the forward direction's step ``length - 1 - d``, the backward
direction's step ``d``). A language model, a tagger or a forecaster has a loss at every step,
whose gradient at a step mixes all the later losses; `zoo train` refuses the flag for them.
"""

from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.nn.utils.rnn import PackedSequence

from zoo import nn as znn
from zoo.nn.packed import PackedLSTM, PackedRNN
from zoo.nn.ragged import reverse_index, reverse_time, step_mask
from zoo.nn.steps import gru_step, lstm_step, rnn_relu_step, rnn_tanh_step
from zoo.train.tasks import ExampleTask, Task

ROW_TYPE = "gradnorms"  # metrics.jsonl rows of the probe carry {"type": ROW_TYPE}
PROBE_EXAMPLES = 64  # the first validation examples

_KINDS = {nn.RNN: "rnn", znn.RNN: "rnn", nn.LSTM: "lstm", znn.LSTM: "lstm", nn.GRU: "gru", znn.GRU: "gru"}
# (layer, direction, each step's new state in the direction's reading order) of one forward
Record = List[Tuple[int, int, List[Tensor]]]


def recurrent_layers(model: nn.Module) -> List[Tuple[str, nn.Module, nn.Module]]:
    """(name in the model, module whose forward is swapped, layer holding the parameters) of
    every recurrent layer; a ``zoo.nn.packed`` adapter is swapped whole (it feeds its layer a
    PackedSequence)."""
    found: List[Tuple[str, nn.Module, nn.Module]] = []
    inside: set = set()
    for name, module in model.named_modules():  # parents come before their children
        if id(module) in inside:
            continue
        if isinstance(module, (PackedRNN, PackedLSTM)):
            found.append((name, module, module.layer))
            inside.add(id(module.layer))
        elif type(module) in _KINDS:
            found.append((name, module, module))
    return found


def check_grad_norms(name: str, task: Task, model: nn.Module) -> None:
    """--grad-norms can measure this model on this task, or a one-line error saying why not."""
    if not isinstance(task, ExampleTask):
        raise ValueError(f"--grad-norms measures the gradient from a loss at a sequence's last step; {name} "
                         f"({task.task}) has a loss at every step; use it with a sequence classifier or regressor")  # fmt: skip
    if not recurrent_layers(model):
        raise ValueError(f"--grad-norms: {name} has no torch.nn or zoo.nn RNN/LSTM/GRU layer to measure; drop the flag")


def _parameters(layer: nn.Module, suffix: str) -> Tuple[Tensor, Tensor, Optional[Tensor], Optional[Tensor]]:
    names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh") if layer.bias else ("weight_ih", "weight_hh")
    found = [getattr(layer, n + suffix) for n in names]
    return found[0], found[1], found[2] if layer.bias else None, found[3] if layer.bias else None


def _scan(layer: nn.Module, kind: str, gx: Tensor, state: List[Tensor], w_hh: Tensor, b_hh: Optional[Tensor],
          mask: Optional[Tensor]) -> Tuple[List[Tensor], List[Tensor]]:  # fmt: skip
    """One direction over time, eagerly: each step's new state and the final state, with the
    semantics of ``zoo.nn.recurrent`` (a row's state stops changing past its length)."""
    h, c = state[0], state[-1]  # c: the LSTM's cell state (the others carry h alone)
    w_hh_t = w_hh.t()
    relu = kind == "rnn" and layer.nonlinearity == "relu"
    steps: List[Tensor] = []
    # split, not gx[t]: each gx[t]'s backward writes a zero gradient as large as gx (RNN._scan).
    for t, gx_t in enumerate(gx.split(1, 0)):
        gx_t = gx_t.squeeze(0)  # (B, G*H)
        keep = mask[t] if mask is not None else None
        if kind == "lstm":
            h_next, c_next = lstm_step(gx_t, h, c, w_hh_t)
            c = c_next if keep is None else torch.where(keep, c_next, c)
        elif kind == "gru":
            h_next = gru_step(gx_t, h, w_hh_t, b_hh)
        else:
            h_next = (rnn_relu_step if relu else rnn_tanh_step)(gx_t, h, w_hh_t)
        steps.append(h_next)
        h = h_next if keep is None else torch.where(keep, h_next, h)
    return steps, [h, c] if kind == "lstm" else [h]


def _unrolled(layer: nn.Module, kind: str, record: Record) -> Callable[..., Any]:
    """A ``forward(input, hx=None, lengths=None)`` computing what ``layer`` computes (eval
    mode), step by step, appending every step's state to ``record``."""

    def forward(input: Any, hx: Any = None, lengths: Optional[Tensor] = None) -> Any:
        if isinstance(input, PackedSequence) or input.dim() != 3:
            raise ValueError("--grad-norms needs a batched (3-D) padded input with optional lengths, not a "
                             "PackedSequence; wrap a torch.nn layer in zoo.nn.packed.PackedRNN/PackedLSTM")  # fmt: skip
        x = input.transpose(0, 1) if layer.batch_first else input  # (T, B, F)
        time, batch = x.size(0), x.size(1)
        directions = 2 if layer.bidirectional else 1
        count = layer.num_layers * directions
        if hx is None:
            zeros = x.new_zeros(count, batch, layer.hidden_size)
            start = [zeros, zeros] if kind == "lstm" else [zeros]
        else:
            start = list(hx) if kind == "lstm" else [hx]
        mask = step_mask(lengths.to(x.device), time) if lengths is not None else None  # (T, B, 1)
        flip = reverse_index(lengths.to(x.device), time) if lengths is not None else None  # (T, B)
        finals: List[List[Tensor]] = [[] for _ in start]
        layer_input = x
        for index in range(layer.num_layers):
            outputs = []
            for direction in range(directions):
                w_ih, w_hh, b_ih, b_hh = _parameters(layer, f"_l{index}" + ("_reverse" if direction else ""))
                seq = layer_input if direction == 0 else (layer_input.flip(0) if flip is None else reverse_time(layer_input, flip))
                # GRU keeps b_hh inside r * (W_hn h + b_hn); the others fold it into the input product.
                fold = b_ih is not None and b_hh is not None and kind != "gru"
                gx = F.linear(seq, w_ih, b_ih + b_hh if fold else b_ih)  # (T, B, G*H)
                slot = index * directions + direction
                steps, last = _scan(layer, kind, gx, [s[slot] for s in start], w_hh, b_hh, mask)
                record.append((index, direction, steps))
                out = torch.stack(steps)  # (T, B, H)
                if direction:
                    out = out.flip(0) if flip is None else reverse_time(out, flip)
                outputs.append(out)
                for kept, state in zip(finals, last):
                    kept.append(state)
            layer_input = torch.cat(outputs, 2)  # (T, B, D*H)
            if mask is not None:
                layer_input = layer_input.masked_fill(~mask, 0.0)  # as pad_packed_sequence pads
        output = layer_input.transpose(0, 1) if layer.batch_first else layer_input
        states = [torch.stack(kept) for kept in finals]  # (L*D, B, H) each
        return (output, (states[0], states[1])) if kind == "lstm" else (output, states[0])

    return forward


@contextmanager
def unrolled(model: nn.Module) -> Iterator[List[Tuple[str, Record]]]:
    """Inside: every recurrent layer of ``model`` runs eagerly and records its steps' states
    (one ``(name, record)`` per layer, filled by each forward); restored on the way out."""
    records: List[Tuple[str, Record]] = []
    swapped = []
    try:
        for name, module, layer in recurrent_layers(model):
            record: Record = []
            records.append((name, record))
            module.forward = _unrolled(layer, _KINDS[type(layer)], record)  # an instance attribute shadows the method
            swapped.append(module)
        yield records
    finally:
        for module in swapped:
            del module.forward


def _by_distance(gradients: List[Tensor], lengths: Tensor) -> List[float]:
    """Each step's gradient (B, H) in reading order -> its norm over the batch at each
    distance d from the row's final state (step length - 1 - d of that row)."""
    squares = torch.stack([g.double().pow(2).sum(1) for g in gradients])  # (T, B)
    rows = torch.arange(squares.size(1), device=squares.device)
    norms = []
    for distance in range(int(lengths.max())):
        step = lengths - 1 - distance  # (B,)
        inside = step >= 0
        norms.append(float(squares[step[inside], rows[inside]].sum().sqrt()))
    return norms


def measure(model: nn.Module, loss_of: Callable[[nn.Module], Tensor], lengths: Optional[Tensor] = None) -> Dict[str, Any]:
    """The gradient norms of ``loss_of(model)`` (a scalar): {"loss", "layers": [{"module",
    "layer", "direction", "norms"}], "parameters": {name: norm}}. ``lengths`` (B,): the valid
    steps of each row of a ragged batch (the loss reads each row at its last one)."""
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad(), unrolled(model) as records:
            loss = loss_of(model)
            named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
            states = [step for _, record in records for _, _, steps in record for step in steps]
            found = torch.autograd.grad(loss, states + [p for _, p in named], allow_unused=True)
    finally:
        model.train(was_training)
    grads = [torch.zeros_like(t) if g is None else g for t, g in zip(states + [p for _, p in named], found)]
    layers, position = [], 0
    for name, record in records:
        for index, direction, steps in record:
            here = grads[position : position + len(steps)]
            position += len(steps)
            rows = steps[0].size(0)
            valid = lengths.to(here[0].device) if lengths is not None else torch.full((rows,), len(steps), device=here[0].device)
            layers.append({"module": name, "layer": index, "direction": "backward" if direction else "forward",
                           "norms": _by_distance(here, valid)})  # fmt: skip
    parameters = {n: float(g.double().norm()) for (n, _), g in zip(named, grads[position:])}
    return {"loss": float(loss.detach()), "layers": layers, "parameters": parameters}


def probe_batch(task: ExampleTask) -> Tuple[Any, Optional[Tensor]]:
    """The fixed probe: the first PROBE_EXAMPLES validation examples, and their lengths."""
    split = task.data.splits["val"]
    batch = task._to_device(task.collate(split, list(range(min(PROBE_EXAMPLES, len(split))))))
    args = batch[0]
    lengths = None
    if task.lengths is not None:
        lengths = args[[spec.name for spec in task.signature.inputs].index(task.lengths)]
    return batch, lengths


def probe_row(task: ExampleTask, model: nn.Module, after_epoch: int, global_step: int) -> Dict[str, Any]:
    """The metrics.jsonl row of one probe, after ``after_epoch`` epochs (0: before training)."""
    batch, lengths = probe_batch(task)

    def loss_of(probed: nn.Module) -> Tensor:
        terms = task.loss(probed, batch)
        return terms.total / terms.count

    found = measure(model, loss_of, lengths)
    return {"type": ROW_TYPE, "after_epoch": after_epoch, "global_step": global_step,
            "probe": {"split": "val", "examples": int(batch[1].size(0))}, **found}  # fmt: skip
