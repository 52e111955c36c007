"""``--format pt2``: ``model.pt2`` (and ``NAME.pt2`` per extra graph), each graph a
``torch.export`` program (``torch.export.save``) with its batch and time axes dynamic; the
path past TorchScript's deprecation. How a graph becomes a program is ``export.programs``.

A program is loaded with ``torch.export.load(path).module()`` and called with the graph's
inputs as positional arguments (an LSTM state as a pair; an extra graph's scalars as 0-d
tensors). It runs the eager operators, so unlike TorchScript it needs no model code.
"""

import io
import warnings
from pathlib import Path
from typing import Any, Dict, Sequence

import torch

from export import place, programs, runtimes
from export.formats.base import ExportFormat, GraphFields, Job
from export.graphs import Graph
from export.runtimes import Runner


def program_file(graph: Graph) -> str:
    return "model.pt2" if graph.declaration is None else f"{graph.name}.pt2"


def load_program(path: Path) -> torch.export.ExportedProgram:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch's own pytree deprecation, on every load
        return torch.export.load(str(path))


class Pt2(ExportFormat):
    name = "pt2"
    summary = "model.pt2 and NAME.pt2 per extra graph: torch.export programs with dynamic batch and time (not in --format all)"
    runtimes = ("pt2", "pt2-cuda")
    graph_fields = ("pt2",)
    in_all = False  # a trace per graph and every loop step through torch's while_loop: asked for by name

    def write(self, job: Job) -> GraphFields:
        fields: GraphFields = {}
        for graph in job.plan.graphs:
            job.plan.say(f"torch.export {graph.name}")
            program, layers = programs.export_program(job.model, graph)
            buffer = io.BytesIO()  # written by Python: a full disk is an OSError (see torchscript.py)
            torch.export.save(program, buffer)
            path = job.folder / program_file(graph)
            with place.naming(path):
                path.write_bytes(buffer.getvalue())
            fields[graph.name] = {"pt2": {"file": path.name, "loop": programs.LOOP if programs.holds_loop(program) else None,
                                          "dynamic": sorted({d for t in graph.inputs for d in t.shape if isinstance(d, str)}),
                                          "layers": layers}}  # fmt: skip
        return fields

    def omitted(self, job: Job) -> GraphFields:
        return {graph.name: {"pt2": None} for graph in job.plan.graphs}

    def verifier(self, bundle: Path, manifest: Dict[str, Any]) -> "_Programs":
        return _Programs(bundle, manifest)


class _Programs:
    """A bundle's programs, loaded once per graph and device on first use."""

    def __init__(self, bundle: Path, manifest: Dict[str, Any]) -> None:
        self.bundle, self.graphs = bundle, manifest["graphs"]
        self.loaded: Dict[tuple, Any] = {}

    def runners(self, graph: Graph, template: Sequence[object], device: str, skipped: Dict[str, str]) -> Dict[str, Runner]:
        entry = (self.graphs.get(graph.name) or {}).get("pt2")
        name = "pt2" if device == "cpu" else "pt2-cuda"
        if not entry:
            return {}  # exported without --format pt2, which --format all leaves out: not a runtime of this bundle
        key = (graph.name, device)
        if key not in self.loaded:
            program = load_program(self.bundle / program_file(graph))  # a fixed name, never a path from the manifest
            if device != "cpu":
                program = torch.export.passes.move_to_device_pass(program, device)
            self.loaded[key] = program.module()
        return {name: runtimes.program_runner(self.loaded[key], template, device)}
