"""The graphs a bundle holds: ``forward`` for every model, plus each extra graph its spec
declares (``ModelSpec.graphs``, ``zoo.registry.ExtraGraph``: a language model's ``generate``,
seq2seq's ``decode``), each with its inputs and outputs for one config.

Nothing here knows a model or an extra graph by name: ``forward`` is the one special graph
(the model called as is); an extra graph is called, wrapped for the ONNX exporter and given
its verification cases by its declaration.
"""

from dataclasses import asdict, dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from export.manifest import tensor_entry
from zoo.registry import Config, ExtraGraph, ModelSpec, TensorSpec, dynamic_axes

Args = Tuple[object, ...]
FORWARD = "forward"


@dataclass(frozen=True)
class Graph:
    name: str  # FORWARD, or the extra graph's name
    inputs: Tuple[TensorSpec, ...]
    outputs: Tuple[TensorSpec, ...]
    # (batch, time, generator) -> positional arguments for ``call``
    example: Callable[[int, int, torch.Generator], Args]
    declaration: Optional[ExtraGraph] = None  # None for forward
    config: Config = None

    @property
    def onnx_file(self) -> str:
        return "model.onnx" if self.declaration is None else f"{self.name}.onnx"

    def dynamic_axes(self) -> Dict[str, Dict[int, str]]:
        return dynamic_axes(self.inputs + self.outputs)

    def declared_cases(self) -> Optional[Sequence[Tuple[str, Args]]]:
        """The verification cases the extra graph declares, or None (forward, or none declared)."""
        if self.declaration is None or self.declaration.cases is None:
            return None
        return self.declaration.cases(self.config)


def extra_graph(declaration: ExtraGraph, config: Config) -> Graph:
    def example(batch: int, time: int, generator: torch.Generator) -> Args:
        return declaration.example(config, batch, time, generator)

    return Graph(declaration.name, declaration.inputs(config), declaration.outputs(config), example, declaration, config)


def graphs_of(spec: ModelSpec, config: Config) -> List[Graph]:
    """Every graph a bundle of this model holds, ``forward`` first."""
    signature = spec.signature(config)

    def forward_example(batch: int, time: int, generator: torch.Generator) -> Args:
        return spec.example_inputs(config, batch, time, generator)

    return [Graph(FORWARD, signature.inputs, signature.outputs, forward_example, None, config)] + [
        extra_graph(declaration, config) for declaration in spec.graphs
    ]


def argument_structure(graph: Graph) -> List[object]:
    """How the flat input names nest as positional arguments: ``["tokens", ["h_0", "c_0"]]``.

    A TorchScript caller (the C++ loader) rebuilds the tuples from it; ONNX takes the flat names.
    """
    names = iter(t.name for t in graph.inputs)

    def build(value: object) -> object:
        if isinstance(value, Tensor):
            return next(names)
        return [build(v) for v in value]  # type: ignore[union-attr]

    return [build(v) for v in graph.example(1, 1, torch.Generator().manual_seed(0))]


def graph_entry(graph: Graph) -> Dict[str, Any]:
    """The manifest's account of ``graph`` before any file is written: its inputs, its outputs
    with what their values mean, the nesting of its arguments and, for an extra graph that a
    server answers with, its ``endpoint`` (route, reply and each scalar input's default and
    range), so that a server needs no model code to answer with it."""
    entry: Dict[str, Any] = {
        "inputs": [tensor_entry(t) for t in graph.inputs],
        "outputs": [{**tensor_entry(t), "meaning": t.meaning} for t in graph.outputs],
        "arguments": argument_structure(graph),
    }
    endpoint = graph.declaration.endpoint if graph.declaration is not None else None
    if endpoint is not None:
        entry["endpoint"] = {
            "route": endpoint.route,
            "reply": endpoint.reply,
            "parameters": [{"name": name, **asdict(parameter)} for name, parameter in endpoint.parameters],
        }
    return entry


def method_module(graph: Graph, scripted: torch.jit.ScriptModule) -> nn.Module:
    """The module whose ``forward`` computes ``graph`` (an extra graph) on a scripted model."""
    if graph.declaration is None:
        raise ValueError("forward is the scripted model itself, not a method around it")
    return graph.declaration.wrapper(scripted)


def call(graph: Graph, model: nn.Module, args: Args) -> object:
    """Runs ``graph`` on an eager or scripted model."""
    if graph.declaration is None:
        return model(*args)
    return graph.declaration.call(model, args)
