"""Tagging: one class per input step (the hello model's "hello" -> "ohlol")."""

from typing import Any, Dict, List

import torch
from torch import nn
from torch.nn import functional as F

from zoo.data.base import DataSet
from zoo.registry import ModelSpec
from zoo.train.tasks.base import Batch, LossTerms, Task, count_of, data_inputs


class TaggingTask(Task):
    """Cross-entropy over every step; accuracy per step and per whole sequence."""

    task = "tagging"
    kinds = ("pairs",)
    selection = ("accuracy", True)

    def __init__(self, spec: ModelSpec, config: Any, data: DataSet, device: torch.device) -> None:
        super().__init__(spec, config, data, device)
        inputs = [i.name for i in data_inputs(self.signature)]
        if len(inputs) != 1:  # the named-entity tagger takes words and characters
            raise ValueError(f"{spec.name} takes {', '.join(inputs)}; tagging {data.name!r} ({data.kind}) needs a model "
                             "that reads one token sequence")  # fmt: skip

    def collate(self, split: Any, indices: List[int]) -> Batch:
        tokens = torch.tensor([split.sources[i] for i in indices], dtype=torch.long)
        # forward(tokens): the state starts at zeros.
        return (tokens,), torch.tensor([split.targets[i] for i in indices], dtype=torch.long)

    def loss(self, model: nn.Module, batch: Batch) -> LossTerms:
        (tokens,), target = self._to_device(batch)
        logits, _ = model(tokens)
        total = F.cross_entropy(logits.flatten(0, 1), target.flatten(), reduction="sum")
        return LossTerms(total, count_of(target.numel(), total), target.numel())

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split_name: str, batch_size: int = 256) -> Dict[str, Any]:
        split = self.data.splits[split_name]
        (tokens,), target = self._to_device(self.collate(split, list(range(len(split)))))
        logits, _ = model(tokens)
        predicted = logits.argmax(-1)
        vocab = self.data.vocab
        return {
            "loss": F.cross_entropy(logits.flatten(0, 1), target.flatten()).item(),
            "accuracy": float((predicted == target).double().mean()),
            "exact_match": float((predicted == target).all(1).double().mean()),
            "prediction": "".join(vocab.decode(predicted[0].tolist())) if vocab else "",
        }
