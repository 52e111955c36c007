"""``--format aoti`` when AOTInductor cannot compile a graph: the manifest records the error, the
other formats are still written and verified, and `zoo verify` says why there is no package.
(Compiling for real is the ``aoti`` tests' job: tests/serve/test_aoti_loader.py.)"""

from export.bundle import export_bundle
from export.formats import aoti
from export.source import from_registry


def test_a_graph_that_does_not_compile_is_recorded_and_the_rest_exports(tmp_path, monkeypatch):
    def refuse(program_path, target):
        raise RuntimeError("KeyError: s27\nthe rest of inductor's story")

    monkeypatch.setattr(aoti, "compile_package", refuse)
    result = export_bundle(from_registry("hello-rnncell"), tmp_path / "b", format="onnx,aoti")
    entry = result.manifest["graphs"]["forward"]
    assert entry["aoti"] == {"file": None, "reason": "AOTInductor failed: RuntimeError: KeyError: s27"}
    assert (result.bundle / "model.pt2").is_file() and not (result.bundle / "model.aoti.pt2").exists()
    assert result.parity.passed
    runtimes = {row.runtime for row in result.parity.rows}
    assert {"pt2", "onnxruntime-cpu"} <= runtimes and "aoti" not in runtimes
    assert result.parity.skipped["aoti (forward)"] == "AOTInductor failed: RuntimeError: KeyError: s27"

