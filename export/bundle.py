"""``zoo export``: write a bundle directory, verify it, and only then move it into place.

Everything is written into a temporary sibling folder (``export.place``) that is renamed to
``--out`` only when complete and, unless ``verify=False``, verified: an interrupted export or a
failed verification leaves what was at ``--out`` as it was. A failed bundle is discarded, or
kept at ``OUT.failed`` for a look when asked (``keep_failed``). Every disk write goes through
Python's file objects, so a full disk or a read-only folder is an ``OSError`` (torch and
safetensors would raise RuntimeError or their own error type when they open the file).

What each format writes is its module's in ``export.formats``; this module writes what every
bundle holds (weights, test vectors, manifest) and asks the formats' table for the rest.
"""

import copy
import dataclasses
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np
import torch

from export import formats, onnx_export, place
from export.cases import forward_cases
from export.formats.base import ExportFormat, Job, Plan
from export.graphs import Graph, graph_entry, graphs_of
from export.manifest import task_meaning
from export.parity import ParityReport, verify_bundle
from export.runtimes import torch_runner
from export.source import Source
from export.vectors import write_vector
from zoo.rebuild import weights_of
from zoo.store import (
    MANIFEST, SCHEMA_VERSION, WEIGHTS, config_to_dict, file_entries, pairs_entries, read_bundle_weights, read_json,
    signature_pairs, versions, write_json, write_weights,
)  # fmt: skip

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
        "graphs": {g.name: graph_entry(g) for g in graphs},
        **pairs_entries(signature_pairs(signature)),  # "state_pairs" and "ragged"
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
    """Writes the bundle to ``out`` (for a format that places a folder of its own when asked
    for alone, ``format="triton"``: ``out/<name>/`` of a Triton model repository). Raises
    ValueError before writing anything when an option is wrong or ``out`` holds something
    ``overwrite`` may not replace, VerificationFailed when the new bundle fails verification
    (``out`` left as it was), OSError when the disk refuses."""
    asked = formats.resolve(format)
    graphs = graphs_of(source.spec, source.config)
    plan = Plan(formats=asked, graphs=list(graphs), exporters={}, opset=opset, verify=verify,
                say=progress or (lambda message: None), recurrent=recurrent, quantize=quantize, exporter=exporter)  # fmt: skip
    written = formats.with_requirements(asked)
    for name, each in formats.FORMATS.items():
        each.check(plan, name in written)
    chosen = {g.name: onnx_export.resolve_exporter(source.spec, g, exporter) for g in graphs}
    plan = dataclasses.replace(plan, exporters=chosen)
    if out.name in ("", ".."):  # "." or "..": the temporary sibling needs the folder's own name
        out = Path(os.path.abspath(out))
    alone = formats.FORMATS[asked[0]] if len(asked) == 1 else None
    if alone is not None and alone.alone is not None:
        return _export_alone(source, out, plan, alone, overwrite, keep_failed)
    place.check_target(out, overwrite, MANIFEST, "a bundle")
    failed_to = place.failed_for(out) if keep_failed else None
    if failed_to is not None:
        place.check_target(failed_to, True, MANIFEST, "a bundle")
    return _export_folder(source, out, plan, failed_to)


def _check_weights_file(folder: Path, source: Source) -> None:
    """The weights file holds the model's state, bit for bit: verification runs the model in
    memory, and `zoo verify` rebuilds it from this file later."""
    stored, expected = read_bundle_weights(folder), weights_of(source.model)
    differ = sorted(set(stored) ^ set(expected)) or [
        name for name in expected if stored[name].dtype != expected[name].dtype or not np.array_equal(stored[name], expected[name])
    ]  # fmt: skip
    if differ:
        raise RuntimeError(f"{WEIGHTS} does not hold the model's state as exported ({', '.join(differ[:5])}); a zoo bug, please report it")


def _export_folder(source: Source, out: Path, plan: Plan, failed_to: Optional[Path]) -> ExportResult:
    """Writes and verifies the bundle in a temporary sibling of ``out``, then renames it to
    ``out`` if it passed, or to ``failed_to`` (when given) if it did not."""
    place.remove_stale(out.parent)
    temporary = place.temporary_for(out)
    try:
        place.make_temporary(out)
        result = _write(source, temporary, plan)
        if plan.verify:
            plan.say("verifying")
            _check_weights_file(temporary, source)
            result.parity = verify_bundle(temporary, "cpu", write_report=True, progress=plan.say, source=source)
            if not result.parity.passed:
                if failed_to is not None:
                    place.replace(temporary, failed_to)
                raise VerificationFailed(result.parity, failed_to)
        place.replace(temporary, out)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    result.bundle = out
    return result


def _export_alone(source: Source, repo: Path, plan: Plan, chosen: ExportFormat, overwrite: bool, keep_failed: bool) -> ExportResult:
    """A format that, asked for alone, places a folder of its own in ``repo`` (``--format
    triton``: ``repo/<name>/``): a verified bundle of the formats it requires is made aside, then
    that folder from it. A failed bundle is kept beside ``repo``, never in it (Triton would try
    to load it)."""
    assert chosen.alone is not None
    name = source.spec.name
    target = chosen.alone.target(repo, name)
    place.check_target(target, overwrite, chosen.alone.marker, chosen.alone.what)
    failed_to = repo.with_name(f"{repo.name}.{name}.failed") if keep_failed else None
    if failed_to is not None:
        place.check_target(failed_to, True, MANIFEST, "a bundle")
    repo.mkdir(parents=True, exist_ok=True)
    place.remove_stale(repo)
    scratch = place.scratch_in(repo)
    try:
        result = _export_folder(source, scratch / "bundle", dataclasses.replace(plan, formats=list(chosen.requires)), failed_to)
        manifest = read_json(result.bundle / MANIFEST)
        with place.naming(scratch / "repo"):
            staged = chosen.alone.write(result.bundle, manifest, scratch / "repo")
        place.replace(staged, target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    result.bundle, result.formats = target, [chosen.name]
    result.files = file_entries(target)
    return result


def _write(source: Source, folder: Path, plan: Plan) -> ExportResult:
    """Every file of the bundle into ``folder``: the weights, then each format of the table in
    its order (a chosen one writes its files, one left out may still say so in the manifest),
    then the test vectors and the manifest."""
    manifest = description(source, plan.graphs)
    plan.say("weights")
    with place.naming(folder / WEIGHTS):
        write_weights(folder / WEIGHTS, weights_of(source.model))
    written = formats.with_requirements(plan.formats)
    job = Job(model=source.model, folder=folder, manifest=manifest, plan=plan)
    for name, each in formats.FORMATS.items():
        for graph, fields in (each.write(job) if name in written else each.omitted(job)).items():
            manifest["graphs"][graph].update(fields)
    plan.say("test vectors")
    manifest["test_vectors"] = _write_vectors(folder, source, plan.graphs[0])
    exporter = plan.exporters["forward"]
    manifest["export"] = {"formats": plan.formats, "exporter": exporter, "opset_requested": plan.opset,
                          "recurrent": plan.recurrent, "quantize": plan.quantize}  # fmt: skip
    manifest["versions"] = versions("torch", "onnx", "onnxruntime")
    manifest["parity"] = None
    manifest["files"] = file_entries(folder)
    with place.naming(folder / MANIFEST):
        write_json(folder / MANIFEST, manifest)
    result = ExportResult(folder, plan.formats, exporter, plan.opset, manifest["files"], manifest=manifest)
    for graph, entry in manifest["graphs"].items():
        if entry.get("ops") is not None:  # a graph written as ONNX
            result.ops[graph], result.opsets[graph] = entry["ops"], entry["opset"]
    return result
