"""Tolerances as data (``tolerances.json``): a default, one for integer outputs, and overrides
that each carry the reason they exist."""

import fnmatch
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

_FILE = Path(__file__).with_name("tolerances.json")


@dataclass(frozen=True)
class Tolerance:
    atol: float
    rtol: float
    reason: str
    # When set, the output as a whole instead of element by element: the RMS of the error over
    # the RMS of the expected values must stay within it (quantized graphs, whose error scales
    # with each tensor's range rather than with each value).
    rms_rel: Optional[float] = None


class Tolerances:
    def __init__(self, document: Dict[str, Any]) -> None:
        self.default = Tolerance(**document["default"])
        self.integer = Tolerance(**document["integer"])
        self.overrides: List[Dict[str, Any]] = document.get("overrides", [])

    @classmethod
    def load(cls, path: Path = _FILE) -> "Tolerances":
        return cls(json.loads(path.read_text(encoding="utf-8")))

    def for_output(self, model: str, runtime: str, case: str, dtype: np.dtype) -> Tolerance:
        if not np.issubdtype(dtype, np.floating):
            return self.integer
        for entry in self.overrides:
            if all(fnmatch.fnmatchcase(value, entry.get(key, "*")) for key, value in
                   (("model", model), ("runtime", runtime), ("case", case))):  # fmt: skip
                return Tolerance(entry.get("atol", 0.0), entry.get("rtol", 0.0), entry["reason"], entry.get("rms_rel"))
        return self.default
