"""What every task shares: the ``Task`` base class, a training batch's loss terms, and a
model's ``forward`` arguments put in order by input name.

A task class declares what it trains (``task``, a key of ``zoo.registry.TASKS``), on which
kinds of data, which validation metric picks the best epoch, and which of the recipe's
task-specific options it takes; ``make_task`` and ``configure`` read those declarations, so
no caller asks a task what it is.
"""

from typing import Any, ClassVar, Dict, Iterator, List, NamedTuple, Optional, Tuple

import torch
from torch import Tensor, nn

from zoo.data.base import DataSet
from zoo.recipe import Recipe, option_name
from zoo.registry import ModelSpec, Signature, TensorSpec
from zoo.store.pairs import signature_pairs
from zoo.train.batching import Shard, effective_batch, epoch_batches, steps_per_epoch

Batch = Tuple[Tuple[Any, ...], Tensor]  # (model arguments, target)

# Recipe options that only some tasks use, and what they need. A task that does not list one in
# ``Task.options`` refuses a non-zero value of it, naming both. (``bptt`` is always set; only
# language models read it.)
TASK_OPTIONS: Dict[str, str] = {
    "class_weight_power": "a multi-class classifier",
    "logit_adjustment": "a multi-class classifier",
    "label_smoothing": "a multi-class classifier",
    "shift_augment": "images",
}


class LossTerms(NamedTuple):
    """A training batch's loss as a sum and what its mean divides by. With several processes,
    each holding a share of the global batch, the loop divides every share's sum by the count
    of the whole batch: a mean over padded tokens or class weights is then the global one, not
    a mean of per-share means."""

    total: Tensor  # the summed (weighted) loss of the items this process holds
    count: Tensor  # what the mean divides by: items, tokens, or the sum of their class weights
    items: int  # examples or tokens, for the throughput


def count_of(value: Any, like: Tensor) -> Tensor:
    """``value`` as a float tensor on ``like``'s device (a LossTerms count)."""
    return torch.as_tensor(value, dtype=torch.float32, device=like.device)


def data_inputs(signature: Signature) -> List[TensorSpec]:
    """The inputs that data fill: all but state inputs (zeros, or carried) and the lengths of
    ragged sequences (they come with their sequence)."""
    skipped = signature_pairs(signature).skipped()
    return [spec for spec in signature.inputs if spec.name not in skipped]


def arguments(signature: Signature, values: Dict[str, Tensor]) -> Tuple[Tensor, ...]:
    """``forward``'s positional arguments: one value per signature input, in its order."""
    missing = [spec.name for spec in signature.inputs if spec.name not in values]
    if missing:
        raise ValueError(f"the batch fills {', '.join(values)} but the model also takes {', '.join(missing)}")
    return tuple(values[spec.name] for spec in signature.inputs)


class Task:
    """Base: subclasses say how to batch a split, compute the loss and measure a split."""

    task: ClassVar[str]  # the key of zoo.registry.TASKS this class trains
    kinds: ClassVar[Tuple[str, ...]]  # the DataSet kinds it trains on
    # What picks a run's best epoch (the weights it keeps): a validation metric and whether
    # higher is better; a tie goes to the lower validation loss (``loop._better``).
    selection: ClassVar[Tuple[str, bool]]
    options: ClassVar[Tuple[str, ...]] = ()  # the TASK_OPTIONS it takes
    # The model's methods besides forward that ``evaluate`` calls (a bundle is scored through
    # those graphs too, so --graph int8, which quantizes forward alone, cannot score it).
    scored_methods: ClassVar[Tuple[str, ...]] = ()

    def __init__(self, spec: ModelSpec, config: Any, data: DataSet, device: torch.device) -> None:
        self.primary_metric, self.higher_is_better = self.selection
        self.spec = spec
        self.config = config
        self.data = data
        self.device = device
        self.signature = spec.signature(config)

    def configure(self, recipe: Recipe) -> None:
        """Takes the recipe's task options; one this task cannot use is refused, naming it."""
        for name, needs in TASK_OPTIONS.items():
            if getattr(recipe, name) and name not in self.options:
                raise ValueError(f"{option_name(name)} needs {needs}; {self.spec.name}'s task is {self.spec.task}")

    # -- training -----------------------------------------------------------------------------
    def train_size(self) -> int:
        return len(self.data.splits["train"])

    def batch_size(self, requested: int, shard: Shard) -> int:
        return effective_batch(self.train_size(), requested, shard)

    def steps_per_epoch(self, batch_size: int) -> int:
        return steps_per_epoch(self.train_size(), batch_size)

    def train_batches(
        self, batch_size: int, seed: int, epoch: int, shard: Shard, start_step: int
    ) -> Iterator[Batch]:
        split = self.data.splits["train"]
        for indices in epoch_batches(len(split), batch_size, seed, epoch, shard, start_step):
            yield self.collate(split, indices)

    def collate(self, split: Any, indices: List[int]) -> Batch:
        raise NotImplementedError

    def loss(self, model: nn.Module, batch: Batch) -> LossTerms:
        """The training loss of ``batch`` as a sum, its divisor and its size."""
        raise NotImplementedError

    def start_epoch(self) -> None:
        """Called before each epoch (the language model resets its carried state)."""

    def carried_state(self) -> Dict[str, Tensor]:
        return {}

    def restore_carried_state(self, tensors: Dict[str, Tensor]) -> None:
        del tensors

    # -- evaluation ---------------------------------------------------------------------------
    def evaluate(self, model: nn.Module, split_name: str, batch_size: int = 256) -> Dict[str, Any]:
        raise NotImplementedError

    def tables(self, metrics: Dict[str, Any]) -> Dict[str, str]:
        """Tables of the test split's ``metrics`` that a run writes beside them and prints (file
        name -> text; the entity tagger's per-type scores, where a classifier has its confusion
        plot); none by default."""
        del metrics
        return {}

    def sample(self, model: nn.Module) -> Optional[str]:
        """What the trained model writes, shown at the end of a run; None where it writes nothing."""
        del model
        return None

    def _to_device(self, batch: Batch) -> Batch:
        args, target = batch
        return tuple(a.to(self.device) for a in args), target.to(self.device)
