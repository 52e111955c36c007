"""Pieces shared by the model files: config fields, recurrent layer choice, example inputs."""

from dataclasses import field
from typing import Any, Dict

import torch
from torch import Tensor, nn

from zoo import nn as znn
from zoo.nn.packed import PackedLSTM, PackedRNN

RECURRENT_KINDS = ("rnn", "lstm", "gru")


def option(default: Any, help: str) -> Any:
    """A config dataclass field with its one-line help (shown by `zoo models info`)."""
    return field(default=default, metadata={"help": help})


def check_choice(value: str, choices: tuple, what: str) -> None:
    if value not in choices:
        raise ValueError(f"{what} must be one of {', '.join(map(repr, choices))}, got {value!r}")


def recurrent_layer(
    kind: str,
    manual: bool,
    input_size: int,
    hidden_size: int,
    num_layers: int = 1,
    dropout: float = 0.0,
    bidirectional: bool = False,
    nonlinearity: str = "tanh",
) -> nn.Module:
    """A batch-first recurrent layer with ``forward(input, hx, lengths)``.

    ``manual`` picks the hand-written ``zoo.nn`` layer; otherwise ``torch.nn``'s, packed for
    ragged batches. Both hold the same parameters with the same shapes.
    """
    check_choice(kind, RECURRENT_KINDS, "the recurrent kind")
    kwargs: Dict[str, Any] = dict(
        input_size=input_size,
        hidden_size=hidden_size,
        num_layers=num_layers,
        dropout=dropout,
        bidirectional=bidirectional,
        batch_first=True,
    )
    if kind == "rnn":
        kwargs["nonlinearity"] = nonlinearity
    if manual:
        return {"rnn": znn.RNN, "lstm": znn.LSTM, "gru": znn.GRU}[kind](**kwargs)
    if kind == "lstm":
        return PackedLSTM(nn.LSTM(**kwargs))
    return PackedRNN({"rnn": nn.RNN, "gru": nn.GRU}[kind](**kwargs))


def final_features(h_n: Tensor, directions: int) -> Tensor:
    """The top layer's final hidden state, both directions side by side: (B, directions * H).

    The forward direction's state is the one at each sequence's last valid step; the backward
    direction's is the one after reading back to step 0.
    """
    if directions == 2:
        return torch.cat([h_n[-2], h_n[-1]], dim=1)
    return h_n[-1]


def ragged_lengths(batch: int, time: int, generator: torch.Generator) -> Tensor:
    """Unsorted lengths in [1, time] with at least one full-length row, so time is all used."""
    lengths = torch.randint(1, time + 1, (batch,), generator=generator)
    lengths[torch.randint(0, batch, (1,), generator=generator)] = time
    return lengths


def token_ids(
    batch: int, time: int, vocab_size: int, lengths: Tensor, generator: torch.Generator
) -> Tensor:
    """Random ids in [1, vocab) (0 is padding) with zeros past each row's length."""
    ids = torch.randint(1, vocab_size, (batch, time), generator=generator)
    return ids.masked_fill(torch.arange(time).unsqueeze(0) >= lengths.unsqueeze(1), 0)
