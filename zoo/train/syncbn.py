"""Batch normalisation over the whole global batch when several processes train together.

With DistributedDataParallel each process sees only its share of a batch, so a plain BatchNorm
would normalise (and update its running statistics) with the share's mean and variance, not
the batch's. ``torch.nn.SyncBatchNorm`` shares them, but only on GPUs (it needs the CUDA kernel
``batch_norm_stats``); on the CPU (gloo) ``CpuSyncBatchNorm`` does the same with two
differentiable all-reduces. Both keep BatchNorm's parameter and buffer names, so checkpoints
and the run's weights load into the plain model.
"""

from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm


class _SumOverRanks(torch.autograd.Function):
    """All-reduce (sum) whose backward is the all-reduce of the gradients: every process's loss
    depends on the sum, so each input's gradient collects all of theirs. (Written out because
    torch.distributed.nn.functional.all_reduce is deprecated.)"""

    @staticmethod
    def forward(ctx: Any, tensor: Tensor) -> Tensor:
        total = tensor.clone()
        dist.all_reduce(total)
        return total

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        total = grad.clone()
        dist.all_reduce(total)
        return total


class CpuSyncBatchNorm(_BatchNorm):
    """BatchNorm{1,2,3}d whose training statistics are those of every process's batch together.

    Gradients flow through the all-reduces (their backward is an all-reduce of the gradients),
    so each process's inputs get the gradient of the global normalisation, as a single process
    with the whole batch computes it.
    """

    def _check_input_dim(self, input: Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def forward(self, input: Tensor) -> Tensor:
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(input)
        self._check_input_dim(input)
        dims = [0] + list(range(2, input.dim()))  # every axis but the channels
        shape = [1, -1] + [1] * (input.dim() - 2)
        local_count = input.new_tensor([input.numel() / input.size(1)])
        sums = _SumOverRanks.apply(torch.cat([input.sum(dims), local_count]))  # (C + 1,)
        count = sums[-1].detach()
        mean = sums[:-1] / count
        centred = input - mean.view(shape)
        # Two passes (mean, then squared deviations) as F.batch_norm: E[x^2] - E[x]^2 cancels.
        var = _SumOverRanks.apply(centred.pow(2).sum(dims)) / count  # biased, as BatchNorm normalises
        output = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            output = output * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats:
            self._update_running_stats(mean.detach(), var.detach(), float(count))
        return output

    @torch.no_grad()
    def _update_running_stats(self, mean: Tensor, var: Tensor, count: float) -> None:
        self.num_batches_tracked.add_(1)
        factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        unbiased = var * count / max(count - 1.0, 1.0)  # BatchNorm keeps the unbiased variance
        self.running_mean.mul_(1.0 - factor).add_(mean, alpha=factor)
        self.running_var.mul_(1.0 - factor).add_(unbiased, alpha=factor)


def _to_cpu_sync(module: nn.Module) -> nn.Module:
    if isinstance(module, _BatchNorm) and not isinstance(module, (CpuSyncBatchNorm, nn.SyncBatchNorm)):
        synced = CpuSyncBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                                  module.track_running_stats)  # fmt: skip
        synced.load_state_dict(module.state_dict())
        synced.train(module.training)
        return synced
    for name, child in module.named_children():
        module.add_module(name, _to_cpu_sync(child))
    return module


def sync_batch_norm(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` with every BatchNorm sharing its statistics across the processes."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return _to_cpu_sync(model)
