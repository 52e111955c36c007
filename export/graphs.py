"""The graphs a bundle holds: ``forward`` for every model, plus ``generate`` (character language
models) and ``decode`` (seq2seq) as graphs of their own, each with its inputs and outputs.

The extra graphs wrap the scripted method in a scripted module whose arguments are all tensors
(the ONNX exporter needs tensors, not Python ints or floats), so the method's loop becomes an
ONNX ``Loop`` whose trip count is an input.
"""

from dataclasses import dataclass
from typing import Callable, Dict, List, Tuple

import torch
from torch import Tensor, nn

from zoo.registry import Config, ModelSpec, TensorSpec, dynamic_axes

Args = Tuple[object, ...]


@dataclass(frozen=True)
class Graph:
    name: str  # "forward", "generate", "decode"
    inputs: Tuple[TensorSpec, ...]
    outputs: Tuple[TensorSpec, ...]
    # (batch, time, generator) -> positional arguments for ``call``
    example: Callable[[int, int, torch.Generator], Args]

    @property
    def onnx_file(self) -> str:
        return "model.onnx" if self.name == "forward" else f"{self.name}.onnx"

    def dynamic_axes(self) -> Dict[str, Dict[int, str]]:
        return dynamic_axes(self.inputs + self.outputs)


class GenerateGraph(nn.Module):
    """``model.generate`` with tensor arguments: prefix (B, T), steps, temperature, top_k, seed."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, prefix: Tensor, steps: Tensor, temperature: Tensor, top_k: Tensor, seed: Tensor) -> Tensor:
        return self.model.generate(prefix, int(steps), float(temperature), int(top_k), int(seed))


class DecodeGraph(nn.Module):
    """``model.decode`` with tensor arguments: src (B, S), src_lengths (B,), max_len."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, src: Tensor, src_lengths: Tensor, max_len: Tensor) -> Tensor:
        return self.model.decode(src, src_lengths, int(max_len))


def _scalar(name: str, dtype: str, doc: str) -> TensorSpec:
    return TensorSpec(name, dtype, (), doc)


def _generate_graph(spec: ModelSpec, config: Config) -> Graph:
    tokens = spec.signature(config).inputs[0]
    inputs = (
        TensorSpec("prefix", "int64", ("batch", "time"), "prompt token ids (at least one step)", tokens.vocab),
        _scalar("steps", "int64", "tokens to generate after the prefix"),
        _scalar("temperature", "float32", "softmax temperature; <= 0 is greedy"),
        _scalar("top_k", "int64", "sample among the k likeliest tokens; 0 = all"),
        _scalar("seed", "int64", "seed of the sampler (same seed, same tokens)"),
    )
    outputs = (TensorSpec("tokens", "int64", ("batch", "steps"), "generated token ids"),)

    def example(batch: int, time: int, generator: torch.Generator) -> Args:
        (prefix, *_) = spec.example_inputs(config, batch, time, generator)
        return (prefix, torch.tensor(time + 3), torch.tensor(0.8), torch.tensor(5), torch.tensor(batch + time))

    return Graph("generate", inputs, outputs, example)


def _decode_graph(spec: ModelSpec, config: Config) -> Graph:
    src, src_lengths, tgt_in = spec.signature(config).inputs
    inputs = (src, src_lengths, _scalar("max_len", "int64", "most target tokens to produce"))
    outputs = (TensorSpec("tokens", "int64", ("batch", "max_len"), "greedy target ids, padding after <eos>", tgt_in.vocab),)

    def example(batch: int, time: int, generator: torch.Generator) -> Args:
        src_ids, lengths, _ = spec.example_inputs(config, batch, time, generator)
        return (src_ids, lengths, torch.tensor(time + 2))

    return Graph("decode", inputs, outputs, example)


_EXTRA = {"generate": (_generate_graph, GenerateGraph), "decode": (_decode_graph, DecodeGraph)}


def graphs_of(spec: ModelSpec, config: Config) -> List[Graph]:
    """Every graph a bundle of this model holds, ``forward`` first."""
    signature = spec.signature(config)

    def forward_example(batch: int, time: int, generator: torch.Generator) -> Args:
        return spec.example_inputs(config, batch, time, generator)

    graphs = [Graph("forward", signature.inputs, signature.outputs, forward_example)]
    graphs += [_EXTRA[m][0](spec, config) for m in spec.methods if m in _EXTRA]
    return graphs


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


def method_module(graph: Graph, scripted: torch.jit.ScriptModule) -> nn.Module:
    """The module whose ``forward`` computes ``graph`` (an extra method) on a scripted model."""
    return _EXTRA[graph.name][1](scripted)


def call(graph: Graph, model: nn.Module, args: Args) -> object:
    """Runs ``graph`` on an eager or scripted model."""
    if graph.name == "forward":
        return model(*args)
    if graph.name == "generate":
        prefix, steps, temperature, top_k, seed = args
        return model.generate(prefix, int(steps), float(temperature), int(top_k), int(seed))
    src, src_lengths, max_len = args
    return model.decode(src, src_lengths, int(max_len))
