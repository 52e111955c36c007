"""Every registered model: `zoo export NAME --format all` then `zoo verify` passes on ORT CPU,
and the bundle holds what the loaders read (the torch.export programs: test_programs_zoo.py). The
dynamo exporter is checked on a few models (every one under `-m exhaustive`). No exclusions. Then
how a verification reads on the command line."""

import json
import re
from collections import Counter

import numpy as np
import onnx
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

import zoo
from export.bundle import export_bundle
from zoo.store import read_manifest, sha256
from export.parity import recurrent_nodes
from export.source import from_registry
from export.vectors import read_vector
from zoo.cli import app

NAMES = zoo.list_models()


def _loop_free(name):
    """No input with a time axis: nothing recurrent to trace."""
    spec = zoo.get_spec(name)
    return not any("time" in str(d) for t in spec.signature(spec.make_config()).inputs for d in t.shape)


# The dynamo exporter on every model costs minutes (it traces each while_loop, then translates
# the program): the default run takes the loop-free models, a stepped RNNCell and a packed torch.nn
# layer with ragged lengths; `pytest -m exhaustive` and scripts/export_zoo.py take every model.
DYNAMO = [
    name if _loop_free(name) or name in ("hello-rnncell", "rnn-classifier") else pytest.param(name, marks=pytest.mark.exhaustive)
    for name in NAMES if "dynamo" in zoo.get_spec(name).onnx_exporters
]  # fmt: skip


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    """One exported bundle per model, made on first use and shared by the tests below."""
    root = tmp_path_factory.mktemp("bundles")
    made = {}

    def get(name):
        if name not in made:
            made[name] = export_bundle(from_registry(name), root / name, format="all")
        return made[name]

    return get


@pytest.mark.parametrize("name", NAMES)
def test_export_all_then_verify_passes(bundles, name):
    result = bundles(name)
    # The export's own verification, of the bundle as it was put in place (`zoo verify` of a
    # placed bundle is tested in test_native_recurrent.py and test_export_errors.py).
    again = result.parity
    assert again is not None and again.passed, again.failures()[:3]
    assert read_manifest(result.bundle)["parity"]["comparisons"] == len(again.rows)
    runtimes = {row.runtime for row in again.rows}
    assert {"eager-fp32", "torchscript", "onnxruntime-cpu", "onnx-reference"} <= runtimes
    cases = {row.case for row in again.rows if row.graph == "forward"}
    spec = zoo.get_spec(name)
    signature = spec.signature(spec.make_config())
    if any("time" in str(d) for t in signature.inputs for d in t.shape):
        assert {"b1-t1", "b64-t256"} <= {c.replace("-ragged", "") for c in cases}
    if spec.stateful:
        assert any("chunks" in c for c in cases)
    assert any(c.startswith("vector-") for c in cases)
    for method in ("generate", "decode"):
        if method in spec.methods:
            assert any(row.graph == method and row.runtime == "onnxruntime-cpu" for row in again.rows)


@pytest.mark.parametrize("name", NAMES)
def test_bundle_holds_manifest_weights_models_vectors_and_report(bundles, name):
    bundle = bundles(name).bundle
    manifest = read_manifest(bundle)
    for required in ("manifest.json", "weights.safetensors", "model.pt", "model.onnx", "parity.json"):
        assert (bundle / required).is_file(), required
    assert manifest["model"]["name"] == name and manifest["parity"]["passed"] is True
    assert manifest["export"]["formats"] == ["torchscript", "onnx", "triton"]
    for relative, entry in manifest["files"].items():
        assert sha256(bundle / relative) == entry["sha256"], relative
    assert {"model.pt", "model.onnx", "weights.safetensors"} <= set(manifest["files"])
    # Test vectors: .pb and .npy hold the same arrays, named and shaped as the manifest says.
    forward = manifest["graphs"]["forward"]
    assert manifest["test_vectors"]
    for entry in manifest["test_vectors"]:
        inputs, outputs = read_vector(bundle / entry["dir"])
        assert [n for n, _ in inputs] == [t["name"] for t in forward["inputs"]]
        assert [n for n, _ in outputs] == [t["name"] for t in forward["outputs"]]
        for index, (_, array) in enumerate(inputs):
            np.testing.assert_array_equal(np.load(bundle / entry["dir"] / f"input_{index}.npy"), array)
        for (_, array), spec in zip(outputs, forward["outputs"]):
            assert str(array.dtype) == spec["dtype"] and array.ndim == len(spec["shape"])
    # model.onnx: checker passes, metadata names the model; model.pt carries the description.
    proto = onnx.load(str(bundle / "model.onnx"))
    onnx.checker.check_model(proto, full_check=True)
    metadata = {p.key: p.value for p in proto.metadata_props}
    assert metadata["zoo.model"] == name and json.loads(metadata["zoo.config"]) == manifest["model"]["config"]
    extra = {"manifest.json": ""}
    torch.jit.load(str(bundle / "model.pt"), _extra_files=extra)
    assert json.loads(extra["manifest.json"])["model"]["name"] == name
    # The weights rebuild the model without the bundle's model files.
    model = zoo.create_model(name, **manifest["model"]["config"])
    model.load_state_dict(load_file(str(bundle / "weights.safetensors")))
    for method in ("generate", "decode"):
        if method in zoo.get_spec(name).methods:
            assert manifest["graphs"][method]["onnx"] == f"{method}.onnx"
            assert "Loop" in manifest["graphs"][method]["ops"]


@pytest.mark.parametrize("name", DYNAMO)
def test_dynamo_exporter_where_offered(name, tmp_path):
    result = export_bundle(from_registry(name), tmp_path / "b", format="onnx", exporter="dynamo")
    assert result.exporter == "dynamo"
    assert result.parity.passed, result.parity.failures()[:3]
    assert not (tmp_path / "b" / "model.pt").exists()
    assert "torchscript" in result.parity.skipped
    # The program's while_loops are ONNX Loops, with the dynamic time the grid (t1 to t256) ran.
    recurrent = result.manifest["graphs"]["forward"]["recurrent"]
    assert recurrent["mode"] == "program"
    assert ("Loop" in result.ops["forward"]) == (not _loop_free(name)) == bool(recurrent["layers"])


def _expected_nodes(name):
    """The native nodes a model's forward graph must hold, counted from its modules: one per
    layer of every torch.nn / zoo.nn recurrent layer; hello-rnncell's RNNCell loop is one RNN."""
    from torch import nn

    from zoo import nn as znn

    kinds = {nn.LSTM: "LSTM", znn.LSTM: "LSTM", nn.GRU: "GRU", znn.GRU: "GRU", nn.RNN: "RNN", znn.RNN: "RNN"}
    model = zoo.create_model(name)
    expected = Counter()
    for module in model.modules():
        if type(module) in kinds:
            expected[kinds[type(module)]] += module.num_layers
        elif isinstance(module, znn.RNNCell):
            expected["RNN"] += 1
    return expected


@pytest.mark.parametrize("name", NAMES)
def test_native_nodes_replace_every_time_loop(bundles, name):
    """--recurrent native (the default): model.onnx holds no Loop, anywhere, and exactly one
    native node per recurrent layer; the manifest says so layer by layer."""
    manifest = read_manifest(bundles(name).bundle)
    found = recurrent_nodes(onnx.load(bundles(name).bundle / "model.onnx"))
    assert found["all"]["Loop"] == 0
    assert found["top"] == _expected_nodes(name)
    recurrent = manifest["graphs"]["forward"]["recurrent"]
    assert recurrent["mode"] == "native"
    assert Counter(n for layer in recurrent["layers"] for n in layer["onnx_nodes"]) == _expected_nodes(name)
    assert all(layer["implementation"] == "native" and not layer["replaced_by_twin"] for layer in recurrent["layers"])
    for method in ("generate", "decode"):
        if method in manifest["graphs"]:  # the autoregressive loop stays, the native cell inside it
            ops = manifest["graphs"][method]["ops"]
            assert "Loop" in ops and set(_expected_nodes(name)) <= set(ops)
    metadata = {p.key: p.value for p in onnx.load(bundles(name).bundle / "model.onnx").metadata_props}
    assert json.loads(metadata["zoo.recurrent"]) == recurrent

def test_torchscript_only_bundle(tmp_path):
    """--format torchscript: model.pt and no ONNX file; verification says why ONNX was skipped."""
    result = export_bundle(from_registry("char-gru"), tmp_path / "b", format="torchscript")
    assert result.parity.passed, result.parity.failures()[:3]
    assert (tmp_path / "b" / "model.pt").is_file() and not list((tmp_path / "b").glob("*.onnx"))
    manifest = read_manifest(tmp_path / "b")
    assert manifest["graphs"]["generate"]["onnx"] is None
    assert {row.runtime for row in result.parity.rows} == {"eager-fp32", "torchscript"}
    assert "exported without --format onnx" in result.parity.skipped["onnx (forward)"]


# --- how the verification reads on the command line ---------------------------------------


def test_export_prints_one_summary_line_and_verbose_the_table(tmp_path):
    runner, out = CliRunner(), tmp_path / "b"
    result = runner.invoke(app, ["export", "linear-regression", "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = [line for line in result.stdout.splitlines() if line.startswith("verification passed: ")]
    assert len(summary) == 1, result.stdout
    assert re.fullmatch(rf"verification passed: 7 cases x 4 runtimes, (\d+)/\1 comparisons within tolerance; nearest its bound: "
                        rf".+ at [\d.<]+% of its allowance; largest error \S+; full table: zoo verify {re.escape(str(out))} "
                        r"\(or zoo export --verbose\)", summary[0]), summary[0]  # fmt: skip
    assert "each cell:" not in result.stdout and "ort cpu" not in result.stdout  # no table
    for command in (["export", "linear-regression", "--out", str(out), "--overwrite", "--verbose"], ["verify", str(out)]):
        result = runner.invoke(app, command)
        assert result.exit_code == 0, result.output
        lines = result.stdout.splitlines()
        assert re.search(r"^ b1 +(\d\.\de-\d\d \([\d.<]+%\) ✓ +){3}\d\.\de-\d\d \([\d.<]+%\) ✓$", "\n".join(l.rstrip() for l in lines), re.M), result.stdout
        assert "a value passes when: |value − reference| ≤ 1e-05 + 1e-04·|reference| + 2·|eager fp32 − reference|, value by value" in result.stdout
        assert any(re.fullmatch(r"passed: (\d+)/\1 comparisons within tolerance", line) for line in lines)
        assert not any(line.startswith("verification passed: ") for line in lines)


def test_allowance_used_is_the_worst_value_over_its_allowance():
    from export.parity import _value_errors
    from export.tolerances import Tolerance

    tolerance = Tolerance(atol=1e-5, rtol=1e-4, reason="test")
    want = np.array([1.0, -2.0, 0.0])
    have = want + np.array([2e-5, -1e-5, 5e-6])  # allowances 1.1e-4, 2.1e-4, 1e-5
    *_, problem, used = _value_errors(have, want, tolerance)
    assert not problem and used == pytest.approx(max(2e-5 / 1.1e-4, 1e-5 / 2.1e-4, 5e-6 / 1e-5))
    noise = want + np.array([0.0, 0.0, 1e-5])  # float32's own rounding widens the third allowance
    assert _value_errors(have, want, tolerance, noise)[3] == pytest.approx(2e-5 / 1.1e-4)
    assert _value_errors(want + 1e-3, want, tolerance)[3] > 1  # a failure uses more than all of it
    exact = Tolerance(atol=0, rtol=0, reason="token ids")
    assert _value_errors(want, want, exact)[3] == 0 and _value_errors(want + 1, want, exact)[3] == np.inf
    rms = Tolerance(atol=0, rtol=0, reason="int8", rms_rel=0.25)
    *_, problem, used = _value_errors(want * 1.1, want, rms)  # RMS error 10% of the expected RMS
    assert not problem and used == pytest.approx(0.1 / 0.25)
