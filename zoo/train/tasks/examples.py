"""Independent examples, one target each: the batching shared by classification, binary
classification and regression.

The examples fill the model's one data input, found by name in its signature: padded token
ids (with their lengths, for the input the signature's ragged pairs give a lengths input),
images or feature vectors. A model whose data input is a ragged sequence reads an image as
the sequence of its pixel rows, every row valid. Images are the data set's kind, so
``--shift-augment`` applies to them whatever the model reads.
"""

from typing import Any, Dict, Iterator, List, Optional, Tuple

import torch
from torch import Tensor, nn

from zoo.data.base import DataSet
from zoo.recipe import Recipe, option_name
from zoo.registry import ModelSpec
from zoo.store.pairs import signature_pairs
from zoo.train.batching import Shard, epoch_batches, eval_batches, pad_ids
from zoo.train.tasks.augment import shift_images, shift_offsets
from zoo.train.tasks.base import Batch, LossTerms, Task, arguments, count_of, data_inputs


def _check_reads(model: str, dtype: str, data: DataSet) -> None:
    """Token ids (int64) come from sequences of tokens, real values from every other kind: a
    model fed the other fails on its first batch, after its run folder exists."""
    holds_ids = data.kind == "sequences"
    if (dtype == "int64") != holds_ids:
        reads = "token ids" if dtype == "int64" else f"real values ({dtype})"
        holds = "token ids" if holds_ids else f"real values ({data.kind})"
        raise ValueError(f"{model} reads {reads} but {data.name!r} holds {holds}; "
                         f"pick a data set of {'token sequences' if dtype == 'int64' else 'images, vectors or steps'}")  # fmt: skip


class ExampleTask(Task):
    """Batches of examples; subclasses give the target's form, the loss and the metrics."""

    options = ("shift_augment",)

    def __init__(self, spec: ModelSpec, config: Any, data: DataSet, device: torch.device) -> None:
        super().__init__(spec, config, data, device)
        inputs = data_inputs(self.signature)
        if len(inputs) != 1:
            raise ValueError(f"{spec.name} takes {', '.join(i.name for i in inputs)}; "
                             f"a {spec.task} model takes one input (and its lengths)")  # fmt: skip
        self.input = inputs[0].name
        _check_reads(spec.name, inputs[0].dtype, data)
        self.lengths: Optional[str] = signature_pairs(self.signature).lengths.get(self.input)
        self.max_shift = 0  # images: random translation of training batches, in pixels

    def configure(self, recipe: Recipe) -> None:
        super().configure(recipe)
        if recipe.shift_augment and self.data.kind != "images":
            raise ValueError(f"{option_name('shift_augment')} needs images, not {self.data.kind}")
        self.max_shift = recipe.shift_augment

    def train_batches(
        self, batch_size: int, seed: int, epoch: int, shard: Shard, start_step: int
    ) -> Iterator[Batch]:
        split = self.data.splits["train"]
        every = epoch_batches(len(split), batch_size, seed, epoch, Shard(), start_step)
        for step, indices in enumerate(every, start=start_step):
            offsets = None
            if self.max_shift:
                # Drawn for the global batch, then this process's share.
                drawn = shift_offsets(len(indices), self.max_shift, seed, epoch, step)
                offsets = drawn[torch.tensor(shard.part(list(range(len(indices)))), dtype=torch.long)]
            yield self.collate(split, shard.part(indices), offsets)

    def collate(self, split: Any, indices: List[int], offsets: Optional[Tensor] = None) -> Batch:
        """The model's arguments and the targets of examples ``indices``; ``offsets``: shift
        each image by these (``shift_offsets``)."""
        lengths: Optional[Tensor] = None
        if self.data.kind == "sequences":
            ids = [split.ids[i] for i in indices]
            values, lengths = pad_ids(ids), torch.tensor([len(s) for s in ids])
            target = torch.tensor([split.labels[i] for i in indices])
        else:
            index = torch.tensor(indices, dtype=torch.long)
            values, target = split.inputs[index], split.targets[index]
            if offsets is not None:
                values = shift_images(values, offsets, self.max_shift)
        return self._arguments(values, lengths), self.target(target)

    def _arguments(self, values: Tensor, lengths: Optional[Tensor]) -> Tuple[Tensor, ...]:
        given: Dict[str, Tensor] = {self.input: values}
        if self.lengths is not None:
            if lengths is None:  # an image read as a sequence: one step per pixel row, all valid
                values = values.reshape(values.size(0), -1, values.size(-1))  # (B, C * H, W)
                lengths = torch.full((values.size(0),), values.size(1), dtype=torch.long)
            given = {self.input: values, self.lengths: lengths}
        return arguments(self.signature, given)

    def target(self, target: Tensor) -> Tensor:
        """The targets as the loss takes them."""
        return target

    def criterion(self, output: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
        """The plain loss (what validation and test report)."""
        raise NotImplementedError

    def metrics(self, output: Tensor, target: Tensor) -> Dict[str, Any]:
        """A split's metrics besides the loss, from all its outputs and targets."""
        raise NotImplementedError

    def loss(self, model: nn.Module, batch: Batch) -> LossTerms:
        args, target = self._to_device(batch)
        total = self.criterion(model(*args), target, "sum")
        return LossTerms(total, count_of(target.numel(), total), target.size(0))

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split_name: str, batch_size: int = 256) -> Dict[str, Any]:
        split = self.data.splits[split_name]
        total, count = 0.0, 0
        outputs, targets = [], []
        for indices in eval_batches(len(split), batch_size):
            args, target = self._to_device(self.collate(split, indices))
            output = model(*args)
            total += self.criterion(output, target).item() * target.size(0)
            count += target.size(0)
            outputs.append(output.float().cpu())
            targets.append(target.cpu())
        return {"loss": total / max(count, 1), **self.metrics(torch.cat(outputs), torch.cat(targets))}
