"""`zoo train` as real processes: data parallel through torch.distributed.run, and SIGTERM."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

from zoo.train.loop import TrainRequest, train

ZOO = [sys.executable, "-m", "zoo"]
ENV = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}


def test_two_processes_give_the_weights_of_one(tmp_path):
    """--nproc 2 (gloo, each process half of every global batch) == one process, same seed."""
    options = ["--epochs", "1", "--limit-batches", "3", "--batch-size", "32"]
    launched = subprocess.run(ZOO + ["train", "mnist-cnn", "--nproc", "2", "--out", str(tmp_path / "ddp"), *options],
                              env=ENV, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert launched.returncode == 0, launched.stdout + launched.stderr
    train(TrainRequest("mnist-cnn", epochs=1, limit_batches=3, batch_size=32, out=tmp_path / "one"))
    ddp = load_file(str(tmp_path / "ddp" / "last" / "weights.safetensors"))
    one = load_file(str(tmp_path / "one" / "last" / "weights.safetensors"))
    for key in one:
        torch.testing.assert_close(ddp[key], one[key], atol=1e-5, rtol=0)
    assert '"world_size": 2' in (tmp_path / "ddp" / "config.json").read_text()


def test_batch_must_divide_among_processes(tmp_path):
    result = subprocess.run(ZOO + ["train", "mnist-cnn", "--nproc", "2", "--batch-size", "33", "--out", str(tmp_path / "r")],
                            env=ENV, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode != 0
    assert "--batch-size 33 must be a multiple of --nproc 2" in result.stdout + result.stderr


def test_sigterm_saves_last_and_resume_finishes(tmp_path):
    run = tmp_path / "run"
    command = ZOO + ["train", "char-gru", "--epochs", "3", "--limit-batches", "300", "--batch-size", "8",
                     "--set", "hidden_size=16", "--out", str(run)]  # fmt: skip
    process = subprocess.Popen(command, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120
    while not (run / "last" / "trainer.json").exists() and time.time() < deadline:
        time.sleep(0.05)  # the first checkpoint: epoch 1 done, epoch 2 running
    time.sleep(0.3)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 130, output
    assert "stopped by SIGTERM" in output and "--resume" in output
    trainer = (run / "last" / "trainer.json").read_text()
    assert '"epoch": 1' in trainer or '"epoch": 2' in trainer
    resumed = subprocess.run(command + ["--resume"], env=ENV, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 4 and '"split": "test"' in lines[-1]
    assert Path(run / "weights.safetensors").exists()
