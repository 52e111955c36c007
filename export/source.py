"""What ``zoo export`` exports: a run directory from ``zoo train``, or a registry name.

A registry name gives the model with seeded fresh weights (handy for tests and for checking
that an architecture exports before training it). A run gives its best weights, its config and
the vocabulary and labels its data set had, so the bundle can tokenize and name classes.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional

import torch
from torch import nn

from zoo.config import model_config
from zoo.rebuild import load_run
from zoo.registry import Config, ModelSpec, UnknownModelError, get_spec
from zoo.store import RunError


class SourceError(ValueError):
    """A source that cannot be exported: not a run, missing or corrupt weights."""


@dataclass
class Source:
    spec: ModelSpec
    config: Config
    model: nn.Module  # float32, eval mode, on the CPU
    origin: Dict[str, Any]  # {"kind": "run", "path": ...} or {"kind": "registry", "seed": ...}
    vocab: Optional[Dict[str, Any]] = None  # Vocabulary.to_dict() of the training data
    labels: Optional[list] = None
    data: Optional[Dict[str, Any]] = None  # the run's data metadata, less the vocabulary
    # What scoring the weights again on the run's data needs (`zoo evaluate BUNDLE`): the
    # training seed that split the data set and the bptt window language models read it in.
    training: Optional[Dict[str, Any]] = None


def from_registry(name: str, seed: int = 0) -> Source:
    spec = get_spec(name)
    config = spec.make_config()
    torch.manual_seed(seed)
    model = spec.build(config).eval()
    return Source(spec, config, model, {"kind": "registry", "name": name, "seed": seed})


def from_run(run: Path) -> Source:
    """The run's best weights, config, vocabulary and labels (``zoo.rebuild.load_run``)."""
    try:
        document, spec, config, model = load_run(run)
    except RunError as exc:  # one line naming the fix
        raise SourceError(str(exc)) from None
    data = dict(document.get("data") or {})
    vocab = data.pop("vocab", None)
    training = document.get("training") or {}
    return Source(
        spec, config, model, {"kind": "run", "path": str(run)},
        vocab=vocab, labels=data.get("labels"), data=data,
        training={"seed": training.get("seed"), "bptt": training.get("bptt")},
    )  # fmt: skip


def load_source(source: str, seed: int = 0) -> Source:
    """A path that exists is a run directory; anything else must be a registered name."""
    path = Path(source)
    if path.exists():
        return from_run(path)
    try:
        return from_registry(source, seed)
    except UnknownModelError as exc:
        raise SourceError(f"{source!r} is neither a run directory nor a model name: {exc}") from None


def from_data(name: str, seed: int = 0, **overrides: Any) -> Source:
    """Model ``name`` sized by its default data set (vocabulary, classes) with that data's
    vocabulary, labels and tokenizer, as a run would give them, but seeded fresh weights: a
    bundle that serves raw text without training first (for tests and serving benchmarks,
    where the numbers, not the accuracy, matter)."""
    from zoo.data import load_dataset

    spec = get_spec(name)
    if spec.default_data is None:
        raise SourceError(f"{name} has no default data set to size it by")
    data = load_dataset(spec.default_data)
    config = model_config(spec, data, {}, overrides)
    torch.manual_seed(seed)
    metadata = dict(data.metadata())
    vocab = metadata.pop("vocab", None)
    return Source(spec, config, spec.build(config).eval(), {"kind": "registry", "name": name, "seed": seed, "data": data.name},
                  vocab=vocab, labels=metadata.get("labels"), data=metadata)  # fmt: skip
