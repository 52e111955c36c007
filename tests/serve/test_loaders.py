"""The C++ (libtorch) and Node.js (onnxruntime-node) loaders run three bundles — one with state,
one with lengths, one CNN — against their test vectors, and fail on a wrong expected output,
on NaN where a finite value is expected, and on a manifest that points outside the bundle.
They skip only when a tool is missing, and say which. The loaders are built and installed by the
README's own lines (``tests/conftest.py``)."""

import json
import shutil
import subprocess

import numpy as np
import pytest

from export.bundle import export_bundle
from export.source import from_registry

BUNDLES = ("char-lstm", "name-gru", "mnist-cnn")  # state, lengths, CNN


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    root = tmp_path_factory.mktemp("bundles")
    return {name: export_bundle(from_registry(name), root / name, format="all", verify=False).bundle for name in BUNDLES}


@pytest.fixture(scope="module")
def broken(bundles, tmp_path_factory):
    """name-gru's bundle with one expected logit changed by 1e-3: the loaders must notice."""
    bundle = tmp_path_factory.mktemp("broken") / "name-gru"
    shutil.copytree(bundles["name-gru"], bundle)
    path = bundle / "test_data_set_1" / "output_0.npy"
    expected = np.load(path)
    expected.flat[0] += 1e-3
    np.save(path, expected)
    return bundle


@pytest.fixture(scope="module")
def non_finite(bundles, tmp_path_factory):
    """Copies with NaN: in every pixel of one mnist-cnn input, so the model's logits come out NaN
    where the expected ones are finite (a single NaN pixel can vanish in onnxruntime's MaxPool);
    and in one of name-gru's expected logits."""
    made = {}
    for kind, name, file in (("model output", "mnist-cnn", "input_0.npy"), ("expected output", "name-gru", "output_0.npy")):
        bundle = tmp_path_factory.mktemp("nan") / name
        shutil.copytree(bundles[name], bundle)
        path = bundle / "test_data_set_0" / file
        array = np.load(path)
        if kind == "model output":
            array[...] = np.nan
        else:
            array.flat[0] = np.nan
        np.save(path, array)
        made[kind] = bundle
    return made


@pytest.mark.parametrize("name", BUNDLES)
def test_cpp_loader_passes(cpp_loader, bundles, name):
    result = subprocess.run([str(cpp_loader), str(bundles[name])], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1].startswith("passed: 3 test vectors")


@pytest.mark.parametrize("name", BUNDLES)
def test_node_loader_passes(node_loader, bundles, name):
    result = subprocess.run([*node_loader, str(bundles[name])], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1].startswith("passed: 3 test vectors")


def test_cpp_loader_fails_on_a_mismatch(cpp_loader, broken):
    result = subprocess.run([str(cpp_loader), str(broken)], capture_output=True, text=True)
    assert result.returncode == 1
    assert "MISMATCH: 1 values outside tolerance" in result.stdout and "FAILED" in result.stdout


def test_node_loader_fails_on_a_mismatch(node_loader, broken):
    result = subprocess.run([*node_loader, str(broken)], capture_output=True, text=True)
    assert result.returncode == 1
    assert "MISMATCH: 1 values outside tolerance" in result.stdout


@pytest.mark.parametrize("kind, problem", [("model output", "non-finite values where finite ones are expected"),
                                           ("expected output", "1 values outside tolerance")])  # fmt: skip
def test_loaders_fail_on_nan(cpp_loader, node_loader, non_finite, kind, problem):
    """NaN compares False with everything: ``difference > tolerance`` once let it pass."""
    for command in ([str(cpp_loader)], node_loader):
        result = subprocess.run([*command, str(non_finite[kind])], capture_output=True, text=True)
        assert result.returncode == 1, (command, result.stdout + result.stderr)
        assert "MISMATCH: " in result.stdout and problem in result.stdout, result.stdout
        assert result.stdout.strip().splitlines()[-1].startswith("FAILED: 3 test vectors")


def test_node_loader_reads_no_vector_outside_the_bundle(node_loader, bundles, tmp_path):
    bundle = tmp_path / "name-gru"
    shutil.copytree(bundles["name-gru"], bundle)
    shutil.copytree(bundle / "test_data_set_0", tmp_path / "elsewhere")
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["test_vectors"][0]["dir"] = "../elsewhere"
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    result = subprocess.run([*node_loader, str(bundle)], capture_output=True, text=True)
    assert result.returncode == 2
    assert 'test vector folder "../elsewhere"; only test_data_set_K inside the bundle is read' in result.stderr


def test_loaders_reject_a_missing_bundle(cpp_loader, node_loader, tmp_path):
    assert subprocess.run([str(cpp_loader), str(tmp_path)], capture_output=True).returncode == 2
    assert subprocess.run([*node_loader, str(tmp_path)], capture_output=True).returncode == 2
