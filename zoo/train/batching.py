"""Which examples each training step sees, the same with one process or many.

``--batch-size`` is the global batch. Each epoch the training examples are shuffled by a
generator seeded from (seed, epoch), so the order does not depend on what ran before (exact
resume) and every process computes the same order. Process ``rank`` of ``world`` takes its own
contiguous share of every global batch: with DistributedDataParallel averaging the gradients,
a step equals the single-process step on the whole global batch.
"""

from dataclasses import dataclass
from typing import Iterator, List

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pad_sequence


@dataclass(frozen=True)
class Shard:
    rank: int = 0
    world: int = 1

    def check_batch(self, batch_size: int) -> None:
        if batch_size % self.world:
            raise ValueError(
                f"--batch-size {batch_size} must be a multiple of --nproc {self.world} "
                "(every process takes an equal share of each batch)"
            )

    def part(self, items: List[int]) -> List[int]:
        share = len(items) // self.world
        return items[self.rank * share : (self.rank + 1) * share]


def effective_batch(count: int, batch_size: int, shard: Shard) -> int:
    """The batch size used: ``batch_size``, or the whole set rounded to the shard when smaller."""
    if count < shard.world:
        raise ValueError(
            f"the training split holds {count} example(s), fewer than the {shard.world} processes of "
            f"--nproc {shard.world}; use at most --nproc {max(count, 1)}"
        )
    if count >= batch_size:
        return batch_size
    return max(shard.world, count - count % shard.world)


def steps_per_epoch(count: int, batch_size: int) -> int:
    """Full batches only: a short last batch would weigh its examples differently."""
    return max(1, count // batch_size)


def epoch_batches(
    count: int, batch_size: int, seed: int, epoch: int, shard: Shard, start_step: int = 0
) -> Iterator[List[int]]:
    """This process's example indices for each step of ``epoch``, from ``start_step`` on."""
    generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
    order = torch.randperm(count, generator=generator).tolist()
    for step in range(start_step, steps_per_epoch(count, batch_size)):
        yield shard.part(order[step * batch_size : (step + 1) * batch_size])


def eval_batches(count: int, batch_size: int) -> Iterator[List[int]]:
    for start in range(0, count, batch_size):
        yield list(range(start, min(count, start + batch_size)))


def pad_ids(sequences: List[List[int]], pad: int = 0) -> Tensor:
    """(B, T) int64 padded at the end with ``pad``."""
    return pad_sequence([torch.tensor(s, dtype=torch.long) for s in sequences], batch_first=True,
                        padding_value=pad)  # fmt: skip


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a DistributedDataParallel wrapper (or the model itself)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model
