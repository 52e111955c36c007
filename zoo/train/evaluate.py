"""`zoo evaluate RUN`: a run's best weights measured on one split of its own data."""

from pathlib import Path
from typing import Any, Dict

import torch

from zoo.data import load_dataset
from zoo.train import rundir
from zoo.train.tasks import LanguageModelTask, make_task


def evaluate_run(run: Path, split: str = "test", device: str = "auto") -> Dict[str, Any]:
    if split not in ("train", "val", "test"):
        raise ValueError(f"--split must be train, val or test, got {split!r}")
    document, spec, config, model = rundir.load_run(Path(run))
    target = torch.device("cuda" if device == "cuda" or (device == "auto" and torch.cuda.is_available()) else "cpu")
    data_info, training = document["data"], document["training"]
    argument = data_info.get("argument")
    path = argument if argument and argument != data_info["name"] else None
    data = load_dataset(data_info["name"], path, training["seed"], spec.task == "binary-classification")
    if data.sizes() != data_info["sizes"]:
        raise ValueError(
            f"the data now gives splits {data.sizes()} but the run trained on {data_info['sizes']}; "
            "the files under --data changed"
        )
    task = make_task(spec, config, data, target)
    if isinstance(task, LanguageModelTask):
        task.set_bptt(training["bptt"])
    metrics = task.evaluate(model.to(target), split)
    metrics.pop("confusion", None)
    return metrics
