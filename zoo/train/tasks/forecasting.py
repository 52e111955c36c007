"""Forecasting: one series, each next value predicted from everything before it (the state
carries it); RMSE in the series' own units, beside the seasonal naive forecast's."""

from typing import Any, Dict, Iterator

import torch
from torch import nn
from torch.nn import functional as F

from zoo.train.batching import Shard
from zoo.train.tasks.base import Batch, LossTerms, Task, count_of


class ForecastTask(Task):
    task = "forecasting"
    kinds = ("series",)
    selection = ("rmse", False)

    def train_size(self) -> int:
        return 1

    def batch_size(self, requested: int, shard: Shard) -> int:
        if shard.world > 1:
            raise ValueError(f"{self.spec.name} trains on one series; use --nproc 1")
        return 1

    def steps_per_epoch(self, batch_size: int) -> int:
        return 1

    def _window(self, split_name: str) -> Batch:
        split = self.data.splits[split_name]
        series = split.values[: split.end].unsqueeze(0)  # (1, end, F)
        return (series[:, :-1],), series[:, split.start : split.end]

    def train_batches(
        self, batch_size: int, seed: int, epoch: int, shard: Shard, start_step: int
    ) -> Iterator[Batch]:
        if start_step == 0:
            yield self._window("train")

    def loss(self, model: nn.Module, batch: Batch) -> LossTerms:
        (series,), target = self._to_device(batch)
        prediction, _ = model(series)
        start = series.size(1) + 1 - target.size(1)  # the first predicted step
        total = F.mse_loss(prediction[:, start - 1 :], target, reduction="sum")
        return LossTerms(total, count_of(target.numel(), total), target.size(1))

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split_name: str, batch_size: int = 1) -> Dict[str, Any]:
        split = self.data.splits[split_name]
        (series,), target = self._to_device(self._window(split_name))
        prediction, _ = model(series)
        predicted = prediction[:, split.start - 1 :]  # (1, end - start, F)
        actual = split.levels[split.start : split.end]
        naive = split.levels[split.start - 12 : split.end - 12]  # the same month a year before
        rmse = float((split.to_levels(predicted[0, :, 0].cpu()) - actual).pow(2).mean().sqrt())
        naive_rmse = float((naive - actual).pow(2).mean().sqrt())
        return {"loss": F.mse_loss(predicted, target).item(), "rmse": rmse,
                "seasonal_naive_rmse": naive_rmse, "rmse_vs_naive": rmse / naive_rmse}  # fmt: skip
