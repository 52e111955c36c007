"""The data sets `zoo train` uses: bundled real data (``files/``, see its PROVENANCE.md) and
seeded generated sets. Splits are fixed and documented in ``zoo/data/README.md``.

``load_dataset(name, path=None)`` reads the bundled copy, or the user's files in the same
format from ``path`` (``zoo train --data PATH``).
"""

import difflib
from pathlib import Path
from typing import Callable, Dict, List, Optional

from zoo.data.base import DataFormatError, DataSet, Vocabulary, check_splits
from zoo.data.long_range import make_copy_first, make_copy_marked, parse_length
from zoo.data.numeric_data import load_airline, load_diabetes, load_mnist
from zoo.data.synthetic import make_hello, make_regression_toy, make_seq_reverse
from zoo.data.text_data import load_names, load_sentiment, load_shakespeare, tokenize_words
from zoo.data.uner import load_uner

BUNDLED = Path(__file__).resolve().parent / "files"

# name -> (loader(path, seed, source), bundled path); the loaders of real data read files.
_FILE_DATA: Dict[str, tuple] = {
    "names": (load_names, BUNDLED / "names"),
    "tinyshakespeare": (load_shakespeare, BUNDLED / "tinyshakespeare" / "input.txt"),
    "sentiment": (load_sentiment, BUNDLED / "sentiment"),
    "mnist": (load_mnist, BUNDLED / "mnist"),
    "diabetes": (load_diabetes, BUNDLED / "diabetes" / "diabetes.csv.gz"),
    "airline": (load_airline, BUNDLED / "airline" / "airline-passengers.csv"),
    "uner-ewt": (load_uner, BUNDLED / "uner-ewt"),
}
_GENERATED: Dict[str, Callable[[int, bool], DataSet]] = {
    "hello": lambda seed, binary: make_hello(),
    "seq-reverse": lambda seed, binary: make_seq_reverse(seed),
    "regression-toy": lambda seed, binary: make_regression_toy(seed, binary),
    "copy-first": lambda seed, binary: make_copy_first(seed),
    "copy-marked": lambda seed, binary: make_copy_marked(seed),
}
# Generated sets that take their length after a colon (copy-first:100, parse_length): name ->
# the maker of that length.
_LENGTHENED: Dict[str, Callable[[int, int], DataSet]] = {"copy-first": make_copy_first, "copy-marked": make_copy_marked}


def dataset_names() -> List[str]:
    return sorted([*_FILE_DATA, *_GENERATED])


def is_dataset_name(argument: str) -> bool:
    """A data set's name, with a length where it takes one (``copy-first:100``), rather than a
    path; a malformed length still counts, so that loading it says what is wrong."""
    return argument in dataset_names() or argument.partition(":")[0] in _LENGTHENED


def load_dataset(
    name: str, path: Optional[str] = None, seed: int = 0, binary: bool = False
) -> DataSet:
    """Loads data set ``name`` (from ``path`` when given). ``binary`` asks a data set that can
    serve both kinds (regression-toy) for 0/1 targets."""
    base = name.partition(":")[0]
    lengthened = ":" in name and base in _LENGTHENED
    if not lengthened and name not in _FILE_DATA and name not in _GENERATED:
        close = difflib.get_close_matches(name, dataset_names(), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown data set {name!r}{hint}; known: {', '.join(dataset_names())}")
    if lengthened or name in _GENERATED:
        if path is not None:
            raise ValueError(f"data set {name!r} is generated from the seed; drop --data")
        return _LENGTHENED[base](seed, parse_length(name)[1]) if lengthened else _GENERATED[name](seed, binary)
    loader, bundled = _FILE_DATA[name]
    if path is None:
        return loader(bundled, seed, "bundled")
    where = Path(path).expanduser()
    if not where.exists():
        raise ValueError(f"--data {path}: no such file or directory")
    data = loader(where, seed, str(where.resolve()))
    check_splits(data)
    return data


__all__ = [
    "DataFormatError",
    "DataSet",
    "Vocabulary",
    "dataset_names",
    "is_dataset_name",
    "load_dataset",
    "tokenize_words",
]
