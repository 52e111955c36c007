"""``manifest.json``: what a bundle holds and how to run it, readable without the model code.

Schema version 1 (every key always present):
- ``model``: name, task, what the task's outputs mean, config, description.
- ``source``: the run directory or registry seed the weights came from.
- ``labels``, ``vocabulary`` (``{"tokens", "unknown"}``; id 0 is padding), ``tokenizer``
  (``{"kind": "characters"}`` or ``{"kind": "words", "lowercase", "pattern"}``), ``data``: from
  the run's data set (``null`` for a registry export).
- ``graphs``: for each graph (``forward``, and ``generate``/``decode`` where the model has one):
  its ONNX file (or ``null`` with the reason it has none), ``exporter``, the file's ``opset``,
  ``inputs`` and ``outputs`` as ``{"name", "dtype", "shape", "doc"}`` with symbolic dims as
  strings (and ``vocab`` for token ids), the ``ops`` it uses, and ``arguments``: how the input
  names nest as positional arguments of the TorchScript method (``["tokens", ["h_0", "c_0"]]``).
- ``state_pairs`` (``{"input", "output"}``: feed the output back to continue a sequence) and
  ``ragged`` (``{"lengths", "sequence"}``) of ``forward``.
- ``files``: every other file of the bundle with sha256 and size, except ``parity.json``
  (a report that each ``zoo verify`` rewrites).
- ``export``: formats, exporter, the opset asked for; ``versions``: torch, onnx, onnxruntime, zoo, python.
- ``test_vectors``: each ``test_data_set_K`` folder with the case it came from.
- ``parity``: the summary of the verification run at export time.
"""

import hashlib
import json
from pathlib import Path
from typing import Any, Dict, List

from zoo.registry import TASKS, TensorSpec

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
PARITY = "parity.json"


class BundleError(ValueError):
    """A bundle that is not one, or whose files do not match its manifest."""


def tensor_entry(spec: TensorSpec) -> Dict[str, Any]:
    entry: Dict[str, Any] = {"name": spec.name, "dtype": spec.dtype, "shape": list(spec.shape), "doc": spec.doc}
    if spec.vocab is not None:
        entry["vocab"] = spec.vocab
    return entry


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_entries(root: Path) -> Dict[str, Dict[str, Any]]:
    """sha256 and size of every file under ``root`` except the manifest and the parity report."""
    entries = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = path.relative_to(root).as_posix()
        if relative not in (MANIFEST, PARITY):
            entries[relative] = {"sha256": sha256(path), "bytes": path.stat().st_size}
    return entries


def task_meaning(task: str) -> str:
    return TASKS[task]


def read_manifest(bundle: Path) -> Dict[str, Any]:
    path = bundle / MANIFEST
    if not path.is_file():
        raise BundleError(f"{bundle} is not a bundle: it has no {MANIFEST} (make one with `zoo export`)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise BundleError(f"{path} is not valid JSON ({exc}); export the bundle again") from None
    version = manifest.get("schema_version") if isinstance(manifest, dict) else None
    if version != SCHEMA_VERSION:
        raise BundleError(f"{path} has schema version {version!r}; this zoo reads version {SCHEMA_VERSION}")
    return manifest


def check_files(bundle: Path, manifest: Dict[str, Any]) -> None:
    """Refuses a bundle whose files are missing or differ from the manifest's sha256."""
    problems: List[str] = []
    for relative, entry in manifest["files"].items():
        path = bundle / relative
        if not path.is_file():
            problems.append(f"{relative} is missing")
        elif sha256(path) != entry["sha256"]:
            problems.append(f"{relative} does not match its sha256")
    if problems:
        shown = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
        raise BundleError(f"{bundle} was changed after export ({shown}); export it again")
