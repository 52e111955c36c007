"""`zoo export --format triton`: each config.pbtxt parses against Triton's model-config schema
(the protobuf classes in tritonclient) and matches its ONNX model; the START control of the
stateful graph zeroes the state as Triton's sequence protocol expects."""

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from export.bundle import export_bundle
from export.source import from_registry
from export.triton import TRITON_TYPES

KINDS = {"char-lstm": "state", "name-gru": "lengths", "mnist-cnn": "cnn"}
ONNX_TYPES = {onnx.TensorProto.FLOAT: "float32", onnx.TensorProto.INT64: "int64", onnx.TensorProto.INT32: "int32"}


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    root = tmp_path_factory.mktemp("repo")
    for name in KINDS:
        export_bundle(from_registry(name), root, format="triton")
    return root


def _config(repo, name):
    return text_format.Parse((repo / name / "config.pbtxt").read_text(), model_config_pb2.ModelConfig())


def _onnx_inputs(model):
    return {
        t.name: (ONNX_TYPES[t.type.tensor_type.elem_type], [d.dim_value if d.HasField("dim_value") else -1 for d in t.type.tensor_type.shape.dim])
        for t in model.graph.input
    }  # fmt: skip


def _matches(entry_dims, onnx_dims, batched):
    """Config dims (without the batch axis when batched) against ONNX dims (-1 = dynamic)."""
    expected = onnx_dims[1:] if batched else onnx_dims
    if list(entry_dims) == [1] and expected == []:
        return True  # a scalar per request travels as [1] with a reshape
    return len(entry_dims) == len(expected) and all(c == o or o == -1 for c, o in zip(entry_dims, expected))


@pytest.mark.parametrize("name", list(KINDS))
def test_config_parses_and_matches_the_onnx_model(repo, name):
    config = _config(repo, name)
    model = onnx.load(str(repo / name / "1" / "model.onnx"))
    onnx.checker.check_model(model, full_check=True)
    assert config.name == name and config.platform == "onnxruntime_onnx"
    inputs = _onnx_inputs(model)
    outputs = {t.name: (ONNX_TYPES[t.type.tensor_type.elem_type], [d.dim_value if d.HasField("dim_value") else -1 for d in t.type.tensor_type.shape.dim]) for t in model.graph.output}  # fmt: skip
    batched = config.max_batch_size > 0
    declared = {i.name for i in config.input} | {s.input_name for s in config.sequence_batching.state}
    declared |= {c.name for c in config.sequence_batching.control_input}
    assert declared == set(inputs)
    for entry in config.input:
        dtype, dims = inputs[entry.name]
        assert model_config_pb2.DataType.Name(entry.data_type) == TRITON_TYPES[dtype]
        assert _matches(entry.dims, dims, batched), (entry.name, entry.dims, dims)
    declared_out = {o.name for o in config.output} | {s.output_name for s in config.sequence_batching.state}
    assert declared_out == set(outputs)
    for entry in config.output:
        dtype, dims = outputs[entry.name]
        assert model_config_pb2.DataType.Name(entry.data_type) == TRITON_TYPES[dtype]
        assert _matches(entry.dims, dims, batched), (entry.name, entry.dims, dims)
    if KINDS[name] == "state":
        assert not batched and len(config.sequence_batching.state) == 2
        for state in config.sequence_batching.state:
            (initial,) = state.initial_state
            assert initial.zero_data and list(state.dims) == list(initial.dims)
            assert _matches(state.dims, inputs[state.input_name][1], False)
        kinds = {c.name: model_config_pb2.ModelSequenceBatching.Control.Kind.Name(c.control[0].kind)
                 for c in config.sequence_batching.control_input}  # fmt: skip
        assert kinds == {"START": "CONTROL_SEQUENCE_START", "READY": "CONTROL_SEQUENCE_READY"}
    else:
        assert batched and config.HasField("dynamic_batching")


def test_schema_rejects_an_unknown_field():
    with pytest.raises(text_format.ParseError):
        text_format.Parse('name: "x" platform: "onnxruntime_onnx" max_batch: 4', model_config_pb2.ModelConfig())


def test_start_control_zeroes_the_state(repo, tmp_path):
    bundle = export_bundle(from_registry("char-lstm"), tmp_path / "b", format="onnx", verify=False).bundle
    plain = ort.InferenceSession(str(bundle / "model.onnx"), providers=["CPUExecutionProvider"])
    gated = ort.InferenceSession(str(repo / "char-lstm" / "1" / "model.onnx"), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    tokens = rng.integers(1, 65, (1, 9)).astype(np.int64)
    state = {n: rng.standard_normal((2, 1, 128)).astype(np.float32) for n in ("h_0", "c_0")}
    zeros = {n: np.zeros_like(v) for n, v in state.items()}
    one, zero = np.ones(1, np.int32), np.zeros(1, np.int32)
    started = gated.run(None, {"tokens": tokens, **state, "START": one, "READY": one})
    fresh = plain.run(None, {"tokens": tokens, **zeros})
    continued = gated.run(None, {"tokens": tokens, **state, "START": zero, "READY": one})
    carried = plain.run(None, {"tokens": tokens, **state})
    for got, want in zip(started + continued, fresh + carried):
        np.testing.assert_array_equal(got, want)


def test_format_all_puts_the_repository_in_the_bundle(tmp_path):
    bundle = export_bundle(from_registry("mnist-cnn"), tmp_path / "b", format="all").bundle
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert {"triton/mnist-cnn/config.pbtxt", "triton/mnist-cnn/1/model.onnx"} <= set(manifest["files"])
    assert manifest["export"]["formats"] == ["torchscript", "onnx", "triton"]


def test_existing_model_in_the_repository_is_refused(repo):
    with pytest.raises(ValueError, match="mnist-cnn already exists; pass --overwrite"):
        export_bundle(from_registry("mnist-cnn"), repo, format="triton")
