"""--resume continues a run with its own training arguments, from the step it stopped at."""

import json

import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from zoo.cli import app
from zoo.train import loop, tasks

runner = CliRunner()
OPTIONS = ["--epochs", "2", "--limit-batches", "6", "--batch-size", "16", "--lr", "0.003", "--set", "hidden_size=16"]


def _rows(run):
    """metrics.jsonl without the timings."""
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]


def test_time_limit_mid_epoch_then_resume_alone_equals_a_straight_run(tmp_path, monkeypatch):
    """--time-limit used to count a partly done epoch as done; now it saves the step (as SIGTERM
    does) and tests the best weights so far. `--resume` with no other option takes the run's
    own arguments (batch size, epochs, limit, lr, --set) and ends where a straight run ends."""
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert runner.invoke(app, ["train", "char-gru", "--out", str(straight), *OPTIONS]).exit_code == 0
    clock = {"now": 0.0}
    real_loss = tasks.LanguageModelTask.loss

    def one_second_per_step(self, model, batch):
        clock["now"] += 1.0
        return real_loss(self, model, batch)

    monkeypatch.setattr(loop, "perf_counter", lambda: clock["now"])
    monkeypatch.setattr(tasks.LanguageModelTask, "loss", one_second_per_step)
    stopped = runner.invoke(app, ["train", "char-gru", "--out", str(split), "--time-limit", "8.5s", *OPTIONS])
    assert stopped.exit_code == 0, stopped.output
    assert "--time-limit reached at epoch 2, step 3/6" in stopped.output  # 9 steps > 8.5 s
    trainer = json.loads((split / "last" / "trainer.json").read_text())
    assert (trainer["epoch"], trainer["step"]) == (1, 3)
    assert _rows(split)[-1]["split"] == "test" and _rows(split)[-1]["best_epoch"] == 1

    conflicting = runner.invoke(app, ["train", "char-gru", "--out", str(split), "--resume", "--batch-size", "32",
                                      "--lr", "0.003", "--set", "hidden_size=8", "--device", "cpu", "--time-limit", "1h"])  # fmt: skip
    assert conflicting.exit_code == 2
    assert conflicting.output.count("\n") == 1
    assert ("was trained with other arguments: --batch-size 32 (the run: 16), --set hidden_size=8 (the run: 16); "
            "leave them out") in conflicting.output  # fmt: skip
    assert json.loads((split / "last" / "trainer.json").read_text()) == trainer

    resumed = runner.invoke(app, ["train", "char-gru", "--out", str(split), "--resume"])
    assert resumed.exit_code == 0, resumed.output
    a = load_file(str(straight / "last" / "weights.safetensors"))
    b = load_file(str(split / "last" / "weights.safetensors"))
    for key in a:
        torch.testing.assert_close(b[key], a[key], atol=1e-6, rtol=0)
    assert _rows(split) == _rows(straight)
    stored = json.loads((split / "config.json").read_text())["training"]
    assert (stored["requested_batch_size"], stored["epochs"], stored["limit_batches"], stored["lr"]) == (16, 2, 6, 0.003)


def test_resume_refuses_fewer_epochs_than_done(tmp_path):
    run = tmp_path / "run"
    assert runner.invoke(app, ["train", "linear-regression", "--epochs", "2", "--limit-batches", "1", "--out", str(run)]).exit_code == 0
    result = runner.invoke(app, ["train", "linear-regression", "--out", str(run), "--resume", "--epochs", "1"])
    assert result.exit_code == 2
    assert "--epochs 1: " in result.output and "has already trained 2 epochs" in result.output
    assert json.loads((run / "config.json").read_text())["training"]["epochs"] == 2
