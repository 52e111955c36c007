"""A bundle as `zoo evaluate BUNDLE` measures it (``zoo.train.evaluate.evaluate_bundle``): what
its manifest says of the run it came from, and its own file as the model a task calls.

The bundle's own file runs (``model.onnx`` or ``model.int8.onnx`` in onnxruntime on the CPU,
or ``model.pt`` in TorchScript), so it is measured as `zoo evaluate RUN` measures the run's
weights: the same examples, batches and metrics, and the two tables compare line by line (and
show what int8 quantization costs). The data set is rebuilt from the manifest (``data``, and
``training``'s seed, which split it) and must have the vocabulary, tokenizer and labels the
bundle was exported with (``check_same_data``).
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Sequence, TypeVar

import torch
from torch import nn

from export.quantize import INT8_FILE
from export.runtimes import load_torchscript
from export.session_model import SessionModel, open_session
from zoo.data import DataSet
from zoo.registry import Config, ModelSpec, get_spec
from zoo.store import MODEL_PT, check_files, config_from_dict, graph_pairs, inside, read_manifest

RUNTIMES = ("onnxruntime", "torchscript")
GRAPHS = ("model", "int8")  # model.onnx, or model.int8.onnx from `zoo export --quantize int8`
T = TypeVar("T")


@dataclass(frozen=True)
class Scorable:
    """What scoring a bundle needs of its manifest: the model, and how its run read its data."""

    manifest: Dict[str, Any]
    spec: ModelSpec
    config: Config
    seed: int  # the training seed that split the run's data set
    bptt: Optional[int]  # the window a language model read the data in


def scorable(bundle: Path, runtime: str, graph: str) -> Scorable:
    """The bundle, checked (its files, and the options against it), as ``Scorable``.
    ValueError (one line) for anything the bundle or the options lack."""
    if runtime not in RUNTIMES:
        raise ValueError(f"--runtime must be {' or '.join(RUNTIMES)}, got {runtime!r}")
    if graph not in GRAPHS:
        raise ValueError(f"--graph must be {' or '.join(GRAPHS)}, got {graph!r}")
    if runtime == "torchscript" and graph == "int8":
        raise ValueError("--graph int8 is an ONNX graph (model.int8.onnx); score it with --runtime onnxruntime")
    manifest = read_manifest(bundle)
    check_files(bundle, manifest)  # the gate of every loader: nothing changed since the export
    name = manifest["model"]["name"]
    source, training = manifest.get("source") or {}, manifest.get("training") or {}
    if source.get("kind") != "run":
        raise ValueError(
            f"{bundle} was exported from the model name {name}, with untrained weights and no data set of its own; "
            f"export a trained run (`zoo train {name}`, then `zoo export runs/{name}`) to score it"
        )
    if training.get("seed") is None:
        raise ValueError(f"{bundle} does not record the seed that split its run's data (an older export); export {source.get('path')} again")
    spec = get_spec(name)
    return Scorable(manifest, spec, config_from_dict(spec, manifest["model"]["config"]), training["seed"], training.get("bptt"))


def _plain(value: Any) -> Any:
    """As JSON gives it back (tuples as lists), to compare with what the manifest holds."""
    return json.loads(json.dumps(value))


def check_same_data(bundle: Path, manifest: Dict[str, Any], data: DataSet) -> None:
    """The data's token ids mean what the bundle's vocabulary says, and its classes are the
    bundle's labels: otherwise the scores would measure the wrong question."""
    ours = {"vocabulary": data.vocab.to_dict() if data.vocab else None, "tokenizer": data.tokenizer, "labels": data.labels}
    for key, value in ours.items():
        theirs = manifest.get(key)
        if _plain(value) != theirs:
            raise ValueError(
                f"the {key} of {bundle} ({_size(theirs)}) differs from that of data set {data.name} ({_size(value)}); "
                "the data changed since the export: score the bundle where its run's data is, or export the run again"
            )


def _size(value: Any) -> str:
    if isinstance(value, dict) and "tokens" in value:
        return f"{len(value['tokens'])} tokens"
    if isinstance(value, list):
        return f"{len(value)} entries"
    return json.dumps(value)[:60]


def bundle_module(bundle: Path, manifest: Dict[str, Any], runtime: str, graph: str, scored: Sequence[str] = ()) -> nn.Module:
    """The model as the task calls it: ``model.pt`` as is, or the ONNX file of every graph in
    onnxruntime. ``scored``: the methods besides forward the task's scores call."""
    if runtime == "torchscript":
        if MODEL_PT not in manifest["files"]:
            raise ValueError(f"{bundle} has no model.pt for --runtime torchscript; export it with --format torchscript or all")
        return _opened(bundle, bundle / MODEL_PT, lambda path: load_torchscript(path, "cpu"))
    graphs = manifest["graphs"]
    forward = graphs["forward"]
    if graph == "int8":
        if not forward.get("int8"):
            raise ValueError(f"{bundle} has no {INT8_FILE}; export the run with --quantize int8 to score --graph int8")
        if scored:  # the int8 file holds forward alone
            raise ValueError(f"--graph int8: {bundle}'s scores need its {' and '.join(scored)} graph, which --quantize int8 "
                             "leaves in float; score --graph model")  # fmt: skip
        files = {"forward": inside(bundle, forward["int8"]["onnx"], "graphs.forward.int8.onnx")}
    else:
        if not forward.get("onnx"):
            raise ValueError(f"{bundle} has no model.onnx for --runtime onnxruntime; export it with --format onnx or all")
        files = {name: bundle / entry["onnx"] for name, entry in graphs.items() if entry.get("onnx")}
    threads = torch.get_num_threads()  # the budget eager torch uses here (OMP_NUM_THREADS, the cores allowed)
    sessions = {name: _opened(bundle, path, lambda p: open_session(p, threads)) for name, path in files.items()}
    return SessionModel(sessions, graphs, {name: graph_pairs(manifest, name) for name in sessions})


def _opened(bundle: Path, path: Path, opener: Callable[[Path], T]) -> T:
    """``opener(path)``, or one line naming the file when the runtime refuses it."""
    try:
        return opener(path)
    except Exception as exc:  # noqa: BLE001 - each runtime raises its own types for a file it cannot load
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"{bundle}: {path.name} does not load ({first[:200]}); export it again") from None
