"""Bad input to `zoo export` / `zoo verify` and to the bundle loaders, and a verification with
teeth: a bundle whose ONNX graph was made from other weights fails."""

import re
import shutil

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from export.bundle import export_bundle
from export.feeds import InputError, check_feeds
from export.onnx_export import ExportError
from export.parity import verify_bundle
from export.runtimes import RuntimeUnavailable
from export.source import SourceError, from_registry, load_source
from zoo.cli import app
from zoo.store import BundleError, file_entries, read_manifest, write_json
from zoo.train.loop import TrainRequest, train

runner = CliRunner()


@pytest.fixture(scope="module")
def name_gru_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "name-gru"
    train(TrainRequest("name-gru", epochs=1, limit_batches=2, batch_size=8, out=run, overrides={"hidden_size": 16}))
    return run


@pytest.fixture(scope="module")
def small_bundle(tmp_path_factory):
    return export_bundle(from_registry("manual-gru"), tmp_path_factory.mktemp("b") / "manual-gru").bundle


def _copy(bundle, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(bundle, target)
    return target


def test_export_from_a_run_carries_vocabulary_and_labels(name_gru_run, tmp_path):
    result = runner.invoke(app, ["export", str(name_gru_run), "--out", str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    assert "verification passed: " in result.output and f"full table: zoo verify {tmp_path / 'b'}" in result.output
    manifest = read_manifest(tmp_path / "b")
    assert manifest["source"] == {"kind": "run", "path": str(name_gru_run)}
    assert len(manifest["labels"]) == 18 and manifest["vocabulary"]["tokens"][0] == "<pad>"
    assert manifest["model"]["config"]["hidden_size"] == 16
    assert manifest["tokenizer"] == {"kind": "characters"}
    assert manifest["graphs"]["forward"]["arguments"] == ["tokens", "lengths"]
    result = runner.invoke(app, ["verify", str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    plain = " ".join(result.output.split())
    assert "ort cpu" in plain and "b64-t256" in plain and "vector-0" in plain and "passed: " in plain


def test_run_without_weights(name_gru_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(name_gru_run, run)
    (run / "weights.safetensors").unlink()
    with pytest.raises(SourceError, match="has no weights.safetensors: no epoch finished"):
        load_source(str(run))


def test_run_with_corrupt_weights(name_gru_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(name_gru_run, run)
    (run / "weights.safetensors").write_bytes(b"\x00garbage" * 10)
    result = runner.invoke(app, ["export", str(run), "--out", str(tmp_path / "b")])
    assert result.exit_code == 2
    assert re.search(r"weights.safetensors is corrupt or does not fit name-gru", result.output)
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "b").exists()


def test_directory_that_is_not_a_run(tmp_path):
    with pytest.raises(SourceError, match="is not a run directory: it has no config.json"):
        load_source(str(tmp_path))


def test_unknown_model_name():
    with pytest.raises(SourceError, match="neither a run directory nor a model name.*did you mean 'name-gru'"):
        load_source("name-gur")


@pytest.mark.parametrize(
    "options, message",
    [
        (["--format", "tflite"], "unknown format 'tflite'; choose torchscript, onnx, triton, pt2, aoti, all, or several joined by commas"),
        (["--format", "onnx,,pt2"], "unknown format 'onnx,,pt2'"),
        (["--exporter", "tf2onnx"], "unknown exporter 'tf2onnx'; choose auto, torchscript or dynamo"),
        (["--recurrent", "scan"], "unknown --recurrent 'scan'; choose native or loop"),
        (["--quantize", "int4"], "unknown --quantize 'int4'; choose int8"),
        (["--quantize", "int8", "--format", "torchscript"], "--quantize int8 quantizes the ONNX graph; add --format onnx or all"),
        (["--exporter", "dynamo", "--format", "pt2"], "--exporter dynamo chooses how the ONNX files are made; add --format onnx or all"),
        (["--recurrent", "loop", "--format", "aoti"], "--recurrent loop chooses how the ONNX files hold recurrent layers; add --format onnx or all"),
    ],
)
def test_bad_export_options_fail_with_one_line(options, message, tmp_path):
    result = runner.invoke(app, ["export", "name-gru", "--out", str(tmp_path / "b"), *options])
    assert result.exit_code == 2
    assert re.search(message, " ".join(result.output.split())), result.output
    assert not (tmp_path / "b").exists()


def test_existing_out_is_refused_then_overwritten(small_bundle, tmp_path):
    out = _copy(small_bundle, tmp_path)
    with pytest.raises(ValueError, match="already exists; pass --overwrite"):
        export_bundle(from_registry("manual-gru"), out, verify=False)
    export_bundle(from_registry("manual-gru", seed=1), out, verify=False, overwrite=True)
    assert read_manifest(out)["source"]["seed"] == 1
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left


def test_tampered_bundle_is_refused(small_bundle, tmp_path):
    bundle = _copy(small_bundle, tmp_path)
    data = bytearray((bundle / "model.onnx").read_bytes())
    data[-10] ^= 0xFF
    (bundle / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(BundleError, match="was changed after export \\(model.onnx does not match its sha256\\)"):
        verify_bundle(bundle)
    (bundle / "test_data_set_0" / "input_0.pb").unlink()
    result = runner.invoke(app, ["verify", str(bundle)])
    assert result.exit_code == 2 and "test_data_set_0/input_0.pb is missing" in " ".join(result.output.split())


def test_not_a_bundle(tmp_path):
    with pytest.raises(BundleError, match="is not a bundle: it has no manifest.json"):
        verify_bundle(tmp_path)


def test_verification_has_teeth(small_bundle, tmp_path):
    """model.onnx from weights that differ by 1e-3 in one tensor: onnxruntime fails, named."""
    bundle = _copy(small_bundle, tmp_path)
    other = from_registry("manual-gru")
    with torch.no_grad():
        other.model.bias_hh_l0.add_(1e-3)
    shutil.copy(export_bundle(other, tmp_path / "other", format="onnx", verify=False).bundle / "model.onnx",
                bundle / "model.onnx")  # fmt: skip
    manifest = read_manifest(bundle)
    manifest["files"] = file_entries(bundle)
    write_json(bundle / "manifest.json", manifest)
    report = verify_bundle(bundle)
    assert not report.passed
    assert {r.runtime for r in report.failures()} == {"onnxruntime-cpu", "onnx-reference"}
    assert all(r.runtime != "torchscript" for r in report.failures())
    result = runner.invoke(app, ["verify", str(bundle)])
    assert result.exit_code == 1
    plain = " ".join(result.output.split())
    assert "verification failed" in plain and "on onnxruntime-cpu" in plain and "% of its allowance)" in plain


def test_verify_cuda_without_cuda_says_so(small_bundle):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA; tests/export/test_cuda_verify.py covers it")
    with pytest.raises(RuntimeUnavailable, match="--device cuda needs a CUDA GPU"):
        verify_bundle(small_bundle, "cuda")
    result = runner.invoke(app, ["verify", str(small_bundle), "--device", "cuda"])
    assert result.exit_code == 2 and "needs a CUDA GPU" in result.output


INPUTS = [
    {"name": "tokens", "dtype": "int64", "shape": ["batch", "time"]},
    {"name": "lengths", "dtype": "int64", "shape": ["batch"]},
    {"name": "h_0", "dtype": "float32", "shape": [2, "batch", 8]},
]


def _feeds(**changes):
    feeds = {"tokens": np.ones((3, 5), np.int64), "lengths": np.full(3, 5, np.int64), "h_0": np.zeros((2, 3, 8), np.float32)}
    feeds.update(changes)
    return feeds


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"tokens": np.ones((3, 5), np.int32)}, "input 'tokens' must be int64, got int32; convert it first"),
        ({"h_0": np.zeros((2, 3, 8), np.float64)}, "input 'h_0' must be float32, got float64"),
        ({"tokens": np.ones((3, 0), np.int64)}, "input 'tokens' has a zero-length time axis; give at least one step"),
        ({"tokens": np.ones((3,), np.int64)}, "input 'tokens' must have 2 dims"),
        ({"h_0": np.zeros((2, 3, 9), np.float32)}, "input 'h_0' axis 2 must be 8, got 9"),
        ({"lengths": np.full(4, 5, np.int64)}, "input 'lengths' axis 0 \\(batch\\) is 4 but another input has batch=3"),
        ({"extra": np.zeros(1)}, "unexpected: extra"),
    ],
)
def test_loader_input_checks(changes, message):
    with pytest.raises(InputError, match=message):
        check_feeds(INPUTS, _feeds(**changes))


def test_loader_input_checks_accept_valid_feeds():
    check_feeds(INPUTS, _feeds())
    missing = _feeds()
    del missing["h_0"]
    with pytest.raises(InputError, match="missing: h_0"):
        check_feeds(INPUTS, missing)


def test_export_error_is_a_value_error():
    assert issubclass(ExportError, ValueError) and issubclass(BundleError, ValueError)
