"""The export formats' table (``export.formats``): each format behind one protocol, and a new
one added to the table is written, listed in the manifest, offered by `zoo export --help` and
verified, with no change to the bundle or the verifier."""

import io
from pathlib import Path
from typing import Any, Dict, Sequence

import pytest
import torch
from typer.testing import CliRunner

from export import formats, place, runtimes
from export.bundle import description, export_bundle
from export.formats import FORMATS
from export.formats.base import ExportFormat, GraphFields, Job
from export.graphs import Graph, graphs_of
from export.source import from_registry
from zoo.cli import app
from zoo.store import check_files, read_manifest


class _Copy(ExportFormat):
    """A second TorchScript file, run as its own runtime: the smallest format there is."""

    name = "copy"
    summary = "copy.pt, the scripted model once more"
    runtimes = ("copy",)
    graph_fields = ("copy",)

    def write(self, job: Job) -> GraphFields:
        buffer = io.BytesIO()
        torch.jit.save(torch.jit.script(job.model), buffer)
        with place.naming(job.folder / "copy.pt"):
            (job.folder / "copy.pt").write_bytes(buffer.getvalue())
        return {graph.name: {"copy": "copy.pt"} for graph in job.plan.graphs}

    def verifier(self, bundle: Path, manifest: Dict[str, Any]) -> "_CopyRuntime":
        return _CopyRuntime(bundle / "copy.pt")


class _CopyRuntime:
    def __init__(self, path: Path) -> None:
        self.path = path

    def runners(self, graph: Graph, template: Sequence[object], device: str, skipped: Dict[str, str]) -> Dict[str, runtimes.Runner]:
        if not self.path.is_file():
            skipped["copy"] = "no copy.pt"
            return {}
        return {"copy": runtimes.torch_runner(runtimes.load_torchscript(self.path, device), graph, template, torch.float32, device)}


def test_every_format_declares_its_runtimes_and_its_requirements_come_first():
    names = list(FORMATS)
    for index, each in enumerate(FORMATS.values()):
        assert each.name == names[index] and each.summary
        assert all(names.index(required) < index for required in each.requires), each.name
        assert each.runtimes or each.requires, f"{each.name} is verified neither itself nor through another format"
    assert formats.with_requirements(["triton"]) == ["onnx", "triton"]
    assert formats.with_requirements(["aoti"]) == ["pt2", "aoti"]


def test_format_lists_all_and_its_opt_in_formats():
    assert formats.resolve("all") == ["torchscript", "onnx", "triton"]  # pt2 and aoti: asked for by name
    assert formats.resolve("all,aoti") == ["torchscript", "onnx", "triton", "aoti"]
    assert formats.with_requirements(formats.resolve("all,aoti")) == list(FORMATS)
    assert formats.resolve("aoti, onnx") == ["onnx", "aoti"]  # the table's order
    for bad in ("", "onnx,", "pt3", "onnx,,pt2"):
        with pytest.raises(ValueError, match="unknown format"):
            formats.resolve(bad)


def test_verification_runs_the_runtimes_and_the_manifest_holds_the_fields_the_formats_list(tmp_path):
    source = from_registry("linear-regression")
    result = export_bundle(source, tmp_path / "b", format="all", quantize="int8")
    listed = {runtime for each in FORMATS.values() for runtime in each.runtimes}
    ran = {row.runtime for row in result.parity.rows} - {"eager-fp32"}
    assert ran and ran <= listed, ran - listed
    described = description(source, graphs_of(source.spec, source.config))["graphs"]["forward"]
    declared = {key for each in FORMATS.values() for key in each.graph_fields}
    added = set(result.manifest["graphs"]["forward"]) - set(described)
    assert "onnx" in added and added <= declared, added - declared


def test_a_format_added_to_the_table_is_written_offered_and_verified(tmp_path, monkeypatch):
    monkeypatch.setitem(FORMATS, "copy", _Copy())
    assert "copy: copy.pt, the scripted model once more" in " ".join(formats.help_text().split())
    result = export_bundle(from_registry("linear-regression"), tmp_path / "b", format="copy")
    assert result.parity.passed, result.parity.failures()[:3]
    assert {row.runtime for row in result.parity.rows} == {"eager-fp32", "copy"}
    manifest = read_manifest(result.bundle)
    assert manifest["export"]["formats"] == ["copy"] and "copy.pt" in manifest["files"]
    assert manifest["graphs"]["forward"]["copy"] == "copy.pt"
    assert manifest["graphs"]["forward"]["onnx"] is None  # the ONNX format, left out, says so
    assert not (result.bundle / "model.pt").exists()
    check_files(result.bundle, manifest)
    # `zoo export --format copy` takes it too (the help is made once, when the CLI loads).
    command = ["export", "linear-regression", "--format", "copy", "--out", str(tmp_path / "c"), "--no-verify"]
    assert CliRunner().invoke(app, command).exit_code == 0
    assert (tmp_path / "c" / "copy.pt").is_file()
