"""``torch.export`` programs of a model's graphs, with every named axis dynamic: what
``--format pt2`` saves, ``--format aoti`` compiles and ``--exporter dynamo`` turns into ONNX.

torch.export traces Python: a Python time loop is unrolled at the example's length, and
``torch.nn``'s recurrent layers specialize the time length ("You marked time as dynamic but your
code specialized it to be a constant", pytorch#115092) or fail on ``pack_padded_sequence``.
So the exported copy of a model runs every recurrent layer as a ``zoo.nn`` layer (a ``torch.nn``
layer is swapped for its twin: same parameters, same arithmetic, ``export.twins``), whose time
loop is a ``torch._higher_order_ops.while_loop`` under export (``zoo.nn.export_loop``); an extra
graph (``generate``, ``decode``) is its declaration's wrapper, whose loop over generated tokens is
a ``while_loop`` too. The records say what each layer became: nothing is substituted silently.
"""

import copy
import logging
import warnings
from typing import Any, Dict, List, Optional, Tuple

import torch
from torch import Tensor, nn

from export.errors import one_line
from export.graphs import Graph
from export.native_layers import STEPPED_CELL, recurrent_layers
from export.twins import TWINS, twin_in_place_of
from zoo.nn.stepped import SteppedRNNCell

LOOP = "while_loop"  # what every time loop becomes in a program (torch._higher_order_ops)
# The example a program is traced at: torch.export specializes sizes 0 and 1, so every dynamic
# axis is traced at 2 or more (Dim(min=1) still accepts 1 at run time).
EXAMPLE_BATCH, EXAMPLE_TIME = 3, 5


class ProgramError(ValueError):
    """torch.export could not export a graph of the model; the message says where."""


def _record(path: str, layer: nn.Module, twin: Optional[str]) -> Dict[str, Any]:
    cls = type(layer)
    bidirectional = getattr(layer, "bidirectional", False)
    return {
        "module": path or "(model)",
        "layer": f"{cls.__module__.split('.')[0]}.nn.{cls.__name__}",
        "implementation": LOOP,
        "loops": getattr(layer, "num_layers", 1) * (2 if bidirectional else 1),  # one per layer and direction
        "direction": "bidirectional" if bidirectional else "forward",
        "replaced_by_twin": twin is not None,
        **({"twin": twin} if twin else {}),
    }


def exportable(model: nn.Module) -> Tuple[nn.Module, List[Dict[str, Any]]]:
    """A copy of ``model`` (eval mode) whose ``torch.nn`` recurrent layers are ``zoo.nn`` twins,
    and one record per recurrent layer. The copy has the same state dict keys."""
    copied = copy.deepcopy(model).eval()
    records = [{**_record(path, cell, None), "layer": STEPPED_CELL}
               for path, cell in copied.named_modules() if isinstance(cell, SteppedRNNCell)]  # fmt: skip
    for path, module, layer, _ in recurrent_layers(copied):
        if type(layer) not in TWINS:  # a zoo.nn layer already
            records.append(_record(path, layer, None))
            continue
        replacement = twin_in_place_of(module, layer).eval()
        records.append({**_record(path, layer, f"zoo.nn.{TWINS[type(layer)].__name__}"),
                        "layer": f"torch.nn.{type(layer).__name__}" + (" (packed)" if module is not layer else "")})  # fmt: skip
        if not path:
            return replacement, records
        copied.set_submodule(path, replacement)
    return copied, records


def dynamic_shapes(graph: Graph, args: Tuple[object, ...]) -> Tuple[object, ...]:
    """torch.export's ``dynamic_shapes`` for ``args``: one ``Dim`` per named axis of the graph's
    inputs (the same name, the same Dim: ``batch`` ties every input's batch axis), nested as the
    arguments are (an LSTM state is a pair)."""
    dims: Dict[str, Any] = {}
    specs = iter(graph.inputs)

    def shape_of(value: object) -> object:
        if isinstance(value, Tensor):
            spec = next(specs)
            named = {axis: size for axis, size in enumerate(spec.shape) if isinstance(size, str)}
            return {axis: dims.setdefault(name, torch.export.Dim(name, min=1)) for axis, name in named.items()} or None
        return type(value)(shape_of(v) for v in value)  # type: ignore[call-arg, attr-defined]

    return tuple(shape_of(a) for a in args)


def example_args(graph: Graph) -> Tuple[object, ...]:
    return tuple(graph.example(EXAMPLE_BATCH, EXAMPLE_TIME, torch.Generator().manual_seed(0)))


def module_of(model: nn.Module, graph: Graph) -> nn.Module:
    """What a program of ``graph`` calls: the model itself for ``forward``, else the extra
    graph's wrapper, whose arguments are all tensors."""
    return model if graph.declaration is None else graph.declaration.wrapper(model).eval()


def export_program(model: nn.Module, graph: Graph) -> Tuple[torch.export.ExportedProgram, List[Dict[str, Any]]]:
    """``graph`` of the float32 ``model`` as an ExportedProgram with dynamic axes, and the
    record of its recurrent layers. Raises ProgramError with torch.export's first line."""
    exported, records = exportable(model)
    args = example_args(graph)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # scan/while_loop are prototypes and say so on every trace
        logger = logging.getLogger("torch._dynamo")
        level = logger.level
        logger.setLevel(logging.ERROR)
        try:
            program = torch.export.export(module_of(exported, graph), args, dynamic_shapes=dynamic_shapes(graph, args))
        except Exception as exc:  # torch.export raises many types; the message is what helps
            raise ProgramError(f"torch.export of {graph.name} failed: {one_line(exc)}") from exc
        finally:
            logger.setLevel(level)
    return program, records


def holds_loop(program: torch.export.ExportedProgram) -> bool:
    """Whether the program's graph holds a while_loop (a time loop kept, not unrolled)."""
    target = torch.ops.higher_order.while_loop
    return any(node.op == "call_function" and node.target is target for node in program.graph.nodes)
