"""`zoo evaluate BUNDLE`: an exported bundle measured on one split of the data its run trained on.

The bundle's own file runs (``model.onnx`` or ``model.int8.onnx`` in onnxruntime on the CPU,
or ``model.pt`` in TorchScript), and ``zoo.train.evaluate.score`` measures it as
`zoo evaluate RUN` measures the run's weights: the same examples, batches and metrics, so the
two tables compare line by line (and show what int8 quantization costs). The data set is
rebuilt from the manifest (``data``, and ``training``'s seed, which split it) and must have
the vocabulary, tokenizer and labels the bundle was exported with.
"""

import json
from pathlib import Path
from typing import Any, Callable, Dict, TypeVar

import torch
from torch import nn

from export.files import MANIFEST, check_files, inside, read_manifest
from export.quantize import INT8_FILE
from export.runtimes import load_torchscript
from export.session_model import SessionModel, open_session
from zoo.data import DataSet
from zoo.registry import get_spec
from zoo.train.evaluate import check_split, run_data, score
from zoo.train.rundir import config_from_dict

RUNTIMES = ("onnxruntime", "torchscript")
GRAPHS = ("model", "int8")  # model.onnx, or model.int8.onnx from `zoo export --quantize int8`
T = TypeVar("T")


def is_bundle(path: Path) -> bool:
    return (path / MANIFEST).is_file()


def evaluate_bundle(bundle: Path, split: str = "test", runtime: str = "onnxruntime", graph: str = "model") -> Dict[str, Any]:
    """The metrics of ``bundle``'s ``graph`` in ``runtime`` on ``split``, as ``evaluate_run``
    gives them for its run. ValueError (one line) for anything the bundle or the options lack."""
    check_split(split)
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
    config = config_from_dict(spec, manifest["model"]["config"])
    data = run_data(spec, manifest["data"], training["seed"])
    _check_same_data(bundle, manifest, data)
    model = _load(bundle, manifest, runtime, graph)
    return score(spec, config, data, model, split, torch.device("cpu"), training.get("bptt"))


def _plain(value: Any) -> Any:
    """As JSON gives it back (tuples as lists), to compare with what the manifest holds."""
    return json.loads(json.dumps(value))


def _check_same_data(bundle: Path, manifest: Dict[str, Any], data: DataSet) -> None:
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


def _load(bundle: Path, manifest: Dict[str, Any], runtime: str, graph: str) -> nn.Module:
    """The model as the task calls it: ``model.pt`` as is, or the ONNX file(s) in onnxruntime."""
    if runtime == "torchscript":
        if "model.pt" not in manifest["files"]:
            raise ValueError(f"{bundle} has no model.pt for --runtime torchscript; export it with --format torchscript or all")
        return _opened(bundle, bundle / "model.pt", lambda path: load_torchscript(path, "cpu"))
    graphs = manifest["graphs"]
    forward = graphs["forward"]
    if graph == "int8":
        if not forward.get("int8"):
            raise ValueError(f"{bundle} has no {INT8_FILE}; export the run with --quantize int8 to score --graph int8")
        if "decode" in graphs:  # seq2seq: exact match is measured by greedy decoding
            raise ValueError(f"--graph int8: {bundle}'s scores need its decode graph, which --quantize int8 leaves in float; score --graph model")
        files = {"forward": inside(bundle, forward["int8"]["onnx"], "graphs.forward.int8.onnx")}
    else:
        if not forward.get("onnx"):
            raise ValueError(f"{bundle} has no model.onnx for --runtime onnxruntime; export it with --format onnx or all")
        files = {name: bundle / graphs[name]["onnx"] for name in SessionModel.METHODS if (graphs.get(name) or {}).get("onnx")}
    threads = torch.get_num_threads()  # the budget eager torch uses here (OMP_NUM_THREADS, the cores allowed)
    sessions = {name: _opened(bundle, path, lambda p: open_session(p, threads)) for name, path in files.items()}
    return SessionModel(sessions, graphs, manifest["state_pairs"])


def _opened(bundle: Path, path: Path, opener: Callable[[Path], T]) -> T:
    """``opener(path)``, or one line naming the file when the runtime refuses it."""
    try:
        return opener(path)
    except Exception as exc:  # noqa: BLE001 - each runtime raises its own types for a file it cannot load
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"{bundle}: {path.name} does not load ({first[:200]}); export it again") from None
