"""``zoo export``: write a bundle directory, verify it, and only then move it into place.

Everything is written into a temporary sibling folder that is renamed to ``--out`` at the end,
so an interrupted export never leaves a half-written bundle where a loader would look.
"""

import copy
import json
import os
import platform
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np
import onnx
import torch

import zoo
from export import onnx_export, triton
from export.cases import forward_cases
from export.files import MANIFEST, SCHEMA_VERSION, file_entries
from export.graphs import Graph, argument_structure, graphs_of
from export.manifest import task_meaning, tensor_entry
from export.parity import ParityReport, verify_bundle
from export.runtimes import torch_runner
from export.source import Source
from export.vectors import write_vector
from zoo.train.checkpoint import save_weights, write_json
from zoo.train.rundir import config_to_dict

FORMATS = ("torchscript", "onnx", "triton", "all")
TRITON_DIR = "triton"  # the model repository inside a bundle exported with --format all
VECTOR_CASES = ("b1-t1", "b2-t17", "b7-t2", "b1", "b2", "b7")  # small cases become test vectors


@dataclass
class ExportResult:
    bundle: Path
    formats: List[str]
    exporter: str
    opset: int
    files: Dict[str, Any]
    ops: Dict[str, List[str]] = field(default_factory=dict)  # graph -> ONNX operators
    opsets: Dict[str, int] = field(default_factory=dict)  # graph -> the file's opset
    parity: Optional[ParityReport] = None


def resolve_formats(format: str) -> List[str]:
    if format not in FORMATS:
        raise ValueError(f"unknown format {format!r}; choose {', '.join(FORMATS)}")
    return ["torchscript", "onnx", "triton"] if format == "all" else [format]


def versions() -> Dict[str, str]:
    import onnxruntime

    return {
        "zoo": zoo.__version__,
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def description(source: Source, graphs: Sequence[Graph]) -> Dict[str, Any]:
    """The manifest's model part: what the model is and how to call it (no files, no parity)."""
    signature = source.spec.signature(source.config)
    return {
        "schema_version": SCHEMA_VERSION,
        "model": {
            "name": source.spec.name,
            "task": source.spec.task,
            "task_meaning": task_meaning(source.spec.task),
            "config": config_to_dict(source.config),
            "description": source.spec.description,
            "stateful": source.spec.stateful,
        },
        "source": source.origin,
        "labels": source.labels,
        "vocabulary": source.vocab,
        "tokenizer": (source.data or {}).get("tokenizer"),
        "data": source.data,
        "graphs": {
            g.name: {
                "inputs": [tensor_entry(t) for t in g.inputs],
                "outputs": [tensor_entry(t) for t in g.outputs],
                "arguments": argument_structure(g),
            }
            for g in graphs
        },
        "state_pairs": [{"input": i, "output": o} for i, o in signature.state_pairs],
        "ragged": [{"lengths": l, "sequence": s} for l, s in signature.ragged],
    }


def _onnx_metadata(manifest: Dict[str, Any], graph: str, exporter: str) -> Dict[str, Any]:
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
    }


def _write_vectors(folder: Path, source: Source, graph: Graph) -> List[Dict[str, Any]]:
    signature = source.spec.signature(source.config)
    reference = copy.deepcopy(source.model).double().eval()  # the float64 reference
    template = graph.example(1, 1, torch.Generator().manual_seed(0))
    run = torch_runner(reference, graph, template, torch.float64, "cpu")
    chosen = [c for c in forward_cases(graph, signature, stateful=False) if c.name.split("-ragged")[0] in VECTOR_CASES]
    entries = []
    for index, case in enumerate(chosen):
        inputs = [t.numpy() for t in case.inputs]
        outputs = run(inputs)
        outputs = [o.astype(spec.dtype) for o, spec in zip(outputs, graph.outputs)]
        name = f"test_data_set_{index}"
        write_vector(folder / name, list(zip([t.name for t in graph.inputs], inputs)),
                     list(zip([t.name for t in graph.outputs], outputs)))  # fmt: skip
        entries.append({"dir": name, "case": case.name})
    return entries


def export_bundle(
    source: Source,
    out: Path,
    format: str = "all",
    exporter: str = "auto",
    opset: int = onnx_export.DEFAULT_OPSET,
    verify: bool = True,
    overwrite: bool = False,
    progress: Optional[Callable[[str], None]] = None,
) -> ExportResult:
    formats = resolve_formats(format)
    graphs = graphs_of(source.spec, source.config)
    chosen = {g.name: onnx_export.resolve_exporter(source.spec, g, exporter) for g in graphs}
    if formats == ["triton"]:
        return _export_triton(source, out, exporter, opset, verify, overwrite, progress)
    if out.exists() and not overwrite:
        raise ValueError(f"{out} already exists; pass --overwrite to replace it or choose another --out")
    say = progress or (lambda message: None)
    temporary = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir(parents=True)
    try:
        result = _write(source, temporary, formats, graphs, chosen, opset, say)
        if verify:
            say("verifying")
            result.parity = verify_bundle(temporary, "cpu", write_report=True, progress=say)
            manifest = json.loads((temporary / MANIFEST).read_text(encoding="utf-8"))
            manifest["parity"] = result.parity.summary()
            write_json(temporary / MANIFEST, manifest)
        _replace(temporary, out)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    result.bundle = out
    return result


def _export_triton(source, repo, exporter, opset, verify, overwrite, progress) -> ExportResult:  # type: ignore[no-untyped-def]
    """``--format triton``: a verified ONNX bundle made aside, then ``repo/<name>/`` from it."""
    target = repo / source.spec.name
    if target.exists() and not overwrite:
        raise ValueError(f"{target} already exists in the repository; pass --overwrite to replace it")
    repo.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=repo, prefix=".zoo-export-") as scratch:
        result = export_bundle(source, Path(scratch) / "bundle", "onnx", exporter, opset, verify, False, progress)
        manifest = json.loads((result.bundle / MANIFEST).read_text(encoding="utf-8"))
        staged = triton.write_repository(result.bundle, manifest, Path(scratch) / "repo")
        _replace(staged, target)
    result.bundle, result.formats = target, ["triton"]
    result.files = file_entries(target)
    return result


def _write(source, folder, formats, graphs, chosen, opset, say) -> ExportResult:  # type: ignore[no-untyped-def]
    manifest = description(source, graphs)
    say("weights")
    save_weights(folder / "weights.safetensors", source.model)
    exporter = chosen["forward"]
    result = ExportResult(folder, formats, exporter, opset, {})
    if "torchscript" in formats:
        say("TorchScript")
        scripted = torch.jit.script(source.model)
        # The model's description travels inside model.pt, readable with torch.jit.load(_extra_files=...).
        torch.jit.save(scripted, str(folder / "model.pt"), _extra_files={MANIFEST: json.dumps(manifest)})
    for graph in graphs:
        entry = manifest["graphs"][graph.name]
        if "onnx" not in formats:
            entry.update(onnx=None, reason="exported without --format onnx")
            continue
        say(f"ONNX {graph.name}")
        args = graph.example(3, 5, torch.Generator().manual_seed(0))
        proto = onnx_export.export_graph(source.model, graph, args, chosen[graph.name], opset)
        onnx_export.add_metadata(proto, _onnx_metadata(manifest, graph.name, chosen[graph.name]))
        onnx_export.check(proto)
        onnx.save(proto, str(folder / graph.onnx_file))
        entry.update(onnx=graph.onnx_file, exporter=chosen[graph.name], opset=onnx_export.opset_of(proto),
                     ops=onnx_export.ops_used(proto))  # fmt: skip
        result.ops[graph.name], result.opsets[graph.name] = entry["ops"], entry["opset"]
    if "triton" in formats:
        say("Triton repository")
        triton.write_repository(folder, manifest, folder / TRITON_DIR)
    say("test vectors")
    manifest["test_vectors"] = _write_vectors(folder, source, graphs[0])
    manifest["export"] = {"formats": formats, "exporter": exporter, "opset_requested": opset}
    manifest["versions"] = versions()
    manifest["parity"] = None
    manifest["files"] = file_entries(folder)
    write_json(folder / MANIFEST, manifest)
    result.files = manifest["files"]
    return result


def _replace(temporary: Path, out: Path) -> None:
    """Renames the finished bundle into place; an old bundle there is removed only after."""
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    if out.exists():
        os.replace(out, old)
    os.replace(temporary, out)
    shutil.rmtree(old, ignore_errors=True)
