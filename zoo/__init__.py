"""zoo: recurrent (and a few convolutional) models written for TorchScript and ONNX export.

Importing ``zoo`` loads neither torch nor the models: ``zoo.store`` (the torch-free reader of
runs and bundles) and the server import it. The registry's functions below, and every lookup in
``zoo.registry``, import the models on first use.
"""

from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("zoo")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__", "create_model", "get_spec", "list_models"]
_REGISTRY_FUNCTIONS = ("create_model", "get_spec", "list_models")


def __getattr__(name: str) -> Any:  # PEP 562: zoo.get_spec etc. without importing torch up front
    if name in _REGISTRY_FUNCTIONS:
        from zoo import registry

        return getattr(registry, name)
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")
