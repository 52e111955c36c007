"""zoo: recurrent (and a few convolutional) models written for TorchScript and ONNX export."""

from importlib.metadata import PackageNotFoundError, version

from zoo import models as _models  # noqa: F401  (fills the registry)
from zoo.registry import create_model, get_spec, list_models

try:
    __version__ = version("zoo")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__", "create_model", "get_spec", "list_models"]
