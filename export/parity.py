"""``zoo verify``: every graph of a bundle on every runtime present, against the reference.

The reference is the eager model in float64: rebuilt from the registry and the bundle's
``weights.safetensors`` (``zoo.rebuild``), or, for the bundle an export has just written, the
model that export holds in memory (``verify_bundle(..., source=...)``); graphs with integer outputs (``generate``, ``decode``) take the eager
float32 model as theirs, since token choices are what a float32 deployment must reproduce.
Outputs are compared count -> dtype -> shape -> values, with tolerances from
``tolerances.json``. Stateful cases run each runtime in chunks, state fed back, against the
reference's whole run. The runtimes besides eager PyTorch come from the bundle's formats (each
module of ``export.formats`` gives those its files add).
"""

import copy
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import onnx
import torch

from export import runtimes
from export.cases import Case, cases_for
from export.feeds import check_feeds
from export.formats import FORMATS
from export.formats import onnx as onnx_format
from export.formats.base import Runtimes
from export.graphs import Graph, graphs_of
from export.onnx_export import iter_nodes
from export.place import naming
from export.source import Source
from export.tolerances import Tolerance, Tolerances
from export.vectors import read_vector
from zoo.rebuild import rebuild
from zoo.registry import Config, ModelSpec, TensorSpec, get_spec
from zoo.store import MANIFEST, PARITY, Pairs, check_files, config_from_dict, read_bundle_weights, read_manifest, signature_pairs, write_json

DEVICES = ("cpu", "cuda", "all")
# A float32 runtime may be this many times as far from the float64 truth as eager float32
# PyTorch is, element by element, on top of the tolerance: a trained recurrent net amplifies
# float32 rounding over hundreds of steps (a trained character LSTM: 7e-5 at batch 64 x 256 steps),
# which no float32 implementation can undo. The eager-fp32 row shows that distance.
NOISE_FACTOR = 2.0
STRUCTURE = onnx_format.STRUCTURE  # the runtime name of the rows that check the ONNX file's recurrent nodes


@dataclass
class Row:
    graph: str
    case: str
    runtime: str
    output: str
    max_abs: float
    max_rel: float
    atol: float
    rtol: float
    passed: bool
    problem: str = ""
    # How much of its allowance the worst element used: |runtime - reference| over atol + rtol *
    # |reference| (+ the noise allowance), at the element where that ratio is largest; <= 1 passes.
    # Under ``rms_rel`` (int8) it is the output's RMS ratio over rms_rel. The report prints it, as
    # max_abs and max_rel alone do not say how near a value came to failing.
    allowance_used: float = 0.0
    rms_rel: Optional[float] = None  # set when the output is judged by its RMS error (Tolerance.rms_rel)


@dataclass
class ParityReport:
    model: str
    devices: List[str]
    rows: List[Row] = field(default_factory=list)
    skipped: Dict[str, str] = field(default_factory=dict)  # runtime -> why it did not run

    @property
    def passed(self) -> bool:
        return bool(self.rows) and all(r.passed for r in self.rows)

    def failures(self) -> List[Row]:
        return [r for r in self.rows if not r.passed]

    def worst(self) -> Dict[str, float]:
        """Largest absolute error per runtime (float outputs)."""
        worst: Dict[str, float] = {}
        for row in self.rows:
            if row.runtime != STRUCTURE:  # a check of the file, not a comparison of values
                worst[row.runtime] = max(worst.get(row.runtime, 0.0), row.max_abs)
        return worst

    def summary(self) -> Dict[str, Any]:
        return {
            "passed": self.passed,
            "devices": self.devices,
            "comparisons": len(self.rows),
            "failures": len(self.failures()),
            "worst_abs_error": self.worst(),
            "skipped": self.skipped,
        }

    def to_dict(self) -> Dict[str, Any]:
        return {"model": self.model, "summary": self.summary(), "rows": [asdict(r) for r in self.rows]}


def compare(expected: Sequence[np.ndarray], got: Sequence[np.ndarray], outputs: Sequence[TensorSpec], tolerance_of,  # type: ignore[no-untyped-def]
            floor: Optional[Sequence[np.ndarray]] = None) -> List[Row]:
    """Rows (without graph/case/runtime filled) for count, then dtype, shape and values.

    ``expected`` may be float64 (the reference): dtypes are checked against ``outputs``, the
    declared signature, and values against ``expected``.
    """
    if len(expected) != len(got) or len(got) != len(outputs):
        return [Row("", "", "", "*", float("inf"), float("inf"), 0, 0, False, f"{len(got)} outputs, expected {len(outputs)}", float("inf"))]
    rows = []
    for index, (spec, want, have) in enumerate(zip(outputs, expected, got)):
        declared = np.dtype(spec.dtype)
        tolerance = tolerance_of(declared)
        row = Row("", "", "", spec.name, 0.0, 0.0, tolerance.atol, tolerance.rtol, True, rms_rel=tolerance.rms_rel)
        if have.dtype != declared:
            row.passed, row.problem, row.max_abs, row.max_rel = False, f"dtype {have.dtype}, expected {declared}", float("inf"), float("inf")
            row.allowance_used = float("inf")
        elif have.shape != want.shape:
            row.passed, row.problem, row.max_abs, row.max_rel = False, f"shape {have.shape}, expected {want.shape}", float("inf"), float("inf")
            row.allowance_used = float("inf")
        elif want.size:
            noise = floor[index].astype(np.float64) if floor is not None and floor[index].shape == want.shape else None
            row.max_abs, row.max_rel, row.problem, row.allowance_used = _value_errors(
                have.astype(np.float64), want.astype(np.float64), tolerance, noise
            )
            row.passed = not row.problem
        rows.append(row)
    return rows


def _value_errors(
    have: np.ndarray, want: np.ndarray, tolerance: Tolerance, noise: Optional[np.ndarray] = None
) -> Tuple[float, float, str, float]:
    """(max abs error, max rel error, problem or "", ``Row.allowance_used``), element by element:
    a finite expected value needs a finite value within atol + rtol * |expected| (+ ``NOISE_FACTOR``
    times the distance of eager float32 PyTorch's value, ``noise``, from the expected one), a NaN
    or inf expected the same one. ``difference > allowed`` is False for NaN, so closeness is asked
    as ``<=``, which NaN fails."""
    with np.errstate(invalid="ignore", over="ignore"):
        difference = np.abs(have - want)
        all_finite = bool(np.isfinite(difference).all())  # the usual case, kept to a few passes
        expected_finite = True if all_finite else np.isfinite(want)
        scale = np.abs(want) if all_finite else np.abs(np.where(expected_finite, want, 0.0))
        allowed = tolerance.atol + tolerance.rtol * scale
        if noise is not None:  # the model's own float32 noise at this element
            allowed = allowed + NOISE_FACTOR * np.nan_to_num(np.abs(noise - want), nan=0.0, posinf=0.0)
        if not all_finite:  # NaN or inf somewhere: only the same non-finite value passes
            allowed = np.where(expected_finite, allowed, 0.0)
            same = (have == want) | (np.isnan(have) & np.isnan(want))
            difference = np.where(same, 0.0, np.nan_to_num(difference, nan=np.inf, posinf=np.inf))
        relative = difference / np.maximum(scale, 1e-12)
    bad = ~(difference <= allowed)
    non_finite = 0 if all_finite else int((bad & expected_finite & ~np.isfinite(have)).sum())
    if tolerance.rms_rel is not None and not non_finite:  # the criterion here: the RMS ratio
        ratio = rms_ratio(have, want) if all_finite else float("inf")
        used = _share(np.float64(ratio), np.float64(tolerance.rms_rel))
    else:
        used = _share(difference, allowed)
    if non_finite:
        problem = f"{non_finite} non-finite values where finite ones are expected"
    elif tolerance.rms_rel is not None:
        problem = f"RMS error {ratio:.3g} of the expected RMS, above {tolerance.rms_rel:g}" if not ratio <= tolerance.rms_rel else ""
    elif bad.any():
        problem = f"{int(bad.sum())} of {bad.size} values outside atol {tolerance.atol:g} + rtol {tolerance.rtol:g}"
    else:
        problem = ""
    return float(difference.max()), float(relative.max()), problem, float(used.max())


def _share(error: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """error / allowed, where an allowance of 0 (integer outputs, a non-finite expected value)
    is used not at all by an equal value and infinitely by any other."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(allowed > 0, error / np.where(allowed > 0, allowed, 1.0), np.where(error == 0, 0.0, np.inf))


def rms_ratio(have: np.ndarray, want: np.ndarray) -> float:
    """RMS of the error over the RMS of the expected values (0 when both are zero)."""
    error = float(np.sqrt(np.mean((have - want) ** 2)))
    scale = float(np.sqrt(np.mean(want**2)))
    return error / scale if scale > 0 else (0.0 if error == 0 else float("inf"))


def _chunked(run: runtimes.Runner, case: Case, graph: Graph, pairs: Pairs) -> List[np.ndarray]:
    """Runs ``case`` in chunks along time with each chunk's state outputs fed back."""
    names = [t.name for t in graph.inputs]
    out_names = [t.name for t in graph.outputs]
    inputs = [t.numpy() for t in case.inputs]
    state_of = pairs.state_input
    lengths_names = set(pairs.sequence)
    time_axis = {t.name: list(t.shape).index("time") for t in graph.inputs + graph.outputs if "time" in t.shape}
    pieces: Dict[str, List[np.ndarray]] = {n: [] for n in out_names}
    last: List[np.ndarray] = []
    start = 0
    for size in case.chunks or ():
        feeds = []
        for name, array in zip(names, inputs):
            if name in time_axis:
                array = np.take(array, np.arange(start, start + size), axis=time_axis[name])
            elif name in lengths_names:
                array = np.full_like(array, size)
            feeds.append(array)
        last = run(feeds)
        for name, array in zip(out_names, last):
            pieces[name].append(array)
        for output_name, array in zip(out_names, last):  # state for the next chunk
            if output_name in state_of:
                inputs[names.index(state_of[output_name])] = array
        start += size
    return [np.concatenate(pieces[n], axis=time_axis[n]) if n in time_axis else a for n, a in zip(out_names, last)]


def _whole_inputs(case: Case, pairs: Pairs, graph: Graph) -> List[np.ndarray]:
    """A chunked case's inputs for one whole run: every row uses all its steps."""
    names = [t.name for t in graph.inputs]
    inputs = [t.numpy() for t in case.inputs]
    if case.chunks:
        for lengths_name in pairs.sequence:
            i = names.index(lengths_name)
            inputs[i] = np.full_like(inputs[i], sum(case.chunks))
    return inputs


@dataclass
class _Model:
    spec: ModelSpec
    config: Config
    eager32: torch.nn.Module
    reference: torch.nn.Module  # float64


def _model(bundle: Path, manifest: Dict[str, Any], source: Optional[Source]) -> _Model:
    """The exporting source's model as it is, or the one the bundle's files rebuild; the float64
    reference is a copy, so the source's model is left as it was."""
    if source is not None:
        spec, config, model = source.spec, source.config, source.model.eval()
    else:
        spec = get_spec(manifest["model"]["name"])
        config = config_from_dict(spec, manifest["model"]["config"])
        model = rebuild(spec, config, read_bundle_weights(bundle))
    return _Model(spec, config, model, copy.deepcopy(model).double())


def verify_bundle(
    bundle: Path, device: str = "cpu", write_report: bool = True, progress: Optional[Callable[[str], None]] = None,
    source: Optional[Source] = None,
) -> ParityReport:  # fmt: skip
    """Checks the files, runs every case on every runtime; with ``write_report`` records the
    result in the bundle (``record``). ``source``: the model the bundle was just exported from,
    still in memory (its weights are the bundle's), verified instead of a rebuilt copy."""
    if device not in DEVICES:
        raise ValueError(f"--device must be one of {', '.join(DEVICES)}, got {device!r}")
    manifest = read_manifest(bundle)
    check_files(bundle, manifest)
    devices = ["cpu", "cuda"] if device == "all" else [device]
    if "cuda" in devices:
        runtimes.require_cuda()
    model = _model(bundle, manifest, source)
    signature = model.spec.signature(model.config)
    pairs = signature_pairs(signature)
    tolerances = Tolerances.load()
    report = ParityReport(model.spec.name, devices)
    formats = [each.verifier(bundle, manifest) for each in FORMATS.values()]  # the runtimes each format's files add

    for graph in graphs_of(model.spec, model.config):
        template = graph.example(1, 1, torch.Generator().manual_seed(0))
        # Token choices are what a float32 deployment must reproduce: their reference is float32.
        integer_graph = not any(t.dtype.startswith("float") for t in graph.outputs)
        reference = runtimes.torch_runner(model.eager32 if integer_graph else model.reference, graph, template,
                                          torch.float32 if integer_graph else torch.float64, "cpu")  # fmt: skip
        entry = manifest["graphs"].get(graph.name, {})
        proto = onnx.load_from_string((bundle / entry["onnx"]).read_bytes()) if entry.get("onnx") else None
        runners = _runners(formats, graph, model, template, devices, integer_graph, report)
        cases = cases_for(graph, signature, model.spec.stateful)
        for number, case in enumerate(cases):
            if progress:
                progress(f"{graph.name} {case.name}")
            whole = _whole_inputs(case, pairs, graph)
            want = reference(whole)
            floor = None  # eager float32's own outputs: the model's float32 noise (NOISE_FACTOR)
            for name, run in runners.items():  # eager-fp32 first, where it runs
                if name == "onnx-reference" and number > 0:
                    continue  # numpy operators: the smallest case only
                got = _chunked(run, case, graph, pairs) if case.chunks else run(whole)
                if name == "eager-fp32":
                    # The noise of a whole run, never of a chunked one: chunks that disagree
                    # with the whole run (state not carried) must fail, not widen the tolerance.
                    floor = run(whole) if case.chunks else got
                _add(report, graph, case.name, name, want, got, tolerances, floor)
        if graph.declaration is None:  # the test vectors are forward's
            _check_vectors(bundle, manifest, graph, runners, report, tolerances)
        if proto is not None:
            _check_recurrent(entry, proto, graph, report)
    if write_report:
        record(bundle, report)
    return report


def record(bundle: Path, report: ParityReport) -> None:
    """``parity.json`` and the manifest's ``parity`` summary, each replaced atomically. Neither
    is in the manifest's ``files``, so the bundle's hashes stay valid; the server serves only a
    bundle whose summary says it passed."""
    with naming(bundle / PARITY):
        write_json(bundle / PARITY, report.to_dict())
    manifest = read_manifest(bundle)
    manifest["parity"] = report.summary()
    with naming(bundle / MANIFEST):
        write_json(bundle / MANIFEST, manifest)


def _runners(
    formats: List[Runtimes], graph: Graph, model: _Model, template: Sequence[object], devices: List[str],
    integer_graph: bool, report: ParityReport,
) -> Dict[str, runtimes.Runner]:  # fmt: skip
    """The runtimes to compare for ``graph``, by report name: on each device the eager float32
    model, then what each format's files add (``export.formats``; a runtime that cannot run is
    in ``report.skipped`` with the reason)."""
    runners: Dict[str, runtimes.Runner] = {}
    for device in devices:
        cpu = device == "cpu"
        if not (integer_graph and cpu):  # the eager float32 CPU model is those graphs' reference
            module = model.eager32 if cpu else copy.deepcopy(model.eager32).to(device)
            runners["eager-fp32" if cpu else "eager-cuda"] = runtimes.torch_runner(module, graph, template, torch.float32, device)
        for each in formats:
            runners.update(each.runners(graph, template, device, report.skipped))
    return runners


def _add(report: ParityReport, graph: Graph, case: str, runtime: str, want, got, tolerances: Tolerances, floor=None) -> None:  # type: ignore[no-untyped-def]
    rows = compare(want, got, graph.outputs, lambda dtype: tolerances.for_output(report.model, runtime, case, dtype), floor)
    for row in rows:
        row.graph, row.case, row.runtime = graph.name, case, runtime
    report.rows.extend(rows)


def _check_recurrent(entry: Dict[str, Any], proto: "onnx.ModelProto", graph: Graph, report: ParityReport) -> None:
    """The manifest's account of the recurrent layers must match the ONNX file: the native and
    ``Loop`` nodes it claims are the ones the graph holds, and a graph claimed native holds no
    ``Loop`` unless it is autoregressive (``generate``, ``decode``: the loop over generated
    tokens stays, with the native nodes inside it)."""
    recurrent = entry.get("recurrent")
    if recurrent is None:
        return
    try:
        claimed = Counter(str(node) for layer in recurrent["layers"] for node in layer["onnx_nodes"])
        mode = recurrent["mode"]
    except (KeyError, TypeError):  # a hand-edited manifest: a failed check, not a crash
        report.rows.append(Row(graph.name, "recurrent-layers", STRUCTURE, "*", 0.0, 0.0, 0, 0, False,
                               "the manifest's recurrent account is malformed; export the bundle again"))  # fmt: skip
        return
    found = recurrent_nodes(proto)
    problem = ""
    if graph.declaration is None:  # forward
        top = found["top"]
        native = Counter({op: n for op, n in top.items() if op != "Loop"})
        claimed_native = Counter({op: n for op, n in claimed.items() if op != "Loop"})
        if mode == "native" and top["Loop"]:
            problem = f"the manifest says native but {entry['onnx']} holds {top['Loop']} Loop node(s)"
        elif native != claimed_native:
            problem = f"the manifest claims {dict(claimed_native)} native nodes but {entry['onnx']} holds {dict(native)}"
        elif bool(claimed["Loop"]) != bool(top["Loop"]):
            # Loop mode: the scripted code around a time loop adds Loops of its own (over layers,
            # directions), so only their presence is claimed, not their number.
            problem = f"the manifest claims {claimed['Loop']} time loop(s) but {entry['onnx']} holds {top['Loop']} Loop node(s)"
    else:
        missing = [op for op in claimed if not found["all"][op]]
        if missing:
            problem = f"the manifest claims {', '.join(missing)} nodes that {entry['onnx']} does not hold"
    report.rows.append(Row(graph.name, "recurrent-layers", STRUCTURE, "*", 0.0, 0.0, 0, 0, not problem, problem))


def recurrent_nodes(proto: "onnx.ModelProto") -> Dict[str, Counter]:
    """``top``: Loop/RNN/LSTM/GRU nodes of the main graph; ``all``: the same with subgraphs."""
    kinds = ("Loop", "RNN", "LSTM", "GRU")
    top = Counter(node.op_type for node in proto.graph.node if node.op_type in kinds)
    every = Counter(node.op_type for node in iter_nodes(proto.graph) if node.op_type in kinds)
    return {"top": top, "all": every}


def _check_vectors(bundle, manifest, graph, runners, report, tolerances) -> None:  # type: ignore[no-untyped-def]
    """The bundle's own test vectors, through the loader checks, on every runtime."""
    inputs_spec = manifest["graphs"]["forward"]["inputs"]
    for entry in manifest["test_vectors"]:
        inputs, outputs = read_vector(bundle / entry["dir"])
        check_feeds(inputs_spec, dict(inputs))
        want = [array for _, array in outputs]
        floor = None
        for name, run in runners.items():
            if name == "onnx-reference":
                continue
            got = run([a for _, a in inputs])
            if name == "eager-fp32":
                floor = got
            _add(report, graph, f"vector-{entry['dir'].rsplit('_', 1)[1]}", name, want, got, tolerances, floor)
