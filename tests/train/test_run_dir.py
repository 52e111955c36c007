"""The run directory survives mistakes: --overwrite deletes only runs, a checkpoint cut by a
kill is recovered on --resume, and a full disk keeps the previous checkpoint."""

import errno
import json
import os
import shutil

import pytest
from safetensors.torch import load_file
from typer.testing import CliRunner

from zoo.cli import app
from zoo.store import atomic
from zoo.train import checkpoint, rundir
from zoo.train.loop import TrainRequest, train

runner = CliRunner()
TINY = ["linear-regression", "--limit-batches", "2"]  # a fraction of a second per epoch


def _trainer(run):
    return json.loads((run / "last" / "trainer.json").read_text())


def _one_error_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize("foreign,beside_a_run", [("thesis.tex", False), ("notes", True)])
def test_overwrite_refuses_a_folder_that_is_not_a_run(tmp_path, foreign, beside_a_run):
    """`--out d --overwrite` once deleted a folder holding thesis.tex."""
    folder = tmp_path / "d"
    folder.mkdir()
    if beside_a_run:  # even in a run directory, a file the run did not write is kept
        (folder / "last").mkdir()
        (folder / "config.json").write_text("{}", encoding="utf-8")
    (folder / foreign).write_text("years of work", encoding="utf-8")
    result = runner.invoke(app, ["train", *TINY, "--epochs", "1", "--out", str(folder), "--overwrite"])
    assert result.exit_code == 2
    assert f"--out {folder} is not a run directory (it holds {foreign}); --overwrite replaces only runs" in _one_error_line(result)
    assert (folder / foreign).read_text(encoding="utf-8") == "years of work"


def test_overwrite_replaces_a_run_and_an_empty_folder_is_used(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    assert runner.invoke(app, ["train", *TINY, "--epochs", "1", "--out", str(run)]).exit_code == 0
    (run / "confusion.png").write_bytes(b"stale")  # a run file the new run does not write
    assert runner.invoke(app, ["train", *TINY, "--epochs", "2", "--out", str(run), "--overwrite"]).exit_code == 0
    assert not (run / "confusion.png").exists() and _trainer(run)["epoch"] == 2


@pytest.fixture
def two_checkpoints(tmp_path):
    """A run after epoch 2, and a copy of its checkpoint after epoch 1."""
    run = tmp_path / "run"
    train(TrainRequest("linear-regression", epochs=1, limit_batches=2, out=run))
    shutil.copytree(run / "last", tmp_path / "epoch1")
    train(TrainRequest("linear-regression", epochs=2, limit_batches=2, out=run, resume=True))
    return run, tmp_path / "epoch1"


def _killed_between_renames(run, epoch1, complete: bool) -> None:
    """What kill -9 between save_checkpoint's two renames leaves: last.old (the previous
    checkpoint), last.tmp (the new one, complete or not) and no last/."""
    os.replace(run / "last", run / "last.tmp")
    shutil.copytree(epoch1, run / "last.old")
    if not complete:
        (run / "last.tmp" / checkpoint.COMPLETE).unlink()


@pytest.mark.parametrize("complete,epoch", [(True, 2), (False, 1)])
def test_recovery_takes_a_complete_new_checkpoint_else_the_previous(two_checkpoints, complete, epoch):
    run, epoch1 = two_checkpoints
    _killed_between_renames(run, epoch1, complete)
    rundir.prepare_out(run, resume=True, overwrite=False)
    assert _trainer(run)["epoch"] == epoch
    assert not (run / "last.tmp").exists() and not (run / "last.old").exists()


def test_resume_after_a_kill_between_the_renames(two_checkpoints):
    """--resume used to say "holds no checkpoint": the recovery was never reached."""
    run, epoch1 = two_checkpoints
    _killed_between_renames(run, epoch1, complete=True)
    result = runner.invoke(app, ["train", "linear-regression", "--out", str(run), "--resume", "--epochs", "3"])
    assert result.exit_code == 0, result.output
    assert "epoch 3:" in result.output and "epoch 2:" not in result.output  # went on from epoch 2
    assert _trainer(run)["epoch"] == 3


@pytest.mark.parametrize("victim", ["last.tmp/optimizer.pt", ".weights.safetensors.tmp"])
def test_full_disk_is_one_line_and_keeps_the_last_checkpoint(tmp_path, monkeypatch, victim):
    """ENOSPC halfway through a checkpoint (or the best weights): exit 1, one line, the partial
    file removed, last/ as it was, and --resume works once there is space again."""
    run = tmp_path / "run"
    train(TrainRequest("linear-regression", epochs=1, limit_batches=2, out=run))
    trainer, weights = _trainer(run), load_file(str(run / "last" / "weights.safetensors"))
    real = atomic.write_bytes

    def disk_full_at_victim(path, data):
        if f"{path.parent.name}/{path.name}".startswith(victim) or path.name.startswith(victim):
            real(path, data[: len(data) // 2])  # the disk fills halfway through
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real(path, data)

    monkeypatch.setattr(atomic, "write_bytes", disk_full_at_victim)
    command = ["train", "linear-regression", "--out", str(run), "--resume", "--epochs", "2"]
    result = runner.invoke(app, command)
    assert result.exit_code == 1
    assert "No space left on device" in _one_error_line(result)
    assert sorted(p.name for p in run.iterdir()) == ["config.json", "curves.png", "last", "metrics.jsonl", "weights.safetensors"]
    assert _trainer(run) == trainer
    assert load_file(str(run / "last" / "weights.safetensors")).keys() == weights.keys()
    monkeypatch.setattr(atomic, "write_bytes", real)
    assert runner.invoke(app, command).exit_code == 0
    assert _trainer(run)["epoch"] == 2
