"""The torch.export runtimes of ``runtime_speed.py --programs``: a graph's program (``model.pt2``)
through ``ExportedProgram.module()`` and its AOTInductor package (``model.aoti.pt2``), made
once per graph as ``zoo export --format pt2,aoti`` makes them (every named axis dynamic)."""

import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict

import torch
from torch import nn

from export.formats.aoti import compile_package
from export.formats.pt2 import load_program
from export.graphs import Args, Graph
from export.programs import export_program

RUNTIMES = ("pt2", "aoti")


def program_callables(model: nn.Module, graph: Graph) -> Dict[str, Callable[..., object]]:
    """``pt2`` and ``aoti`` for ``graph`` of ``model``: each called with the graph's arguments."""
    program, _ = export_program(model, graph)
    with tempfile.TemporaryDirectory(prefix="zoo-bench-") as folder:
        saved = Path(folder) / "model.pt2"
        torch.export.save(program, str(saved))
        start = time.perf_counter()
        compile_package(saved, Path(folder) / "model.aoti.pt2")
        print(f"  {graph.name}: AOTInductor compiled in {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
        package = torch._inductor.aoti_load_package(str(Path(folder) / "model.aoti.pt2"))
        loaded = load_program(saved).module()
    return {"pt2": loaded, "aoti": package}


def program_fn(run: Callable[..., object], args: Args) -> Callable[[], object]:
    def call() -> object:
        with torch.inference_mode():
            return run(*args)

    return call
