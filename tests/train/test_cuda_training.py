"""Training on CUDA (skipped without a GPU): same numbers as the CPU, exact resume, nccl."""

import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from zoo.train.loop import TrainRequest, train

requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")


@pytest.fixture(autouse=True)
def _no_tf32():
    previous = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = previous


@requires_cuda
@pytest.mark.parametrize("name,overrides", [("mnist-cnn", {}), ("name-gru", {"dropout": 0.0}), ("char-lstm", {"dropout": 0.0})])
def test_a_short_cuda_run_follows_the_cpu_run(name, overrides, tmp_path):
    """SGD, not Adam: Adam's g / sqrt(v) turns rounding noise in near-zero gradients into
    full-size steps, which would compare the noise rather than the training. No dropout: the
    CPU and CUDA generators draw different masks."""
    common = dict(epochs=1, limit_batches=3, batch_size=16, optimizer="sgd", lr=0.1, momentum=0.0,
                  overrides=overrides)  # fmt: skip
    cpu = train(TrainRequest(name, device="cpu", out=tmp_path / "cpu", **common))
    cuda = train(TrainRequest(name, device="cuda", out=tmp_path / "cuda", **common))
    assert '"device": "cuda"' in (tmp_path / "cuda" / "config.json").read_text()
    a = load_file(str(tmp_path / "cpu" / "last" / "weights.safetensors"))
    b = load_file(str(tmp_path / "cuda" / "last" / "weights.safetensors"))
    for key in a:
        torch.testing.assert_close(b[key], a[key], atol=1e-4, rtol=1e-3)
    assert abs(cpu.best["loss"] - cuda.best["loss"]) < 1e-3


@requires_cuda
def test_cuda_resume_is_exact(tmp_path):
    common = dict(epochs=2, limit_batches=4, batch_size=16, device="cuda", schedule="constant",
                  overrides={"hidden_size": 32, "dropout": 0.3})  # fmt: skip
    train(TrainRequest("char-lstm", out=tmp_path / "straight", **common))
    train(TrainRequest("char-lstm", out=tmp_path / "split", **{**common, "epochs": 1}))
    train(TrainRequest("char-lstm", out=tmp_path / "split", resume=True, **common))
    a = load_file(str(tmp_path / "straight" / "last" / "weights.safetensors"))
    b = load_file(str(tmp_path / "split" / "last" / "weights.safetensors"))
    for key in a:
        torch.testing.assert_close(b[key], a[key], atol=1e-6, rtol=0)


@requires_cuda
def test_launched_run_uses_nccl(tmp_path):
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=1", "-m", "zoo",
               "train", "mnist-cnn", "--device", "cuda", "--epochs", "1", "--limit-batches", "3",
               "--out", str(tmp_path / "run")]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env={**os.environ})
    assert result.returncode == 0, result.stdout + result.stderr
    assert '"world_size": 1' in (tmp_path / "run" / "config.json").read_text()
