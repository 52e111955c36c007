"""An exported ONNX graph behind the model's own call, so code written for the eager model
(``zoo.train.tasks``: `zoo evaluate BUNDLE`) runs the bundle's file unchanged.

A task calls ``model(*args)`` with the model's positional arguments, where a state may be left
out or None (the zero state, as the models' ``init_state`` gives), and expects the model's
nested outputs: ``logits``, ``(logits, h_n)`` or ``(logits, (h_n, c_n))``. An onnxruntime
session takes flat named inputs and gives flat outputs; the manifest says how the names nest
(``graphs.*.arguments``) and which output continues which state input (``zoo.store``'s
``graph_pairs``). Nothing here knows a model by name.
"""

from pathlib import Path
from typing import Any, Dict, List, Mapping, Sequence, Union

import numpy as np
import torch
from torch import Tensor, nn

from zoo.store import Pairs, flatten, unflatten, zero_state

Structure = Union[str, Sequence["Structure"]]  # an input or output name, or a tuple of them


def open_session(path: Path, threads: int) -> Any:
    """A CPU ``InferenceSession`` on ``threads`` threads: one operator at a time
    (``inter_op_num_threads=1``), each on the same thread budget as eager torch."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, threads)
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # not the per-session warnings about Loop nodes and shapes
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def output_structure(entry: Mapping[str, Any], pairs: Pairs) -> List[Structure]:
    """How the flat outputs nest as the model returns them: the outputs that are not state, then
    each state argument with its inputs replaced by the outputs that continue them
    (``["tokens", ["h_0", "c_0"]]`` -> ``["logits", ("h_n", "c_n")]``)."""
    continued = pairs.state_output
    state_outputs = set(continued.values())
    plain: List[Structure] = [t["name"] for t in entry["outputs"] if t["name"] not in state_outputs]
    states = [unflatten([item], [continued[n] for n in flatten(item)])[0]
              for item in entry["arguments"] if set(flatten(item)) <= set(continued)]  # fmt: skip
    return plain + states


class SessionModel(nn.Module):
    """``forward`` and each extra graph of the bundle (a method of the same name: ``decode``,
    ``generate``, ...) run in onnxruntime.

    ``sessions``: graph name -> session, with the manifest's entry for each graph in ``graphs``
    and its state and ragged pairs in ``pairs``. Tensors go in on the CPU in the dtype the
    manifest declares; outputs come back as CPU tensors.
    """

    def __init__(self, sessions: Mapping[str, Any], graphs: Mapping[str, Any], pairs: Mapping[str, Pairs]) -> None:
        super().__init__()
        self.sessions = dict(sessions)
        self.graphs = {name: graphs[name] for name in self.sessions}
        self.outputs = {name: output_structure(graphs[name], pairs[name]) for name in self.sessions}
        self.states = {name: set(pairs[name].state_output) for name in self.sessions}

    def forward(self, *args: Any) -> Any:
        return self.run("forward", args)

    def __getattr__(self, name: str) -> Any:
        """An extra graph as the model's method of its name (``model.decode(src, lengths, n)``)."""
        sessions = self.__dict__.get("sessions", {})
        if name != "forward" and name in sessions:
            return lambda *args: self.run(name, args)
        return super().__getattr__(name)

    def run(self, graph: str, args: Sequence[Any]) -> Any:
        entry = self.graphs[graph]
        structure = entry["arguments"]
        if len(args) > len(structure):
            raise TypeError(f"the {graph} graph takes {len(structure)} arguments, got {len(args)}")
        specs = {t["name"]: t for t in entry["inputs"]}
        feeds: Dict[str, np.ndarray] = {}
        left_out: List[str] = []
        for index, item in enumerate(structure):
            value = args[index] if index < len(args) else None
            if value is None:
                left_out += flatten(item)
            else:
                self._bind(item, value, specs, feeds)
        for name in left_out:
            feeds[name] = self._zero_state(graph, specs[name], feeds, specs)
        outputs = self.sessions[graph].run(None, feeds)
        by_name = {t["name"]: torch.from_numpy(np.ascontiguousarray(o)) for t, o in zip(entry["outputs"], outputs)}
        nested = [self._nest(item, by_name) for item in self.outputs[graph]]
        return nested[0] if len(nested) == 1 else tuple(nested)

    def _bind(self, item: Structure, value: Any, specs: Mapping[str, Any], feeds: Dict[str, np.ndarray]) -> None:
        if isinstance(item, str):
            array = value.detach().cpu().numpy() if isinstance(value, Tensor) else np.asarray(value)
            feeds[item] = array.astype(specs[item]["dtype"], copy=False)  # int -> a 0-d int64 scalar input
            return
        if not isinstance(value, (tuple, list)) or len(value) != len(item):
            raise TypeError(f"expected a tuple of {len(item)} tensors for {', '.join(flatten(item))}")
        for sub_item, sub_value in zip(item, value):
            self._bind(sub_item, sub_value, specs, feeds)

    def _zero_state(self, graph: str, spec: Mapping[str, Any], feeds: Mapping[str, np.ndarray], specs: Mapping[str, Any]) -> np.ndarray:
        """The zero state the model starts from when given None; its named axes (``batch``) take
        their sizes from the inputs that were given."""
        if spec["name"] not in self.states[graph]:
            raise TypeError(f"input {spec['name']!r} is not a state, so it cannot be left out")
        sizes = {dim: size for name, array in feeds.items()
                 for dim, size in zip(specs[name]["shape"], array.shape) if isinstance(dim, str)}  # fmt: skip
        return zero_state(spec, sizes)

    def _nest(self, item: Structure, outputs: Mapping[str, Tensor]) -> Any:
        return outputs[item] if isinstance(item, str) else tuple(self._nest(i, outputs) for i in item)
