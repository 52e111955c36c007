"""Binary classification: one output per example, the positive class's logit or, where the
output's declared meaning is "probability" (the course's sigmoid models), its probability."""

from typing import Any, Dict

import torch
from torch import Tensor
from torch.nn import functional as F

from zoo.data.base import DataSet
from zoo.registry import ModelSpec
from zoo.train.tasks.classification import label_metrics
from zoo.train.tasks.examples import ExampleTask


class BinaryClassificationTask(ExampleTask):
    """Binary cross-entropy on (batch, 1) outputs; accuracy as for classes."""

    task = "binary-classification"
    kinds = ("sequences", "vectors")
    selection = ("accuracy", True)

    def __init__(self, spec: ModelSpec, config: Any, data: DataSet, device: torch.device) -> None:
        super().__init__(spec, config, data, device)
        self.probability = self.signature.outputs[0].meaning == "probability"

    def target(self, target: Tensor) -> Tensor:
        return target.float().unsqueeze(1) if target.dim() == 1 else target

    def criterion(self, output: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
        if self.probability:  # a sigmoid is already applied: BCELoss, as the course trains
            return F.binary_cross_entropy(output, target, reduction=reduction)
        return F.binary_cross_entropy_with_logits(output, target, reduction=reduction)

    def metrics(self, output: Tensor, target: Tensor) -> Dict[str, Any]:
        threshold = 0.5 if self.probability else 0.0
        return label_metrics((output[:, 0] > threshold).long(), target, self.data)
