"""AOTInductor packages (``zoo export --format aoti``) run outside the exporting process: the C++
loader ``zoo_aoti_check`` (serve/cpp, built by the README's cmake lines, ``tests/conftest.py``)
and ``torch._inductor.aoti_load_package`` reproduce each bundle's test vectors. The C++ loader
fails on a wrong expected output and refuses a bundle without the package. Two small models, one
feed-forward and one recurrent (its time loop a while_loop in the package); marked ``aoti``, as
each package is a C++ compile of tens of seconds."""

import json
import shutil
import subprocess
from pathlib import Path
from typing import Dict

import numpy as np
import pytest
import torch

from export.bundle import export_bundle
from export.source import from_registry

pytestmark = pytest.mark.aoti

MODELS = ("linear-regression", "hello-rnncell")  # feed-forward; recurrent (while_loop)
ATOL, RTOL = 1e-5, 1e-4  # zoo_aoti_check's defaults


@pytest.fixture(scope="session")
def aoti_bundles(tmp_path_factory) -> Dict[str, Path]:
    root = tmp_path_factory.mktemp("aoti")
    return {name: export_bundle(from_registry(name), root / name, format="pt2,aoti", overwrite=True).bundle for name in MODELS}


def vector_folders(bundle: Path) -> list:
    folders = sorted(bundle.glob("test_data_set_*"), key=lambda folder: int(folder.name.rsplit("_", 1)[1]))
    assert folders, f"{bundle} has no test vectors"
    return folders


def numbered(folder: Path, kind: str) -> list:
    return [np.load(folder / f"{kind}_{i}.npy") for i in range(len(list(folder.glob(f"{kind}_*.npy"))))]


@pytest.mark.parametrize("name", MODELS)
def test_export_verified_the_package_on_the_whole_grid(aoti_bundles, name):
    """`zoo export --format pt2,aoti` verified the package like any runtime (every case, every
    graph) before putting the bundle in place."""
    report = json.loads((aoti_bundles[name] / "parity.json").read_text())
    assert report["summary"]["passed"]
    cases = {row["case"] for row in report["rows"] if row["runtime"] == "aoti"}
    assert cases == {row["case"] for row in report["rows"] if row["runtime"] == "pt2"} and len(cases) >= 7


@pytest.mark.parametrize("name", MODELS)
def test_cpp_aoti_loader_passes(aoti_loader, aoti_bundles, name):
    bundle = aoti_bundles[name]
    result = subprocess.run([str(aoti_loader), str(bundle)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1].startswith(f"passed: {len(vector_folders(bundle))} test vectors")


def test_cpp_aoti_loader_fails_on_a_mismatch(aoti_loader, aoti_bundles, tmp_path):
    """hello-rnncell with one expected logit changed by 1e-3: the loader must notice."""
    bundle = tmp_path / "hello-rnncell"
    shutil.copytree(aoti_bundles["hello-rnncell"], bundle)
    path = bundle / "test_data_set_1" / "output_0.npy"
    expected = np.load(path)
    expected.flat[0] += 1e-3
    np.save(path, expected)
    result = subprocess.run([str(aoti_loader), str(bundle)], capture_output=True, text=True)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "MISMATCH: 1 values outside tolerance" in result.stdout
    assert result.stdout.strip().splitlines()[-1].startswith(f"FAILED: {len(vector_folders(bundle))} test vectors")


def test_cpp_aoti_loader_refuses_a_bundle_without_the_package(aoti_loader, aoti_bundles, tmp_path):
    """Test vectors but no model.aoti.pt2 (exported without --format aoti): one line says how to get it."""
    bundle = tmp_path / "linear-regression"
    shutil.copytree(aoti_bundles["linear-regression"], bundle)
    (bundle / "model.aoti.pt2").unlink()
    result = subprocess.run([str(aoti_loader), str(bundle)], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: {bundle} has no model.aoti.pt2; export it with `zoo export MODEL --format aoti`"]


@pytest.mark.parametrize("name", MODELS)
def test_python_aoti_package_reproduces_the_test_vectors(aoti_bundles, name):
    """The package as Python loads it, called with the graph's inputs flat (both models take
    tensors only), against the vectors: count, dtype, shape, values."""
    bundle = aoti_bundles[name]
    package = torch._inductor.aoti_load_package(str(bundle / "model.aoti.pt2"))
    for folder in vector_folders(bundle):
        expected = numbered(folder, "output")
        with torch.no_grad():
            got = package(*[torch.from_numpy(array) for array in numbered(folder, "input")])
        got = [got] if isinstance(got, torch.Tensor) else list(got)
        assert len(got) == len(expected), folder.name
        for actual, want in zip(got, expected):
            assert actual.numpy().dtype == want.dtype, folder.name
            np.testing.assert_allclose(actual.numpy(), want, rtol=RTOL, atol=ATOL, err_msg=folder.name)
