"""A bundle names only files inside itself, each listed with its sha256: `check_files`, the gate
of `zoo verify` and `zoo serve`, refuses any other manifest with one line, without opening or
stat-ing what the manifest points at outside the bundle (so "missing" or "does not match"
cannot tell whether a path exists)."""

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from export.bundle import export_bundle
from zoo.store import BundleError, check_files, read_manifest, sha256
from export.source import from_registry
from zoo.cli import app

runner = CliRunner()
_RECORDED = {"paths": None}  # (path, whether its last part is followed) while a Recorder records


def _audit(event: str, args: tuple) -> None:
    if _RECORDED["paths"] is not None and event in ("open", "os.scandir", "os.listdir") and isinstance(args[0], (str, bytes, os.PathLike)):
        _RECORDED["paths"].append((args[0], True))


sys.addaudithook(_audit)  # hooks cannot be removed; this one records only between start() and reached()


class Recorder:
    """Every path opened, listed or stat-ed (lstat and readlink's lstat included) between
    ``start()`` and ``reached()``, resolved the way the kernel did: a followed path to where its
    links lead, an lstat-ed one up to its last part."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        real_stat, real_lstat = os.stat, os.lstat

        def stat(path, *args, **kwargs):  # type: ignore[no-untyped-def]
            self._note(path, kwargs.get("follow_symlinks", True))
            return real_stat(path, *args, **kwargs)

        def lstat(path, *args, **kwargs):  # type: ignore[no-untyped-def]
            self._note(path, False)
            return real_lstat(path, *args, **kwargs)

        monkeypatch.setattr(os, "stat", stat)
        monkeypatch.setattr(os, "lstat", lstat)

    @staticmethod
    def _note(path: object, follows: bool) -> None:
        if _RECORDED["paths"] is not None and isinstance(path, (str, bytes, os.PathLike)):
            _RECORDED["paths"].append((path, follows))

    def start(self) -> None:
        _RECORDED["paths"] = []

    def reached(self) -> list:
        recorded, _RECORDED["paths"] = _RECORDED["paths"] or [], None
        places = []
        for path, follows in recorded:
            path = os.path.abspath(os.fsdecode(path))
            head, tail = os.path.split(path)
            places.append(os.path.realpath(path) if follows else os.path.join(os.path.realpath(head), tail))
        return places


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return export_bundle(from_registry("linear-regression"), tmp_path_factory.mktemp("b") / "b", format="onnx").bundle


@pytest.fixture
def recorder(monkeypatch):
    yield Recorder(monkeypatch)
    _RECORDED["paths"] = None


def _manifest(copy: Path) -> dict:
    return json.loads((copy / "manifest.json").read_text())


def _save(copy: Path, manifest: dict) -> None:
    (copy / "manifest.json").write_text(json.dumps(manifest))


def _graph_absolute(copy, outside):
    manifest = _manifest(copy)
    manifest["graphs"]["forward"]["onnx"] = str(outside / "model.onnx")
    _save(copy, manifest)


def _graph_up(copy, outside):
    manifest = _manifest(copy)
    manifest["graphs"]["forward"]["onnx"] = "../outside/model.onnx"
    _save(copy, manifest)


def _files_up(copy, outside):
    manifest = _manifest(copy)
    manifest["files"]["../../../../etc/passwd"] = {"sha256": "0" * 64, "bytes": 1}
    _save(copy, manifest)


def _link_out(copy, outside):
    (copy / "model.onnx").unlink()
    (copy / "model.onnx").symlink_to(outside / "model.onnx")  # the same bytes: the hash would match


def _folder_link_out(copy, outside):
    shutil.rmtree(copy / "test_data_set_0")
    (copy / "test_data_set_0").symlink_to(os.path.relpath(outside / "test_data_set_0", copy))


def _vector_dir_up(copy, outside):
    manifest = _manifest(copy)
    manifest["test_vectors"][0]["dir"] = "../outside/test_data_set_0"
    _save(copy, manifest)


def _graph_unlisted(copy, outside):
    manifest = _manifest(copy)
    del manifest["files"]["model.onnx"]  # a tampered graph would be served unhashed
    _save(copy, manifest)


def _file_unlisted(copy, outside):
    shutil.copy(outside / "model.onnx", copy / "model.pt")  # a loader opens model.pt by name


CASES = [
    (_graph_absolute, "graphs.forward.onnx names '/.*/outside/model.onnx', which is absolute"),
    (_graph_up, "graphs.forward.onnx names '../outside/model.onnx', which climbs out with '..'"),
    (_files_up, "files names '../../../../etc/passwd', which climbs out with '..'"),
    (_link_out, "files names 'model.onnx', which leads outside the bundle through a symbolic link"),
    (_folder_link_out, "files names 'test_data_set_0/input_0.npy', which leads outside the bundle through a symbolic link"),
    (_vector_dir_up, r"test_vectors\[0\].dir names '../outside/test_data_set_0', which climbs out"),
    (_graph_unlisted, "graphs.forward.onnx names 'model.onnx', which 'files' does not list with a sha256"),
    (_file_unlisted, "it holds model.pt, which its manifest.json does not list"),
]


@pytest.mark.parametrize("tamper, message", CASES, ids=[tamper.__name__.strip("_") for tamper, _ in CASES])
def test_a_path_outside_or_unlisted_is_refused(bundle, tmp_path, recorder, tamper, message):
    outside = tmp_path / "outside"
    shutil.copytree(bundle, outside)
    copy = tmp_path / "copy"
    shutil.copytree(bundle, copy)
    tamper(copy, outside)
    recorder.start()
    with pytest.raises(BundleError, match=message):
        check_files(copy, read_manifest(copy))
    result = runner.invoke(app, ["verify", str(copy)])
    assert result.exit_code == 2
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("error: ") and "export it again" in errors[0], result.stderr
    reached = recorder.reached()
    assert reached, "the recorder saw nothing: it would not see a path outside either"
    assert not [p for p in reached if p.startswith(str(outside.resolve())) or p.endswith("passwd")], reached


def test_links_that_stay_inside_are_followed_and_hashed(bundle, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(bundle, copy)
    (copy / "graphs").mkdir()
    os.replace(copy / "model.onnx", copy / "graphs" / "model.onnx")
    (copy / "model.onnx").symlink_to("graphs/../graphs/model.onnx")
    manifest = _manifest(copy)
    manifest["files"]["graphs/model.onnx"] = manifest["files"]["model.onnx"]
    _save(copy, manifest)
    check_files(copy, read_manifest(copy))
    (copy / "graphs" / "model.onnx").write_bytes(b"tampered")
    with pytest.raises(BundleError, match="model.onnx does not match its sha256"):
        check_files(copy, read_manifest(copy))
    assert sha256(copy / "weights.safetensors") == manifest["files"]["weights.safetensors"]["sha256"]


def test_a_killed_verify_leaves_nothing_that_blocks_the_bundle(bundle, tmp_path):
    """A verify killed while rewriting manifest.json or parity.json leaves the atomic writer's
    temporary beside it; nothing opens it, so the bundle stays usable. Any other stray file
    is still refused."""
    copy = tmp_path / "copy"
    shutil.copytree(bundle, copy)
    (copy / ".manifest.json.tmp-4194303").write_text("{")
    (copy / ".parity.json.tmp-4194303").write_text("")
    check_files(copy, read_manifest(copy))
    (copy / ".model.onnx.tmp-4194303").write_text("")
    with pytest.raises(BundleError, match=r"it holds \.model\.onnx\.tmp-4194303, which"):
        check_files(copy, read_manifest(copy))
