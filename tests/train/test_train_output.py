"""What `zoo train` prints: --dry-run's resolved settings, the run's first lines, progress in a
log (CliRunner's output is not a terminal), the last line, and where --resume continues."""

import io
import os
import re
import signal

from rich.console import Console
from typer.testing import CliRunner

from zoo.cli import app
from zoo.train import progress, tasks
from zoo.train.loop import TrainRequest, train

runner = CliRunner()
TINY = ["linear-regression", "--limit-batches", "2"]


def _plain(text: str) -> str:
    """Rich draws boxes and may wrap; collapse to words for matching."""
    return re.sub(r"[\s│┃|]+", " ", text)


def _lines(text: str):
    return [line for line in text.splitlines() if line.strip()]


def test_dry_run_prints_the_resolved_settings_and_writes_nothing(tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(app, ["train", "name-gru", "--dry-run", "--lr", "0.01", "--set", "num_layers=1",
                                 "--out", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert not out.exists()
    text = _plain(result.output)
    assert "name-gru on names (" in text and " parameters; 15 epochs x " in text
    assert "best epoch = highest validation accuracy" in text
    assert "config: vocab_size=88 (data), hidden_size=200 (recipe), num_layers=1 (option), dropout=0.3 (recipe)" in text
    for setting in ("hidden_size 200 recipe", "num_layers 1 option", "vocab_size 88 data", "num_classes 18 default",
                    "--epochs 15 recipe", "--lr 0.01 option", "--label-smoothing 0.1 recipe",
                    "--logit-adjustment 0.3 recipe", "--batch-size 64 default", "--data names default",
                    f"--out {out} option", "--device cpu (auto) default"):  # fmt: skip
        assert setting in text, setting
    assert "nothing was written" in text


def test_dry_run_makes_the_checks_of_a_run(tmp_path):
    out = tmp_path / "run"
    bad = runner.invoke(app, ["train", "name-gru", "--dry-run", "--lr", "-1", "--out", str(out)])
    assert bad.exit_code == 2
    assert len(bad.output.strip().splitlines()) == 1 and "--lr -1.0: use a number > 0" in bad.output
    assert not out.exists()
    assert runner.invoke(app, ["train", *TINY, "--epochs", "2", "--out", str(out)]).exit_code == 0
    taken = runner.invoke(app, ["train", *TINY, "--dry-run", "--out", str(out)])
    assert taken.exit_code == 2 and "already exists; pass --resume" in taken.output
    fewer = runner.invoke(app, ["train", "linear-regression", "--dry-run", "--resume", "--epochs", "1", "--out", str(out)])
    assert fewer.exit_code == 2 and "has already trained 2 epochs" in fewer.output
    assert len(fewer.output.strip().splitlines()) == 1
    more = runner.invoke(app, ["train", "linear-regression", "--dry-run", "--resume", "--epochs", "3", "--out", str(out)])
    assert more.exit_code == 0, more.output
    text = _plain(more.output)
    assert f"resuming {out} at epoch 3/3, step 0/2 (2 epoch(s) done; best so far: epoch " in text
    assert "--epochs 3 option" in text and "--lr 0.05 run" in text and "--limit-batches 2 run" in text


def test_a_log_gets_progress_lines_every_epoch_and_the_status_line_last(tmp_path, monkeypatch):
    """In a log, rich's bar drew nothing during an epoch, short epochs were skipped, and its
    last frame came after the final line."""
    monkeypatch.setattr(progress, "LOG_EVERY_S", 0.0)  # a progress line at every step
    result = runner.invoke(app, ["train", *TINY, "--epochs", "5", "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    lines = _lines(result.output)
    assert lines[1] == "best epoch = lowest validation rmse (a tie: the lower validation loss)"
    for epoch in range(1, 6):
        assert any(line.startswith(f"epoch {epoch}: train loss ") for line in lines), epoch
    assert re.search(r"^epoch 1/5 step 1/2: loss \d+\.\d{4}, [\d,]+ items/s, \d+ s in, ~\d+ s left$", result.output, re.M)
    assert "(best rmse)" in result.output
    assert lines[-1] == f"run saved in {tmp_path / 'run'}"


def test_stopped_run_ends_with_its_status_line_and_resume_says_where(tmp_path, monkeypatch):
    monkeypatch.setattr(progress, "LOG_EVERY_S", 0.0)
    real_loss = tasks.ExampleTask.loss
    calls = {"n": 0}

    def sigterm_at_step_3(self, model, batch):
        calls["n"] += 1
        if calls["n"] == 3:  # epoch 2, step 1
            os.kill(os.getpid(), signal.SIGTERM)  # the loop's handler sets a flag
        return real_loss(self, model, batch)

    monkeypatch.setattr(tasks.ExampleTask, "loss", sigterm_at_step_3)
    run = tmp_path / "run"
    stopped = runner.invoke(app, ["train", *TINY, "--epochs", "2", "--out", str(run)])
    assert stopped.exit_code == 130, stopped.output
    assert "epoch 2/2 step 1/2: loss" in stopped.output
    assert _lines(stopped.output)[-1] == f"stopped by SIGTERM; checkpoint in {run / 'last'}; continue with --resume"

    resumed = runner.invoke(app, ["train", "linear-regression", "--resume", "--out", str(run)])
    assert resumed.exit_code == 0, resumed.output
    assert f"resuming {run} at epoch 2/2, step 1/2 (1 epoch(s) done; best so far: epoch 1, rmse " in resumed.output
    assert "epoch 2: train loss" in resumed.output and "epoch 1: train loss" not in resumed.output


def test_the_bar_is_closed_before_the_last_line_on_a_terminal(tmp_path):
    """On a terminal the bar stays, but its last frame must not follow the status line."""
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=120)
    result = train(TrainRequest("linear-regression", epochs=2, limit_batches=2, time_limit=1e-9, out=tmp_path / "run"), console)
    assert result.status == "time-limit"
    text = screen.getvalue()
    assert "--time-limit reached at epoch 1, step 1/2" in text
    assert text.rfind("items/s") < text.rfind("--time-limit reached")
