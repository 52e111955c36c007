"""Sequence to sequence: teacher-forced training; the model's greedy ``decode`` measures
whole-sequence accuracy.

The source is the input the signature's one ragged pair names (with its lengths input); the
model's other input takes the target shifted right after ``<bos>`` (teacher forcing).
"""

from typing import Any, Dict, List

import torch
from torch import nn
from torch.nn import functional as F

from zoo.data.base import DataSet
from zoo.registry import ModelSpec
from zoo.train.batching import eval_batches, pad_ids, unwrap
from zoo.train.tasks.base import Batch, LossTerms, Task, arguments


class Seq2SeqTask(Task):
    task = "seq2seq"
    kinds = ("pairs",)
    selection = ("exact_match", True)
    scored_methods = ("decode",)  # exact match is measured by the model's greedy decode

    def __init__(self, spec: ModelSpec, config: Any, data: DataSet, device: torch.device) -> None:
        super().__init__(spec, config, data, device)
        if len(self.signature.ragged) != 1:
            raise ValueError(f"{spec.name}: a seq2seq model takes one source sequence and its lengths "
                             f"(one ragged pair); its signature has {len(self.signature.ragged)}")  # fmt: skip
        self.source_lengths, self.source = self.signature.ragged[0]
        names = [i.name for i in self.signature.inputs]
        others = [n for n in names if n not in (self.source, self.source_lengths)]
        if len(others) != 1:
            raise ValueError(f"{spec.name}: a seq2seq model takes the source, its lengths and the "
                             f"shifted target; it takes {', '.join(names)}")  # fmt: skip
        self.teacher = others[0]
        self._source_at, self._lengths_at = names.index(self.source), names.index(self.source_lengths)

    def collate(self, split: Any, indices: List[int]) -> Batch:
        sources = [split.sources[i] for i in indices]
        targets = [split.targets[i] for i in indices]
        pad, bos = self.config.pad_id, self.config.bos_id
        values = {
            self.source: pad_ids(sources, pad),
            self.source_lengths: torch.tensor([len(s) for s in sources]),
            self.teacher: pad_ids([[bos] + t[:-1] for t in targets], pad),
        }
        return arguments(self.signature, values), pad_ids(targets, pad)

    def loss(self, model: nn.Module, batch: Batch) -> LossTerms:
        """Summed over the target tokens that are not padding, and divided by their count."""
        args, target = self._to_device(batch)
        logits = model(*args)
        total = F.cross_entropy(logits.flatten(0, 1), target.flatten(), ignore_index=self.config.pad_id,
                                reduction="sum")  # fmt: skip
        return LossTerms(total, (target != self.config.pad_id).sum().float(), target.size(0))

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split_name: str, batch_size: int = 256) -> Dict[str, Any]:
        split = self.data.splits[split_name]
        pad = self.config.pad_id
        loss_sum, tokens, correct, exact = 0.0, 0, 0, 0
        for indices in eval_batches(len(split), batch_size):
            args, target = self._to_device(self.collate(split, indices))
            logits = model(*args)
            mask = target != pad
            loss_sum += F.cross_entropy(logits[mask], target[mask], reduction="sum").item()
            tokens += int(mask.sum())
            correct += int((logits.argmax(-1) == target)[mask].sum())
            decoded = unwrap(model).decode(args[self._source_at], args[self._lengths_at], target.size(1))
            exact += int(((decoded == target) | ~mask).all(1).sum())
        return {
            "loss": loss_sum / max(tokens, 1),
            "token_accuracy": correct / max(tokens, 1),
            "exact_match": exact / max(len(split), 1),
        }
