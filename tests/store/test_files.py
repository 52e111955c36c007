"""zoo.store's files: JSON and safetensors round trips, atomic writes, versions, and that the
reader imports neither torch nor the model code (the server depends on it)."""

import json
import subprocess
import sys

import numpy as np
import pytest
from safetensors import SafetensorError

from zoo.store import read_json, read_weights, versions, weights_bytes, write_json, write_jsonl, write_weights


def test_json_round_trip_keeps_text_and_leaves_no_temporary(tmp_path):
    data = {"model": "name-gru", "labels": ["Čeština", "日本語"], "sizes": [1, 2], "nested": {"x": None}}
    write_json(tmp_path / "config.json", data)
    assert read_json(tmp_path / "config.json") == data
    assert "日本語" in (tmp_path / "config.json").read_text(encoding="utf-8")  # not \\u-escaped
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json"]


def test_jsonl_writes_one_object_per_line(tmp_path):
    rows = [{"epoch": 1, "loss": 0.5}, {"epoch": 2, "loss": 0.25}]
    write_jsonl(tmp_path / "metrics.jsonl", rows)
    assert [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()] == rows


def test_a_failed_write_keeps_the_previous_file(tmp_path):
    write_json(tmp_path / "config.json", {"a": 1})
    with pytest.raises(TypeError):
        write_json(tmp_path / "config.json", {"a": object()})  # not JSON: fails before any byte is written
    assert read_json(tmp_path / "config.json") == {"a": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json"]


def test_weights_round_trip_every_dtype_and_shape(tmp_path):
    arrays = {
        "w": np.arange(12, dtype=np.float32).reshape(3, 4),
        "steps": np.array(7, dtype=np.int64),
        "mask": np.array([True, False]),
        "empty": np.zeros(0, np.float32),
        "strided": np.arange(20, dtype=np.float64).reshape(4, 5)[:, ::2],  # not contiguous
    }
    write_weights(tmp_path / "weights.safetensors", arrays)
    back = read_weights(tmp_path / "weights.safetensors")
    assert sorted(back) == sorted(arrays)
    for name, array in arrays.items():
        assert back[name].dtype == array.dtype and back[name].shape == array.shape, name
        np.testing.assert_array_equal(back[name], array)
    assert back["w"].flags.writeable  # torch.from_numpy takes it without a warning
    assert weights_bytes(arrays) == (tmp_path / "weights.safetensors").read_bytes()


def test_corrupt_weights_raise_the_safetensors_error(tmp_path):
    (tmp_path / "weights.safetensors").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(SafetensorError):
        read_weights(tmp_path / "weights.safetensors")


def test_versions_name_the_packages_asked_for():
    found = versions("numpy", "no-such-package-zoo-test")
    assert found["numpy"] == np.__version__ and found["no-such-package-zoo-test"] == "not installed"
    assert {"zoo", "python"} <= set(found)


def test_importing_the_reader_imports_neither_torch_nor_the_models():
    code = (
        "import sys, zoo.store, zoo.store.bundle, zoo.store.run; "
        "loaded = [m for m in ('torch', 'zoo.models', 'zoo.registry') if m in sys.modules]; "
        "print(','.join(loaded))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
