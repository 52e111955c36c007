"""What a user has on the command line -> the raw instances ``/predict`` takes.

Which kind of instance a bundle takes follows from its data input (as in ``serve.inputs``):
- token ids ``(batch, time)``: each argument is one text; ``--lines FILE`` adds one per line;
- float sequences ``(batch, time, F)``, images ``(batch, C, H, W)``, vectors ``(batch, F)``:
  each argument is numbers (``"0.1,0.5,0.9"``, commas or spaces), a ``.npy`` file (one instance,
  or one per row of a leading extra axis), a ``.json`` file holding a list of instances, or for
  images an image file (PNG, JPEG, ...), whose 8-bit pixels are scaled the way the model's
  training data was (the manifest's ``data.pixels``); ``--lines FILE`` adds one line of
  numbers per instance.
Each instance comes with a short description of where it came from, for the output.
"""

import json
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".pgm", ".tif", ".tiff", ".webp")
MAX_JSON_BYTES = 64 * 1024 * 1024  # a .json of instances is read whole; .npy and lines stream

Instance = Tuple[str, Any]  # (where it came from, the instance as /predict takes it)


def takes_text(spec: Dict[str, Any]) -> bool:
    return spec["dtype"] == "int64" and len(spec["shape"]) == 2


def instances(arguments: Sequence[str], lines: Optional[Path], spec: Dict[str, Any], pixels: Optional[Dict[str, float]]) -> Iterator[Instance]:
    """The arguments' instances, then the file's, lazily (a file is read as they are used)."""
    text = takes_text(spec)
    for argument in arguments:
        if text:
            yield argument, argument
        else:
            yield from _numeric_argument(argument, spec, pixels)
    if lines is not None:
        yield from _lines(lines, text)


def _lines(path: Path, text: bool) -> Iterator[Instance]:
    with (open(0, encoding="utf-8", closefd=False) if str(path) == "-" else path.open(encoding="utf-8")) as handle:
        for number, line in enumerate(handle, 1):
            line = line.rstrip("\r\n")
            if line.strip():
                yield (line, line) if text else (f"{path}:{number}", _numbers(line, f"{path} line {number}"))


def _numbers(text: str, what: str) -> List[float]:
    try:
        return [float(piece) for piece in text.replace(",", " ").split()]
    except ValueError:
        raise ValueError(f"{what}: {text[:40]!r} is not a list of numbers (use commas or spaces between them)") from None


def _numeric_argument(argument: str, spec: Dict[str, Any], pixels: Optional[Dict[str, float]]) -> Iterator[Instance]:
    path = Path(argument)
    suffix = path.suffix.lower()
    if suffix in (".npy", ".json") or suffix in IMAGE_SUFFIXES:
        if not path.is_file():
            raise ValueError(f"{argument}: no such file")
        if suffix == ".npy":
            yield from _npy(path, len(spec["shape"]) - 1)
        elif suffix == ".json":
            yield from _json(path)
        else:
            yield argument, _image(path, spec, pixels)
        return
    yield argument, _numbers(argument, f"{argument!r}")


def _npy(path: Path, instance_rank: int) -> Iterator[Instance]:
    """One instance, or one per row when the array has one more axis than an instance;
    memory-mapped, so a large file is read a row at a time."""
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise ValueError(f"{path}: not a .npy array file ({str(exc).splitlines()[0][:80]})") from None
    if array.dtype.kind not in "iuf":
        raise ValueError(f"{path}: holds {array.dtype}, not numbers")
    if array.ndim == instance_rank + 1:
        for index in range(array.shape[0]):
            yield f"{path}[{index}]", np.asarray(array[index], dtype=np.float64).tolist()
    else:
        yield str(path), np.asarray(array, dtype=np.float64).tolist()


def _json(path: Path) -> Iterator[Instance]:
    if path.stat().st_size > MAX_JSON_BYTES:
        raise ValueError(f"{path}: over {MAX_JSON_BYTES // 2**20} MiB; split it, or use a .npy file (read a row at a time)")
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not JSON ({str(exc).splitlines()[0][:80]})") from None
    if not isinstance(value, list) or not value:
        raise ValueError(f"{path}: must hold a non-empty JSON list of instances")
    for index, instance in enumerate(value):
        yield f"{path}[{index}]", instance


def _image(path: Path, spec: Dict[str, Any], pixels: Optional[Dict[str, float]]) -> List[Any]:
    """An image file as the model's input: its size must be the model's, its pixels scaled as
    the training data's were."""
    if len(spec["shape"]) != 4:
        raise ValueError(f"{path}: this model takes {len(spec['shape']) - 1}-axis instances, not images")
    if not pixels:
        raise ValueError(f"{path}: the bundle does not record how its training images were scaled (manifest data.pixels); "
                         "pass a .npy holding the model's input instead")  # fmt: skip
    from PIL import Image, UnidentifiedImageError  # matplotlib's dependency; only images need it

    channels, height, width = spec["shape"][1:]
    try:
        with Image.open(path) as image:
            if image.width * image.height > 64 * height * width:
                raise ValueError(f"{path}: {image.width}x{image.height} pixels; the model takes {width}x{height}")
            array = np.asarray(image.convert("L" if channels == 1 else "RGB"), dtype=np.float64)
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"{path}: not an image PIL can read ({str(exc).splitlines()[0][:80]})") from None
    if array.shape[:2] != (height, width):
        raise ValueError(f"{path}: {array.shape[1]}x{array.shape[0]} pixels; the model takes {width}x{height} (resize it first)")
    array = array.reshape(height, width, channels).transpose(2, 0, 1)
    return ((array * pixels["scale"] - pixels["mean"]) / pixels["std"]).tolist()
