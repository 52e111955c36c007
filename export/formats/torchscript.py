"""``--format torchscript``: ``model.pt``, ``torch.jit.script`` of the model, with the manifest's
model part embedded (``torch.jit.load(path, _extra_files={"manifest.json": ""})``).

torch.jit.save writes to memory and Python writes the bytes: on a full disk torch.jit.save to a
path aborts the process (std::ios_base::failure), and it reports a file it cannot open as
RuntimeError, not as the OSError the CLI turns into one line.
"""

import io
import json
from pathlib import Path
from typing import Any, Dict, Sequence

import torch

from export import place, runtimes
from export.formats.base import ExportFormat, GraphFields, Job
from export.graphs import Graph
from export.runtimes import Runner
from zoo.store import MANIFEST, MODEL_PT

FILE = MODEL_PT


class TorchScript(ExportFormat):
    name = "torchscript"
    summary = "model.pt, the model scripted by torch.jit.script, its description embedded"
    runtimes = ("torchscript", "torchscript-cuda")

    def write(self, job: Job) -> GraphFields:
        job.plan.say("TorchScript")
        scripted = torch.jit.script(job.model)
        buffer = io.BytesIO()
        torch.jit.save(scripted, buffer, _extra_files={MANIFEST: json.dumps(job.manifest)})
        with place.naming(job.folder / FILE):
            (job.folder / FILE).write_bytes(buffer.getvalue())
        return {}

    def verifier(self, bundle: Path, manifest: Dict[str, Any]) -> "_Scripted":
        return _Scripted(bundle / FILE)


class _Scripted:
    """model.pt, loaded once per device on first use."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.loaded: Dict[str, Any] = {}

    def runners(self, graph: Graph, template: Sequence[object], device: str, skipped: Dict[str, str]) -> Dict[str, Runner]:
        if not self.path.is_file():
            skipped["torchscript"] = f"the bundle has no {FILE} (exported without --format torchscript)"
            return {}
        if device not in self.loaded:
            self.loaded[device] = runtimes.load_torchscript(self.path, device)
        name = "torchscript" if device == "cpu" else "torchscript-cuda"
        return {name: runtimes.torch_runner(self.loaded[device], graph, template, torch.float32, device)}
