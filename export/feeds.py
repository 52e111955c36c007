"""Checks a loader makes before running a bundle: the inputs it was given fit the manifest.

Works on the manifest's plain description of each input (``{"name", "dtype", "shape"}``, dims
either sizes or axis names), so a server or script can use it without the model code. Each
problem is one line naming the input and what it should be.
"""

from typing import Any, Dict, List, Mapping

import numpy as np


class InputError(ValueError):
    """Inputs that do not fit the bundle's signature."""


def check_feeds(inputs: List[Mapping[str, Any]], feeds: Mapping[str, np.ndarray]) -> None:
    """Names, dtypes, ranks and fixed sizes as declared; a named axis has one size across inputs;
    an axis whose name ends in "time" is at least 1 long (ONNX loops cannot run zero steps)."""
    expected = [spec["name"] for spec in inputs]
    missing = [n for n in expected if n not in feeds]
    extra = [n for n in feeds if n not in expected]
    if missing or extra:
        raise InputError(f"inputs must be exactly {', '.join(expected)}; missing: {', '.join(missing) or '-'}, unexpected: {', '.join(extra) or '-'}")
    sizes: Dict[str, int] = {}
    for spec in inputs:
        name, array = spec["name"], feeds[spec["name"]]
        if str(array.dtype) != spec["dtype"]:
            raise InputError(f"input {name!r} must be {spec['dtype']}, got {array.dtype}; convert it first")
        shape = list(spec["shape"])
        if array.ndim != len(shape):
            raise InputError(f"input {name!r} must have {len(shape)} dims {tuple(shape)}, got shape {tuple(array.shape)}")
        for axis, (dim, size) in enumerate(zip(shape, array.shape)):
            if isinstance(dim, int):
                if size != dim:
                    raise InputError(f"input {name!r} axis {axis} must be {dim}, got {size} (shape {tuple(array.shape)})")
                continue
            if dim.endswith("time") and size < 1:
                raise InputError(f"input {name!r} has a zero-length {dim} axis; give at least one step")
            if sizes.setdefault(dim, size) != size:
                raise InputError(f"input {name!r} axis {axis} ({dim}) is {size} but another input has {dim}={sizes[dim]}")  # fmt: skip
