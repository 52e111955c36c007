"""``--format onnx``: one ONNX file per graph (``model.onnx`` for forward, ``NAME.onnx`` for each
extra graph), key manifest fields in its ``metadata_props``, checked by ``onnx.checker``; with
``--quantize int8`` also ``model.int8.onnx`` (``export.quantize``).

How a graph becomes ONNX (the exporter, ``--recurrent``) is ``export.onnx_export``; this module
writes the files and their manifest fields, and gives ``zoo verify`` onnxruntime (CPU, CUDA,
int8) and the ONNX reference evaluator.
"""

from pathlib import Path
from typing import Any, Dict, Optional, Sequence

import onnx
import torch

from export import onnx_export, place, runtimes
from export.formats.base import ExportFormat, GraphFields, Job, Plan
from export.graphs import Graph
from export.quantize import INT8_FILE, quantize_int8
from export.runtimes import Runner
from zoo.store import SCHEMA_VERSION

QUANTIZE = ("int8",)
STRUCTURE = "onnx-file"  # the report's rows that check an ONNX file's recurrent nodes (export.parity)


class Onnx(ExportFormat):
    name = "onnx"
    summary = "model.onnx and an ONNX file per extra graph (with --quantize int8, model.int8.onnx too)"
    runtimes = ("onnxruntime-cpu", "onnxruntime-cuda", "onnxruntime-int8", "onnx-reference", STRUCTURE)
    graph_fields = ("recurrent", "onnx", "exporter", "opset", "ops", "int8", "reason")

    def check(self, plan: Plan, chosen: bool) -> None:
        if plan.recurrent not in onnx_export.RECURRENT:
            raise ValueError(f"unknown --recurrent {plan.recurrent!r}; choose {' or '.join(onnx_export.RECURRENT)}")
        if plan.quantize is not None and plan.quantize not in QUANTIZE:
            raise ValueError(f"unknown --quantize {plan.quantize!r}; choose {', '.join(QUANTIZE)}")
        if plan.quantize is not None and not chosen:
            raise ValueError(f"--quantize {plan.quantize} quantizes the ONNX graph; add --format onnx or all")
        # Options that shape only the ONNX files would otherwise be ignored without a word (a
        # pt2 program is always torch.export's, whatever the ONNX exporter).
        if plan.exporter != "auto" and not chosen:
            raise ValueError(f"--exporter {plan.exporter} chooses how the ONNX files are made; add --format onnx or all")
        if plan.recurrent != "native" and not chosen:
            raise ValueError(f"--recurrent {plan.recurrent} chooses how the ONNX files hold recurrent layers; add --format onnx or all")

    def write(self, job: Job) -> GraphFields:
        plan, fields = job.plan, {}
        for graph in plan.graphs:
            plan.say(f"ONNX {graph.name}")
            exporter = plan.exporters[graph.name]
            args = graph.example(3, 5, torch.Generator().manual_seed(0))
            proto, layers = onnx_export.export_graph(job.model, graph, args, exporter, plan.opset, plan.recurrent)
            # dynamo exports the graph's torch.export program, whose time loops are while_loops (ONNX Loops).
            recurrent = {"mode": plan.recurrent if exporter == "torchscript" else "program", "layers": layers}
            metadata = _metadata(job.manifest, graph.name, exporter, recurrent)
            onnx_export.add_metadata(proto, metadata)
            onnx_export.check(proto)
            with place.naming(job.folder / graph.onnx_file):
                (job.folder / graph.onnx_file).write_bytes(proto.SerializeToString())
            entry = fields[graph.name] = {"recurrent": recurrent, "onnx": graph.onnx_file, "exporter": exporter,
                                          "opset": onnx_export.opset_of(proto), "ops": onnx_export.ops_used(proto)}  # fmt: skip
            if graph.name == "forward" and plan.quantize == "int8":
                plan.say("int8")
                quantized, summary = quantize_int8(proto)
                onnx_export.add_metadata(quantized, {**metadata, "zoo.quantization": summary})
                with place.naming(job.folder / INT8_FILE):
                    (job.folder / INT8_FILE).write_bytes(quantized.SerializeToString())
                entry["int8"] = {"onnx": INT8_FILE, **summary, "ops": onnx_export.ops_used(quantized)}
        return fields

    def omitted(self, job: Job) -> GraphFields:
        return {graph.name: {"onnx": None, "reason": "exported without --format onnx"} for graph in job.plan.graphs}

    def verifier(self, bundle: Path, manifest: Dict[str, Any]) -> "_Sessions":
        return _Sessions(bundle, manifest)


def _metadata(manifest: Dict[str, Any], graph: str, exporter: str, recurrent: Dict[str, Any]) -> Dict[str, Any]:
    """The file's ``metadata_props``: what a loader needs without the manifest."""
    model = manifest["model"]
    return {
        "zoo.schema_version": str(SCHEMA_VERSION),
        "zoo.model": model["name"],
        "zoo.task": model["task"],
        "zoo.graph": graph,
        "zoo.config": model["config"],
        "zoo.state_pairs": manifest["state_pairs"],
        "zoo.ragged": manifest["ragged"],
        "zoo.labels": manifest["labels"],
        "zoo.exporter": exporter,
        "zoo.recurrent": recurrent,
    }


class _Sessions:
    """A bundle's ONNX files in onnxruntime (every device; int8 on the CPU, where its kernels
    are) and in ``onnx.reference`` (the CPU, where the graph's operators allow)."""

    def __init__(self, bundle: Path, manifest: Dict[str, Any]) -> None:
        self.bundle, self.graphs = bundle, manifest["graphs"]
        self.read: Dict[str, bytes] = {}

    def _bytes(self, name: str) -> bytes:
        if name not in self.read:
            self.read[name] = (self.bundle / name).read_bytes()
        return self.read[name]

    def runners(self, graph: Graph, template: Sequence[object], device: str, skipped: Dict[str, str]) -> Dict[str, Runner]:
        entry = self.graphs.get(graph.name, {})
        if not entry.get("onnx"):
            skipped[f"onnx ({graph.name})"] = entry.get("reason", "no ONNX file")
            return {}
        model_bytes = self._bytes(entry["onnx"])
        found = {f"onnxruntime-{device}": runtimes.onnxruntime_runner(model_bytes, graph, device)}
        if device != "cpu":
            return found
        int8: Optional[Dict[str, Any]] = entry.get("int8")
        if int8:  # onnxruntime's dynamically quantized kernels are CPU kernels
            found["onnxruntime-int8"] = runtimes.onnxruntime_runner(self._bytes(int8["onnx"]), graph, "cpu")
        unsupported = runtimes.onnx_reference_gap(onnx.load_from_string(model_bytes))
        if unsupported:
            skipped["onnx-reference"] = unsupported
        else:
            found["onnx-reference"] = runtimes.onnx_reference_runner(model_bytes, graph)
        return found
