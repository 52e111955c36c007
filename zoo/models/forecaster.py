"""Forecasting: an LSTM reads a (B, T, F) series and predicts the next value(s) at every step.

Follows the airline-passengers LSTM of machinelearningmastery's "LSTM for Time Series
Prediction in PyTorch": ``LSTM(1, 50)`` + ``Linear(50, 1)``, a prediction for every step whose
last one is the forecast. The state goes in and comes out, so a long series can be fed in
chunks (or one value at a time, as a server does) and give the same predictions as whole.
"""

from dataclasses import dataclass
from typing import Optional, Tuple

import torch
from torch import Tensor, nn

from zoo import nn as znn
from zoo.models.common import option
from zoo.nn.checks import check_dims, check_features, check_floating
from zoo.recipe import Recipe
from zoo.registry import ExampleInputs, ModelSpec, Signature, TensorSpec, register_model


@dataclass
class ForecasterConfig:
    input_size: int = option(1, "values per time step (1: the passenger count)")
    hidden_size: int = option(50, "LSTM hidden units")
    num_layers: int = option(1, "stacked LSTM layers")
    output_size: int = option(1, "values predicted per step (the horizon)")
    dropout: float = option(0.0, "dropout between LSTM layers")
    manual: bool = option(
        False, "use the hand-written zoo.nn.LSTM instead of torch.nn.LSTM (same parameters)"
    )


class LSTMForecaster(nn.Module):
    __constants__ = ["input_size", "hidden_size", "num_layers"]

    def __init__(self, cfg: ForecasterConfig) -> None:
        super().__init__()
        self.input_size = cfg.input_size
        self.hidden_size = cfg.hidden_size
        self.num_layers = cfg.num_layers
        layer_cls = znn.LSTM if cfg.manual else nn.LSTM  # same parameter names either way
        self.lstm = layer_cls(cfg.input_size, cfg.hidden_size, cfg.num_layers, batch_first=True,
                              dropout=cfg.dropout if cfg.num_layers > 1 else 0.0)  # fmt: skip
        self.head = nn.Linear(cfg.hidden_size, cfg.output_size)

    def forward(
        self, series: Tensor, state: Optional[Tuple[Tensor, Tensor]] = None
    ) -> Tuple[Tensor, Tuple[Tensor, Tensor]]:
        check_dims(series, 3, "(batch, time, features)", "series")
        check_floating(series, "series")
        check_features(series, self.input_size, "series")
        output, state = self.lstm(series, state)  # (B, T, H)
        return self.head(output), state  # (B, T, output_size)

    @torch.jit.export
    def init_state(self, batch: int) -> Tuple[Tensor, Tensor]:
        zeros = self.head.weight.new_zeros([self.num_layers, batch, self.hidden_size])
        return zeros, zeros.clone()


def _signature(cfg: ForecasterConfig) -> Signature:
    state = (cfg.num_layers, "batch", cfg.hidden_size)
    return Signature(
        inputs=(
            TensorSpec("series", "float32", ("batch", "time", cfg.input_size), "observed values"),
            TensorSpec("h_0", "float32", state, "previous h (zeros to start)"),
            TensorSpec("c_0", "float32", state, "previous c (zeros to start)"),
        ),
        outputs=(
            TensorSpec("prediction", "float32", ("batch", "time", cfg.output_size), "next value(s) after each step"),
            TensorSpec("h_n", "float32", state, "h after the last step"),
            TensorSpec("c_n", "float32", state, "c after the last step"),
        ),
        state_pairs=(("h_0", "h_n"), ("c_0", "c_n")),
    )  # fmt: skip


def _example(cfg: ForecasterConfig, batch: int, time: int, generator: torch.Generator) -> ExampleInputs:
    series = torch.randn(batch, time, cfg.input_size, generator=generator)
    shape = (cfg.num_layers, batch, cfg.hidden_size)
    state = (0.5 * torch.randn(shape, generator=generator), 0.5 * torch.randn(shape, generator=generator))
    return (series, state)


register_model(
    ModelSpec(
        name="lstm-forecaster",
        config_cls=ForecasterConfig,
        builder=LSTMForecaster,
        task="forecasting",
        signature=_signature,
        example_inputs=_example,
        stateful=True,
        default_data="airline",
        recipe=Recipe(epochs=600, batch_size=1, lr=3e-3, clip=1.0, schedule="cosine"),
        # It reads and predicts the same values: a series of F features, F in and F out.
        data_fields={"input_size": "features", "output_size": "features"},
        description="LSTM(1, 50) + linear: next value at every step, state in and out",
        origin="machinelearningmastery: LSTM for time series prediction in PyTorch",
        methods=("init_state",),
    )
)
