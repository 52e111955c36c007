"""The export formats, one module each, registered in ``FORMATS``: what ``zoo export --format``
offers (its help lists each format's ``summary``), what ``export.bundle`` writes, in this order,
what ``zoo verify`` runs (each format's runtimes) and what ``scripts/export_zoo.py`` lists under
the README's compatibility table.

A new format is a module here with a subclass of ``ExportFormat`` (``export.formats.base``)
and one entry in ``FORMATS``, after the formats it ``requires``.
"""

from typing import Dict, List

from export.formats.base import ExportFormat
from export.formats.onnx import Onnx
from export.formats.torchscript import TorchScript
from export.formats.triton import Triton

FORMATS: Dict[str, ExportFormat] = {f.name: f for f in (TorchScript(), Onnx(), Triton())}
ALL = "all"  # every format of the table, in one bundle


def resolve(format: str) -> List[str]:
    """The formats ``--format`` asks for, by name."""
    choices = [*FORMATS, ALL]
    if format not in choices:
        raise ValueError(f"unknown format {format!r}; choose {', '.join(choices)}")
    return list(FORMATS) if format == ALL else [format]


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
    return f"{'; '.join(choices)}; {ALL}: every one, in one bundle."
