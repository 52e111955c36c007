"""Multi-process data parallel training through PyTorch's own launcher.

``zoo train MODEL --nproc N`` starts ``python -m torch.distributed.run --nproc-per-node N
-m zoo train MODEL ...``, with the arguments it was given less ``--nproc`` (``zoo.cli.train``);
each process then finds ``RANK``/``WORLD_SIZE`` in its environment
(as under any ``torchrun`` launch, multi-node included), joins the process group (gloo on the
CPU, nccl on CUDA) and trains its share of every batch inside DistributedDataParallel.
"""

import os
import sys
from pathlib import Path
from typing import Dict, List

import torch
import torch.distributed as dist
from torch import Tensor

from zoo.registry import MODULES_VARIABLE, ModelSpec, model_module
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
    """Leaves the process group once every process is done with it. Without the barrier a
    process that finishes first tears its gloo threads down while another still talks to it,
    and may abort at exit ("terminate called without an active exception", seen once in the
    CI run of a --time-limit stop)."""
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def any_rank(flag: bool, device: torch.device) -> bool:
    """True on every process when ``flag`` is true on at least one (stop together)."""
    if not dist.is_initialized():
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item() > 0)


def sum_over_ranks(value: Tensor) -> Tensor:
    """The sum of ``value`` over all processes (a copy; no gradient)."""
    value = value.detach().clone()
    if dist.is_initialized():
        dist.all_reduce(value)
    return value


def gather_states(tensors: Dict[str, Tensor], device: torch.device) -> List[Dict[str, Tensor]]:
    """Every process's ``tensors`` (the same names, shapes and dtypes on each), in rank order,
    on the CPU: what one process writes for all of them (RNG and carried state)."""
    if not dist.is_initialized():
        return [{k: v.detach().cpu() for k, v in tensors.items()}]
    world = dist.get_world_size()
    gathered: List[Dict[str, Tensor]] = [{} for _ in range(world)]
    for name in sorted(tensors):  # the same order on every process
        local = tensors[name].detach().to(device)
        parts = [torch.empty_like(local) for _ in range(world)]
        dist.all_gather(parts, local)
        for rank, part in enumerate(parts):
            gathered[rank][name] = part.cpu()
    return gathered


def rank_seed(seed: int, rank: int) -> int:
    """The seed of process ``rank``'s own random draws (dropout masks), after the weights were
    made from ``seed`` alike on every process; rank + 1, so that no rank replays the stream
    that made the weights."""
    return (seed * 1_000_003 + 7_919 * (rank + 1)) % 2**63


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def launch_environment(spec: ModelSpec) -> Dict[str, str]:
    """This process's environment, plus what the launched processes need to find a model of
    your own: the module that registered it in ZOO_MODULES, and the folder it was imported from
    on PYTHONPATH. ValueError for a model the launched processes cannot import."""
    env = dict(os.environ)
    module = model_module(spec)
    if module is None:
        return env
    if module == "__main__":
        raise ValueError(f"--nproc: {spec.name} is registered by the script that runs zoo, which the launched "
                         f"processes do not run; move it to a module and name that module in {MODULES_VARIABLE}")  # fmt: skip
    names = [m for m in env.get(MODULES_VARIABLE, "").split(",") if m]
    env[MODULES_VARIABLE] = ",".join(names if module in names else names + [module])
    file = getattr(sys.modules.get(module), "__file__", None)
    if file:
        root = str(Path(file).resolve().parents[module.count(".")])
        env["PYTHONPATH"] = os.pathsep.join([root] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


def launcher_command(nproc: int, zoo_arguments: List[str]) -> List[str]:
    """The command that runs ``zoo <arguments>`` in ``nproc`` processes on this machine."""
    return [
        sys.executable, "-m", "torch.distributed.run", "--standalone",
        f"--nproc-per-node={nproc}", "-m", "zoo", *zoo_arguments,
    ]  # fmt: skip
