"""A bundle directory (``zoo export``'s), read without torch or the model code: its manifest,
the sha256 of its files, and its weights.

``check_files`` is the one gate a bundle passes before anything in it is opened: every path the
manifest names stays inside the bundle, every file in the bundle is listed, and every listed
file matches its sha256. ``read_manifest`` reads schema version 1 (``export.manifest``
describes its keys).
"""

import hashlib
import json
import os
import re
from pathlib import Path, PurePosixPath
from typing import Any, Dict, Iterator, List, Set, Tuple

from zoo.store.names import MANIFEST, PARITY, WEIGHTS
from zoo.store.weights import Arrays, read_weights

SCHEMA_VERSION = 1
UNLISTED = (MANIFEST, PARITY)  # at the top of a bundle: the manifest cannot hash itself; each verify rewrites the report
# What a verify killed while rewriting one of those leaves beside it (the atomic writer's
# temporary name): nothing opens it, so it must not make the bundle unusable.
_UNLISTED_LEFTOVER = re.compile(r"\.(manifest|parity)\.json\.tmp-\d+")
MAX_LINKS = 40  # symbolic links followed in one path, as the kernel allows (ELOOP)


class BundleError(ValueError):
    """A bundle that is not one, or whose files do not match its manifest."""


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
        if relative not in UNLISTED:
            entries[relative] = {"sha256": sha256(path), "bytes": path.stat().st_size}
    return entries


def is_bundle(path: Path) -> bool:
    """``path`` holds a manifest: a bundle to read (and check) rather than a run directory."""
    return (path / MANIFEST).is_file()


def read_manifest(bundle: Path) -> Dict[str, Any]:
    if not bundle.is_dir():
        raise BundleError(f"{bundle} is not a bundle: it has no {MANIFEST} (make one with `zoo export`)")
    try:
        path = inside(bundle, MANIFEST, MANIFEST)
    except BundleError:
        raise BundleError(f"{bundle} is refused: its {MANIFEST} is a symbolic link leading outside the bundle; export it again") from None
    if not path.is_file():
        raise BundleError(f"{bundle} is not a bundle: it has no {MANIFEST} (make one with `zoo export`)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"{path} is not valid JSON ({exc}); export the bundle again") from None
    version = manifest.get("schema_version") if isinstance(manifest, dict) else None
    if version != SCHEMA_VERSION:
        raise BundleError(f"{path} has schema version {version!r}; this zoo reads version {SCHEMA_VERSION}")
    return manifest


def _refuse(bundle: Path, where: str, name: object, problem: str) -> BundleError:
    return BundleError(
        f"{bundle} is refused: {MANIFEST} {where} names {name!r}, which {problem}; "
        "a bundle names only files inside itself, listed with their sha256 — export it again"
    )


def inside(bundle: Path, relative: object, where: str) -> Path:
    """``bundle / relative`` with every symbolic link followed, or BundleError if the name is
    not a plain relative path or any step leaves the bundle. Only what is already known to lie
    inside the bundle is looked at (lstat, readlink), so a refused path opens and stats
    nothing outside it — not even whether it exists."""
    if not isinstance(relative, str) or not relative or "\\" in relative or "\x00" in relative:
        raise _refuse(bundle, where, relative, "is not a relative file name with / separators")
    path = PurePosixPath(relative)
    if path.is_absolute():
        raise _refuse(bundle, where, relative, "is absolute")
    if ".." in path.parts:
        raise _refuse(bundle, where, relative, "climbs out with '..'")
    if path.as_posix() != relative:
        raise _refuse(bundle, where, relative, "is not written plainly (no '.', '//' or trailing '/')")
    root = bundle.resolve()
    current, pending, links = root, list(path.parts), 0
    while pending:
        part = pending.pop(0)
        if part == "..":  # only from a link's target: kept as long as it stays below the root
            if current == root:
                raise _refuse(bundle, where, relative, "leads outside the bundle through a symbolic link")
            current = current.parent
            continue
        candidate = current / part
        if not candidate.is_symlink():  # lstat of a path inside the bundle
            current = candidate
            continue
        links += 1
        if links > MAX_LINKS:
            raise _refuse(bundle, where, relative, "goes through too many symbolic links")
        target = PurePosixPath(os.readlink(candidate))
        if target.is_absolute():
            if target.parts[: len(root.parts)] != root.parts:
                raise _refuse(bundle, where, relative, "leads outside the bundle through a symbolic link")
            current, pending = root, list(target.parts[len(root.parts) :]) + pending
        else:
            pending = list(target.parts) + pending
    return current


def _entries(root: Path, folder: Path = Path()) -> Iterator[str]:
    """Every entry below ``root`` that is not a real directory (files, and symbolic links,
    which are never followed), as a relative POSIX name."""
    with os.scandir(root / folder) as scan:
        for entry in sorted(scan, key=lambda e: e.name):
            relative = folder / entry.name
            if entry.is_dir(follow_symlinks=False):
                yield from _entries(root, relative)
            else:
                yield relative.as_posix()


def _listed_files(bundle: Path, manifest: Dict[str, Any]) -> Dict[str, Tuple[Path, str]]:
    """``files`` as name -> (where it resolves inside the bundle, sha256)."""
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise BundleError(f"{bundle} is refused: its {MANIFEST} has no 'files' with the sha256 of each file; export it again")
    listed = {}
    for relative, entry in files.items():
        path = inside(bundle, relative, "files")
        if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str):
            raise _refuse(bundle, "files", relative, "has no sha256")
        listed[relative] = (path, entry["sha256"])
    return listed


def _check_named_paths(bundle: Path, manifest: Dict[str, Any], listed: Set[str]) -> None:
    """The graph files and test vector folders the loaders open: inside the bundle and listed."""
    graphs = manifest.get("graphs")
    if not isinstance(graphs, dict):
        raise BundleError(f"{bundle} is refused: its {MANIFEST} has no 'graphs'; export it again")
    for name, entry in graphs.items():
        onnx = entry.get("onnx") if isinstance(entry, dict) else None
        if onnx is None:
            continue
        where = f"graphs.{name}.onnx"
        inside(bundle, onnx, where)
        if onnx not in listed:
            raise _refuse(bundle, where, onnx, "'files' does not list with a sha256")
    vectors = manifest.get("test_vectors")
    if not isinstance(vectors, list):
        raise BundleError(f"{bundle} is refused: its {MANIFEST} has no 'test_vectors' list; export it again")
    for index, entry in enumerate(vectors):
        folder = entry.get("dir") if isinstance(entry, dict) else None
        where = f"test_vectors[{index}].dir"
        inside(bundle, folder, where)
        if not any(name.startswith(f"{folder}/") for name in listed):
            raise _refuse(bundle, where, folder, "holds no file that 'files' lists")


def check_files(bundle: Path, manifest: Dict[str, Any]) -> None:
    """The gate of every loader (``zoo verify``, ``zoo serve``): refuses, with one line, a bundle
    whose manifest names a path outside the bundle (absolute, '..', a symbolic link leading
    out), that holds a file its manifest does not list (model.pt, weights.safetensors and the
    test vectors are opened by fixed name), or whose listed files are missing or differ from
    their sha256."""
    listed = _listed_files(bundle, manifest)
    _check_named_paths(bundle, manifest, set(listed))
    # A symbolic link to a folder is fine when listed files lie below it (inside() followed it).
    folders = {parent.as_posix() for name in listed for parent in PurePosixPath(name).parents}
    unlisted = [name for name in _entries(bundle.resolve())
                if name not in listed and name not in folders and name not in UNLISTED and not _UNLISTED_LEFTOVER.fullmatch(name)]  # fmt: skip
    if unlisted:
        shown = ", ".join(unlisted[:3]) + (f" and {len(unlisted) - 3} more" if len(unlisted) > 3 else "")
        raise BundleError(
            f"{bundle} is refused: it holds {shown}, which its {MANIFEST} does not list; "
            "remove what you added, or export it again"
        )
    problems: List[str] = []
    for relative, (path, expected) in listed.items():
        if not path.is_file():
            problems.append(f"{relative} is missing")
        elif sha256(path) != expected:
            problems.append(f"{relative} does not match its sha256")
    if problems:
        shown = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
        raise BundleError(f"{bundle} was changed after export ({shown}); export it again")


def read_bundle_weights(bundle: Path) -> Arrays:
    """The bundle's ``weights.safetensors`` as numpy arrays (after ``check_files``: whole and
    as exported)."""
    return read_weights(bundle / WEIGHTS)
