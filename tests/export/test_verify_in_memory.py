"""A fresh export verifies the model it already holds; `zoo verify BUNDLE` rebuilds it from the
bundle's own files (zoo.rebuild), and both judge the same numbers."""

import torch

import export.parity
from export.bundle import export_bundle
from export.parity import verify_bundle
from export.source import from_registry
from zoo.rebuild import weights_of
from zoo.store import read_bundle_weights


def test_export_verifies_its_source_and_verify_rebuilds_from_the_files(tmp_path, monkeypatch):
    rebuilt = []
    real = export.parity.rebuild
    monkeypatch.setattr(export.parity, "rebuild", lambda *args: rebuilt.append(args) or real(*args))
    source = from_registry("manual-gru")
    before = {k: v.clone() for k, v in source.model.state_dict().items()}
    result = export_bundle(source, tmp_path / "b", format="onnx")
    assert result.parity is not None and result.parity.passed
    assert rebuilt == []  # the export's verification used the model in memory
    for key, value in source.model.state_dict().items():  # ... and left it as it was
        assert value.dtype == before[key].dtype and torch.equal(value, before[key]), key
    written = read_bundle_weights(result.bundle)
    assert {k: v.tolist() for k, v in written.items()} == {k: v.tolist() for k, v in weights_of(source.model).items()}

    again = verify_bundle(result.bundle, write_report=False)
    assert len(rebuilt) == 1 and again.passed
    assert [(r.graph, r.case, r.runtime, r.output, r.max_abs) for r in again.rows] == [
        (r.graph, r.case, r.runtime, r.output, r.max_abs) for r in result.parity.rows
    ]
