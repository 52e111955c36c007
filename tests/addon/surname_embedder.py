"""A model added from outside the package: nothing in zoo/, export/ or serve/ knows it.

``surname-embedder`` reads a surname's characters with a GRU and classifies its language, like
the zoo's own name classifiers, and has a scripted method of its own, ``embed``: the name's
unit-length feature vector (for nearest-neighbour search over names). Its spec declares all the
tools need: the recipe it trains with, the config fields the data set fills, and ``embed`` as an
extra graph with its inputs, outputs and example arguments. ``tests/addon/test_added_model.py``
trains, exports, verifies and serves it through the `zoo` command line.
"""

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo import nn as znn
from zoo.models.common import option, ragged_lengths, token_ids
from zoo.nn.checks import check_lengths, check_token_batch
from zoo.recipe import Recipe
from zoo.registry import ExampleInputs, ExtraGraph, ModelSpec, Signature, TensorSpec, list_models, register_model

NAME = "surname-embedder"


@dataclass
class EmbedderConfig:
    vocab_size: int = option(128, "characters incl. padding 0")
    embedding_dim: int = option(16, "character embedding size")
    hidden_size: int = option(24, "GRU hidden units")
    num_classes: int = option(18, "languages")


class SurnameEmbedder(nn.Module):
    __constants__ = ["vocab_size"]

    def __init__(self, cfg: EmbedderConfig) -> None:
        super().__init__()
        self.vocab_size = cfg.vocab_size
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.embedding_dim, padding_idx=0)
        self.gru = znn.GRU(cfg.embedding_dim, cfg.hidden_size, batch_first=True)
        self.head = nn.Linear(cfg.hidden_size, cfg.num_classes)

    def forward(self, tokens: Tensor, lengths: Optional[Tensor] = None) -> Tensor:
        return self.head(self._final_state(tokens, lengths))

    @torch.jit.export
    def embed(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        return F.normalize(self._final_state(tokens, lengths), dim=1)

    def _final_state(self, tokens: Tensor, lengths: Optional[Tensor]) -> Tensor:
        check_token_batch(tokens, self.vocab_size, "tokens")
        if lengths is not None:
            check_lengths(lengths, tokens.size(0), tokens.size(1))
        _, h_n = self.gru(self.embedding(tokens), None, lengths)
        return h_n[-1]


class EmbedGraph(nn.Module):
    """``model.embed`` as a module of its own, as the exporter and the verifier call it."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        return self.model.embed(tokens, lengths)


def _inputs(cfg: EmbedderConfig) -> tuple:
    return (
        TensorSpec("tokens", "int64", ("batch", "time"), "character codes, 0 = padding", cfg.vocab_size),
        TensorSpec("lengths", "int64", ("batch",), "characters per name"),
    )


def _example(cfg: EmbedderConfig, batch: int, time: int, generator: torch.Generator) -> ExampleInputs:
    lengths = ragged_lengths(batch, time, generator)
    return (token_ids(batch, time, cfg.vocab_size, lengths, generator), lengths)


def register() -> None:
    """Registers the model once per process (a test module may be imported more than once)."""
    if NAME in list_models():
        return
    register_model(
        ModelSpec(
            name=NAME,
            config_cls=EmbedderConfig,
            builder=SurnameEmbedder,
            task="classification",
            signature=lambda cfg: Signature(
                inputs=_inputs(cfg),
                outputs=(TensorSpec("logits", "float32", ("batch", cfg.num_classes), "language scores"),),
                ragged=(("lengths", "tokens"),),
            ),
            example_inputs=_example,
            stateful=False,
            default_data="names",
            description="characters -> GRU -> language scores; embed(): the name as a unit vector",
            origin="tests/addon: the proof that a model needs no file outside its own",
            methods=("embed",),
            graphs=(
                ExtraGraph(
                    name="embed",
                    inputs=_inputs,
                    outputs=lambda cfg: (TensorSpec("embedding", "float32", ("batch", cfg.hidden_size), "unit-length features"),),
                    example=_example,
                    wrapper=EmbedGraph,
                ),
            ),
            recipe=Recipe(epochs=2, batch_size=32, lr=5e-3, clip=5.0, config={"hidden_size": 20}),
            data_fields={"vocab_size": "vocab", "num_classes": "classes"},
        )
    )


register()
