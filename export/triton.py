"""A Triton Inference Server model repository from a verified bundle.

    REPO/<name>/config.pbtxt      platform "onnxruntime_onnx"
    REPO/<name>/1/model.onnx

Stateless models whose every input and output is batch-first get ``max_batch_size`` and
``dynamic_batching`` (Triton groups requests of the same shape). Stateful models get the
sequence batcher with implicit state: each (state input, state output) pair of the manifest
becomes a ``state`` entry that starts as zeros, so a client sends only the new chunk; the ONNX
graph gains the ``START`` and ``READY`` control inputs, and ``START`` = 1 zeroes the state the
graph reads, as Triton's sequence protocol expects. Their batch axis is fixed at 1 (one
sequence per request), since the state's batch axis is not first.

The ``triton`` export format (``export.formats.triton``) writes its repositories with this module.
"""

from pathlib import Path
from typing import Any, Dict, List

import onnx
from onnx import TensorProto, helper

from zoo.store import graph_pairs

TRITON_TYPES = {"float32": "TYPE_FP32", "float64": "TYPE_FP64", "int64": "TYPE_INT64", "int32": "TYPE_INT32", "bool": "TYPE_BOOL"}
CONFIG = "config.pbtxt"  # what makes a folder a Triton model (and one --overwrite may replace)
CONTROLS = ("START", "READY")
MAX_BATCH = 64
MAX_QUEUE_DELAY_US = 5000


def _dims(shape: List[Any]) -> List[int]:
    return [d if isinstance(d, int) else -1 for d in shape]


def _tensor(entry: Dict[str, Any], dims: List[int]) -> str:
    text = f'  {{ name: "{entry["name"]}" data_type: {TRITON_TYPES[entry["dtype"]]} dims: {dims}'
    if not dims:  # Triton needs a dim: a per-request scalar travels as [1] and is reshaped
        text = f'  {{ name: "{entry["name"]}" data_type: {TRITON_TYPES[entry["dtype"]]} dims: [ 1 ] reshape: {{ shape: [ ] }}'
    return text + " }"


def batch_first(graph: Dict[str, Any]) -> bool:
    return all(t["shape"] and t["shape"][0] == "batch" for t in graph["inputs"] + graph["outputs"])


def config_text(manifest: Dict[str, Any], name: str) -> str:
    graph = manifest["graphs"]["forward"]
    states = graph_pairs(manifest).state_output
    lines = [f'name: "{name}"', 'platform: "onnxruntime_onnx"']
    if states:
        shapes = {t["name"]: [1 if d == "batch" else d for d in t["shape"]] for t in graph["inputs"]}
        lines.append("max_batch_size: 0")
        inputs = [_tensor(t, _dims(shapes[t["name"]])) for t in graph["inputs"] if t["name"] not in states]
        outputs = [_tensor(t, _dims([1 if d == "batch" else d for d in t["shape"]]))
                   for t in graph["outputs"] if t["name"] not in states.values()]  # fmt: skip
        lines += ["input [", ",\n".join(inputs), "]", "output [", ",\n".join(outputs), "]"]
        entries = []
        for t in graph["inputs"]:
            if t["name"] not in states:
                continue
            dims = _dims(shapes[t["name"]])
            kind = TRITON_TYPES[t["dtype"]]
            entries.append(
                f'    {{ input_name: "{t["name"]}" output_name: "{states[t["name"]]}" data_type: {kind} dims: {dims}\n'
                f'      initial_state [ {{ data_type: {kind} dims: {dims} zero_data: true name: "zeros" }} ] }}'
            )
        lines += [
            "sequence_batching {",
            "  max_sequence_idle_microseconds: 60000000",
            "  control_input [",
            '    { name: "START" control [ { kind: CONTROL_SEQUENCE_START int32_false_true: [ 0, 1 ] } ] },',
            '    { name: "READY" control [ { kind: CONTROL_SEQUENCE_READY int32_false_true: [ 0, 1 ] } ] }',
            "  ]",
            "  state [",
            ",\n".join(entries),
            "  ]",
            "}",
        ]
    elif batch_first(graph):
        lines.append(f"max_batch_size: {MAX_BATCH}")
        lines += ["input [", ",\n".join(_tensor(t, _dims(t["shape"][1:])) for t in graph["inputs"]), "]"]
        lines += ["output [", ",\n".join(_tensor(t, _dims(t["shape"][1:])) for t in graph["outputs"]), "]"]
        lines.append(f"dynamic_batching {{ max_queue_delay_microseconds: {MAX_QUEUE_DELAY_US} }}")
    else:
        lines.append("max_batch_size: 0")
        lines += ["input [", ",\n".join(_tensor(t, _dims(t["shape"])) for t in graph["inputs"]), "]"]
        lines += ["output [", ",\n".join(_tensor(t, _dims(t["shape"])) for t in graph["outputs"]), "]"]
    lines.append("instance_group [ { kind: KIND_CPU count: 1 } ]")
    return "\n".join(lines) + "\n"


def _rename_uses(graph: onnx.GraphProto, old: str, new: str) -> None:
    """Every node input ``old`` (also inside Loop/If bodies, which see outer names) -> ``new``."""
    for node in graph.node:
        node.input[:] = [new if name == old else name for name in node.input]
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.GRAPH:
                _rename_uses(attribute.g, old, new)
            for sub in attribute.graphs:
                _rename_uses(sub, old, new)


def with_sequence_controls(proto: onnx.ModelProto, state_inputs: List[str]) -> onnx.ModelProto:
    """A copy with int32 [1] inputs START and READY; START = 1 replaces each state by zeros."""
    model = onnx.ModelProto()
    model.CopyFrom(proto)
    graph = model.graph
    for control in CONTROLS:
        graph.input.append(helper.make_tensor_value_info(control, TensorProto.INT32, [1]))
    nodes = [helper.make_node("Cast", ["START"], ["START__bool"], to=TensorProto.BOOL)]
    for state in state_inputs:
        gated = f"{state}__gated"
        _rename_uses(graph, state, gated)
        nodes += [
            helper.make_node("Shape", [state], [f"{state}__shape"]),
            helper.make_node("ConstantOfShape", [f"{state}__shape"], [f"{state}__zeros"],
                             value=helper.make_tensor("zero", TensorProto.FLOAT, [1], [0.0])),  # fmt: skip
            helper.make_node("Where", ["START__bool", f"{state}__zeros", state], [gated]),
        ]
    new_nodes = nodes + list(graph.node)
    del graph.node[:]
    graph.node.extend(new_nodes)
    return model


def write_repository(bundle: Path, manifest: Dict[str, Any], repo: Path) -> Path:
    """``repo/<model name>/`` with config.pbtxt and 1/model.onnx; returns that folder."""
    name = manifest["model"]["name"]
    folder = repo / name
    (folder / "1").mkdir(parents=True, exist_ok=True)
    proto = onnx.load(str(bundle / manifest["graphs"]["forward"]["onnx"]))
    states = list(graph_pairs(manifest).state_output)
    if states:
        proto = with_sequence_controls(proto, states)
        onnx.checker.check_model(proto, full_check=True)
    onnx.save(proto, str(folder / "1" / "model.onnx"))
    (folder / CONFIG).write_text(config_text(manifest, name), encoding="utf-8")
    return folder
