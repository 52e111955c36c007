"""Test vectors in the ONNX Model Zoo layout, plus the same arrays as ``.npy`` files.

``test_data_set_K/input_I.pb`` holds a serialized ``onnx.TensorProto`` named after the graph's
I-th input (``output_I.pb`` likewise); ``input_I.npy``/``output_I.npy`` hold the same arrays for
loaders without protobuf (the C++ and Node.js ones). Outputs are the float64 reference cast to
each output's dtype.
"""

from pathlib import Path
from typing import List, Sequence, Tuple

import numpy as np
import onnx
from onnx import numpy_helper

Named = Sequence[Tuple[str, np.ndarray]]


def write_vector(folder: Path, inputs: Named, outputs: Named) -> List[str]:
    """Writes one test data set; returns the files written, relative to ``folder``'s parent."""
    folder.mkdir(parents=True, exist_ok=False)
    written = []
    for kind, arrays in (("input", inputs), ("output", outputs)):
        for index, (name, array) in enumerate(arrays):
            array = np.ascontiguousarray(array)
            tensor = numpy_helper.from_array(array, name=name)
            (folder / f"{kind}_{index}.pb").write_bytes(tensor.SerializeToString())
            np.save(folder / f"{kind}_{index}.npy", array, allow_pickle=False)
            written += [f"{folder.name}/{kind}_{index}.pb", f"{folder.name}/{kind}_{index}.npy"]
    return written


def read_vector(folder: Path) -> Tuple[List[Tuple[str, np.ndarray]], List[Tuple[str, np.ndarray]]]:
    """(inputs, outputs) of one test data set, each a list of (name, array), from the .pb files."""

    def read(kind: str) -> List[Tuple[str, np.ndarray]]:
        found = []
        index = 0
        while (folder / f"{kind}_{index}.pb").exists():
            tensor = onnx.TensorProto()
            tensor.ParseFromString((folder / f"{kind}_{index}.pb").read_bytes())
            found.append((tensor.name, numpy_helper.to_array(tensor)))
            index += 1
        return found

    return read("input"), read("output")
