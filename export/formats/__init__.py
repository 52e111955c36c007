"""The export formats, one module each, registered in ``FORMATS``: what ``zoo export --format``
offers (its help lists each format's ``summary``), what ``export.bundle`` writes, in this order,
what ``zoo verify`` runs (each format's runtimes) and what ``scripts/export_zoo.py`` lists under
the README's compatibility table.

A new format is a module here with a subclass of ``ExportFormat`` (``export.formats.base``)
and one entry in ``FORMATS``, after the formats it ``requires``.
"""

from typing import Dict, List

from export.formats.aoti import Aoti
from export.formats.base import ExportFormat
from export.formats.onnx import Onnx
from export.formats.pt2 import Pt2
from export.formats.torchscript import TorchScript
from export.formats.triton import Triton

FORMATS: Dict[str, ExportFormat] = {f.name: f for f in (TorchScript(), Onnx(), Triton(), Pt2(), Aoti())}
ALL = "all"  # every format of the table whose ``in_all`` holds, in one bundle


def resolve(format: str) -> List[str]:
    """The formats ``--format`` asks for: one name, ``all``, or names joined by commas."""
    asked = [name.strip() for name in format.split(",")]
    choices = [*FORMATS, ALL]
    unknown = [name for name in asked if name not in choices]
    if unknown or not format.strip():
        raise ValueError(f"unknown format {format!r}; choose {', '.join(choices)}, or several joined by commas")
    if ALL in asked:  # "all,aoti": every format of --format all, and aoti
        asked += [name for name, each in FORMATS.items() if each.in_all]
    return [name for name in FORMATS if name in asked]  # the table's order, each once


def _opt_in() -> List[str]:
    return [name for name, each in FORMATS.items() if not each.in_all]


def with_requirements(formats: List[str]) -> List[str]:
    """``formats`` and every format they require, in the table's order (the order of writing)."""
    wanted = set(formats)
    for name in reversed(list(FORMATS)):  # a format comes after the ones it requires
        if name in wanted:
            wanted.update(FORMATS[name].requires)
    return [name for name in FORMATS if name in wanted]


def help_text() -> str:
    """``--format``'s help: each choice and what it writes."""
    choices = [f"{f.name}: {f.summary}" for f in FORMATS.values()]
    return f"{'; '.join(choices)}; {ALL}: every one but {', '.join(_opt_in())}, in one bundle; or a list such as onnx,pt2,aoti or all,aoti."
