"""`zoo export` puts a bundle at --out only when it is complete and verified, replaces only a
bundle, cleans up after itself (after SIGTERM too, and after SIGKILL at the next export) and
reports I/O errors in one line; `zoo verify` records its result in the bundle, or elsewhere."""

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

import pytest
import torch
from typer.testing import CliRunner

from export.bundle import export_bundle
from zoo.store import check_files, read_manifest
from export.source import from_registry
from zoo.cli import app

runner = CliRunner()
ZOO = [sys.executable, "-m", "zoo"]


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    return export_bundle(from_registry("linear-regression"), tmp_path_factory.mktemp("good") / "b", format="onnx").bundle


OVERFLOW = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # _overflowing's point


def _overflowing():
    """linear-regression with weights near float32's largest: its outputs are finite in the
    float64 reference and inf in float32, so its verification fails for a real reason."""
    source = from_registry("linear-regression")
    with torch.no_grad():
        source.model.linear.weight.fill_(3e38)
        source.model.linear.bias.fill_(3e38)
    return source


def _copy(bundle: Path, tmp_path: Path) -> Path:
    out = tmp_path / "b"
    shutil.copytree(bundle, out)
    return out


def _contents(folder: Path) -> Dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _hidden(parent: Path) -> List[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def _error(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0]


def _unprivileged() -> List[str]:
    """A command prefix without root's power to write anywhere, so that a read-only folder is
    read-only to the command too (tests may run as root, e.g. in a container)."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv (util-linux): a folder cannot be made read-only to root")
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]


def _read_only(folder: Path, read_only: bool = True) -> None:
    for path in [folder, *folder.rglob("*")]:
        path.chmod((0o555 if path.is_dir() else 0o444) if read_only else (0o755 if path.is_dir() else 0o644))


# --- a failed verification (issue 11, item 8) -------------------------------------------------


@OVERFLOW
def test_a_failed_verification_leaves_the_old_bundle(good, tmp_path, monkeypatch):
    out = _copy(good, tmp_path)
    before = _contents(out)
    monkeypatch.setattr("export.source.load_source", lambda source, seed: _overflowing())
    command = ["export", "linear-regression", "--format", "onnx", "--out", str(out), "--overwrite"]
    result = runner.invoke(app, command)
    assert result.exit_code == 1
    line = _error(result.stderr)
    assert "verification failed" in line and "non-finite values where finite ones are expected" in line
    assert f"{out} was left as it was; pass --keep-failed" in line
    assert _contents(out) == before and _hidden(tmp_path) == [] and not (tmp_path / "b.failed").exists()
    for attempt in range(2):  # each failed export replaces the failed bundle kept before
        result = runner.invoke(app, [*command, "--keep-failed"])
        assert result.exit_code == 1 and f"the failed bundle is in {out}.failed" in _error(result.stderr)
        assert read_manifest(tmp_path / "b.failed")["parity"]["passed"] is False
        assert not (tmp_path / "b.failed" / "notes.txt").exists()
        (tmp_path / "b.failed" / "notes.txt").write_text("a look at the failure")
    assert _contents(out) == before and _hidden(tmp_path) == []


@OVERFLOW
def test_a_failed_triton_export_stays_out_of_the_repository(tmp_path, monkeypatch):
    monkeypatch.setattr("export.source.load_source", lambda source, seed: _overflowing())
    repo = tmp_path / "repo"
    result = runner.invoke(app, ["export", "linear-regression", "--format", "triton", "--out", str(repo), "--keep-failed"])
    assert result.exit_code == 1
    assert f"the failed bundle is in {tmp_path / 'repo.linear-regression.failed'}" in _error(result.stderr)
    assert list(repo.iterdir()) == []  # Triton would load whatever folder is there
    assert read_manifest(tmp_path / "repo.linear-regression.failed")["parity"]["passed"] is False


@OVERFLOW
def test_verify_records_its_result_in_the_bundle(tmp_path):
    bad = export_bundle(_overflowing(), tmp_path / "bad", format="onnx", verify=False).bundle
    ok = export_bundle(from_registry("linear-regression"), tmp_path / "ok", format="onnx", verify=False).bundle
    for bundle, code, passed in ((bad, 1, False), (ok, 0, True)):
        assert read_manifest(bundle)["parity"] is None  # --no-verify: not servable yet
        result = runner.invoke(app, ["verify", str(bundle)])
        assert result.exit_code == code, result.output
        manifest = read_manifest(bundle)
        assert manifest["parity"]["passed"] is passed
        assert json.loads((bundle / "parity.json").read_text())["summary"] == manifest["parity"]
        check_files(bundle, manifest)  # recording the result keeps the bundle's hashes valid


def test_verify_report_elsewhere_leaves_the_bundle_untouched(good, tmp_path):
    before = _contents(good)
    result = runner.invoke(app, ["verify", str(good), "--report", str(tmp_path / "report.json")])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "report.json").read_text())["summary"]["passed"] is True
    result = runner.invoke(app, ["verify", str(good), "--report", "-"])
    assert result.exit_code == 0 and json.loads(result.stdout)["model"] == "linear-regression"
    assert "comparisons within tolerance" in result.stderr  # the table moves to stderr
    result = runner.invoke(app, ["verify", str(good), "--report", str(good / "report.json")])
    assert result.exit_code == 2 and "is inside the bundle; leave --report out" in _error(result.stderr)
    assert _contents(good) == before


def test_verify_of_a_read_only_bundle_still_verifies(good, tmp_path):
    bundle = _copy(good, tmp_path)
    before = _contents(bundle)
    _read_only(bundle)
    try:
        result = subprocess.run([*_unprivileged(), *ZOO, "verify", str(bundle)], capture_output=True, text=True)
    finally:
        _read_only(bundle, False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("note: the report was not written") == 1
    assert "Permission denied); pass --report PATH to write it elsewhere" in result.stdout
    assert _contents(bundle) == before


# --- what --overwrite replaces (item 10) ----------------------------------------------------


@pytest.mark.parametrize("kind", ["folder", "file"])
def test_overwrite_replaces_only_a_bundle(tmp_path, kind):
    out = tmp_path / "work"
    if kind == "folder":
        out.mkdir()
        (out / "thesis.tex").write_text("three years")
    else:
        out.write_text("three years")
    before = _contents(tmp_path)
    result = runner.invoke(app, ["export", "linear-regression", "--format", "onnx", "--out", str(out), "--overwrite"])
    assert result.exit_code == 2
    assert f"{out} exists and is not a bundle (it has no manifest.json); --overwrite replaces only a bundle" in _error(result.stderr)
    assert _contents(tmp_path) == before and _hidden(tmp_path) == []


def test_overwrite_in_a_triton_repository_replaces_only_a_model_folder(tmp_path):
    (tmp_path / "repo" / "linear-regression").mkdir(parents=True)
    (tmp_path / "repo" / "linear-regression" / "notes.txt").write_text("mine")
    result = runner.invoke(app, ["export", "linear-regression", "--format", "triton", "--out", str(tmp_path / "repo"), "--overwrite"])
    assert result.exit_code == 2
    assert "linear-regression exists and is not a Triton model folder (it has no config.pbtxt)" in _error(result.stderr)
    assert (tmp_path / "repo" / "linear-regression" / "notes.txt").read_text() == "mine"


def test_an_empty_folder_is_filled(tmp_path):
    (tmp_path / "b").mkdir()
    result = runner.invoke(app, ["export", "linear-regression", "--format", "onnx", "--out", str(tmp_path / "b"), "--no-verify"])
    assert result.exit_code == 0, result.output
    assert "`zoo verify` it before serving it" in result.stdout
    check_files(tmp_path / "b", read_manifest(tmp_path / "b"))


# --- interruptions and I/O errors (item 11) -------------------------------------------------


def test_a_read_only_parent_is_one_line(tmp_path):
    parent = tmp_path / "shared"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        result = subprocess.run([*_unprivileged(), *ZOO, "export", "linear-regression", "--format", "onnx",
                                 "--out", str(parent / "b")], capture_output=True, text=True)  # fmt: skip
    finally:
        parent.chmod(0o755)
    assert result.returncode == 1, result.stdout + result.stderr
    assert _error(result.stderr) == f"error: {parent}: Permission denied; choose a folder you may write to (--out) or fix its permissions"
    assert list(parent.iterdir()) == []


@pytest.mark.parametrize("limit, file", [(20_000, "weights.safetensors"), (40_000, "model.pt")])
def test_a_full_disk_is_one_line(good, tmp_path, limit, file):
    """A file size limit makes the write of mnist-cnn's weights (34 kB) or model.pt (48 kB) fail
    deep in the export with EFBIG, as a full disk fails with ENOSPC (torch.jit.save writing to
    a path would abort the process instead)."""
    out = _copy(good, tmp_path)
    before = _contents(out)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # its default action ends the process
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        result = runner.invoke(app, ["export", "mnist-cnn", "--out", str(out), "--overwrite"])
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)
    assert result.exit_code == 1, result.output
    line = _error(result.stderr)
    assert file in line and line.endswith("File too large")
    assert _contents(out) == before and _hidden(tmp_path) == []


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_leftovers_of_killed_exports_are_removed_by_the_next(tmp_path):
    dead, alive = _dead_pid(), os.getppid()
    stale = [f".b.tmp-{dead}", f".other.tmp-{dead}", f".b.old-{dead}", f".zoo-export-{dead}-x1y2"]
    kept = [f".b.tmp-{alive}", ".b.tmp-later", ".cache"]
    for name in stale + kept + [f".gone.old-{dead}"]:
        (tmp_path / name).mkdir()
    (tmp_path / f".gone.old-{dead}" / "manifest.json").write_text("{}")  # killed mid-swap: the only copy
    (tmp_path / f".file.tmp-{dead}").write_text("not a folder of ours")
    export_bundle(from_registry("linear-regression"), tmp_path / "b", format="onnx", verify=False)
    assert _hidden(tmp_path) == sorted(kept + [f".file.tmp-{dead}"])
    assert (tmp_path / "gone" / "manifest.json").is_file()


def test_sigterm_during_export_removes_its_temporary_folder(good, tmp_path):
    out = _copy(good, tmp_path)
    before = _contents(out)
    process = subprocess.Popen([*ZOO, "export", "manual-gru", "--format", "onnx", "--out", str(out), "--overwrite"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    temporary = tmp_path / f".b.tmp-{process.pid}"
    deadline = time.monotonic() + 120
    while not temporary.exists():  # the export is under way once its temporary folder exists
        assert process.poll() is None, "the export ended before its temporary folder was seen"
        assert time.monotonic() < deadline, "no temporary folder within 120 s"
        time.sleep(0.01)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert _error(stderr) == "error: export stopped by SIGTERM; its temporary files were removed"
    assert _hidden(tmp_path) == [] and _contents(out) == before
