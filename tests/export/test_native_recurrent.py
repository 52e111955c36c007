"""Native ONNX recurrent nodes (``--recurrent native``), the loop translation (``--recurrent
loop``), int8 bundles, and the checks that make a wrong weight conversion or a false manifest
fail verification."""

import json
import shutil

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper
from torch import nn
from typer.testing import CliRunner

import zoo
from export.bundle import export_bundle
from export.native_layers import NativeLSTM, NativeRNN, onnx_gate_order
from export.parity import verify_bundle
from export.source import Source, from_registry
from export.tolerances import Tolerances
from zoo import nn as znn
from zoo.cli import app
from zoo.store import file_entries, read_manifest, write_json

runner = CliRunner()
RECURRENT = [n for n in zoo.list_models() if any(d == "time" for t in zoo.get_spec(n).signature(zoo.get_spec(n).make_config()).inputs for d in t.shape)]
# The loop translation of every model is slow to verify (ORT steps each Loop iteration); the
# default run covers each kind of layer: a scripted RNNCell loop, a packed torch.nn layer replaced
# by its twin, a stateful zoo.nn layer, a bare torch.nn layer and a bidirectional one.
LOOP_DEFAULT = ("hello-rnncell", "gru-classifier", "manual-rnn", "lstm-forecaster", "birnn-bn-classifier")


@pytest.mark.parametrize(
    "name", [n if n in LOOP_DEFAULT else pytest.param(n, marks=pytest.mark.exhaustive) for n in RECURRENT]
)
def test_loop_translation_passes_the_parity_grid(name, tmp_path):
    result = export_bundle(from_registry(name), tmp_path / "b", format="onnx", recurrent="loop")
    assert result.parity.passed, result.parity.failures()[:3]
    manifest = read_manifest(tmp_path / "b")
    layers = manifest["graphs"]["forward"]["recurrent"]["layers"]
    assert manifest["graphs"]["forward"]["recurrent"]["mode"] == "loop" and layers
    for layer in layers:
        packed = layer["layer"].endswith("(packed)")
        assert layer["replaced_by_twin"] is packed
        bare_torch = layer["layer"].startswith("torch.nn.") and not packed
        assert layer["implementation"] == ("torch.onnx symbolic" if bare_torch else "loop")
    assert ("Loop" in result.ops["forward"]) is any(layer["implementation"] == "loop" for layer in layers)


def _seeded(name, seed, **config):
    """Model ``name`` with a config other than its default, seeded weights (as from_registry)."""
    spec = zoo.get_spec(name)
    made = spec.make_config(**config)
    torch.manual_seed(seed)
    return Source(spec, made, spec.build(made).eval(), {"kind": "registry", "name": name, "seed": seed})


@pytest.fixture(scope="module")
def lstm_bundle(tmp_path_factory):
    """A bidirectional two-layer LSTM classifier with ragged batches, native, with int8."""
    source = _seeded("lstm-classifier", 0, bidirectional=True, num_layers=2)
    return export_bundle(source, tmp_path_factory.mktemp("lstm") / "b", format="onnx", quantize="int8")


def _copy(bundle, tmp_path):
    shutil.copytree(bundle, tmp_path / "copy")
    return tmp_path / "copy"


def _rehash(bundle):
    """The manifest's hashes made to match changed files, so only the comparisons can object."""
    manifest = read_manifest(bundle)
    manifest["files"] = file_entries(bundle)
    write_json(bundle / "manifest.json", manifest)


def _rewrite(bundle, change):
    """Applies ``change`` to model.onnx and re-hashes it."""
    proto = onnx.load(bundle / "model.onnx")
    change(proto)
    onnx.save(proto, bundle / "model.onnx")
    _rehash(bundle)


def test_bidirectional_ragged_lstm_is_native_and_passes(lstm_bundle):
    assert lstm_bundle.parity.passed, lstm_bundle.parity.failures()[:3]
    proto = onnx.load(lstm_bundle.bundle / "model.onnx")
    nodes = [n for n in proto.graph.node if n.op_type == "LSTM"]
    assert len(nodes) == 2 and "Loop" not in lstm_bundle.ops["forward"]
    for node in nodes:
        attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        assert attributes["direction"] == b"bidirectional"
        assert node.input[4], "lengths must reach the node as sequence_lens"
    assert any(r.case.endswith("-ragged") and r.runtime == "onnxruntime-cpu" for r in lstm_bundle.parity.rows)


def test_swapped_gate_blocks_fail_verification(lstm_bundle, tmp_path):
    bundle = _copy(lstm_bundle.bundle, tmp_path)

    def swap_input_and_forget(proto):
        node = next(n for n in proto.graph.node if n.op_type == "LSTM")
        weight = next(i for i in proto.graph.initializer if i.name == node.input[1])
        array = numpy_helper.to_array(weight).copy()  # (D, 4H, I), ONNX gates i, o, f, c
        hidden = array.shape[1] // 4
        array[0, :hidden], array[0, 2 * hidden : 3 * hidden] = array[0, 2 * hidden : 3 * hidden].copy(), array[0, :hidden].copy()
        weight.CopyFrom(numpy_helper.from_array(array, weight.name))

    _rewrite(bundle, swap_input_and_forget)
    report = verify_bundle(bundle, write_report=False)
    assert not report.passed
    assert {r.runtime for r in report.failures()} >= {"onnxruntime-cpu"}


def test_gru_without_linear_before_reset_fails_verification(tmp_path):
    result = export_bundle(from_registry("gru-classifier"), tmp_path / "b", format="onnx")
    assert result.parity.passed

    def drop_linear_before_reset(proto):
        node = next(n for n in proto.graph.node if n.op_type == "GRU")
        kept = [a for a in node.attribute if a.name != "linear_before_reset"]
        assert len(kept) < len(node.attribute)
        del node.attribute[:]
        node.attribute.extend(kept)

    _rewrite(tmp_path / "b", drop_linear_before_reset)
    report = verify_bundle(tmp_path / "b", write_report=False)
    assert not report.passed and "onnxruntime-cpu" in {r.runtime for r in report.failures()}


def test_manifest_claiming_native_for_a_loop_graph_fails(tmp_path):
    export_bundle(from_registry("manual-gru"), tmp_path / "b", format="onnx", recurrent="loop")
    manifest = read_manifest(tmp_path / "b")
    manifest["graphs"]["forward"]["recurrent"]["mode"] = "native"
    write_json(tmp_path / "b" / "manifest.json", manifest)
    report = verify_bundle(tmp_path / "b", write_report=False)
    failures = report.failures()
    assert [(r.case, r.runtime) for r in failures] == [("recurrent-layers", "onnx-file")]
    assert "the manifest says native but model.onnx holds" in failures[0].problem


def test_manifest_claiming_other_nodes_fails(lstm_bundle, tmp_path):
    bundle = _copy(lstm_bundle.bundle, tmp_path)
    manifest = read_manifest(bundle)
    manifest["graphs"]["forward"]["recurrent"]["layers"][0]["onnx_nodes"] = ["GRU", "GRU"]
    write_json(bundle / "manifest.json", manifest)
    failures = verify_bundle(bundle, write_report=False).failures()
    assert failures and all(r.case == "recurrent-layers" for r in failures)


def test_int8_bundle_is_verified_with_its_own_tolerance(lstm_bundle):
    manifest = read_manifest(lstm_bundle.bundle)
    int8 = manifest["graphs"]["forward"]["int8"]
    assert int8["onnx"] == "model.int8.onnx" and "model.int8.onnx" in manifest["files"]
    assert int8["integer_ops"]["DynamicQuantizeLSTM"] == 2 and "LSTM" not in int8["kept_float"]
    rows = [r for r in lstm_bundle.parity.rows if r.runtime == "onnxruntime-int8"]
    assert rows and all(r.passed for r in rows)
    declared = Tolerances.load().for_output("lstm-classifier", "onnxruntime-int8", "b1-t1", np.dtype("float32"))
    assert declared.rms_rel == 0.25 and "int8" in declared.reason
    assert max(r.max_abs for r in rows) > 1e-4  # it is quantized: the float32 tolerance would not hold
    metadata = {p.key: p.value for p in onnx.load(lstm_bundle.bundle / "model.int8.onnx").metadata_props}
    assert json.loads(metadata["zoo.quantization"])["integer_ops"] == int8["integer_ops"]


def test_int8_graph_of_other_weights_fails_verification(lstm_bundle, tmp_path):
    """The int8 tolerance still has teeth: an int8 graph quantized from other weights fails."""
    bundle = _copy(lstm_bundle.bundle, tmp_path)
    other = _seeded("lstm-classifier", 1, bidirectional=True, num_layers=2)
    made = export_bundle(other, tmp_path / "other", format="onnx", quantize="int8", verify=False).bundle
    (bundle / "model.int8.onnx").write_bytes((made / "model.int8.onnx").read_bytes())
    _rehash(bundle)
    failures = verify_bundle(bundle, write_report=False).failures()
    assert failures and {r.runtime for r in failures} == {"onnxruntime-int8"}
    assert "RMS error" in failures[0].problem


def test_cli_says_what_was_exported(tmp_path):
    """The export prints each layer's implementation, twin and int8 account; verify repeats it."""
    result = runner.invoke(app, ["export", "gru-classifier", "--out", str(tmp_path / "loop"), "--format", "onnx", "--recurrent", "loop"])
    assert result.exit_code == 0, result.output
    plain = " ".join(result.output.split())
    assert "forward encoder: torch.nn.GRU (packed) -> 1 ONNX Loop node (loop, forward, replaced by its twin zoo.nn.GRU)" in plain
    result = runner.invoke(app, ["verify", str(tmp_path / "loop")])
    assert result.exit_code == 0 and "replaced by its twin zoo.nn.GRU" in " ".join(result.output.split())
    result = runner.invoke(app, ["export", "name-gru", "--out", str(tmp_path / "n"), "--format", "onnx", "--quantize", "int8"])
    assert result.exit_code == 0, result.output
    plain = " ".join(result.output.split())
    assert "forward encoder: zoo.nn.GRU -> 2 ONNX GRU nodes (native, bidirectional)" in plain
    assert "int8 (model.int8.onnx)" in plain and "float ops kept 2 GRU" in plain
    int8 = read_manifest(tmp_path / "n")["graphs"]["forward"]["int8"]  # no quantized GRU in onnxruntime
    assert int8["kept_float"]["GRU"] == 2 and "DynamicQuantizeLSTM" not in int8["integer_ops"]


# --- the export-time modules in plain torch: the weight conversion, before any ONNX runtime ---

_LAYERS = [
    (nn.LSTM, NativeLSTM, "lstm", {}), (znn.LSTM, NativeLSTM, "lstm", {}),
    (nn.GRU, NativeRNN, "gru", {}), (znn.GRU, NativeRNN, "gru", {}),
    (nn.RNN, NativeRNN, "rnn", {"nonlinearity": "tanh"}), (znn.RNN, NativeRNN, "rnn", {"nonlinearity": "relu"}),
]  # fmt: skip


@pytest.mark.parametrize("layer_cls, native_cls, kind, extra", _LAYERS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_native_module_equals_the_layer_in_torch(layer_cls, native_cls, kind, extra, bidirectional):
    """The ONNX-semantics kernels on converted weights equal the layer, ragged and with state."""
    torch.manual_seed(0)
    layer = layer_cls(5, 4, num_layers=2, batch_first=True, bidirectional=bidirectional, **extra).double().eval()
    native = native_cls(layer, kind).eval()
    x = torch.randn(3, 6, 5, dtype=torch.float64)
    lengths = torch.tensor([6, 1, 4])
    x[1, 1:] = 0
    x[2, 4:] = 0
    states = 2 * (2 if bidirectional else 1)
    h0 = torch.randn(states, 3, 4, dtype=torch.float64)
    hx = (h0, torch.randn_like(h0)) if kind == "lstm" else h0
    with torch.no_grad():
        if isinstance(layer, nn.RNNBase):
            packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            out, state = layer(packed, hx)
            want = (nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=6)[0], state)
        else:
            want = layer(x, hx, lengths)
        got = native(x, hx, lengths)
    for a, b in zip(torch.utils._pytree.tree_leaves(got), torch.utils._pytree.tree_leaves(want)):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_gate_order_is_onnx_order():
    """PyTorch i, f, g, o -> ONNX i, o, f, c; PyTorch r, z, n -> ONNX z, r, h."""
    blocks = torch.arange(4).repeat_interleave(2).float()  # blocks 0..3, two rows each
    assert onnx_gate_order(blocks, "lstm").tolist() == [0, 0, 3, 3, 1, 1, 2, 2]
    assert onnx_gate_order(blocks[:6], "gru").tolist() == [1, 1, 0, 0, 2, 2]
    assert np.array_equal(onnx_gate_order(blocks[:2], "rnn").numpy(), blocks[:2].numpy())


def test_float32_noise_of_the_model_widens_the_tolerance():
    """An element may be NOISE_FACTOR times as far from float64 as eager float32 PyTorch is; a
    well-conditioned model's noise adds nothing that would hide a real error."""
    from export.parity import NOISE_FACTOR, _value_errors

    tolerance = Tolerances.load().default
    want = np.array([1.0, 2.0])
    have = want + np.array([2e-4, 0.0])
    assert _value_errors(have, want, tolerance)[2]  # 2e-4 is outside 1e-5 + 1e-4 * 1
    assert not _value_errors(have, want, tolerance, noise=want + np.array([1.5e-4 / NOISE_FACTOR + 1e-5, 0.0]))[2]
    assert _value_errors(have, want, tolerance, noise=want + 1e-7)[2]  # tiny noise: still caught


def test_chunks_that_disagree_with_the_whole_run_still_fail(tmp_path):
    """The noise allowance comes from eager float32's whole run, never its chunked one: a
    bidirectional layer (whose reverse direction needs the future) fed in chunks fails."""
    bundle = export_bundle(_seeded("manual-gru", 0, bidirectional=True), tmp_path / "b", format="onnx", verify=False).bundle
    failures = verify_bundle(bundle, write_report=False).failures()
    assert failures and {r.case for r in failures} == {"b7-t17-chunks-5+5+7"}
    assert {"eager-fp32", "onnxruntime-cpu"} <= {r.runtime for r in failures}
