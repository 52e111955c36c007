"""Writes that never leave a half-written file: into a temporary sibling, then renamed over."""

import os
from pathlib import Path
from typing import Callable


def write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Calls ``write(temporary path)`` and renames the result over ``path``."""
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        if temporary.exists():
            temporary.unlink()


def write_bytes(path: Path, data: bytes) -> None:
    """Every binary file of a run or bundle goes through Python's own file I/O: a full disk is
    then an OSError (``OSError(ENOSPC)``), which the CLI reports in one line; safetensors' and
    ``torch.save``'s writers report it as their own exception types."""
    with path.open("wb") as handle:
        handle.write(data)
