"""`zoo verify --device cuda` on bundles of three model kinds: torch CUDA, TorchScript CUDA and
onnxruntime's CUDAExecutionProvider all match the float64 reference. Skips without CUDA; needs
onnxruntime-gpu for the provider (scripts/gpu_verify.sh installs it on the GPU machine)."""

import pytest
import torch

from export.bundle import export_bundle
from export.parity import verify_bundle
from export.source import from_registry

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")


@pytest.mark.parametrize("name", ["name-gru", "char-lstm", "mnist-cnn", "seq2seq-lstm"])
def test_verify_on_cuda(name, tmp_path):
    bundle = export_bundle(from_registry(name), tmp_path / name, verify=False).bundle
    report = verify_bundle(bundle, "all")
    assert report.passed, report.failures()[:3]
    assert {"eager-cuda", "torchscript-cuda", "onnxruntime-cuda"} <= {row.runtime for row in report.rows}
