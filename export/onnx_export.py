"""ONNX export of one graph, by the exporter that keeps its dynamic axes dynamic.

``torchscript`` (the default, ``torch.onnx.export(..., dynamo=False)``): ``forward`` is traced
through a thin wrapper around the scripted model, so the scripted code keeps dynamic batch and
time; an extra graph is its declaration's wrapper (``ExtraGraph.wrapper``) scripted around the
scripted model and exported as is, its loop over generated tokens an ONNX ``Loop`` with the
trip count as an input. Before scripting, the
recurrent layers are swapped for their export form (``exportable``): native ONNX RNN/LSTM/GRU
nodes by default, or the literal ``Loop`` translation. ``dynamo`` exports the graph's
``torch.export`` program (``export.programs``, what ``model.pt2`` holds), whose time loops are
``while_loop``s that become ONNX ``Loop``s with a dynamic trip count.
"""

import io
import json
import logging
import warnings
from typing import Any, Collection, Dict, Iterator, List, Tuple

import onnx
import torch
from torch import nn

from export.errors import one_line
from export.graphs import Args, Graph, method_module
from export.native_layers import with_native_layers
from export.programs import example_args, export_program
from export.twins import with_exportable_layers
from zoo.registry import ModelSpec

EXPORTERS = ("torchscript", "dynamo")
RECURRENT = ("native", "loop")  # how recurrent layers are exported (``exportable``)
# The layer kinds that run one step inside generate/decode's Loop as plain matrix products (an
# If on a time axis of 1) rather than as the native node over a sequence of one; chosen by
# measurement (benchmarks/runtime_speed.py --generate, README).
GEMM_STEP_KINDS = ("gru", "rnn")
DEFAULT_OPSET = 17
DYNAMO_OPSET = 18  # the lowest opset the dynamo exporter writes (see _from_program)


class ExportError(ValueError):
    """The model cannot be exported by the requested path."""


class _Traced(nn.Module):
    """Calls the scripted model: tracing this records one call to its compiled forward."""

    def __init__(self, scripted: torch.jit.ScriptModule) -> None:
        super().__init__()
        self.model = scripted

    def forward(self, *args):  # type: ignore[no-untyped-def]
        return self.model(*args)


def resolve_exporter(spec: ModelSpec, graph: Graph, exporter: str) -> str:
    """``auto`` -> torchscript; an exporter the model does not support fails with the list."""
    if exporter == "auto":
        return "torchscript"
    if exporter not in EXPORTERS:
        raise ExportError(f"unknown exporter {exporter!r}; choose auto, {' or '.join(EXPORTERS)}")
    if exporter not in spec.onnx_exporters:
        raise ExportError(f"{spec.name} cannot be exported with {exporter}; supported: {', '.join(spec.onnx_exporters)}")
    return exporter


def _names(graph: Graph) -> Dict[str, object]:
    return dict(
        input_names=[t.name for t in graph.inputs],
        output_names=[t.name for t in graph.outputs],
        dynamic_axes=graph.dynamic_axes(),
    )


def exportable(model: nn.Module, recurrent: str, gemm_step: Collection[str] = ()) -> Tuple[nn.Module, List[Dict[str, Any]]]:
    """The module the ONNX exporter sees, and a record per recurrent layer of what it runs as.

    ``native``: every recurrent layer becomes native ONNX RNN/LSTM/GRU nodes
    (``export.native_layers``). ``loop``: the literal translation — ``zoo.nn`` layers export
    their scripted loops as ONNX ``Loop``s, packed ``torch.nn`` layers are replaced by their
    ``zoo.nn`` twins (``export.twins``), bare ``torch.nn`` layers go through torch.onnx's own
    symbolics (native nodes)."""
    if recurrent not in RECURRENT:
        raise ExportError(f"unknown --recurrent {recurrent!r}; choose {' or '.join(RECURRENT)}")
    if recurrent == "native":
        return with_native_layers(model, gemm_step)
    return with_exportable_layers(model)


def export_graph(
    model: nn.Module,
    graph: Graph,
    args: Args,
    exporter: str,
    opset: int,
    recurrent: str = "native",
    gemm_step: Collection[str] = GEMM_STEP_KINDS,
) -> Tuple[onnx.ModelProto, List[Dict[str, Any]]]:
    """``graph`` of the eager float32 ``model`` as an ONNX model, traced at ``args``, and the
    record of its recurrent layers (for the dynamo exporter, the program's: one Loop per while_loop).
    ``gemm_step`` applies to the autoregressive graphs only: ``forward`` is all native nodes."""
    with warnings.catch_warnings(), torch.no_grad():
        # TorchScript's deprecation and the tracer's "converting a tensor to a Python value"
        # warnings are expected on this path: the loops are scripted, not traced.
        warnings.simplefilter("ignore")
        if exporter == "dynamo":
            return _from_program(model, graph, opset)
        module, records = exportable(model, recurrent, gemm_step if graph.name != "forward" else ())
        scripted = torch.jit.script(module)
        if graph.name == "forward":
            module = torch.jit.trace(_Traced(scripted), args, check_trace=False)
        else:
            module = torch.jit.script(method_module(graph, scripted))
        buffer = io.BytesIO()
        torch.onnx.export(module, args, buffer, dynamo=False, opset_version=opset, **_names(graph))
    return onnx.load_from_string(buffer.getvalue()), records


def _from_program(model: nn.Module, graph: Graph, opset: int) -> Tuple[onnx.ModelProto, List[Dict[str, Any]]]:
    """The dynamo exporter on the graph's ``torch.export`` program (``export.programs``, the one
    ``model.pt2`` holds): each ``while_loop`` becomes an ONNX ``Loop`` with a dynamic trip count."""
    program, layers = export_program(model, graph)
    args = example_args(graph)
    # It logs each registration it skips (torchvision ops) and an opset upgrade at WARNING.
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        # At least opset 18, the exporter's own: converting its graph down to 17 fails on the value
        # checks' ReduceMin ("Unrecognized attribute: noop_with_empty_axes"). The manifest says which.
        onnx_program = torch.onnx.export(program, args, dynamo=True, opset_version=max(opset, DYNAMO_OPSET), verbose=False, **_names(graph))
    except Exception as exc:  # the exporter raises many types; its first line says what failed
        raise ExportError(f"the dynamo exporter failed on {graph.name}'s program: {one_line(exc)}") from exc
    finally:
        logger.setLevel(level)
    for layer in layers:  # each while_loop becomes one ONNX Loop
        layer["onnx_nodes"] = ["Loop"] * layer["loops"]
    return onnx_program.model_proto, layers


def add_metadata(proto: onnx.ModelProto, fields: Dict[str, object]) -> None:
    """Key manifest fields as ``metadata_props`` (strings; structured values as JSON)."""
    del proto.metadata_props[:]
    for key, value in fields.items():
        entry = proto.metadata_props.add()
        entry.key = key
        entry.value = value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def check(proto: onnx.ModelProto) -> None:
    """``onnx.checker`` with ``full_check`` (shape inference included)."""
    onnx.checker.check_model(proto, full_check=True)


def opset_of(proto: onnx.ModelProto) -> int:
    """The default-domain opset the file declares (dynamo may raise a requested 17 to 18)."""
    return next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))


def iter_nodes(graph: onnx.GraphProto) -> Iterator[onnx.NodeProto]:
    """Every node of ``graph`` and of its subgraphs (a Loop's body, an If's branches)."""
    for node in graph.node:
        yield node
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.GRAPH:
                yield from iter_nodes(attribute.g)
            for sub in attribute.graphs:
                yield from iter_nodes(sub)


def ops_used(proto: onnx.ModelProto) -> list:
    """Operator types of the graph and of its subgraphs (a Loop's body), sorted."""
    return sorted({node.op_type for node in iter_nodes(proto.graph)})
