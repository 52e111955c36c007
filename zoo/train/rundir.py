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
from zoo.train.checkpoint import checkpoint_exists, load_weights, read_json, recover_checkpoint

CONFIG = "config.json"
WEIGHTS = "weights.safetensors"
LAST = "last"
METRICS = "metrics.jsonl"


# Every name a run directory holds (the checkpoint's staging and previous copies included);
# --overwrite deletes these and nothing else.
RUN_ENTRIES = {CONFIG, WEIGHTS, METRICS, LAST, LAST + ".tmp", LAST + ".old", "curves.png", "confusion.png"}


def _run_entry(name: str) -> bool:
    """A run file, or one being written (``write_atomic``'s ``.NAME.tmp-PID``)."""
    return name in RUN_ENTRIES or (name.startswith(".") and name.partition(".tmp-")[0][1:] in RUN_ENTRIES)


def check_out(out: Path, resume: bool, overwrite: bool) -> None:
    """What ``prepare_out`` will do is allowed: a new or empty directory, a run to resume (with
    a checkpoint, or one a crash left recoverable) or a run to overwrite; never a directory
    that is not a run. Reads only."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file, not a directory; choose another --out")
    if resume:
        if not checkpoint_exists(out / LAST):
            raise ValueError(f"--resume: {out} holds no checkpoint (no {LAST}/); drop --resume to start")
        return
    entries = sorted(out.iterdir()) if out.exists() else []
    foreign = [e.name for e in entries if not _run_entry(e.name)]
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise ValueError(
            f"--out {out} is not a run directory (it holds {shown}); --overwrite replaces only runs, "
            "so choose another --out"
        )
    if entries and not overwrite:
        raise ValueError(f"{out} already exists; pass --resume to continue it or --overwrite to replace it")


def prepare_out(out: Path, resume: bool, overwrite: bool) -> None:
    """After ``check_out``: puts back a checkpoint a crash interrupted (--resume), or deletes the
    old run's files (--overwrite: only a run's files, nothing else is there), or makes ``out``."""
    check_out(out, resume, overwrite)
    if resume:
        recover_checkpoint(out / LAST)
        return
    if out.exists():
        for entry in out.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    out.mkdir(parents=True, exist_ok=True)


def check_same_run(run: Path, document: Dict[str, Any], name: str, data: DataSet) -> None:
    """--resume must continue the model it trained, on the data it trained on."""
    if document.get("model") != name:
        raise ValueError(f"--resume: {run} is a run of {document.get('model')}, not {name}; name that model")
    stored = document.get("data", {})
    now = data.metadata()
    changed = [k for k in ("name", "sizes", "vocab", "labels") if stored.get(k) != now[k]]
    if changed:
        raise ValueError(
            f"--resume: the data now differs from what {run} trained on ({', '.join(changed)}); "
            "the files under --data changed; restore them or start a new run"
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

