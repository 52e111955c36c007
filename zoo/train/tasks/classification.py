"""Multi-class classification: cross-entropy on class logits, with the options that help
unbalanced classes (class weights, logit adjustment) and label smoothing; accuracy, balanced
accuracy and the confusion matrix (``label_metrics``, shared with binary classification)."""

from typing import Any, Dict, Optional

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from zoo.data.base import DataSet
from zoo.recipe import Recipe
from zoo.registry import ModelSpec
from zoo.train.tasks.base import Batch, LossTerms, count_of
from zoo.train.tasks.examples import ExampleTask


def _balanced_accuracy(confusion: Tensor) -> float:
    """Mean recall over the classes present in the targets."""
    support = confusion.sum(1)
    present = support > 0
    return float((confusion.diag()[present].double() / support[present]).mean())


def label_metrics(predicted: Tensor, target: Tensor, data: DataSet) -> Dict[str, Any]:
    """Accuracy, balanced accuracy and the confusion matrix (rows: true class) of predicted
    class ids against the targets."""
    labels = target.long().view(-1)
    classes = max(len(data.labels or []), int(labels.max()) + 1, int(predicted.max()) + 1)
    confusion = torch.zeros(classes, classes, dtype=torch.long)
    confusion.index_put_((labels, predicted), torch.ones_like(labels), accumulate=True)
    return {
        "accuracy": float((predicted == labels).double().mean()),
        "balanced_accuracy": _balanced_accuracy(confusion),
        "confusion": confusion.tolist(),
    }


class ClassificationTask(ExampleTask):
    """Class logits (batch, classes) per example."""

    task = "classification"
    kinds = ("sequences", "images", "vectors", "steps")
    selection = ("accuracy", True)
    options = ExampleTask.options + ("class_weight_power", "logit_adjustment", "label_smoothing")

    def __init__(self, spec: ModelSpec, config: Any, data: DataSet, device: torch.device) -> None:
        super().__init__(spec, config, data, device)
        self.class_weights: Optional[Tensor] = None
        self.logit_offsets: Optional[Tensor] = None
        self.label_smoothing = 0.0  # training targets 1 - eps (+ eps / classes)

    def configure(self, recipe: Recipe) -> None:
        super().configure(recipe)
        self.weight_classes(recipe.class_weight_power)
        self.adjust_logits(recipe.logit_adjustment)
        self.label_smoothing = recipe.label_smoothing

    def _train_prior(self) -> Tensor:
        split = self.data.splits["train"]
        labels = torch.tensor(split.labels) if self.data.kind == "sequences" else split.targets
        counts = torch.bincount(labels, minlength=len(self.data.labels or [])).double().clamp(min=1)
        return counts / counts.sum()

    def weight_classes(self, power: float) -> None:
        """Training loss weight prior^-power per class, mean 1 (0: unweighted)."""
        if power == 0.0:
            self.class_weights = None
            return
        weights = self._train_prior().pow(-power)
        self.class_weights = (weights / weights.mean()).float().to(self.device)

    def adjust_logits(self, tau: float) -> None:
        """Logit-adjusted training loss (Menon et al. 2021, "Long-tail learning via logit
        adjustment"): cross-entropy of logits + tau * log(prior). The model's own logits then
        rank classes as if they were balanced, which raises balanced accuracy."""
        if tau == 0.0:
            self.logit_offsets = None
            return
        self.logit_offsets = (tau * self._train_prior().log()).float().to(self.device)

    def loss(self, model: nn.Module, batch: Batch) -> LossTerms:
        args, target = self._to_device(batch)
        output = model(*args)
        if self.logit_offsets is not None:
            output = output + self.logit_offsets
        total = F.cross_entropy(output, target, weight=self.class_weights, label_smoothing=self.label_smoothing,
                                reduction="sum")  # fmt: skip
        # A weighted mean divides by the weights of the batch's targets, not by its size.
        count = self.class_weights[target].sum() if self.class_weights is not None else count_of(target.size(0), total)
        return LossTerms(total, count, target.size(0))

    def criterion(self, output: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
        return F.cross_entropy(output, target, reduction=reduction)

    def metrics(self, output: Tensor, target: Tensor) -> Dict[str, Any]:
        return label_metrics(output.argmax(1), target, self.data)
