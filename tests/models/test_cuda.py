"""Every model on CUDA equals the CPU float64 reference (skipped without a GPU)."""

import pytest
import torch

import zoo
from zoo.devicecheck import check_device

requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")
CUDA_ATOL = 1e-4  # float32 on CUDA with TF32 off, against float64 on the CPU


@requires_cuda
@pytest.mark.parametrize("name", zoo.list_models())
def test_model_on_cuda_matches_the_cpu_reference(name):
    report = check_device(name, "cuda")
    assert report.passed(CUDA_ATOL), report


@pytest.mark.parametrize("name", ["char-gru", "seq2seq-lstm", "text-classifier"])
def test_device_check_runs_on_the_cpu_too(name):
    """The same check with device='cpu' (float32 vs float64) keeps the code path tested here."""
    report = check_device(name, "cpu")
    assert report.passed(1e-4), report
    assert report.max_abs_error and all(report.loops_equal.values())
