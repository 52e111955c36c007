"""Sequence classifiers: a recurrent layer reads (B, T, F) features, a linear head reads its
final state.

Follows the RNN tutorials' BasicRNN / BasicLSTM / BasicGRU, SequenceClassifier, TwoLayerLSTM,
DropoutGRU and BiLSTM (one model with options), the ManualRNN / ManualLSTM variants over the
hand-written ``zoo.nn`` layers, a bidirectional RNN with batch normalisation, and StackedLSTM.
The default task is the classic one of those tutorials: an MNIST digit read one 28-pixel row
per step (28 steps of 28 features), 10 classes.

Logits come from each sequence's last valid step: with ``lengths`` the forward direction's
state is taken at ``lengths - 1`` and the backward direction starts there.
"""

from dataclasses import dataclass
from typing import Optional

import torch
from torch import Tensor, nn

from zoo.models.common import final_features, option, ragged_lengths, recurrent_layer
from zoo.nn.checks import check_dims, check_features, check_floating, check_lengths
from zoo.nn.packed import PackedLSTM
from zoo.recipe import Recipe
from zoo.registry import ExampleInputs, ModelSpec, Signature, TensorSpec, register_model

MNIST_ROWS = "mnist"  # default data: digits as 28 rows of 28 pixels
_RECIPE = Recipe(epochs=8, batch_size=64, lr=2e-3, clip=1.0, schedule="cosine")


@dataclass
class SequenceClassifierConfig:
    input_size: int = option(28, "features per step (28: one row of an MNIST digit)")
    hidden_size: int = option(128, "hidden units per direction")
    num_layers: int = option(1, "stacked recurrent layers (TwoLayerLSTM: 2)")
    num_classes: int = option(10, "output classes (10 digits)")
    bidirectional: bool = option(False, "add a reverse-time direction (BiLSTM: true)")
    dropout: float = option(
        0.0, "dropout between recurrent layers and before the head (DropoutGRU: 0.2)"
    )


@dataclass
class RNNClassifierConfig(SequenceClassifierConfig):
    nonlinearity: str = option("tanh", "'tanh' or 'relu'")


@dataclass
class BiRNNBatchNormConfig:
    input_size: int = option(28, "features per step (28: one row of an MNIST digit)")
    hidden_size: int = option(128, "hidden units per direction")
    num_layers: int = option(1, "stacked bidirectional layers")
    num_classes: int = option(10, "output classes (10 digits)")


@dataclass
class StackedLSTMConfig:
    input_size: int = option(28, "features per step (28: one row of an MNIST digit)")
    hidden_size: int = option(128, "hidden units of every LSTM")
    num_layers: int = option(2, "separate single-layer LSTMs, one after the other")
    num_classes: int = option(10, "output classes (10 digits)")
    dropout: float = option(0.2, "dropout on the sequence between two LSTMs")


def _check_sequence(input: Tensor, input_size: int, lengths: Optional[Tensor]) -> None:
    check_dims(input, 3, "(batch, time, features)", "input")
    check_floating(input, "input")
    check_features(input, input_size, "input")
    if lengths is not None:
        check_lengths(lengths, input.size(0), input.size(1))


class SequenceClassifier(nn.Module):
    """recurrent layer -> final state of the top layer -> [batch norm] -> dropout -> linear."""

    __constants__ = ["input_size", "directions", "is_lstm"]

    def __init__(
        self,
        encoder: nn.Module,
        is_lstm: bool,
        input_size: int,
        hidden_size: int,
        directions: int,
        num_classes: int,
        dropout: float = 0.0,
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        self.input_size = input_size
        self.directions = directions
        self.is_lstm = is_lstm
        self.encoder = encoder
        features = directions * hidden_size
        self.norm = nn.BatchNorm1d(features) if batch_norm else nn.Identity()
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(features, num_classes)

    def forward(self, input: Tensor, lengths: Optional[Tensor] = None) -> Tensor:
        _check_sequence(input, self.input_size, lengths)
        if self.is_lstm:  # a constant: TorchScript compiles only the branch taken
            _, (h_n, _) = self.encoder(input, None, lengths)
        else:
            _, h_n = self.encoder(input, None, lengths)
        features = final_features(h_n, self.directions)  # (B, directions * H)
        return self.head(self.dropout(self.norm(features)))  # (B, classes)


class StackedLSTMClassifier(nn.Module):
    """Separate single-layer LSTMs with dropout between them, then a linear head."""

    __constants__ = ["input_size"]

    def __init__(self, cfg: StackedLSTMConfig) -> None:
        super().__init__()
        if cfg.num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {cfg.num_layers}")
        self.input_size = cfg.input_size
        sizes = [cfg.input_size] + [cfg.hidden_size] * cfg.num_layers
        self.layers = nn.ModuleList(
            PackedLSTM(nn.LSTM(sizes[i], sizes[i + 1], batch_first=True))
            for i in range(cfg.num_layers)
        )
        self.dropout = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(cfg.hidden_size, cfg.num_classes)

    def forward(self, input: Tensor, lengths: Optional[Tensor] = None) -> Tensor:
        _check_sequence(input, self.input_size, lengths)
        x = input
        h_n = input.new_zeros(0)  # TorchScript wants it bound before the loop
        for i, layer in enumerate(self.layers):
            if i > 0:
                x = self.dropout(x)  # (B, T, H)
            x, (h_n, _) = layer(x, None, lengths)
        return self.head(h_n[-1])  # (B, classes)


def _signature(input_size: int, num_classes: int) -> Signature:
    return Signature(
        inputs=(
            TensorSpec("input", "float32", ("batch", "time", input_size), "padded sequences"),
            TensorSpec("lengths", "int64", ("batch",), "valid steps per sequence"),
        ),
        outputs=(TensorSpec("logits", "float32", ("batch", num_classes), "class scores"),),
        ragged=(("lengths", "input"),),
    )


def _example(input_size: int, batch: int, time: int, generator: torch.Generator) -> ExampleInputs:
    lengths = ragged_lengths(batch, time, generator)
    return (torch.randn(batch, time, input_size, generator=generator), lengths)


def _classifier(kind: str, manual: bool, cfg: SequenceClassifierConfig) -> nn.Module:
    encoder = recurrent_layer(
        kind,
        manual,
        cfg.input_size,
        cfg.hidden_size,
        cfg.num_layers,
        cfg.dropout if cfg.num_layers > 1 else 0.0,
        cfg.bidirectional,
        getattr(cfg, "nonlinearity", "tanh"),
    )
    directions = 2 if cfg.bidirectional else 1
    return SequenceClassifier(
        encoder, kind == "lstm", cfg.input_size, cfg.hidden_size, directions, cfg.num_classes,
        cfg.dropout,
    )  # fmt: skip


def _birnn_bn(cfg: BiRNNBatchNormConfig) -> nn.Module:
    encoder = recurrent_layer("rnn", False, cfg.input_size, cfg.hidden_size, cfg.num_layers,
                              bidirectional=True)  # fmt: skip
    return SequenceClassifier(
        encoder, False, cfg.input_size, cfg.hidden_size, 2, cfg.num_classes, batch_norm=True
    )


def _register(name: str, config_cls: type, builder, description: str, origin: str) -> None:
    register_model(
        ModelSpec(
            name=name,
            config_cls=config_cls,
            builder=builder,
            task="classification",
            signature=lambda cfg: _signature(cfg.input_size, cfg.num_classes),
            example_inputs=lambda cfg, b, t, g: _example(cfg.input_size, b, t, g),
            stateful=False,
            default_data=MNIST_ROWS,
            recipe=_RECIPE,
            data_fields={"input_size": "features", "num_classes": "classes"},
            description=description,
            origin=origin,
        )
    )


_TUTORIALS = "RNN tutorials: BasicRNN/BasicLSTM/BasicGRU, SequenceClassifier, TwoLayerLSTM, DropoutGRU, BiLSTM"
for _kind, _label in (("rnn", "RNN"), ("lstm", "LSTM"), ("gru", "GRU")):
    _config = RNNClassifierConfig if _kind == "rnn" else SequenceClassifierConfig
    _register(
        f"{_kind}-classifier", _config,
        lambda cfg, kind=_kind: _classifier(kind, False, cfg),
        f"torch.nn.{_label} + linear head on the last valid step; layers, bidirectional, dropout",
        _TUTORIALS,
    )  # fmt: skip
    _register(
        f"manual-{_kind}-classifier", _config,
        lambda cfg, kind=_kind: _classifier(kind, True, cfg),
        f"the same classifier over the hand-written zoo.nn.{_label}",
        "RNN tutorials: ManualRNN / ManualLSTM",
    )  # fmt: skip

_register(
    "birnn-bn-classifier", BiRNNBatchNormConfig, _birnn_bn,
    "bidirectional RNN, BatchNorm1d on the last output, linear head",
    "RNN tutorials: bidirectional RNN with batch normalisation",
)  # fmt: skip
_register(
    "stacked-lstm-classifier", StackedLSTMConfig, StackedLSTMClassifier,
    "separate single-layer LSTMs with dropout between them, linear head",
    "RNN tutorials: StackedLSTM",
)  # fmt: skip
