"""The layers stay exportable to ONNX with a dynamic time loop (the export issue builds on it).

Path: ``torch.jit.trace`` of a thin wrapper around the ``torch.jit.script``ed layer, then the
TorchScript-based exporter (``dynamo=False``), which keeps the scripted loop as an ONNX ``Loop``.
Exported at batch 3 x time 5, run in onnxruntime at batch 7 x time 11 with ragged lengths.

Excluded, by name and reason: num_layers >= 2 with batch_first=True and lengths makes torch
2.13's ONNX shape inference (``_jit_pass_onnx_graph_shape_type_inference``) crash the process
with a segmentation fault; the same layers export time-first.
"""

import io
import warnings

import numpy as np
import onnxruntime as ort
import pytest
import torch
from torch import nn

import zoo
from zoo.store import flatten

CASES = {
    "one-layer-batch-first": {"num_layers": 1, "batch_first": True, "bidirectional": False},
    "two-layer-bi-time-first": {"num_layers": 2, "batch_first": False, "bidirectional": True},
}


class _Traced(nn.Module):
    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.layer = torch.jit.script(layer)

    def forward(self, *args):  # type: ignore[no-untyped-def]
        return self.layer(*args)


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("name", ["manual-rnn", "manual-lstm", "manual-gru"])
def test_encoder_exports_with_dynamic_batch_and_time(name, case):
    spec = zoo.get_spec(name)
    config = spec.make_config(input_size=6, hidden_size=8, **CASES[case])
    torch.manual_seed(0)
    model = spec.build(config).eval()
    signature = spec.signature(config)
    args = spec.example_inputs(config, 3, 5, torch.Generator().manual_seed(0))
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TorchScript and tracer deprecation/tracer warnings
        traced = torch.jit.trace(_Traced(model), args)
        torch.onnx.export(
            traced, args, buffer, dynamo=False, opset_version=17,
            input_names=[t.name for t in signature.inputs],
            output_names=[t.name for t in signature.outputs],
            dynamic_axes=signature.dynamic_axes(),
        )  # fmt: skip
    session = ort.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
    assert "Loop" in {node.op_type for node in __import__("onnx").load_from_string(buffer.getvalue()).graph.node}

    new_args = spec.example_inputs(config, 7, 11, torch.Generator().manual_seed(1))
    feeds = {t.name: v.numpy() for t, v in zip(signature.inputs, flatten(new_args))}
    got = session.run(None, feeds)
    with torch.no_grad():
        want = flatten(model(*new_args))
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.dtype == w.numpy().dtype and g.shape == tuple(w.shape)
        np.testing.assert_allclose(g, w.numpy(), rtol=1e-4, atol=1e-5)
