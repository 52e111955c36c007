"""``--format aoti``: ``model.aoti.pt2`` (and ``NAME.aoti.pt2`` per extra graph), each graph's
``torch.export`` program (``model.pt2``, ``export.formats.pt2``) compiled ahead of time by
AOTInductor into a package of C++ shared objects for this machine's CPU.

A package runs without Python: ``torch::inductor::AOTIModelPackageLoader`` in C++
(``serve/cpp``, ``zoo_aoti_check``) and ``torch._inductor.aoti_load_package`` in Python, both
taking the graph's inputs flat. It does not check their shapes or dtypes (see below).
Compiling takes 6-44 s per model here, so ``--format all`` leaves this format out; ask for it by
name (``--format aoti``, or a list such as ``--format torchscript,onnx,pt2,aoti``). A graph AOTInductor cannot compile is recorded with
the error (``reason``) and the bundle's other formats are still written and verified.
"""

import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Dict, Sequence

import torch

from export import place, runtimes
from export.errors import one_line
from export.formats.base import ExportFormat, GraphFields, Job
from export.formats.pt2 import load_program, program_file
from export.graphs import Graph
from export.runtimes import Runner


# A package does not check its inputs' shapes or dtypes: a wrong-sized or int32 input is read past
# its end, so callers check inputs against the manifest first. AOTInductor's optional checks
# (AOTI_RUNTIME_CHECK_INPUTS=1) are left off: they refuse inputs the program takes (with them on,
# mnist-cnn's package refuses batch 64, "dim value is too large at 0, expected to be <= 15",
# though its program's batch range is [1, inf) and the package computes batch 64 correctly).


def package_file(graph: Graph) -> str:
    return "model.aoti.pt2" if graph.declaration is None else f"{graph.name}.aoti.pt2"


def compile_package(program_path: Path, target: Path) -> None:
    """Compiles the program saved at ``program_path`` into the package ``target``. AOTInductor
    writes its package itself, so it writes into a scratch folder and the file is moved in."""
    program = load_program(program_path)
    scratch = Path(tempfile.mkdtemp(prefix=".aoti-", dir=target.parent))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch's own pytree deprecation, deep inside inductor
            written = torch._inductor.aoti_compile_and_package(program, package_path=str(scratch / target.name))
        with place.naming(target):
            os.replace(written, target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


class Aoti(ExportFormat):
    name = "aoti"
    summary = (
        "model.aoti.pt2 and NAME.aoti.pt2 (with the pt2 programs they are made from): compiled by AOTInductor for this CPU, "
        "loaded by torch::inductor::AOTIModelPackageLoader in C++ (not in --format all: a C++ compile per graph)"
    )
    requires = ("pt2",)
    runtimes = ("aoti",)
    graph_fields = ("aoti",)
    in_all = False

    def write(self, job: Job) -> GraphFields:
        fields: GraphFields = {}
        for graph in job.plan.graphs:
            job.plan.say(f"AOTInductor {graph.name} (compiling C++)")
            target = job.folder / package_file(graph)
            start = time.perf_counter()
            try:
                compile_package(job.folder / program_file(graph), target)
            except Exception as exc:  # inductor raises many types; the table reports each failure
                fields[graph.name] = {"aoti": {"file": None, "reason": f"AOTInductor failed: {one_line(exc)}"}}
                continue
            seconds = round(time.perf_counter() - start, 1)
            fields[graph.name] = {"aoti": {"file": target.name, "device": "cpu", "compile_seconds": seconds}}
        return fields

    def omitted(self, job: Job) -> GraphFields:
        return {graph.name: {"aoti": None} for graph in job.plan.graphs}

    def verifier(self, bundle: Path, manifest: Dict[str, Any]) -> "_Packages":
        return _Packages(bundle, manifest)


class _Packages:
    """A bundle's AOTInductor packages, loaded once per graph on first use (CPU only)."""

    def __init__(self, bundle: Path, manifest: Dict[str, Any]) -> None:
        self.bundle, self.graphs = bundle, manifest["graphs"]
        self.loaded: Dict[str, Any] = {}

    def runners(self, graph: Graph, template: Sequence[object], device: str, skipped: Dict[str, str]) -> Dict[str, Runner]:
        entry = (self.graphs.get(graph.name) or {}).get("aoti")
        if not entry:
            return {}  # exported without --format aoti: not a runtime of this bundle
        if not entry.get("file"):
            skipped[f"aoti ({graph.name})"] = entry.get("reason", "not compiled")
            return {}
        if device != "cpu":
            skipped["aoti-cuda"] = "the packages are compiled for the CPU; export on a CUDA machine for CUDA kernels"
            return {}
        if graph.name not in self.loaded:
            # A fixed name, never a path from the manifest (check_files vouched for the listed files).
            self.loaded[graph.name] = torch._inductor.aoti_load_package(str(self.bundle / package_file(graph)))
        return {"aoti": runtimes.program_runner(self.loaded[graph.name], template, "cpu")}
