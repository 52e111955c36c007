"""The model registry: one ``ModelSpec`` per model name.

Follows timm's ``_registry.py``/``_factory.py``: ``register_model`` refuses duplicate names,
``list_models(pattern)`` returns sorted names, ``create_model(name, **cfg)`` fails loudly on an
unknown name or config key. Training, export, parity, serving and the tests are generic over
the spec, so no per-model code is needed outside a model's own file.
"""

import dataclasses
import difflib
import fnmatch
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Union

import torch
from torch import nn

Dim = Union[int, str]  # a fixed size, or the name of a dynamic axis ("batch", "time")


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of a model's ``forward``."""

    name: str
    dtype: str  # "float32", "int64", ...: the exported dtype
    shape: Tuple[Dim, ...]
    doc: str = ""
    # Integer inputs that hold token ids: every value must lie in [0, vocab). None otherwise.
    vocab: Optional[int] = None

    @property
    def torch_dtype(self) -> torch.dtype:
        return getattr(torch, self.dtype)


def dynamic_axes(specs: Tuple[TensorSpec, ...]) -> Dict[str, Dict[int, str]]:
    """``{tensor name: {axis: axis name}}`` of the named (dynamic) axes of ``specs``."""
    axes: Dict[str, Dict[int, str]] = {}
    for spec in specs:
        named = {i: d for i, d in enumerate(spec.shape) if isinstance(d, str)}
        if named:
            axes[spec.name] = named
    return axes


@dataclass(frozen=True)
class Signature:
    """A model's flattened inputs and outputs, in ``forward``'s order, for one config."""

    inputs: Tuple[TensorSpec, ...]
    outputs: Tuple[TensorSpec, ...]
    # (state input, state output) pairs: feeding an output back into its input continues a
    # sequence where the last call stopped.
    state_pairs: Tuple[Tuple[str, str], ...] = ()
    # (lengths input, sequence input) pairs: the lengths tensor gives each row of that sequence
    # its valid steps (a ragged batch, padded at the end).
    ragged: Tuple[Tuple[str, str], ...] = ()

    def dynamic_axes(self) -> Dict[str, Dict[int, str]]:
        """``{tensor name: {axis: axis name}}`` as ``torch.onnx.export`` takes it."""
        return dynamic_axes(self.inputs + self.outputs)


Config = Any  # a model's config dataclass instance

# What a model without a time loop offers (see ModelSpec.onnx_exporters).
LOOP_FREE_EXPORTERS = ("torchscript", "dynamo")

# What a model's outputs mean; training, serving and export pick losses and decoders by it.
TASKS = {
    "encoder": "per-step hidden states and the final state of a sequence",
    "classification": "class logits (batch, classes) for each input",
    "binary-classification": "one logit, or a probability after a sigmoid, per input",
    "regression": "real values per input",
    "tagging": "class logits for every step of the input sequence",
    "language-model": "next-token logits for every step, state in and out",
    "seq2seq": "target-token logits given a source sequence; greedy decode",
    "forecasting": "next value(s) of a series for every step, state in and out",
}
ExampleInputs = Tuple[Any, ...]  # positional arguments for forward (tensors, tuples of tensors)


@dataclass(frozen=True)
class ModelSpec:
    """Everything the tools need to know about one registered model."""

    name: str
    config_cls: type
    builder: Callable[[Config], nn.Module]
    task: str  # one of TASKS
    signature: Callable[[Config], Signature]
    # (config, batch, time, generator) -> positional forward arguments of those sizes; every
    # time-like axis (a dim name ending in "time") gets the requested length.
    example_inputs: Callable[[Config, int, int, torch.Generator], ExampleInputs]
    stateful: bool  # forward takes the previous state and returns the next one
    default_data: Optional[str]  # name of the data set `zoo train` uses by default
    description: str
    origin: str = ""  # the tutorial or reference the model follows
    # Extra methods compiled by torch.jit.script besides forward (``generate``, ``decode``, ...).
    methods: Tuple[str, ...] = ()
    # ONNX exporters that give a correct graph for every batch and length: "torchscript" keeps
    # scripted loops as ONNX Loops; "dynamo" (torch.export) unrolls Python loops at the traced
    # length, so only loop-free models (or torch.nn layers that become one ONNX op) list it.
    # The zoo-wide export test verifies each one listed.
    onnx_exporters: Tuple[str, ...] = ("torchscript",)

    def config_fields(self) -> List[dataclasses.Field]:
        return list(dataclasses.fields(self.config_cls))

    def make_config(self, **overrides: Any) -> Config:
        """The default config with ``overrides`` applied; unknown keys fail with a suggestion."""
        known = [f.name for f in self.config_fields()]
        for key in overrides:
            if key not in known:
                raise ValueError(
                    f"{self.name} has no config field {key!r}{_suggestion(key, known)}; "
                    f"fields: {', '.join(known)}"
                )
        return self.config_cls(**overrides)

    def build(self, config: Config) -> nn.Module:
        return self.builder(config)


class UnknownModelError(ValueError):
    """Raised for a model name that is not registered."""


_REGISTRY: Dict[str, ModelSpec] = {}


def _suggestion(name: str, choices: List[str]) -> str:
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.5)
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""


def register_model(spec: ModelSpec) -> ModelSpec:
    """Adds ``spec`` to the registry; a second model under the same name is an error."""
    if spec.name in _REGISTRY:
        raise ValueError(f"a model named {spec.name!r} is already registered")
    if spec.task not in TASKS:
        raise ValueError(f"{spec.name}: unknown task {spec.task!r}; known: {', '.join(TASKS)}")
    if not dataclasses.is_dataclass(spec.config_cls):
        raise TypeError(f"{spec.name}: config_cls must be a dataclass, got {spec.config_cls!r}")
    _REGISTRY[spec.name] = spec
    return spec


_GLOB_CHARACTERS = set("*?[")


def list_models(pattern: Optional[str] = None) -> List[str]:
    """Sorted registered names, optionally filtered, ignoring case: a shell-style pattern
    (``'*lstm*'``) when it holds ``*``, ``?`` or ``[``, else a part of the name (``'gru'``, which
    a new user types first and which used to find nothing)."""
    names = sorted(_REGISTRY)
    if pattern:
        wanted = pattern.lower()
        if _GLOB_CHARACTERS & set(wanted):
            names = [n for n in names if fnmatch.fnmatchcase(n.lower(), wanted)]
        else:
            names = [n for n in names if wanted in n.lower()]
    return names


def get_spec(name: str) -> ModelSpec:
    """The spec registered under ``name``; an unknown name fails with a suggestion."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownModelError(
            f"unknown model {name!r}{_suggestion(name, sorted(_REGISTRY))}; "
            "run `zoo models list` to see every name"
        ) from None


def create_model(name: str, **config: Any) -> nn.Module:
    """Builds model ``name`` with its default config updated by ``config``."""
    spec = get_spec(name)
    return spec.build(spec.make_config(**config))


def iter_specs() -> Iterator[ModelSpec]:
    """Every registered spec, sorted by name."""
    for name in list_models():
        yield _REGISTRY[name]


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
