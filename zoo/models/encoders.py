"""Sequence encoders: the bare ``zoo.nn`` recurrent layers, registered as models.

An encoder maps a (batch, time, features) sequence to per-step hidden states and the final
state. These entries are what the task models of the zoo are built from; registering them lets
the tools (`zoo models check`, export, parity) exercise the layers on their own.
"""

from dataclasses import dataclass, field
from typing import Any, Callable, List, Tuple

import torch
from torch import nn

from zoo.models.common import ragged_lengths
from zoo.nn import GRU, LSTM, RNN
from zoo.registry import ExampleInputs, ModelSpec, Signature, TensorSpec, register_model


@dataclass
class EncoderConfig:
    input_size: int = field(default=64, metadata={"help": "features per time step"})
    hidden_size: int = field(default=128, metadata={"help": "hidden units per direction"})
    num_layers: int = field(default=1, metadata={"help": "stacked recurrent layers"})
    bias: bool = field(default=True, metadata={"help": "use the b_ih and b_hh biases"})
    batch_first: bool = field(
        default=True, metadata={"help": "input is (batch, time, features), not (time, batch, ...)"}
    )
    dropout: float = field(
        default=0.0, metadata={"help": "dropout on the outputs of every layer but the last"}
    )
    bidirectional: bool = field(default=False, metadata={"help": "add a reverse-time direction"})


@dataclass
class RNNEncoderConfig(EncoderConfig):
    nonlinearity: str = field(default="tanh", metadata={"help": "'tanh' or 'relu'"})


def _layer_kwargs(cfg: EncoderConfig) -> dict:
    return dict(
        input_size=cfg.input_size,
        hidden_size=cfg.hidden_size,
        num_layers=cfg.num_layers,
        bias=cfg.bias,
        batch_first=cfg.batch_first,
        dropout=cfg.dropout,
        bidirectional=cfg.bidirectional,
    )


def _state_shape(cfg: EncoderConfig) -> Tuple[int | str, ...]:
    return (cfg.num_layers * (2 if cfg.bidirectional else 1), "batch", cfg.hidden_size)


def _signature(cfg: EncoderConfig, state_names: List[str]) -> Signature:
    seq: Tuple[int | str, ...] = ("batch", "time") if cfg.batch_first else ("time", "batch")
    directions = 2 if cfg.bidirectional else 1
    inputs = [TensorSpec("input", "float32", seq + (cfg.input_size,), "the padded sequences")]
    outputs = [
        TensorSpec("output", "float32", seq + (directions * cfg.hidden_size,), "top layer, every step")
    ]
    for state in state_names:
        inputs.append(TensorSpec(f"{state}_0", "float32", _state_shape(cfg), f"initial {state}"))
        outputs.append(TensorSpec(f"{state}_n", "float32", _state_shape(cfg), f"final {state}"))
    inputs.append(TensorSpec("lengths", "int64", ("batch",), "valid steps per sequence"))
    pairs = tuple((f"{s}_0", f"{s}_n") for s in state_names)
    return Signature(tuple(inputs), tuple(outputs), pairs, ragged=(("lengths", "input"),))


def _example(
    cfg: EncoderConfig, batch: int, time: int, generator: torch.Generator, states: int
) -> ExampleInputs:
    shape = (batch, time, cfg.input_size) if cfg.batch_first else (time, batch, cfg.input_size)
    x = torch.randn(shape, generator=generator)
    state_shape = (cfg.num_layers * (2 if cfg.bidirectional else 1), batch, cfg.hidden_size)
    hx = [torch.randn(state_shape, generator=generator) for _ in range(states)]
    lengths = ragged_lengths(batch, time, generator)
    return (x, hx[0] if states == 1 else (hx[0], hx[1]), lengths)


def _build_rnn(cfg: RNNEncoderConfig) -> nn.Module:
    return RNN(nonlinearity=cfg.nonlinearity, **_layer_kwargs(cfg))


def _build_lstm(cfg: EncoderConfig) -> nn.Module:
    return LSTM(**_layer_kwargs(cfg))


def _build_gru(cfg: EncoderConfig) -> nn.Module:
    return GRU(**_layer_kwargs(cfg))


def _register_encoder(
    name: str, config_cls: type, builder: Callable[[Any], nn.Module], states: List[str], what: str
) -> None:
    register_model(
        ModelSpec(
            name=name,
            config_cls=config_cls,
            builder=builder,
            task="encoder",
            signature=lambda cfg: _signature(cfg, states),
            example_inputs=lambda cfg, b, t, g: _example(cfg, b, t, g, len(states)),
            stateful=True,
            default_data=None,
            description=what,
            origin=f"torch.nn.{name.split('-')[1].upper()} (same parameters and results)",
        )
    )


_register_encoder(
    "manual-rnn", RNNEncoderConfig, _build_rnn, ["h"],
    "zoo.nn.RNN: hand-written Elman RNN layer, twin of torch.nn.RNN",
)  # fmt: skip
_register_encoder(
    "manual-lstm", EncoderConfig, _build_lstm, ["h", "c"],
    "zoo.nn.LSTM: hand-written LSTM layer, twin of torch.nn.LSTM",
)  # fmt: skip
_register_encoder(
    "manual-gru", EncoderConfig, _build_gru, ["h"],
    "zoo.nn.GRU: hand-written GRU layer, twin of torch.nn.GRU",
)  # fmt: skip
