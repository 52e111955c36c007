"""The run directory `zoo train` writes and `zoo evaluate` / `zoo export` read.

    config.json          model name and config, data set and split, vocabulary/labels,
                         training arguments, library versions
    weights.safetensors  the weights that scored best on the validation split
    last/                weights, optimizer, scheduler, RNG and loop state for exact resume
    metrics.jsonl        one line per epoch, then one for the test split
    curves.png           loss and the main metric per epoch
    confusion.png        classifiers: the test split's confusion matrix
"""

import dataclasses
import platform
import shutil
import typing
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import numpy
import torch
from torch import nn

import zoo
from zoo.data import DataSet
from zoo.registry import Config, ModelSpec, get_spec
from zoo.train.checkpoint import load_weights, read_json

CONFIG = "config.json"
WEIGHTS = "weights.safetensors"
LAST = "last"
METRICS = "metrics.jsonl"


def prepare_out(out: Path, resume: bool, overwrite: bool) -> None:
    """Refuses to touch an existing run unless asked to resume or overwrite it."""
    if resume:
        if not (out / LAST / "trainer.json").exists():
            raise ValueError(f"--resume: {out} holds no checkpoint (no {LAST}/); drop --resume to start")
        return
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise ValueError(f"{out} already exists; pass --resume to continue it or --overwrite to replace it")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


def check_same_model(run: Path, name: str, config: Config) -> None:
    """--resume must rebuild the model the run trained (same name, same config)."""
    document = read_json(run / CONFIG)
    stored = document["config"]
    now = config_to_dict(config)
    if document["model"] != name or stored != now:
        changed = sorted(k for k in set(stored) | set(now) if stored.get(k) != now.get(k))
        raise ValueError(
            f"--resume: {run} trained {document['model']} with a different config "
            f"({', '.join(changed) or 'model'}); resume with the same MODEL and --set options"
        )


def config_to_dict(config: Config) -> Dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()}


def config_from_dict(spec: ModelSpec, values: Dict[str, Any]) -> Config:
    """Rebuilds the config dataclass from JSON (lists back to tuples where the field is one)."""
    hints = typing.get_type_hints(spec.config_cls)
    fixed = {
        k: tuple(v) if typing.get_origin(hints.get(k)) is tuple and isinstance(v, list) else v
        for k, v in values.items()
    }
    return spec.make_config(**fixed)


def model_config(
    spec: ModelSpec, data: DataSet, recipe_config: Dict[str, Any], user: Dict[str, Any]
) -> Config:
    """The recipe's overrides, then the sizes the data dictates, then the user's ``--set``.

    A ``--set`` that contradicts the data (``num_classes=5`` for 18 languages) is refused.
    """
    fields = {f.name for f in spec.config_fields()}
    values = {k: v for k, v in recipe_config.items() if k in fields}
    for key, size in data.dims.items():
        if key not in fields:
            continue
        if key in user and user[key] != size:
            raise ValueError(
                f"--set {key}={user[key]} contradicts the data: {data.name} needs {key}={size}"
            )
        values[key] = size
    values.update(user)
    return spec.make_config(**values)


def versions() -> Dict[str, str]:
    return {
        "zoo": zoo.__version__,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
    }


def run_document(
    spec: ModelSpec, config: Config, data: DataSet, data_arg: Optional[str], training: Dict[str, Any]
) -> Dict[str, Any]:
    return {
        "model": spec.name,
        "task": spec.task,
        "config": config_to_dict(config),
        "data": {**data.metadata(), "argument": data_arg},
        "training": training,
        "versions": versions(),
    }


def load_run(run: Path, weights: str = WEIGHTS) -> Tuple[Dict[str, Any], ModelSpec, Config, nn.Module]:
    """config.json, the spec, the config and the model with the run's best weights."""
    if not (run / CONFIG).exists():
        raise ValueError(f"{run} is not a run directory (no {CONFIG}); `zoo train` makes one")
    document = read_json(run / CONFIG)
    spec = get_spec(document["model"])
    config = config_from_dict(spec, document["config"])
    model = spec.build(config)
    path = run / weights
    if not path.exists():
        raise ValueError(f"{run} has no {weights} yet: no epoch finished; resume the run first")
    load_weights(path, model)
    return document, spec, config, model.eval()

