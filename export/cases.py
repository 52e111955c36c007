"""The verification cases of a graph: a batch x time grid, ragged batches and chunked state.

- Grid: batch 1, 2, 7, 64 x time 1, 2, 17, 256 (time only where an input has a time axis).
- Ragged (models with a lengths input): every grid case is ragged, unsorted, with one row of
  length 1 and one of the full length; inputs past each row's length are zero.
- Chunked (stateful models): a 17-step batch of 7 run as chunks of 5, 5 and 7 with each chunk's
  state fed into the next must equal the whole run.
- Extra graphs: the cases their declaration lists (``ExtraGraph.cases``: ``generate`` greedy
  and sampled from short and long prompts), else the example over batch x time 1, 2, 17
  (``decode``).
"""

from dataclasses import dataclass
from typing import List, Optional, Tuple

import torch
from torch import Tensor

from export.graphs import Graph
from zoo.registry import Signature
from zoo.store import flatten

BATCHES = (1, 2, 7, 64)
TIMES = (1, 2, 17, 256)
CHUNKS = (5, 5, 7)
EXTRA_TIMES = (1, 2, 17)  # an extra graph's loop runs per generated step: shorter inputs suffice


@dataclass
class Case:
    name: str
    graph: str
    inputs: List[Tensor]  # flat, in the graph's input order (float32 / int64)
    chunks: Optional[Tuple[int, ...]] = None  # run in chunks of these many steps, state fed back


def has_time(graph: Graph) -> bool:
    return any(isinstance(d, str) and d.endswith("time") for t in graph.inputs for d in t.shape)


def _ragged(flat: List[Tensor], graph: Graph, signature: Signature) -> List[Tensor]:
    """Lengths with a 1 and the maximum among unsorted rows; zeros past each row's length."""
    names = [t.name for t in graph.inputs]
    flat = [t.clone() for t in flat]
    for lengths_name, sequence_name in signature.ragged:
        lengths, sequence = flat[names.index(lengths_name)], flat[names.index(sequence_name)]
        time = sequence.size(1)
        if lengths.numel() >= 2:
            lengths[0] = 1
            lengths[-1] = time
        past = torch.arange(time).unsqueeze(0) >= lengths.unsqueeze(1)  # (B, T)
        sequence[past.view(past.shape + (1,) * (sequence.dim() - 2)).expand_as(sequence)] = 0
    return flat


def forward_cases(graph: Graph, signature: Signature, stateful: bool, seed: int = 0) -> List[Case]:
    cases = []
    times = TIMES if has_time(graph) else (None,)
    for batch in BATCHES:
        for time in times:
            generator = torch.Generator().manual_seed(seed + 1000 * batch + (time or 0))
            flat = flatten(graph.example(batch, time or 1, generator))
            name = f"b{batch}" + (f"-t{time}" if time else "")
            if signature.ragged:
                flat = _ragged(flat, graph, signature)
                name += "-ragged"
            cases.append(Case(name, graph.name, flat))
    if stateful:
        generator = torch.Generator().manual_seed(seed + 7)
        flat = flatten(graph.example(7, sum(CHUNKS), generator))
        cases.append(Case("b7-t17-chunks-" + "+".join(map(str, CHUNKS)), graph.name, flat, CHUNKS))
    return cases


def extra_cases(graph: Graph) -> List[Case]:
    """An extra graph's declared cases, else its example over batch x time 1, 2, 17."""
    declared = graph.declared_cases()
    if declared is not None:
        return [Case(name, graph.name, flatten(args)) for name, args in declared]
    cases = []
    for batch in BATCHES:
        for time in EXTRA_TIMES:
            flat = flatten(graph.example(batch, time, torch.Generator().manual_seed(batch * 31 + time)))
            cases.append(Case(f"b{batch}-t{time}", graph.name, flat))
    return cases


def cases_for(graph: Graph, signature: Signature, stateful: bool) -> List[Case]:
    if graph.declaration is None:
        return forward_cases(graph, signature, stateful)
    return extra_cases(graph)
