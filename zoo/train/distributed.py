"""Multi-process data parallel training through PyTorch's own launcher.

``zoo train MODEL --nproc N`` starts ``python -m torch.distributed.run --nproc-per-node N
-m zoo train MODEL ...``; each process then finds ``RANK``/``WORLD_SIZE`` in its environment
(as under any ``torchrun`` launch, multi-node included), joins the process group (gloo on the
CPU, nccl on CUDA) and trains its share of every batch inside DistributedDataParallel.
"""

import os
import sys
from typing import List

import torch
import torch.distributed as dist

from zoo.train.batching import Shard


def launched() -> bool:
    """True inside a process started by torch.distributed.run (or torchrun)."""
    return "WORLD_SIZE" in os.environ and "RANK" in os.environ


def join(device: torch.device) -> Shard:
    """Joins the process group when launched; one process otherwise."""
    if not launched():
        return Shard()
    world = int(os.environ["WORLD_SIZE"])
    if not dist.is_initialized():  # also for a world of 1: the launched path is the same
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Shard(int(os.environ["RANK"]), world)


def local_cuda_device() -> torch.device:
    return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))


def leave() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def any_rank(flag: bool, device: torch.device) -> bool:
    """True on every process when ``flag`` is true on at least one (stop together)."""
    if not dist.is_initialized():
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item() > 0)


def mean_over_ranks(value: torch.Tensor) -> torch.Tensor:
    if not dist.is_initialized():
        return value
    value = value.detach().clone()
    dist.all_reduce(value)
    return value / dist.get_world_size()


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def launcher_command(nproc: int, zoo_arguments: List[str]) -> List[str]:
    """The command that runs ``zoo <arguments>`` in ``nproc`` processes on this machine."""
    return [
        sys.executable, "-m", "torch.distributed.run", "--standalone",
        f"--nproc-per-node={nproc}", "-m", "zoo", *zoo_arguments,
    ]  # fmt: skip
