"""``--format triton``: a Triton Inference Server model repository (``export.triton`` writes it).

In a bundle (``--format all``) it is the bundle's ``triton/`` folder. Asked for alone, ``--out``
is the repository: the verified ONNX bundle is made aside and only ``OUT/<model>/`` is put in
place (``alone``). Triton's model is ``model.onnx`` with the sequence controls added, so it adds
no runtime to the verification: the ONNX graph it comes from is verified.
"""

from pathlib import Path
from typing import Any, Dict

from export import place, triton
from export.formats.base import ExportFormat, GraphFields, Job

FOLDER = "triton"  # the model repository inside a bundle


class _Repository:
    """``--format triton`` alone: ``OUT/<model>/``, a model folder of the repository at ``OUT``."""

    marker = triton.CONFIG
    what = "a Triton model folder"

    def target(self, out: Path, model: str) -> Path:
        return out / model

    def write(self, bundle: Path, manifest: Dict[str, Any], staging: Path) -> Path:
        return triton.write_repository(bundle, manifest, staging)


class Triton(ExportFormat):
    name = "triton"
    summary = "a Triton model repository of model.onnx, at --out (with other formats, the bundle's triton/ folder)"
    requires = ("onnx",)
    alone = _Repository()

    def write(self, job: Job) -> GraphFields:
        job.plan.say("Triton repository")
        with place.naming(job.folder / FOLDER):
            triton.write_repository(job.folder, job.manifest, job.folder / FOLDER)
        return {}
