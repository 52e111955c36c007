"""The generated long-range sets `copy-first` and `copy-marked`: shapes, labels, seeding, the
length in the name."""

import pytest
import torch
from typer.testing import CliRunner

import zoo
from zoo.cli import app
from zoo.config import model_config
from zoo.data import is_dataset_name, load_dataset
from zoo.data.long_range import DEFAULT_LENGTHS, SYMBOLS
from zoo.train.tasks import make_task

runner = CliRunner()


def test_examples_are_one_hot_steps_labelled_by_the_first_symbol():
    data = load_dataset("copy-first:12")
    assert data.name == "copy-first:12" and data.kind == "steps"
    assert data.sizes() == {"train": 4000, "val": 500, "test": 500}
    assert data.dims == {"classes": SYMBOLS, "features": SYMBOLS} and len(data.labels) == SYMBOLS
    for split in data.splits.values():
        assert split.inputs.shape == (len(split), 12, SYMBOLS) and split.inputs.dtype == torch.float32
        assert torch.equal(split.inputs.sum(2), torch.ones(len(split), 12))  # one symbol per step
        assert torch.equal(split.targets, split.inputs[:, 0].argmax(1))
    # Every symbol is a label, and the noise after step 0 is uniform: no shortcut but step 0.
    counts = torch.bincount(data.splits["train"].targets, minlength=SYMBOLS)
    assert counts.min() > 400


def test_the_marked_symbol_is_the_label():
    data = load_dataset("copy-marked:9")
    assert data.name == "copy-marked:9" and data.kind == "steps"
    assert data.dims == {"classes": SYMBOLS, "features": SYMBOLS + 1}
    for split in data.splits.values():
        inputs = split.inputs  # (N, T, 8 symbols + the marker)
        assert inputs.shape == (len(split), 9, SYMBOLS + 1)
        assert torch.equal(inputs[:, :, :SYMBOLS].sum(2), torch.ones(len(split), 9))
        marker = inputs[:, :, SYMBOLS]
        assert torch.equal(marker.sum(1), torch.ones(len(split)))  # one marked step
        marked = marker.argmax(1)
        assert int(marked.max()) < 9 // 2 and set(marked.tolist()) == set(range(9 // 2))  # the first half
        assert torch.equal(split.targets, inputs[torch.arange(len(split)), marked, :SYMBOLS].argmax(1))


@pytest.mark.parametrize("name", sorted(DEFAULT_LENGTHS))
def test_default_length_and_seeding(name):
    default = load_dataset(name)
    assert default.name == f"{name}:{DEFAULT_LENGTHS[name]}"
    assert default.splits["train"].inputs.size(1) == DEFAULT_LENGTHS[name]
    again = load_dataset(f"{name}:{DEFAULT_LENGTHS[name]}")
    assert torch.equal(again.splits["val"].inputs, default.splits["val"].inputs)
    other = load_dataset(name, seed=1)
    assert not torch.equal(other.splits["train"].inputs, default.splits["train"].inputs)
    # Each split draws its own sequences.
    assert not torch.equal(default.splits["val"].inputs, default.splits["test"].inputs)


@pytest.mark.parametrize("name", ["copy-first:x", "copy-first:", "copy-first:1", "copy-marked:1001", "copy-marked:-5"])
def test_a_bad_length_is_one_line(name):
    base = name.partition(":")[0]
    assert is_dataset_name(name)  # a name, not a path: loading it says what is wrong
    with pytest.raises(ValueError, match=f"{base}:T with an integer T from 2 to 1000") as error:
        load_dataset(name)
    assert "\n" not in str(error.value)
    result = runner.invoke(app, ["train", "lstm-classifier", "--data", name, "--dry-run"])
    assert result.exit_code == 2 and f"{base}:T" in result.output and len(result.output.strip().splitlines()) == 1


def test_sequence_classifiers_take_their_input_size_from_the_data():
    copy_first, copy_marked, mnist = load_dataset("copy-first:5"), load_dataset("copy-marked:5"), load_dataset("mnist")
    for name in ("rnn-classifier", "manual-gru-classifier", "stacked-lstm-classifier"):
        spec = zoo.get_spec(name)
        assert model_config(spec, copy_first, spec.recipe.config, {}).input_size == SYMBOLS
        assert model_config(spec, copy_marked, spec.recipe.config, {}).input_size == SYMBOLS + 1
        assert model_config(spec, mnist, spec.recipe.config, {}).input_size == 28  # unchanged for MNIST
    regression = zoo.get_spec("linear-regression")
    with pytest.raises(ValueError, match="cannot train on 'copy-first:5' \\(steps\\)"):
        make_task(regression, regression.make_config(), copy_first, torch.device("cpu"))


def test_a_run_on_the_default_length_finds_its_data_again():
    """A run records `--data copy-marked` as its argument and `copy-marked:30` as its name:
    `zoo evaluate` reads that back as the data set's name, not as a path."""
    from zoo.registry import get_spec
    from zoo.train.evaluate import run_data

    data = load_dataset("copy-marked")
    again = run_data(get_spec("rnn-classifier"), {"name": data.name, "argument": "copy-marked", "sizes": data.sizes()}, 0)
    assert again.name == "copy-marked:30" and torch.equal(again.splits["test"].inputs, data.splits["test"].inputs)
    with pytest.raises(ValueError, match="copy-marked:٣٠"):
        load_dataset("copy-marked:٣٠")  # only ASCII digits give a length
