"""`zoo evaluate RUN|BUNDLE`: a run's best weights, or the bundle exported from it, measured on
one split of the run's own data.

Both go through ``run_data`` and ``score``, so an exported bundle is measured on the same
examples, batched the same way, as its run; ``export.evaluate`` opens the bundle's own file as
the model (``export`` imports nothing of ``zoo.train``: the two meet here).
"""

from pathlib import Path
from typing import Any, Dict, Optional

import torch
from torch import nn

from zoo.data import DataSet, is_dataset_name, load_dataset
from zoo.rebuild import load_run
from zoo.recipe import Recipe
from zoo.registry import Config, ModelSpec
from zoo.train.tasks import make_task, task_class

SPLITS = ("train", "val", "test")


def check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"--split must be train, val or test, got {split!r}")


def run_data(spec: ModelSpec, data_info: Dict[str, Any], seed: int) -> DataSet:
    """The data set a run trained on, from what its config.json (or a bundle's manifest) records
    of it: the name, the ``--data`` argument, and the training seed that split it."""
    argument = data_info.get("argument")
    # A data set name (``copy-marked`` for the recorded ``copy-marked:30``) is no path.
    path = argument if argument and argument != data_info["name"] and not is_dataset_name(argument) else None
    data = load_dataset(data_info["name"], path, seed, spec.task == "binary-classification")
    if data.sizes() != data_info["sizes"]:
        raise ValueError(
            f"the data now gives splits {data.sizes()} but the run trained on {data_info['sizes']}; "
            "the files under --data changed"
        )
    return data


def score(
    spec: ModelSpec, config: Config, data: DataSet, model: nn.Module, split: str, device: torch.device,
    bptt: Optional[int] = None,
) -> Dict[str, Any]:  # fmt: skip
    """The task's metrics of ``model`` on ``split`` (without the confusion matrix, which the
    run's confusion.png shows). ``bptt``: language models read the stream in windows this long."""
    task = make_task(spec, config, data, device)
    if bptt is not None:
        task.configure(Recipe(bptt=bptt))  # the window is all measuring needs of the recipe
    metrics = task.evaluate(model, split)
    metrics.pop("confusion", None)
    return metrics


def evaluate_run(run: Path, split: str = "test", device: str = "auto") -> Dict[str, Any]:
    check_split(split)
    document, spec, config, model = load_run(Path(run))
    target = torch.device("cuda" if device == "cuda" or (device == "auto" and torch.cuda.is_available()) else "cpu")
    training = document["training"]
    data = run_data(spec, document["data"], training["seed"])
    return score(spec, config, data, model.to(target), split, target, training["bptt"])


def evaluate_bundle(bundle: Path, split: str = "test", runtime: str = "onnxruntime", graph: str = "model") -> Dict[str, Any]:
    """The metrics of ``bundle``'s ``graph`` (``model`` or ``int8``) in ``runtime`` on ``split``,
    as ``evaluate_run`` gives them for its run. ValueError (one line) for anything the bundle or
    the options lack."""
    from export.evaluate import bundle_module, check_same_data, scorable  # onnx and onnxruntime load only here

    check_split(split)
    found = scorable(Path(bundle), runtime, graph)
    data = run_data(found.spec, found.manifest["data"], found.seed)
    check_same_data(Path(bundle), found.manifest, data)
    cls = task_class(found.spec.task, data.kind)
    scored = cls.scored_methods if cls is not None else ()
    model = bundle_module(Path(bundle), found.manifest, runtime, graph, scored)
    return score(found.spec, found.config, data, model, split, torch.device("cpu"), found.bptt)
