"""The library versions a run or a bundle records: a package's own ``__version__`` where it is
already imported (the one that ran, whichever wheel it came from: onnxruntime-gpu installs as
``onnxruntime``), else its installed metadata, so that nothing is imported to learn a version."""

import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Dict

import numpy


def _installed(package: str) -> str:
    loaded = getattr(sys.modules.get(package), "__version__", None)
    if isinstance(loaded, str):
        return loaded
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def versions(*packages: str) -> Dict[str, str]:
    """``zoo``, ``numpy``, ``python`` and each of ``packages`` (``versions("torch")`` for a run,
    ``versions("torch", "onnx", "onnxruntime")`` for a bundle)."""
    import zoo  # the package's own version; importing zoo loads no model (zoo/__init__.py)

    found = {"zoo": zoo.__version__}
    found.update({package: _installed(package) for package in packages})
    found.update(numpy=numpy.__version__, python=platform.python_version())
    return found
