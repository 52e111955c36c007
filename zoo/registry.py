"""The model registry: one ``ModelSpec`` per model name.

Follows timm's ``_registry.py``/``_factory.py``: ``register_model`` refuses duplicate names,
``list_models(pattern)`` returns sorted names, ``create_model(name, **cfg)`` fails loudly on an
unknown name or config key. Training, export, parity, serving and the tests are generic over
the spec, so no per-model code is needed outside a model's own file.
"""

import dataclasses
import difflib
import fnmatch
import importlib
import os
import sys
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from zoo.recipe import Recipe
from zoo.routes import REPLIES, ROUTES  # what Endpoint.route and .reply take

Dim = Union[int, str]  # a fixed size, or the name of a dynamic axis ("batch", "time")

# What an output's values mean (TensorSpec.meaning).
MEANINGS = {
    "logits": "values as the last layer computes them, no sigmoid or softmax applied (scores, real values, states, ids)",
    "probability": "probabilities: a sigmoid or softmax is already applied",
}


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of a model's ``forward``."""

    name: str
    dtype: str  # "float32", "int64", ...: the exported dtype
    shape: Tuple[Dim, ...]
    doc: str = ""
    # Integer inputs that hold token ids: every value must lie in [0, vocab). None otherwise.
    vocab: Optional[int] = None
    # What an output's values are (a key of MEANINGS): training picks its loss and serving its
    # decoder by it, never by the tensor's name. Inputs keep the default.
    meaning: str = "logits"

    def __post_init__(self) -> None:
        if self.meaning not in MEANINGS:
            raise ValueError(f"{self.name}: unknown meaning {self.meaning!r}; known: {', '.join(MEANINGS)}")

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
class Parameter:
    """A scalar input of an extra graph as a key of its endpoint's request body (the same name):
    the value a request may leave out and the range it must lie in."""

    default: float
    minimum: float
    # A number, or "max_sequence" (the server's --max-sequence: past it is a 413, as every limit)
    # or "vocab" (the vocabulary size of the graph's token input).
    maximum: Union[float, str]
    zero: bool = False  # 0 is accepted besides [minimum, maximum] (temperature 0: greedy)
    # The default grows by this many per step of the longest instance (decode's max_len:
    # 2 x source + 2), capped at the maximum.
    per_step: int = 0


@dataclass(frozen=True)
class Endpoint:
    """How a server answers with an extra graph: the request (a key of ROUTES), the reply (a key
    of REPLIES), and each scalar input's default and range, in the order the body lists them."""

    route: str
    reply: str
    parameters: Tuple[Tuple[str, Parameter], ...] = ()


@dataclass(frozen=True)
class ExtraGraph:
    """A graph a bundle holds besides ``forward``: a scripted method of the model (a language
    model's ``generate``, seq2seq's greedy ``decode``) with inputs and outputs of its own. Export,
    verification, serving and the device check read everything about it here."""

    # The method's name: the TorchScript method (also listed in ModelSpec.methods), the
    # manifest's graph and its ONNX file (NAME.onnx).
    name: str
    inputs: Callable[[Config], Tuple[TensorSpec, ...]]
    outputs: Callable[[Config], Tuple[TensorSpec, ...]]
    # (config, batch, time, generator) -> the graph's arguments, scalars as 0-d tensors; every
    # time-like axis gets the requested length.
    example: Callable[[Config, int, int, torch.Generator], ExampleInputs]
    # model -> a module whose forward takes the graph's tensors and runs the method on the model,
    # eager or scripted. Scripted around a scripted model it is what the ONNX exporter sees: all
    # arguments are tensors, so the method's loop becomes an ONNX Loop whose trip count is an input.
    wrapper: Callable[[nn.Module], nn.Module]
    # config -> (case name, arguments) that verification runs; None: ``example`` at batch 1, 2,
    # 7, 64 x time 1, 2, 17 (export.cases).
    cases: Optional[Callable[[Config], Sequence[Tuple[str, ExampleInputs]]]] = None
    endpoint: Optional[Endpoint] = None  # None: the bundle holds it, no endpoint answers with it

    def call(self, model: nn.Module, args: ExampleInputs) -> Any:
        """Runs the graph on an eager or scripted model."""
        return self.wrapper(model)(*args)

# The sizes a data set states (``DataSet.dims``) that a model's config can take from it
# (``ModelSpec.data_fields``): the data set names what it holds, the model which field holds it.
DATA_SIZES = {
    "vocab": "tokens in the data's vocabulary",
    "classes": "classes of its labels",
    "features": "values per example, or per step of a sequence",
    "targets": "values per target",
    "characters": "entries of the data's character vocabulary (beside a word vocabulary)",
}


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
    # The methods a bundle holds as graphs of their own besides forward, each named in ``methods``.
    graphs: Tuple[ExtraGraph, ...] = ()
    # ONNX exporters that give a correct graph for every batch and length: "torchscript" (the
    # scripted model, recurrent layers as native ONNX nodes) and "dynamo" (the graph's
    # torch.export program, ``export.programs``, its time loops while_loops that become ONNX
    # Loops). The zoo-wide export test verifies each one listed.
    onnx_exporters: Tuple[str, ...] = ("torchscript", "dynamo")
    # What `zoo train NAME` does without options: epochs, optimizer, config overrides, ... Each
    # model's was tuned on a 2-core CPU to reach the targets of ``benchmarks/accuracy.py`` in
    # well under 15 minutes.
    recipe: Recipe = dataclasses.field(default_factory=Recipe)
    # {config field: one of DATA_SIZES}: the fields the training data sizes ({"vocab_size":
    # "vocab"}); the data's value replaces the default and the recipe's, and a --set that
    # contradicts it is refused.
    data_fields: Dict[str, str] = dataclasses.field(default_factory=dict)
    # The config field that sizes the word embedding `zoo train --embeddings` fills (the built
    # model then has ``use_pretrained_embeddings(vectors, freeze)``); None: it has none.
    embedding_field: Optional[str] = None

    def config_fields(self) -> List[dataclasses.Field]:
        return list(dataclasses.fields(self.config_cls))

    def data_config(self, dims: Dict[str, int]) -> Dict[str, int]:
        """``{config field: value}`` of the fields this model takes from a data set that
        states ``dims`` (``DataSet.dims``); a size the data does not state is left out."""
        return {name: dims[size] for name, size in self.data_fields.items() if size in dims}

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


# Modules of models of your own, comma-separated, imported with the zoo's (``ZOO_MODULES=my_model
# zoo train my-model``); `zoo train --nproc` passes the trained model's module on this way.
MODULES_VARIABLE = "ZOO_MODULES"


def _registered() -> Dict[str, ModelSpec]:
    """The registry, with every model of ``zoo.models`` and of the modules ``ZOO_MODULES`` names
    in it: imported on the first lookup, not with ``zoo``, so that the torch-free parts
    (``zoo.store``, the server) load no model code."""
    import zoo.models  # noqa: F401  (each model file registers its models on import)

    import_model_modules()
    return _REGISTRY


class ModelModuleError(ValueError):
    """A module ``ZOO_MODULES`` names does not import."""


def import_model_modules() -> None:
    """Imports each module ``ZOO_MODULES`` names (once); ModelModuleError for one that fails."""
    for module in filter(None, (m.strip() for m in os.environ.get(MODULES_VARIABLE, "").split(","))):
        if module not in sys.modules:
            try:
                importlib.import_module(module)
            except ImportError as exc:
                raise ModelModuleError(f"{MODULES_VARIABLE} names {module!r}, which does not import ({exc}); "
                                       "name a module on the Python path (one in this folder: PYTHONPATH=.)") from None  # fmt: skip


def model_module(spec: "ModelSpec") -> Optional[str]:
    """The module that registered ``spec`` when it is not one of the zoo's own (a process that
    must find the model imports it: ``ZOO_MODULES``)."""
    module = spec.config_cls.__module__
    return None if module.startswith("zoo.") else module


def _suggestion(name: str, choices: List[str]) -> str:
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.5)
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""


def _check_graphs(spec: ModelSpec) -> None:
    """Each extra graph is a scripted method, named once, with a known route and reply."""
    names = [g.name for g in spec.graphs]
    for graph in spec.graphs:
        if graph.name == "forward" or names.count(graph.name) > 1 or graph.name not in spec.methods:
            raise ValueError(f"{spec.name}: extra graph {graph.name!r} must be named once, not forward, and listed in methods")
        endpoint = graph.endpoint
        if endpoint is None:
            continue
        if endpoint.route not in ROUTES or endpoint.reply not in REPLIES:
            raise ValueError(f"{spec.name}: graph {graph.name!r} has route {endpoint.route!r} and reply {endpoint.reply!r}; "
                             f"routes: {', '.join(ROUTES)}; replies: {', '.join(REPLIES)}")  # fmt: skip
        if endpoint.reply == "continuation" and endpoint.route != "generate":
            raise ValueError(f"{spec.name}: graph {graph.name!r}: a continuation continues the prompt of a generate request")
        if sum(g.endpoint is not None and g.endpoint.route == endpoint.route for g in spec.graphs) > 1:
            raise ValueError(f"{spec.name}: more than one graph answers {endpoint.route}")


def register_model(spec: ModelSpec) -> ModelSpec:
    """Adds ``spec`` to the registry; a second model under the same name is an error."""
    if spec.name in _REGISTRY:
        raise ValueError(f"a model named {spec.name!r} is already registered")
    if spec.task not in TASKS:
        raise ValueError(f"{spec.name}: unknown task {spec.task!r}; known: {', '.join(TASKS)}")
    if not dataclasses.is_dataclass(spec.config_cls):
        raise TypeError(f"{spec.name}: config_cls must be a dataclass, got {spec.config_cls!r}")
    fields = {f.name for f in spec.config_fields()}
    for name in [*spec.data_fields, *([spec.embedding_field] if spec.embedding_field else []), *spec.recipe.config]:
        if name not in fields:
            raise ValueError(f"{spec.name}: {name!r} is not a config field; fields: {', '.join(sorted(fields))}")
    unknown = sorted(set(spec.data_fields.values()) - set(DATA_SIZES))
    if unknown:
        raise ValueError(f"{spec.name}: unknown data sizes {unknown}; known: {', '.join(DATA_SIZES)}")
    _check_graphs(spec)
    _REGISTRY[spec.name] = spec
    return spec


_GLOB_CHARACTERS = set("*?[")


def list_models(pattern: Optional[str] = None) -> List[str]:
    """Sorted registered names, optionally filtered, ignoring case: a shell-style pattern
    (``'*lstm*'``) when it holds ``*``, ``?`` or ``[``, else a part of the name (``'gru'``, which
    a new user types first and which used to find nothing)."""
    names = sorted(_registered())
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
        return _registered()[name]
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
