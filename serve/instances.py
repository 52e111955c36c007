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
import warnings
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from serve.inputs import takes_text

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".pgm", ".tif", ".tiff", ".webp")
MAX_JSON_BYTES = 64 * 1024 * 1024  # a .json of instances is read whole; .npy and lines stream
MAX_LINE_CHARACTERS = 1024 * 1024  # one line of --lines: an endless one (stdin from /dev/zero) stops here

Instance = Tuple[str, Any]  # (where it came from, the instance as /predict takes it)


def instances(arguments: Sequence[str], lines: Optional[Path], spec: Dict[str, Any], pixels: Optional[Dict[str, float]],
              max_sequence: int) -> Iterator[Instance]:  # fmt: skip
    """The arguments' instances, then the file's, lazily (a file is read as they are used).
    An instance read from a file may hold at most ``max_sequence`` steps' worth of values, checked
    before it is read whole."""
    text = takes_text(spec)
    for argument in arguments:
        if text:
            yield argument, argument
        else:
            yield from _numeric_argument(argument, spec, pixels, _most_values(spec, max_sequence))
    if lines is not None:
        yield from _lines(lines, text)


def _most_values(spec: Dict[str, Any], max_sequence: int) -> int:
    """The most numbers one instance of ``spec``'s input may hold (its fixed sizes x the longest
    sequence when it has a time axis)."""
    fixed = [d for d in spec["shape"][1:] if isinstance(d, int)]
    timed = any(isinstance(d, str) for d in spec["shape"][1:])
    return int(np.prod(fixed, dtype=np.int64)) * (max_sequence if timed else 1)


def _lines(path: Path, text: bool) -> Iterator[Instance]:
    if str(path) != "-" and not path.is_file():
        raise ValueError(f"--lines {path}: {'not a regular file' if path.exists() else 'no such file'}")
    with (open(0, encoding="utf-8", closefd=False) if str(path) == "-" else path.open(encoding="utf-8")) as handle:
        number = 0
        while True:
            number += 1
            try:
                line = handle.readline(MAX_LINE_CHARACTERS + 1)
            except UnicodeDecodeError:
                raise ValueError(f"--lines {path}: line {number} is not UTF-8 text") from None
            if not line:
                return
            if len(line) > MAX_LINE_CHARACTERS:
                raise ValueError(f"--lines {path}: line {number} is over {MAX_LINE_CHARACTERS:,} characters; split it")
            line = line.rstrip("\r\n")
            if line.strip():
                yield (line, line) if text else (f"{path}:{number}", _numbers(line, f"--lines {path}: line {number}"))


def _numbers(text: str, what: str) -> List[float]:
    try:
        return [float(piece) for piece in text.replace(",", " ").split()]
    except ValueError:
        raise ValueError(f"{what} is not a list of numbers: {text[:40]!r} (use commas or spaces between them)") from None


def _numeric_argument(argument: str, spec: Dict[str, Any], pixels: Optional[Dict[str, float]], most: int) -> Iterator[Instance]:
    path = Path(argument)
    suffix = path.suffix.lower()
    if suffix in (".npy", ".json") or suffix in IMAGE_SUFFIXES:
        if not path.is_file():
            raise ValueError(f"{argument}: no such file")
        if suffix == ".npy":
            yield from _npy(path, len(spec["shape"]) - 1, most)
        elif suffix == ".json":
            yield from _json(path)
        else:
            yield argument, _image(path, spec, pixels)
        return
    yield argument, _numbers(argument, "the argument")


def _npy(path: Path, instance_rank: int, most: int) -> Iterator[Instance]:
    """One instance, or one per row when the array has one more axis than an instance;
    memory-mapped, so a large file is read a row at a time, and an instance larger than ``most``
    numbers is refused from the file's header, before it is read."""
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise ValueError(f"{path}: not a .npy array file ({str(exc).splitlines()[0][:80]})") from None
    if array.dtype.kind not in "iuf":
        raise ValueError(f"{path}: holds {array.dtype}, not numbers")
    rows = array.ndim == instance_rank + 1
    values = int(np.prod(array.shape[1:] if rows else array.shape, dtype=np.int64))
    if values > most:
        raise ValueError(f"{path}: {'each row holds' if rows else 'holds'} {values:,} numbers of shape {list(array.shape)}; "
                         f"an instance of this model holds at most {most:,}")  # fmt: skip
    if rows:
        for index in range(array.shape[0]):
            yield f"{path}[{index}]", np.asarray(array[index], dtype=np.float64).tolist()
    else:
        yield str(path), np.asarray(array, dtype=np.float64).tolist()


def _json(path: Path) -> Iterator[Instance]:
    if path.stat().st_size > MAX_JSON_BYTES:
        raise ValueError(f"{path}: over {MAX_JSON_BYTES // 2**20} MiB; split it, or use a .npy file (read a row at a time)")
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except RecursionError:
        raise ValueError(f"{path}: JSON nested too deep to read; instances nest a few levels") from None
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
        with warnings.catch_warnings():  # PIL warns of a huge image before refusing a larger one
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                if image.width * image.height > 64 * height * width:
                    raise ValueError(f"{path}: {image.width}x{image.height} pixels; the model takes {width}x{height}")
                array = np.asarray(image.convert("L" if channels == 1 else "RGB"), dtype=np.float64)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ValueError(f"{path}: far more pixels than the {width}x{height} the model takes") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"{path}: not an image PIL can read ({str(exc).splitlines()[0][:80]})") from None
    if array.shape[:2] != (height, width):
        raise ValueError(f"{path}: {array.shape[1]}x{array.shape[0]} pixels; the model takes {width}x{height} (resize it first)")
    array = array.reshape(height, width, channels).transpose(2, 0, 1)
    return ((array * pixels["scale"] - pixels["mean"]) / pixels["std"]).tolist()
