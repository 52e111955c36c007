"""`zoo evaluate BUNDLE`: an exported bundle, run in onnxruntime or TorchScript, scores what
`zoo evaluate RUN` scores for its run on the same split, int8 included, and every way it cannot
be scored is one line and exit 2.

One short run of a classifier (name-gru: ragged token batches) and of a language model
(char-lstm: state carried across bptt windows, fed back as (h, c)), each exported once with
every format and int8.
"""

import json
import re
import shutil
from pathlib import Path
from typing import Dict

import pytest
from typer.testing import CliRunner

from export.bundle import export_bundle
from export.quantize import INT8_FILE
from export.source import from_registry, from_run
from zoo.cli import app
from zoo.train.evaluate import evaluate_bundle, evaluate_run
from zoo.train.loop import TrainRequest, train

runner = CliRunner()
MODELS = ("name-gru", "char-lstm")
# The brief's bar: a bundle in float32 scores what its run scores to 0.1 point (printed to 4 places).
FP32_ABS = 1e-3
# Dynamic int8 (weights int8, activations quantized per run) may move the loss, by little.
INT8_REL = 0.05


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Dict[str, Path]:
    """Two training steps of each small model: the scores only have to be the run's, not good."""
    root = tmp_path_factory.mktemp("runs")
    for name in MODELS:
        train(TrainRequest(name, epochs=1, limit_batches=2, batch_size=8, out=root / name, device="cpu",
                           overrides={"hidden_size": 16}))  # fmt: skip
    return {name: root / name for name in MODELS}


@pytest.fixture(scope="module")
def bundles(runs, tmp_path_factory) -> Dict[str, Path]:
    """Each run exported with model.pt, model.onnx and model.int8.onnx (verification is
    `zoo verify`'s tests' business; these test the scores)."""
    root = tmp_path_factory.mktemp("bundles")
    return {name: export_bundle(from_run(run), root / name, verify=False, quantize="int8").bundle for name, run in runs.items()}


@pytest.fixture(scope="module")
def onnx_only(runs, tmp_path_factory) -> Path:
    """name-gru exported as ONNX alone: no model.pt, no int8."""
    return export_bundle(from_run(runs["name-gru"]), tmp_path_factory.mktemp("onnx") / "b", format="onnx", verify=False).bundle


def _table(output: str) -> Dict[str, str]:
    """The rows of the metrics table `zoo evaluate` prints."""
    return dict(re.findall(r"│\s*(\w+)\s*│\s*(\S+)\s*│", output))


def _evaluate(*arguments: str) -> Dict[str, str]:
    result = runner.invoke(app, ["evaluate", *arguments])
    assert result.exit_code == 0, result.output
    return _table(result.output)


def _one_error_line(arguments: list) -> str:
    result = runner.invoke(app, ["evaluate", *map(str, arguments)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize("runtime", ["onnxruntime", "torchscript"])
@pytest.mark.parametrize("name", MODELS)
def test_bundle_scores_what_its_run_scores(runs, bundles, name, runtime):
    expected = _evaluate(str(runs[name]))
    actual = _evaluate(str(bundles[name]), "--runtime", runtime)
    assert list(actual) == list(expected) and len(expected) >= 3
    for metric, value in expected.items():
        assert float(actual[metric]) == pytest.approx(float(value), abs=FP32_ABS), metric


@pytest.mark.parametrize("name", MODELS)
def test_the_val_split_and_the_library_agree(runs, bundles, name):
    expected = evaluate_run(runs[name], "val", "cpu")
    actual = evaluate_bundle(bundles[name], "val", "onnxruntime", "model")
    assert list(actual) == list(expected)
    for metric, value in expected.items():
        assert actual[metric] == pytest.approx(value, abs=FP32_ABS), metric


@pytest.mark.parametrize("name", MODELS)
def test_int8_graph_is_scored(runs, bundles, name):
    result = runner.invoke(app, ["evaluate", str(bundles[name]), "--graph", "int8"])
    assert result.exit_code == 0, result.output
    assert "int8 graph" in result.output
    fp32, int8 = evaluate_run(runs[name], "test", "cpu"), evaluate_bundle(bundles[name], "test", "onnxruntime", "int8")
    assert list(int8) == list(fp32)
    assert int8["loss"] == pytest.approx(fp32["loss"], rel=INT8_REL)
    assert _table(result.output)["loss"] == f"{int8['loss']:.4f}"


def test_torchscript_has_no_int8_graph(bundles):
    line = _one_error_line([bundles["name-gru"], "--runtime", "torchscript", "--graph", "int8"])
    assert "--graph int8 is an ONNX graph (model.int8.onnx); score it with --runtime onnxruntime" in line


def test_a_bundle_without_int8_says_how_to_export_it(onnx_only):
    line = _one_error_line([onnx_only, "--graph", "int8"])
    assert f"has no {INT8_FILE}; export the run with --quantize int8" in line


def test_a_bundle_without_model_pt_says_how_to_export_it(onnx_only):
    line = _one_error_line([onnx_only, "--runtime", "torchscript"])
    assert "has no model.pt for --runtime torchscript; export it with --format torchscript or all" in line


def test_a_registry_bundle_cannot_be_scored(tmp_path):
    bundle = export_bundle(from_registry("name-gru"), tmp_path / "b", format="onnx", verify=False).bundle
    line = _one_error_line([bundle])
    assert "exported from the model name name-gru, with untrained weights" in line
    assert "export a trained run" in line


def _edited(bundle: Path, tmp_path: Path, edit) -> Path:
    """A copy of ``bundle`` with its manifest changed (the manifest is the one file without a hash)."""
    copy = tmp_path / "edited"
    shutil.copytree(bundle, copy)
    manifest = json.loads((copy / "manifest.json").read_text(encoding="utf-8"))
    edit(manifest)
    (copy / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return copy


def test_a_vocabulary_other_than_the_data_is_refused(bundles, tmp_path):
    copy = _edited(bundles["name-gru"], tmp_path, lambda m: m["vocabulary"]["tokens"].append("ß"))
    line = _one_error_line([copy])
    assert re.search(rf"the vocabulary of {re.escape(str(copy))} \(\d+ tokens\) differs from that of data set names \(\d+ tokens\)", line), line


def test_an_export_without_the_training_seed_is_refused(bundles, runs, tmp_path):
    copy = _edited(bundles["char-lstm"], tmp_path, lambda m: m.pop("training"))
    line = _one_error_line([copy])
    assert "does not record the seed that split its run's data" in line and f"export {runs['char-lstm']} again" in line


def test_a_changed_bundle_file_is_refused(bundles, tmp_path):
    copy = tmp_path / "changed"
    shutil.copytree(bundles["name-gru"], copy)
    (copy / INT8_FILE).write_bytes(b"not onnx")
    assert "was changed after export" in _one_error_line([copy, "--graph", "int8"])


@pytest.mark.parametrize("options,message", [
    (["--runtime", "tensorrt"], "--runtime must be onnxruntime or torchscript, got 'tensorrt'"),
    (["--graph", "fp16"], "--graph must be model or int8, got 'fp16'"),
    (["--split", "dev"], "--split must be train, val or test, got 'dev'"),
    (["--device", "cuda"], "--device cuda: a bundle is scored on the CPU; drop --device"),
])  # fmt: skip
def test_bad_options_for_a_bundle(bundles, options, message):
    assert message in _one_error_line([bundles["name-gru"], *options])


def test_bundle_options_on_a_run_are_refused(runs):
    line = _one_error_line([runs["name-gru"], "--graph", "int8"])
    assert "--runtime and --graph choose what of a bundle runs" in line and "not a bundle" in line
