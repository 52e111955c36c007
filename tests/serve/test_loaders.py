"""The C++ (libtorch) and Node.js (onnxruntime-node) loaders run three bundles — one with state,
one with lengths, one CNN — against their test vectors, and fail on a wrong expected output.
They skip only when a tool is missing, and say which."""

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from export.bundle import export_bundle
from export.source import from_registry

ROOT = Path(__file__).resolve().parents[2]
CPP = ROOT / "serve" / "cpp"
NODE = ROOT / "serve" / "node"
BUNDLES = ("char-lstm", "name-gru", "mnist-cnn")  # state, lengths, CNN


def _missing(*tools: str) -> str:
    return ", ".join(t for t in tools if shutil.which(t) is None)


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
def cpp_loader():
    missing = _missing("cmake", "g++", "make")
    if missing:
        pytest.skip(f"the C++ loader needs {missing}, not found on PATH")
    build = CPP / "build"  # kept between runs (git-ignored): cmake rebuilds only what changed
    if not (build / "CMakeCache.txt").exists():
        subprocess.run(["cmake", "-S", str(CPP), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release",
                        f"-DCMAKE_PREFIX_PATH={torch.utils.cmake_prefix_path}"],
                       check=True, capture_output=True, text=True)  # fmt: skip
    subprocess.run(["cmake", "--build", str(build), "-j2"], check=True, capture_output=True, text=True)
    return build / "zoo_check"


@pytest.fixture(scope="module")
def node_loader():
    missing = _missing("node", "npm")
    if missing:
        pytest.skip(f"the Node.js loader needs {missing}, not found on PATH")
    if not (NODE / "node_modules" / "onnxruntime-node").exists():
        # The package's install script would fetch CUDA binaries from a host outside the
        # registries; the CPU runtime ships in the package itself.
        env = {**os.environ, "ONNXRUNTIME_NODE_INSTALL": "skip"}
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE, env=env, check=True, capture_output=True, text=True)
    return ["node", str(NODE / "check.js")]


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


def test_loaders_reject_a_missing_bundle(cpp_loader, node_loader, tmp_path):
    assert subprocess.run([str(cpp_loader), str(tmp_path)], capture_output=True).returncode == 2
    assert subprocess.run([*node_loader, str(tmp_path)], capture_output=True).returncode == 2
