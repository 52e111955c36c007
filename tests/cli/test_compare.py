"""`zoo compare`: two tiny models (the course's logistic regression and the diabetes MLP, both
binary classifiers) on the generated regression-toy set give a complete table and plot; every
mistake is one line before anything is written; Ctrl-C keeps the finished models; the latency
inputs fit the forward of every task."""

import json
from pathlib import Path
from typing import Any, Dict, List

import pytest
import torch
from typer.testing import CliRunner

from zoo.cli import app
from zoo.compare import latency
from zoo.train.batching import Shard
from zoo.train.request import TrainRequest
from zoo.train.setup import prepare

runner = CliRunner()
MODELS = ["logistic-regression", "diabetes-mlp"]
PNG = b"\x89PNG\r\n\x1a\n"


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0]


@pytest.fixture(scope="module")
def compared(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Any]:
    out = tmp_path_factory.mktemp("compare") / "toy"
    result = runner.invoke(app, ["compare", *MODELS, "--data", "regression-toy", "--epochs", "2", "--out", str(out)],
                           env={"COLUMNS": "250"})  # fmt: skip
    assert result.exit_code == 0, result.output
    return {"out": out, "output": result.stdout, "document": json.loads((out / "compare.json").read_text())}


def test_the_table_is_complete_and_sane(compared: Dict[str, Any]) -> None:
    document = compared["document"]
    assert document["status"] == "finished" and document["models"] == MODELS and document["metric"] == "accuracy"
    assert document["columns"] == ["model", "parameters", "s/epoch", "epochs", "best val accuracy", "test accuracy",
                                   "ms, batch 1 (CPU)", "ms, batch 64 (CPU)"]  # fmt: skip
    assert [row[0] for row in document["rows"]] == MODELS
    assert all(cell != "-" for row in document["rows"] for cell in row), document["rows"]
    for result, parameters in zip(document["results"], (2, 45)):  # 1->1; 1->6->4->1
        assert result["status"] == "finished" and result["parameters"] == parameters
        assert result["epochs"] == 2 and len(result["history"]) == 2 and result["best_epoch"] in (1, 2)
        assert 0.0 <= result["seconds_per_epoch"] < 60.0
        assert 0.0 <= result["best_val"]["accuracy"] <= 1.0 and 0.0 <= result["test"]["accuracy"] <= 1.0
        assert set(result["latency_ms"]) == {"1", "64"} and all(0.0 < ms < 1000.0 for ms in result["latency_ms"].values())
        # Each model's own run directory, as `zoo train` leaves it.
        assert (compared["out"] / result["run"] / "weights.safetensors").is_file()


def test_the_markdown_the_plot_and_the_printed_table(compared: Dict[str, Any]) -> None:
    out: Path = compared["out"]
    markdown = (out / "compare.md").read_text()
    for row in compared["document"]["rows"]:
        assert "| " + " | ".join(row) + " |" in markdown
    assert "![validation curves](curves.png)" in markdown
    notes = compared["document"]["notes"]
    assert "--epochs 2 for every model (given)" in notes
    assert "--lr not given: each model's recipe (logistic-regression 0.5, diabetes-mlp 0.005)" in notes
    assert (out / "curves.png").read_bytes().startswith(PNG)
    output = compared["output"]
    for index, model in enumerate(MODELS, start=1):  # one line as each model starts, one as it ends
        assert f"[{index}/2] {model}: training on regression-toy" in output
        assert f"[{index}/2] {model}: finished: best validation accuracy" in output
    assert "best val accuracy" in output and "epoch 2: train loss" in output  # the table; training's own lines
    assert sorted(p.name for p in out.iterdir()) == ["compare.json", "compare.md", "curves.png", *sorted(MODELS)]


@pytest.mark.parametrize(
    "arguments, line",
    [
        (["logistic-regresion", "diabetes-mlp"], "error: unknown model 'logistic-regresion' (did you mean 'logistic-regression'"),
        (MODELS + ["--data", "hello"], "error: logistic-regression (binary-classification) cannot train on 'hello' (pairs)"),
        (["logistic-regression", "linear-regression"], "error: logistic-regression (binary-classification) and linear-regression (regression) do different tasks"),
        (MODELS, "error: the models' default data sets differ (logistic-regression: regression-toy, diabetes-mlp: diabetes); pass --data"),
        (["diabetes-mlp"], "error: zoo compare needs at least two models, got 1"),
        (["rnn-classifier", "gru-classifier", "--data", "names"], "error: rnn-classifier reads real values (float32) but 'names' holds token ids"),
        (["diabetes-mlp", "logistic-regression", "diabetes-mlp"], "error: diabetes-mlp is named more than once"),
        (MODELS + ["--data", "regression-toy", "--set", "hidden_sizes=4"], "error: logistic-regression has no config field 'hidden_sizes'"),
        (MODELS + ["--data", "regression-toy", "--time-limit", "soon"], "error: --time-limit 'soon': give a positive duration"),
    ],
)  # fmt: skip
def test_mistakes_are_one_line_and_write_nothing(tmp_path: Path, arguments: List[str], line: str) -> None:
    out = tmp_path / "never"
    result = runner.invoke(app, ["compare", *arguments, "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert _one_error_line(result.stderr).startswith(line)
    assert not out.exists()


def test_an_existing_folder_needs_overwrite_and_must_be_a_comparison(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    for extra, line in (([], "already exists; pass --overwrite"), (["--overwrite"], "holds no compare.json, so it is not a comparison")):
        result = runner.invoke(app, ["compare", *MODELS, "--data", "regression-toy", "--out", str(tmp_path), *extra])
        assert result.exit_code == 2 and line in _one_error_line(result.stderr)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_ctrl_c_keeps_the_finished_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from zoo.compare import run as compare_run

    def interrupted_second(request: TrainRequest, console: Any) -> Any:
        if request.model == MODELS[1]:
            raise KeyboardInterrupt  # as Ctrl-C while the second model loads its data
        return real_train(request, console)

    real_train = compare_run.train
    monkeypatch.setattr(compare_run, "train", interrupted_second)
    out = tmp_path / "stopped"
    result = runner.invoke(app, ["compare", *MODELS, "--data", "regression-toy", "--epochs", "1", "--out", str(out)])
    assert result.exit_code == 130, result.output
    document = json.loads((out / "compare.json").read_text())
    assert document["status"] == "interrupted" and [r["model"] for r in document["results"]] == MODELS[:1]
    assert "interrupted during diabetes-mlp: 1 of 2 models done" in document["notes"]
    markdown = (out / "compare.md").read_text()
    assert "| logistic-regression |" in markdown and "| diabetes-mlp |" not in markdown
    assert not [p.name for p in out.rglob(".*tmp-*")]  # no half-written file


@pytest.mark.parametrize(
    "model, options",
    [("hello-rnncell", {}), ("lstm-forecaster", {}), ("char-rnn", {"bptt": 8}), ("seq2seq-lstm", {}), ("name-gru", {})],
)
def test_latency_inputs_fit_each_task(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model: str, options: Dict[str, Any]) -> None:
    """Tagging, forecasting, a language model, seq2seq and padded sequences: the inputs are
    validation data as each task feeds it, at batch 1 and 64."""
    monkeypatch.setattr(latency, "WARMUP", 1)
    monkeypatch.setattr(latency, "RUNS", 1)
    monkeypatch.setattr(latency, "MIN_RUNS", 1)
    run = prepare(TrainRequest(model, out=tmp_path / "never", **options), Shard(), torch.device("cpu"))
    measured = latency.measure(run.model, run.task)
    assert set(measured.milliseconds) == {1, 64} and all(ms > 0.0 for ms in measured.milliseconds.values())
    assert measured.threads == 1 and measured.examples >= 1
    assert not (tmp_path / "never").exists()


def test_grad_norms_draws_the_recurrent_models_side_by_side(tmp_path: Path) -> None:
    """--grad-norms trains each model with `zoo train --grad-norms` and draws its first layer's
    norms: one probe before training and one after each epoch, as many norms as steps."""
    out = tmp_path / "gated"
    models = ["rnn-classifier", "gru-classifier"]
    result = runner.invoke(app, ["compare", *models, "--data", "copy-marked:6", "--epochs", "1", "--limit-batches", "2",
                                 "--set", "hidden_size=8", "--grad-norms", "--out", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    document = json.loads((out / "compare.json").read_text())
    for model, entry in zip(models, document["results"]):
        assert entry["model"] == model
        assert [p["after_epoch"] for p in entry["grad_norms"]] == [0, 1]
        assert all(len(p["norms"]) == 6 and all(n > 0 for n in p["norms"]) for p in entry["grad_norms"])
        assert entry["grad_norms"][0]["layer"] == "encoder layer 0, forward"
    assert (out / "gradnorms.png").read_bytes().startswith(PNG)
    assert "![gradient norms through time](gradnorms.png)" in (out / "compare.md").read_text()
