"""`zoo train`'s options are ``Recipe``'s fields (declared once, in ``zoo.recipe``), and
``--nproc N`` relaunches with the arguments as given, less ``--nproc``."""

from dataclasses import fields

import pytest
from typer.testing import CliRunner

from zoo.cli import app
from zoo.cli.train import without_nproc
from zoo.recipe import Recipe, check_recipe, option_name, options
from zoo.train import distributed
from zoo.train.request import TrainRequest

runner = CliRunner()


def test_help_lists_every_recipe_option_with_its_declared_help():
    result = runner.invoke(app, ["train", "--help"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    declared = options()
    assert {f.name for f in declared} == {f.name for f in fields(Recipe)} - {"config"}
    for f in declared:
        assert option_name(f.name) in text and " ".join(f.metadata["help"].split()) in text, f.name


def test_the_request_takes_each_recipe_option_unset_by_default():
    request = TrainRequest("linear-regression", lr=0.5)
    for f in options():
        assert getattr(request, f.name) == (0.5 if f.name == "lr" else None), f.name


def test_each_option_is_checked_by_what_its_field_accepts():
    with pytest.raises(ValueError) as refused:
        check_recipe(Recipe(epochs=0, momentum=1.0, optimizer="adagrad"))
    assert str(refused.value) == "--epochs 0: use an integer >= 1; --optimizer adagrad: use adam or sgd; --momentum 1.0: use a number in [0, 1)"
    check_recipe(Recipe())


@pytest.mark.parametrize(
    "given, kept",
    [
        (["m", "--nproc", "2", "--lr", "0.1"], ["m", "--lr", "0.1"]),
        (["m", "--nproc=2", "--set", "hidden_size=8"], ["m", "--set", "hidden_size=8"]),
        (["m", "--resume", "--out", "r", "--nproc", "3"], ["m", "--resume", "--out", "r"]),
        (["m", "--time-limit", "90s"], ["m", "--time-limit", "90s"]),
    ],
)
def test_without_nproc_drops_only_nproc_and_its_value(given, kept):
    assert without_nproc(given) == kept


def test_nproc_launches_the_arguments_as_given(tmp_path, monkeypatch):
    launched = []
    monkeypatch.setattr("zoo.cli.train.subprocess.call", lambda command, env: launched.append(command) or 0)
    given = ["diabetes-mlp", "--epochs", "1", "--nproc", "2", "--batch-size", "16", "--time-limit", "1.5h",
             "--set", "hidden_sizes=4,2", "--out", str(tmp_path / "run")]  # fmt: skip
    result = runner.invoke(app, ["train", *given])
    assert result.exit_code == 0, result.output
    expected = ["diabetes-mlp", "--epochs", "1", "--batch-size", "16", "--time-limit", "1.5h", "--set", "hidden_sizes=4,2", "--out", str(tmp_path / "run")]
    assert launched == [distributed.launcher_command(2, ["train", *expected])]
    assert not (tmp_path / "run").exists()  # the launched processes write the run, not this one
