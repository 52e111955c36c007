"""`zoo train` end to end: every model on its default data, exact resume, stops and faults."""

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

import zoo
from zoo.cli import app
from zoo.rebuild import load_run
from zoo.recipe import Recipe
from zoo.train import tasks
from zoo.train.loop import TrainRequest, train
from zoo.train.tasks.augment import shift_images

runner = CliRunner()
TRAINABLE = [n for n in zoo.list_models() if zoo.get_spec(n).default_data]
RUN_FILES = {"config.json", "weights.safetensors", "metrics.jsonl", "curves.png", "last"}
LAST_FILES = {"weights.safetensors", "optimizer.pt", "scheduler.pt", "rng.pt", "carried.safetensors", "trainer.json"}


def _metrics(run: Path):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def _without_time(rows):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]


def _weights(path: Path):
    return load_file(str(path))


def test_encoders_have_no_default_data():
    assert set(zoo.list_models()) - set(TRAINABLE) == {"manual-rnn", "manual-lstm", "manual-gru"}
    with pytest.raises(ValueError, match="manual-lstm has no default data set .*pass --data NAME"):
        train(TrainRequest("manual-lstm", out=Path("/tmp/unused-run")))


def test_hello_rnncell_learns_ohlol_from_the_cli(tmp_path):
    result = runner.invoke(app, ["train", "hello-rnncell", "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert "prediction 'ohlol'" in result.output
    test_row = _metrics(tmp_path / "run")[-1]
    assert test_row["split"] == "test" and test_row["prediction"] == "ohlol"
    assert test_row["exact_match"] == 1.0


@pytest.mark.parametrize("name", TRAINABLE)
def test_every_model_trains_on_its_default_data(name, tmp_path):
    """Two short epochs end to end: every file of the run directory, finite metrics."""
    spec = zoo.get_spec(name)
    run = tmp_path / "run"
    result = train(TrainRequest(name, epochs=2, limit_batches=2, batch_size=8, out=run))
    assert result.status == "finished" and result.epochs_done == 2
    files = {p.name for p in run.iterdir()}
    expected = RUN_FILES | ({"confusion.png"} if spec.task.endswith("classification") else set())
    assert expected <= files, files
    assert LAST_FILES <= {p.name for p in (run / "last").iterdir()}
    document = json.loads((run / "config.json").read_text())
    assert document["model"] == name and document["data"]["name"] == spec.default_data
    assert document["versions"]["torch"] == torch.__version__
    rows = _metrics(run)
    assert [r.get("epoch") for r in rows[:-1]] == [1, 2] and rows[-1]["split"] == "test"
    for value in rows[-1].values():
        if isinstance(value, float):
            assert value == value and abs(value) != float("inf")
    # The best weights rebuild the model from config.json alone.
    _, _, _, model = load_run(run)
    assert sum(p.numel() for p in model.parameters()) > 0


@pytest.mark.parametrize("name,overrides", [("name-gru", {"hidden_size": 16}), ("char-lstm", {"hidden_size": 16, "dropout": 0.3})])
def test_resume_after_one_epoch_equals_two_epochs_straight(name, overrides, tmp_path):
    """Data order, dropout RNG, optimizer and carried LM state all continue exactly.

    The schedule is constant here: a cosine schedule spans --epochs, so extending a finished
    1-epoch run to 2 changes it (a run stopped early continues its schedule: next test)."""
    common = dict(limit_batches=4, batch_size=16, overrides=overrides, schedule="constant")
    train(TrainRequest(name, epochs=2, out=tmp_path / "straight", **common))
    train(TrainRequest(name, epochs=1, out=tmp_path / "split", **common))
    train(TrainRequest(name, epochs=2, out=tmp_path / "split", resume=True, **common))
    straight, split = _weights(tmp_path / "straight" / "last" / "weights.safetensors"), _weights(tmp_path / "split" / "last" / "weights.safetensors")
    for key in straight:
        torch.testing.assert_close(split[key], straight[key], atol=1e-6, rtol=0)
    assert _without_time(_metrics(tmp_path / "split")) == _without_time(_metrics(tmp_path / "straight"))


def test_interrupted_mid_epoch_resumes_exactly(tmp_path, monkeypatch):
    """A SIGTERM in the middle of an epoch saves last/; --resume then ends where a straight run ends."""
    common = dict(epochs=2, limit_batches=6, batch_size=16, overrides={"hidden_size": 16})
    train(TrainRequest("char-gru", out=tmp_path / "straight", **common))
    calls = {"n": 0}
    original = tasks.LanguageModelTask.loss

    def loss_then_signal(self, model, batch):
        calls["n"] += 1
        if calls["n"] == 9:  # epoch 2, step 3
            import signal

            signal.raise_signal(signal.SIGTERM)
        return original(self, model, batch)

    monkeypatch.setattr(tasks.LanguageModelTask, "loss", loss_then_signal)
    stopped = train(TrainRequest("char-gru", out=tmp_path / "split", **common))
    assert stopped.status == "interrupted"
    trainer = json.loads((tmp_path / "split" / "last" / "trainer.json").read_text())
    assert (trainer["epoch"], trainer["step"]) == (1, 3)
    monkeypatch.setattr(tasks.LanguageModelTask, "loss", original)
    train(TrainRequest("char-gru", out=tmp_path / "split", resume=True, **common))
    straight, split = _weights(tmp_path / "straight" / "last" / "weights.safetensors"), _weights(tmp_path / "split" / "last" / "weights.safetensors")
    for key in straight:
        torch.testing.assert_close(split[key], straight[key], atol=1e-6, rtol=0)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    run = tmp_path / "run"
    train(TrainRequest("diabetes-mlp", epochs=1, limit_batches=2, out=run))
    good = _weights(run / "last" / "weights.safetensors")
    original = tasks.ExampleTask.loss

    def nan_loss(self, model, batch):
        terms = original(self, model, batch)
        return terms._replace(total=terms.total * float("nan"))

    monkeypatch.setattr(tasks.ExampleTask, "loss", nan_loss)
    result = runner.invoke(app, ["train", "diabetes-mlp", "--out", str(run), "--resume", "--epochs", "3", "--limit-batches", "2"])
    assert result.exit_code == 1
    assert "the loss became nan at epoch 2, step 1" in result.output
    assert "last good checkpoint" in result.output
    kept = _weights(run / "last" / "weights.safetensors")
    for key in good:
        assert torch.equal(kept[key], good[key])


def test_pretrained_embeddings_frozen(tmp_path):
    from zoo.data import load_dataset

    words = load_dataset("sentiment").vocab.tokens[2:12]
    glove = tmp_path / "vectors.txt"
    glove.write_text("".join(f"{w} " + " ".join(str(0.01 * (i + j)) for j in range(6)) + "\n" for i, w in enumerate(words)))
    run = tmp_path / "run"
    train(TrainRequest("text-classifier", epochs=1, limit_batches=2, batch_size=8, out=run, embeddings=glove,
                       freeze_embeddings=True, overrides={"hidden_size": 8}))  # fmt: skip
    weights = _weights(run / "weights.safetensors")
    assert weights["embedding.weight"].shape[1] == 6, "embedding_dim follows the vectors' size"
    torch.testing.assert_close(weights["embedding.weight"][2], torch.tensor([0.01 * j for j in range(6)]))


@pytest.mark.parametrize(
    "arguments,message",
    [
        (["train", "no-such-model"], "unknown model 'no-such-model'"),
        (["train", "name-gru", "--data", "nmaes"], "neither a data set"),
        (["train", "name-gru", "--set", "hiden_size=3"], "did you mean 'hidden_size'"),
        (["train", "name-gru", "--set", "num_classes=5"], "--set num_classes=5 contradicts the data"),
        (["train", "seq2seq-lstm", "--data", "names"], "cannot train on 'names'"),
        (["train", "name-gru", "--optimizer", "rmsprop"], "--optimizer rmsprop: use adam or sgd"),
        (["train", "name-gru", "--optimizer", "adamw"], "--optimizer adamw: use adam or sgd"),
        (["train", "char-rnn", "--schedule", "linear"], "--schedule linear: use constant or cosine"),
        (["train", "char-rnn", "--bptt", "0"], "--bptt 0: use an integer >= 1"),
        (["train", "name-gru", "--lr", "-1"], "--lr -1.0: use a number > 0"),
        (["train", "name-gru", "--epochs", "0", "--lr", "nan"], "--epochs 0: use an integer >= 1; --lr nan: use a number > 0"),
        (["train", "name-gru", "--label-smoothing", "1.5"], "--label-smoothing 1.5: use a number in [0, 1)"),
        (["train", "diabetes-mlp", "--label-smoothing", "0.1"], "--label-smoothing needs a multi-class classifier"),
        (["train", "name-gru", "--limit-batches", "0"], "--limit-batches 0: use an integer >= 1"),
        (["train", "name-gru", "--nproc", "0"], "--nproc 0: use an integer >= 1"),
        (["train", "hello-rnncell", "--nproc", "2"], "holds 1 example(s), fewer than the 2 processes of --nproc 2"),
        (["train", "name-gru", "--resume", "--overwrite"], "holds no checkpoint"),
        (["train", "name-gru", "--embeddings", "/no/vectors.txt"], "--embeddings /no/vectors.txt: no such file"),
        (["train", "name-gru", "--time-limit", "soon"], "--time-limit 'soon'"),
    ],
)
def test_bad_arguments_fail_with_one_line_and_create_nothing(arguments, message, tmp_path):
    """Every option is checked before the run directory is made: a typo leaves no empty run."""
    result = runner.invoke(app, arguments + ["--out", str(tmp_path / "run")])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_malformed_user_file_names_file_and_line(tmp_path):
    folder = tmp_path / "reviews"
    folder.mkdir()
    (folder / "mine_labelled.txt").write_text("great\t1\nawful\n", encoding="utf-8")
    result = runner.invoke(app, ["train", "sentiment-lstm", "--data", str(folder), "--out", str(tmp_path / "run")])
    assert result.exit_code == 2
    assert "mine_labelled.txt:2: expected 'sentence<TAB>0'" in result.output
    assert not (tmp_path / "run").exists()


def test_a_language_with_two_names_is_refused_before_the_run_is_made(tmp_path):
    """It used to fail inside torch.cat (no validation example), leaving the run folder behind."""
    folder = tmp_path / "names"
    folder.mkdir()
    (folder / "Elvish.txt").write_text("Elrond\nArwen\n", encoding="utf-8")
    (folder / "Dwarvish.txt").write_text("".join(f"Gimli{i}\n" for i in range(10)), encoding="utf-8")
    result = runner.invoke(app, ["train", "name-gru", "--data", str(folder), "--out", str(tmp_path / "run")])
    assert result.exit_code == 2
    assert "language 'Elvish' has 2 surnames; every language needs at least 3" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_existing_out_is_refused_unless_resume_or_overwrite(tmp_path):
    run = tmp_path / "run"
    assert runner.invoke(app, ["train", "linear-regression", "--epochs", "1", "--out", str(run)]).exit_code == 0
    refused = runner.invoke(app, ["train", "linear-regression", "--epochs", "1", "--out", str(run)])
    assert refused.exit_code == 2 and "already exists; pass --resume" in refused.output
    assert runner.invoke(app, ["train", "linear-regression", "--epochs", "1", "--out", str(run), "--overwrite"]).exit_code == 0
    missing = runner.invoke(app, ["train", "linear-regression", "--out", str(tmp_path / "none"), "--resume"])
    assert missing.exit_code == 2 and "holds no checkpoint" in missing.output


def test_evaluate_prints_the_test_metrics(tmp_path):
    run = tmp_path / "run"
    train(TrainRequest("mnist-cnn", epochs=1, limit_batches=3, out=run))
    result = runner.invoke(app, ["evaluate", str(run)])
    assert result.exit_code == 0, result.output
    accuracy = _metrics(run)[-1]["accuracy"]
    assert f"{accuracy:.4f}" in result.output
    bad = runner.invoke(app, ["evaluate", str(tmp_path)])
    assert bad.exit_code == 2 and "is not a run directory" in bad.output


def test_linear_regression_learns_y_equals_2x(tmp_path):
    result = train(TrainRequest("linear-regression", out=tmp_path / "run"))
    _, _, _, model = load_run(tmp_path / "run")
    assert result.test["rmse"] < 0.05
    assert abs(model.linear.weight.item() - 2.0) < 0.05


def test_class_weights_follow_inverse_frequency():
    from zoo.data import load_dataset
    from zoo.registry import get_spec

    spec = get_spec("name-gru")
    data = load_dataset("names")
    task = tasks.make_task(spec, spec.make_config(vocab_size=len(data.vocab)), data, torch.device("cpu"))
    task.weight_classes(0.5)
    weights = task.class_weights
    counts = torch.bincount(torch.tensor(data.splits["train"].labels), minlength=18).double()
    assert abs(weights.mean().item() - 1.0) < 1e-6
    expected = counts.pow(-0.5) / counts.pow(-0.5).mean()
    torch.testing.assert_close(weights.double(), expected, atol=1e-6, rtol=0)
    binary = tasks.make_task(get_spec("sentiment-lstm"), get_spec("sentiment-lstm").make_config(), load_dataset("sentiment"),
                             torch.device("cpu"))  # fmt: skip
    with pytest.raises(ValueError, match="--class-weight-power needs a multi-class classifier; sentiment-lstm's task is binary-classification"):
        binary.configure(Recipe(class_weight_power=0.5))


def test_resume_with_another_config_is_refused(tmp_path):
    run = tmp_path / "run"
    train(TrainRequest("diabetes-mlp", epochs=1, limit_batches=1, out=run))
    result = runner.invoke(app, ["train", "diabetes-mlp", "--out", str(run), "--resume", "--set", "hidden_sizes=7,3"])
    assert result.exit_code == 2
    assert "was trained with other arguments: --set hidden_sizes=7,3 (the run: 6,4)" in result.output


def test_logit_adjustment_offsets_are_tau_log_prior():
    from zoo.data import load_dataset
    from zoo.registry import get_spec

    spec = get_spec("name-gru")
    data = load_dataset("names")
    task = tasks.make_task(spec, spec.make_config(vocab_size=len(data.vocab)), data, torch.device("cpu"))
    task.adjust_logits(0.5)
    counts = torch.bincount(torch.tensor(data.splits["train"].labels), minlength=18).double()
    torch.testing.assert_close(task.logit_offsets.double(), 0.5 * (counts / counts.sum()).log(), atol=1e-6, rtol=0)


def test_every_task_but_the_encoder_has_a_task_class():
    from zoo.registry import TASKS

    assert set(tasks.TASK_CLASSES) == set(TASKS) - {"encoder"}
    for cls in (cls for classes in tasks.TASK_CLASSES.values() for cls in classes):
        assert cls.kinds and cls.selection[0] and set(cls.options) <= set(tasks.base.TASK_OPTIONS)


def test_a_sequence_model_reads_an_image_row_by_row_and_gets_lengths_by_name():
    """The lengths go to the input the signature pairs with the data input (its ragged pair)."""
    from zoo.data import load_dataset
    from zoo.registry import get_spec

    spec = get_spec("lstm-classifier")
    data = load_dataset("mnist")
    task = tasks.make_task(spec, spec.make_config(), data, torch.device("cpu"))
    (rows, lengths), target = task.collate(data.splits["train"], [0, 5, 9])
    assert torch.equal(rows, data.splits["train"].inputs[[0, 5, 9], 0])  # (3, 28 rows, 28 pixels)
    assert lengths.tolist() == [28, 28, 28] and target.shape == (3,)


def test_shift_augmentation_moves_whole_digits():
    images = torch.full((5, 1, 28, 28), -0.4242)
    images[:, :, 10:18, 10:18] = 2.0
    offsets = torch.tensor([[0, 0], [4, 4], [2, 2], [0, 4], [3, 1]])
    shifted = shift_images(images, offsets, 2)
    assert shifted.shape == images.shape
    for image, (dy, dx) in zip(shifted, offsets.tolist()):
        rows, cols = torch.nonzero(image[0] > 0, as_tuple=True)
        assert rows.numel() == 64, "the square moved whole, nothing cut"
        assert (int(rows.min()), int(cols.min())) == (10 + 2 - dy, 10 + 2 - dx)
    assert torch.equal(shifted[2], images[2]), "offset (2, 2) is no move"
