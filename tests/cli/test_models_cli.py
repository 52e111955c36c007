"""`zoo --help/--version` and `zoo models list|info|check`, through Typer's CliRunner."""

import re

import pytest
from typer.testing import CliRunner

import zoo
from zoo.cli import app

runner = CliRunner()


def _plain(text: str) -> str:
    """Rich draws boxes and may wrap; collapse to words for matching."""
    return re.sub(r"[\s│┃|]+", " ", text)


def test_help_lists_the_nouns():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "models" in result.output


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"zoo {zoo.__version__}"


def test_models_list_shows_the_layers():
    result = runner.invoke(app, ["models", "list"])
    assert result.exit_code == 0, result.output
    for name in ("manual-rnn", "manual-lstm", "manual-gru"):
        assert name in result.output
    assert "99,328" in result.output  # manual-lstm's default parameter count


def test_models_list_shows_every_model_whole_on_a_narrow_terminal():
    result = runner.invoke(app, ["models", "list"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    listed = {line.split()[0] for line in result.output.splitlines() if line.strip()}
    assert set(zoo.list_models()) <= listed
    assert max(len(line) for line in result.output.splitlines()) <= 80


@pytest.mark.parametrize("name", zoo.list_models())
def test_models_info_describes_every_model(name):
    spec = zoo.get_spec(name)
    result = runner.invoke(app, ["models", "info", name])
    assert result.exit_code == 0, result.output
    text = _plain(result.output)
    assert f"{name}: {spec.description}" in text
    assert f"follows: {spec.origin}" in text
    assert f"task: {spec.task}" in text
    signature = spec.signature(spec.make_config())
    for tensor in signature.inputs + signature.outputs:
        assert f" {tensor.name} {tensor.dtype} (" in text
    for method in spec.methods:
        assert method in text


def test_models_list_pattern_and_markdown():
    result = runner.invoke(app, ["models", "list", "*gru*", "--markdown"])
    assert result.exit_code == 0, result.output
    assert "| `manual-gru` | encoder | 74,496 |" in result.output
    assert "manual-lstm" not in result.output


def test_models_list_without_match_fails():
    result = runner.invoke(app, ["models", "list", "nothing*"])
    assert result.exit_code == 2
    assert "no model matches 'nothing*'" in result.output


def test_models_info_shows_config_and_signature():
    result = runner.invoke(app, ["models", "info", "manual-lstm"])
    assert result.exit_code == 0, result.output
    text = _plain(result.output)
    assert "hidden_size int 128 hidden units per direction" in text
    assert "input input float32 (batch, time, 64)" in text
    assert "output c_n float32 (1, batch, 128)" in text
    assert "h_0 <- h_n, c_0 <- c_n" in text


def test_models_info_unknown_name_suggests():
    result = runner.invoke(app, ["models", "info", "manual-lstn"])
    assert result.exit_code == 2
    assert "did you mean 'manual-lstm'" in result.output


def test_models_check_a_language_model_with_overrides():
    result = runner.invoke(app, ["models", "check", "char-gru", "--set", "num_layers=1", "--set", "hidden_size=16"])
    assert result.exit_code == 0, result.output
    assert "(2, 7, 65)" in result.output  # logits: batch 2, time 7, 65 characters


def test_models_check_scripts_and_compares():
    result = runner.invoke(app, ["models", "check", "manual-gru", "--set", "bidirectional=true", "--set", "num_layers=2", "--time", "5"])
    assert result.exit_code == 0, result.output
    assert "ok: scripted, saved, reloaded and equal to eager" in result.output
    assert "(2, 5, 256)" in result.output


@pytest.mark.parametrize(
    "model, override, message",
    [
        ("manual-gru", "hiden_size=3", "did you mean 'hidden_size'"),
        ("manual-gru", "hidden_size=big", "hidden_size takes a value of type int"),
        ("manual-gru", "hidden_size", "--set expects key=value"),
        ("manual-rnn", "nonlinearity=gelu", "nonlinearity must be 'tanh' or 'relu'"),
        ("hello-rnncell", "hidden_size=8", "hidden_size must equal vocab_size"),
        ("mnist-mlp", "hidden_sizes=64,wide", "comma-separated integers"),
        ("seq2seq-lstm", "bos_id=99", "bos_id must lie in [0, tgt_vocab_size)"),
    ],
)
def test_models_check_rejects_bad_overrides(model, override, message):
    result = runner.invoke(app, ["models", "check", model, "--set", override])
    assert result.exit_code == 2
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1, "the error must be one line"


def test_models_list_matches_a_part_of_the_name_in_any_case():
    """`zoo models list gru` used to find nothing: only the glob '*gru*' matched."""
    for pattern in ("gru", "GRU"):
        result = runner.invoke(app, ["models", "list", pattern])
        assert result.exit_code == 0, result.output
        listed = {line.split()[0] for line in result.output.splitlines() if line.strip()}
        assert {"name-gru", "char-gru", "gru-classifier", "manual-gru", "manual-gru-classifier"} <= listed
        assert not any("lstm" in name for name in listed)
    assert zoo.list_models("gru") == [n for n in zoo.list_models() if "gru" in n]
    assert zoo.list_models("*LSTM*") == zoo.list_models("*lstm*") == [n for n in zoo.list_models() if "lstm" in n]
    assert zoo.list_models("gru*") == [n for n in zoo.list_models() if n.startswith("gru")]


def test_models_list_shows_the_size_the_recipe_trains():
    """name-gru's recipe trains hidden 200 on the names data's 88 characters: 1,229,618
    parameters, where the default config has 318,818."""
    result = runner.invoke(app, ["models", "list", "name-gru"])
    assert result.exit_code == 0, result.output
    assert re.search(r"name-gru\s+classification\s+318,818\s+1,229,618\s+names", result.output)
    assert "trained: of what `zoo train NAME` trains" in _plain(result.output)


def test_models_info_shows_the_recipe_beside_the_defaults():
    result = runner.invoke(app, ["models", "info", "name-gru"])
    assert result.exit_code == 0, result.output
    text = _plain(result.output)
    assert "parameters: 318,818 (default config), 1,229,618 (as `zoo train name-gru` trains it" in text
    assert "field type default recipe help" in text
    assert "hidden_size int 100 200 " in text
    assert "dropout float 0.0 0.3 " in text
    assert "vocab_size int 128 88 (names data) " in text
    assert "num_layers int 2 stacked" in text  # the recipe keeps it: its column is empty
    for setting in ("--epochs 15 recipe", "--lr 0.002 recipe", "--clip 5.0 recipe", "--schedule cosine recipe",
                    "--label-smoothing 0.1 recipe", "--logit-adjustment 0.3 recipe", "--batch-size 64 default",
                    "--optimizer adam default"):  # fmt: skip
        assert setting in text, setting
    assert "best epoch = highest validation accuracy (a tie: the lower validation loss)" in text


@pytest.mark.parametrize("name, rule", [("char-gru", "lowest validation loss"), ("lstm-forecaster", "lowest validation rmse"),
                                        ("seq2seq-lstm", "highest validation exact_match")])  # fmt: skip
def test_models_info_names_the_metric_that_picks_the_best_epoch(name, rule):
    result = runner.invoke(app, ["models", "info", name])
    assert result.exit_code == 0, result.output
    assert f"best epoch = {rule}" in _plain(result.output)


def test_models_info_of_an_encoder_has_no_recipe():
    result = runner.invoke(app, ["models", "info", "manual-gru"])
    assert result.exit_code == 0, result.output
    text = _plain(result.output)
    assert "best epoch" not in text and "training recipe" not in text
    assert "parameters: 74,496 (default config)" in text
