"""``zoo export``: write a bundle directory, verify it, and only then move it into place.

Everything is written into a temporary sibling folder (``export.place``) that is renamed to
``--out`` only when complete and, unless ``verify=False``, verified: an interrupted export or a
failed verification leaves what was at ``--out`` as it was. A failed bundle is discarded, or
kept at ``OUT.failed`` for a look when asked (``keep_failed``). Every disk write goes through
Python's file objects, so a full disk or a read-only folder is an ``OSError`` (torch and
safetensors would raise RuntimeError or their own error type when they open the file).
"""

import copy
import dataclasses
import io
import json
import os
import platform
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np
import onnx
import torch

import zoo
from export import onnx_export, place, triton
from export.cases import forward_cases
from export.files import MANIFEST, SCHEMA_VERSION, file_entries
from export.graphs import Graph, argument_structure, graphs_of
from export.manifest import task_meaning, tensor_entry
from export.parity import ParityReport, verify_bundle
from export.quantize import INT8_FILE, quantize_int8
from export.runtimes import torch_runner
from export.source import Source
from export.vectors import write_vector
from zoo.train.checkpoint import save_weights, write_json
from zoo.train.rundir import config_to_dict

FORMATS = ("torchscript", "onnx", "triton", "all")
QUANTIZE = ("int8",)
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
    manifest: Dict[str, Any] = field(default_factory=dict)  # as written (before verification)


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
        "training": source.training,  # seed and bptt: `zoo evaluate BUNDLE` rebuilds the run's splits
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
    entry = manifest["graphs"][graph]
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
        "zoo.recurrent": entry["recurrent"],
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
        with place.naming(folder / name):
            write_vector(folder / name, list(zip([t.name for t in graph.inputs], inputs)),
                         list(zip([t.name for t in graph.outputs], outputs)))  # fmt: skip
        entries.append({"dir": name, "case": case.name})
    return entries


class VerificationFailed(Exception):
    """The exported bundle failed its verification, so it was not put in place; ``kept`` is
    where it was kept for a look (``keep_failed``), or None when it was discarded."""

    def __init__(self, report: ParityReport, kept: Optional[Path]) -> None:
        super().__init__(f"{report.model}: {len(report.failures())} comparisons failed verification")
        self.report, self.kept = report, kept


@dataclass(frozen=True)
class _Plan:
    """What an export writes, decided before anything is written."""

    formats: List[str]
    graphs: List[Graph]
    exporters: Dict[str, str]  # graph name -> the ONNX exporter chosen for it
    opset: int
    verify: bool
    say: Callable[[str], None]
    recurrent: str = "native"  # "native" or "loop" (``onnx_export.exportable``)
    quantize: Optional[str] = None  # "int8": also model.int8.onnx


def export_bundle(
    source: Source,
    out: Path,
    *,
    format: str = "all",
    exporter: str = "auto",
    opset: int = onnx_export.DEFAULT_OPSET,
    verify: bool = True,
    overwrite: bool = False,
    keep_failed: bool = False,
    progress: Optional[Callable[[str], None]] = None,
    recurrent: str = "native",
    quantize: Optional[str] = None,
) -> ExportResult:
    """Writes the bundle to ``out`` (for ``format="triton"``, ``out/<name>/`` of a Triton
    model repository). Raises ValueError before writing anything when ``out`` holds something
    ``overwrite`` may not replace, VerificationFailed when the new bundle fails verification
    (``out`` left as it was), OSError when the disk refuses."""
    formats = resolve_formats(format)
    if recurrent not in onnx_export.RECURRENT:
        raise ValueError(f"unknown --recurrent {recurrent!r}; choose {' or '.join(onnx_export.RECURRENT)}")
    if quantize is not None and quantize not in QUANTIZE:
        raise ValueError(f"unknown --quantize {quantize!r}; choose {', '.join(QUANTIZE)}")
    if quantize is not None and not ({"onnx", "triton"} & set(formats)):
        raise ValueError(f"--quantize {quantize} quantizes the ONNX graph; add --format onnx or all")
    graphs = graphs_of(source.spec, source.config)
    chosen = {g.name: onnx_export.resolve_exporter(source.spec, g, exporter) for g in graphs}
    plan = _Plan(formats=formats, graphs=list(graphs), exporters=chosen, opset=opset, verify=verify,
                 say=progress or (lambda message: None), recurrent=recurrent, quantize=quantize)  # fmt: skip
    if out.name in ("", ".."):  # "." or "..": the temporary sibling needs the folder's own name
        out = Path(os.path.abspath(out))
    if formats == ["triton"]:
        return _export_triton(source, out, plan, overwrite, keep_failed)
    place.check_target(out, overwrite, MANIFEST, "a bundle")
    failed_to = place.failed_for(out) if keep_failed else None
    if failed_to is not None:
        place.check_target(failed_to, True, MANIFEST, "a bundle")
    return _export_folder(source, out, plan, failed_to)


def _export_folder(source: Source, out: Path, plan: _Plan, failed_to: Optional[Path]) -> ExportResult:
    """Writes and verifies the bundle in a temporary sibling of ``out``, then renames it to
    ``out`` if it passed, or to ``failed_to`` (when given) if it did not."""
    place.remove_stale(out.parent)
    temporary = place.temporary_for(out)
    try:
        place.make_temporary(out)
        result = _write(source, temporary, plan)
        if plan.verify:
            plan.say("verifying")
            result.parity = verify_bundle(temporary, "cpu", write_report=True, progress=plan.say)
            if not result.parity.passed:
                if failed_to is not None:
                    place.replace(temporary, failed_to)
                raise VerificationFailed(result.parity, failed_to)
        place.replace(temporary, out)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    result.bundle = out
    return result


def _export_triton(source: Source, repo: Path, plan: _Plan, overwrite: bool, keep_failed: bool) -> ExportResult:
    """``--format triton``: a verified ONNX bundle made aside, then ``repo/<name>/`` from it. A
    failed bundle is kept beside the repository, never in it (Triton would try to load it)."""
    name = source.spec.name
    target = repo / name
    place.check_target(target, overwrite, triton.CONFIG, "a Triton model folder")
    failed_to = repo.with_name(f"{repo.name}.{name}.failed") if keep_failed else None
    if failed_to is not None:
        place.check_target(failed_to, True, MANIFEST, "a bundle")
    repo.mkdir(parents=True, exist_ok=True)
    place.remove_stale(repo)
    scratch = place.scratch_in(repo)
    try:
        result = _export_folder(source, scratch / "bundle", dataclasses.replace(plan, formats=["onnx"]), failed_to)
        manifest = json.loads((result.bundle / MANIFEST).read_text(encoding="utf-8"))
        with place.naming(scratch / "repo"):
            staged = triton.write_repository(result.bundle, manifest, scratch / "repo")
        place.replace(staged, target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    result.bundle, result.formats = target, ["triton"]
    result.files = file_entries(target)
    return result


def _write(source: Source, folder: Path, plan: _Plan) -> ExportResult:
    """Every file of the bundle into ``folder``. torch.jit.save writes to memory and Python
    writes the bytes (as ``save_weights`` does for safetensors): on a full disk torch.jit.save
    to a path aborts the process (std::ios_base::failure), and it reports a file it cannot open
    as RuntimeError, not as the OSError the CLI turns into one line."""
    say, formats, graphs, chosen, opset = plan.say, plan.formats, plan.graphs, plan.exporters, plan.opset
    manifest = description(source, graphs)
    say("weights")
    with place.naming(folder / "weights.safetensors"):
        save_weights(folder / "weights.safetensors", source.model)
    exporter = chosen["forward"]
    result = ExportResult(folder, formats, exporter, opset, {})
    if "torchscript" in formats:
        say("TorchScript")
        scripted = torch.jit.script(source.model)
        buffer = io.BytesIO()
        # The model's description travels inside model.pt, readable with torch.jit.load(_extra_files=...).
        torch.jit.save(scripted, buffer, _extra_files={MANIFEST: json.dumps(manifest)})
        with place.naming(folder / "model.pt"):
            (folder / "model.pt").write_bytes(buffer.getvalue())
    for graph in graphs:
        entry = manifest["graphs"][graph.name]
        if "onnx" not in formats:
            entry.update(onnx=None, reason="exported without --format onnx")
            continue
        say(f"ONNX {graph.name}")
        args = graph.example(3, 5, torch.Generator().manual_seed(0))
        proto, layers = onnx_export.export_graph(source.model, graph, args, chosen[graph.name], opset, plan.recurrent)
        # dynamo sees the model as is: only loop-free models offer it, and they have no recurrent layer.
        entry["recurrent"] = {"mode": plan.recurrent if chosen[graph.name] == "torchscript" else "as is", "layers": layers}
        onnx_export.add_metadata(proto, _onnx_metadata(manifest, graph.name, chosen[graph.name]))
        onnx_export.check(proto)
        with place.naming(folder / graph.onnx_file):
            (folder / graph.onnx_file).write_bytes(proto.SerializeToString())
        entry.update(onnx=graph.onnx_file, exporter=chosen[graph.name], opset=onnx_export.opset_of(proto),
                     ops=onnx_export.ops_used(proto))  # fmt: skip
        result.ops[graph.name], result.opsets[graph.name] = entry["ops"], entry["opset"]
        if graph.name == "forward" and plan.quantize == "int8":
            say("int8")
            quantized, summary = quantize_int8(proto)
            onnx_export.add_metadata(quantized, {**_onnx_metadata(manifest, graph.name, chosen[graph.name]),
                                                 "zoo.quantization": summary})  # fmt: skip
            with place.naming(folder / INT8_FILE):
                (folder / INT8_FILE).write_bytes(quantized.SerializeToString())
            entry["int8"] = {"onnx": INT8_FILE, **summary, "ops": onnx_export.ops_used(quantized)}
    if "triton" in formats:
        say("Triton repository")
        with place.naming(folder / TRITON_DIR):
            triton.write_repository(folder, manifest, folder / TRITON_DIR)
    say("test vectors")
    manifest["test_vectors"] = _write_vectors(folder, source, graphs[0])
    manifest["export"] = {"formats": formats, "exporter": exporter, "opset_requested": opset,
                          "recurrent": plan.recurrent, "quantize": plan.quantize}  # fmt: skip
    manifest["versions"] = versions()
    manifest["parity"] = None
    manifest["files"] = file_entries(folder)
    with place.naming(folder / MANIFEST):
        write_json(folder / MANIFEST, manifest)
    result.files = manifest["files"]
    result.manifest = manifest
    return result
