"""Regression: real values per example, mean squared error; RMSE and MAE."""

from typing import Any, Dict

from torch import Tensor
from torch.nn import functional as F

from zoo.train.tasks.examples import ExampleTask


class RegressionTask(ExampleTask):
    task = "regression"
    kinds = ("vectors",)
    selection = ("rmse", False)

    def criterion(self, output: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
        return F.mse_loss(output, target, reduction=reduction)

    def metrics(self, output: Tensor, target: Tensor) -> Dict[str, Any]:
        return {
            "rmse": float((output - target).pow(2).mean().sqrt()),
            "mae": float((output - target).abs().mean()),
        }
