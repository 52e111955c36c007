"""The protocol every export format implements, and what an export hands each one.

A format is one ``ExportFormat`` instance in ``export.formats.FORMATS``. The bundle
(``export.bundle``) asks every format of the table, in the table's order, to ``check`` the
options, then each chosen one to ``write`` its files and each one left out for what the manifest
says instead (``omitted``); ``zoo verify`` asks each for the runtimes its files add
(``verifier``). A format asked for alone may place a folder of its own instead of a bundle
(``alone``: Triton's model repository).
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Protocol, Sequence, Tuple

from torch import nn

from export.graphs import Graph
from export.runtimes import Runner

# Fields a format adds to the manifest, by graph name: merged into ``manifest["graphs"][name]``.
GraphFields = Dict[str, Dict[str, Any]]


@dataclass(frozen=True)
class Plan:
    """What an export writes, decided (and checked) before anything is written."""

    formats: List[str]  # the formats asked for, by name (--format all: every one of the table)
    graphs: List[Graph]  # forward first
    exporters: Dict[str, str]  # graph name -> the ONNX exporter chosen for it
    opset: int
    verify: bool
    say: Callable[[str], None]
    recurrent: str = "native"  # "native" or "loop" (``onnx_export.exportable``)
    quantize: Optional[str] = None  # "int8": also model.int8.onnx
    exporter: str = "auto"  # the ONNX exporter asked for (``exporters`` holds what each graph got)


@dataclass(frozen=True)
class Job:
    """One bundle being written, as a format sees it."""

    model: nn.Module  # float32, eval mode
    folder: Path  # the bundle's (temporary) folder
    # The manifest so far: the model's description, and the fields of the formats before this
    # one in the table. A format may read it; it adds its own fields through what it returns.
    manifest: Dict[str, Any]
    plan: Plan


class Runtimes(Protocol):
    """What one format's files add to the verification of one bundle."""

    def runners(self, graph: Graph, template: Sequence[object], device: str, skipped: Dict[str, str]) -> Dict[str, Runner]:
        """The runners of ``graph`` on ``device``, by the report's runtime names (each one of the
        format's ``runtimes``); a runtime that cannot run says why in ``skipped``."""
        ...


class _NoRuntimes:
    def runners(self, graph: Graph, template: Sequence[object], device: str, skipped: Dict[str, str]) -> Dict[str, Runner]:
        return {}


class Alone(Protocol):
    """Where a format asked for alone puts its files instead of a bundle: a folder of its own,
    made from a verified bundle of the formats it ``requires``."""

    marker: str  # the file that makes a folder one of these: the only kind --overwrite replaces
    what: str  # that folder in words, for the error that refuses to replace anything else

    def target(self, out: Path, model: str) -> Path:
        """The folder it writes for ``model`` when ``--out`` is ``out``."""
        ...

    def write(self, bundle: Path, manifest: Dict[str, Any], staging: Path) -> Path:
        """Writes its folder under ``staging`` from the verified ``bundle``; returns that folder."""
        ...


class ExportFormat:
    """One ``zoo export --format``: subclass it in a module of this package and add an instance
    to ``FORMATS`` (``export/formats/__init__.py``)."""

    name: str = ""  # the --format value
    summary: str = ""  # one line: `zoo export --help` and the README's compatibility table
    requires: Tuple[str, ...] = ()  # formats whose files this one is made from (written before it)
    runtimes: Tuple[str, ...] = ()  # what its files add to verification, as the report names them
    graph_fields: Tuple[str, ...] = ()  # the keys it adds to manifest["graphs"][name]
    alone: Optional[Alone] = None  # asked for alone: a folder of its own (None: a bundle)
    in_all: bool = True  # part of --format all (False: slow to make, asked for by name)

    def check(self, plan: Plan, chosen: bool) -> None:
        """Refuses (ValueError) an option this format cannot take, before anything is written;
        asked of every format, chosen or not (an option for a format left out is refused too)."""

    def write(self, job: Job) -> GraphFields:
        """Writes its files into ``job.folder``; returns its manifest fields."""
        raise NotImplementedError

    def omitted(self, job: Job) -> GraphFields:
        """The manifest fields of a bundle written without this format."""
        return {}

    def verifier(self, bundle: Path, manifest: Dict[str, Any]) -> Runtimes:
        """The runtimes its files in ``bundle`` add to ``zoo verify`` (opened on first use)."""
        return _NoRuntimes()
