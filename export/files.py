"""Reading a bundle without the model code: its manifest and the sha256 of its files.

The server (``serve``) and any other loader use this module; it imports neither torch nor zoo.
"""

import hashlib
import json
from pathlib import Path
from typing import Any, Dict, List

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
PARITY = "parity.json"


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
        if relative not in (MANIFEST, PARITY):
            entries[relative] = {"sha256": sha256(path), "bytes": path.stat().st_size}
    return entries


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
