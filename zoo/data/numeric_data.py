"""Numeric data sets: MNIST digits (IDX files), Pima diabetes (CSV), airline passengers (CSV)."""

import csv
import gzip
import io
import math
import struct
from pathlib import Path
from typing import Dict, List, Optional

import torch

from zoo.data.base import Arrays, DataFormatError, DataSet, Series, check_class_sizes, stratified_indices, tensor_take

# The course normalises digits with MNIST's training mean and standard deviation.
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


def _open_idx(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def _find(root: Path, stem: str) -> Optional[Path]:
    for name in (stem, stem + ".gz"):
        if (root / name).exists():
            return root / name
    return None


def read_idx_images(path: Path) -> torch.Tensor:
    data = _open_idx(path)
    if len(data) < 16 or struct.unpack(">I", data[:4])[0] != 2051:
        raise DataFormatError(path, None, "is not an IDX image file (magic number 2051)")
    count, rows, cols = struct.unpack(">III", data[4:16])
    if len(data) != 16 + count * rows * cols:
        raise DataFormatError(path, None, f"is truncated: header says {count} images of {rows}x{cols}")
    pixels = torch.frombuffer(bytearray(data[16:]), dtype=torch.uint8)
    return pixels.view(count, 1, rows, cols)


def read_idx_labels(path: Path) -> torch.Tensor:
    data = _open_idx(path)
    if len(data) < 8 or struct.unpack(">I", data[:4])[0] != 2049:
        raise DataFormatError(path, None, "is not an IDX label file (magic number 2049)")
    (count,) = struct.unpack(">I", data[4:8])
    if len(data) != 8 + count:
        raise DataFormatError(path, None, f"is truncated: header says {count} labels")
    labels = torch.frombuffer(bytearray(data[8:]), dtype=torch.uint8).long()
    outside = torch.nonzero(labels > 9)
    if outside.numel():
        first = int(outside[0, 0])
        raise DataFormatError(path, None, f"label {int(labels[first])} (item {first + 1}) is not a digit 0-9")
    return labels


def _pair(root: Path, prefix: str) -> Optional[Arrays]:
    images_path = _find(root, f"{prefix}-images-idx3-ubyte")
    labels_path = _find(root, f"{prefix}-labels-idx1-ubyte")
    if images_path is None or labels_path is None:
        return None
    images, labels = read_idx_images(images_path), read_idx_labels(labels_path)
    if images.size(0) != labels.size(0) or images.shape[1:] != (1, 28, 28):
        raise DataFormatError(images_path, None, f"{images.size(0)} images of {list(images.shape[2:])} "
                              f"but {labels.size(0)} labels; expected 28x28 digits with one label each")  # fmt: skip
    return Arrays(((images.float() / 255.0) - MNIST_MEAN) / MNIST_STD, labels)


def load_mnist(root: Path, seed: int, source: str) -> DataSet:
    """IDX files as published. With only ``t10k-*`` (the bundled case) those 10,000 images are
    split 80/10/10, stratified by digit; with ``train-*`` too (a full MNIST under ``--data``),
    the 60,000 training images give train (55,000) and validation (5,000) and t10k is the test."""
    test = _pair(root, "t10k")
    if test is None:
        raise DataFormatError(root, None, "holds no t10k-images-idx3-ubyte[.gz] + t10k-labels-idx1-ubyte[.gz]")
    train = _pair(root, "train")
    if train is None:
        digits = test.targets.tolist()
        check_class_sizes({str(d): digits.count(d) for d in range(10)}, root, "images", "digit")
        groups = stratified_indices(digits, (0.1, 0.1), seed)
        splits = {s: Arrays(tensor_take(test.inputs, i), tensor_take(test.targets, i)) for s, i in groups.items()}
        rule = f"t10k only: stratified by digit, 80/10/10, seed {seed}"
    else:
        groups = stratified_indices(train.targets.tolist(), (5000 / 60000, 0.0), seed)
        splits = {
            "train": Arrays(tensor_take(train.inputs, groups["train"]), tensor_take(train.targets, groups["train"])),
            "val": Arrays(tensor_take(train.inputs, groups["val"]), tensor_take(train.targets, groups["val"])),
            "test": test,
        }
        rule = f"train-*: 55,000/5,000 stratified (seed {seed}); t10k-* is the test split"
    return DataSet(
        name="mnist",
        kind="images",
        splits=splits,
        description="28x28 handwritten digits -> 0-9",
        source=source,
        labels=[str(d) for d in range(10)],
        dims={"classes": 10, "features": 28},  # features: pixels per row, for a model reading rows as steps
        split_rule=rule,
        pixels={"scale": 1 / 255, "mean": MNIST_MEAN, "std": MNIST_STD},
    )  # fmt: skip


def _csv_rows(path: Path) -> List[List[str]]:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DataFormatError(path, raw[: error.start].count(b"\n") + 1, "is not UTF-8 text") from None
    return list(csv.reader(io.StringIO(text)))


def _number(text: str, path: Path, row: int, column: str) -> float:
    """One CSV field as a finite number; anything else names the file, the row and the column."""
    try:
        value = float(text)
    except ValueError:
        raise DataFormatError(path, row, f"{column} is {text.strip()[:30]!r}, not a number") from None
    if not math.isfinite(value):
        raise DataFormatError(path, row, f"{column} is {text.strip()[:30]}, not a finite number")
    return value


DIABETES_FEATURES = 8


def load_diabetes(path: Path, seed: int, source: str) -> DataSet:
    """CSV rows of 8 scaled features and a 0/1 outcome; stratified 70/15/15."""
    if path.is_dir():
        path = path / "diabetes.csv.gz"
    features: List[List[float]] = []
    outcomes: List[int] = []
    for number, row in enumerate(_csv_rows(path), start=1):
        if not row:
            continue
        if len(row) != DIABETES_FEATURES + 1:
            raise DataFormatError(path, number, f"expected 9 values (8 features and a 0/1 outcome), got {len(row)}")
        values = [_number(text, path, number, f"column {i}") for i, text in enumerate(row[:-1], start=1)]
        outcome = _number(row[-1], path, number, "the outcome (column 9)")
        if outcome not in (0.0, 1.0):
            raise DataFormatError(path, number, f"the outcome (column 9) is {row[-1].strip()}; it must be 0 or 1")
        features.append(values)
        outcomes.append(int(outcome))
    check_class_sizes({"no diabetes (0)": outcomes.count(0), "diabetes (1)": outcomes.count(1)}, path, "rows", "outcome")
    groups = stratified_indices(outcomes, (0.15, 0.15), seed)
    x = torch.tensor(features, dtype=torch.float32)
    y = torch.tensor(outcomes, dtype=torch.float32).unsqueeze(1)
    return DataSet(
        name="diabetes",
        kind="vectors",
        splits={s: Arrays(tensor_take(x, i), tensor_take(y, i)) for s, i in groups.items()},
        description="Pima Indians diabetes: 8 measurements -> onset within 5 years",
        source=source,
        labels=["no diabetes", "diabetes"],
        dims={"features": 8},
        split_rule=f"stratified by outcome, 70/15/15, seed {seed}",
    )  # fmt: skip


AIRLINE_TEST_MONTHS = 24  # 1959-1960
AIRLINE_VAL_MONTHS = 24  # 1957-1958


def load_airline(path: Path, seed: int, source: str) -> DataSet:
    """``Month,Passengers`` CSV. Chronological: the last 24 months test, the 24 before validate,
    the rest train (so ``seed`` is not used). The model sees month-on-month changes of the log
    level, standardised with the training months only (see ``Series``)."""
    if path.is_dir():
        path = path / "airline-passengers.csv"
    values: List[float] = []
    for number, row in enumerate(_csv_rows(path), start=1):
        if number == 1 and row and not row[-1].strip().replace(".", "").isdigit():
            continue  # header
        if not row:
            continue
        value = _number(row[-1], path, number, "the passenger count (last column)")
        if not value > 0:
            raise DataFormatError(path, number, f"the passenger count is {row[-1].strip()}; it must be positive")
        values.append(value)
    n = len(values)
    if n < AIRLINE_TEST_MONTHS + AIRLINE_VAL_MONTHS + 24:
        raise DataFormatError(path, None, f"holds {n} months; at least 72 are needed")
    train_end, val_end = n - AIRLINE_TEST_MONTHS - AIRLINE_VAL_MONTHS, n - AIRLINE_TEST_MONTHS
    levels = torch.tensor(values, dtype=torch.float64)
    # Month-on-month change of the log: the series grows, and a model of the level would have
    # to extrapolate past every value it trained on; the changes stay in range.
    changes = torch.zeros(n, dtype=torch.float64)
    changes[1:] = levels.log().diff()
    mean, std = changes[1:train_end].mean().item(), changes[1:train_end].std().item()
    scaled = ((changes - mean) / std).float().unsqueeze(1)  # (N, 1)
    scaled[0] = 0.0
    scale = (mean, std)
    splits: Dict[str, Series] = {
        "train": Series(scaled, levels, 2, train_end, scale),  # step 1's change has no history
        "val": Series(scaled, levels, train_end, val_end, scale),
        "test": Series(scaled, levels, val_end, n, scale),
    }
    return DataSet(
        name="airline",
        kind="series",
        splits=splits,
        description="monthly airline passengers 1949-1960 (log changes, standardised) -> next month",
        source=source,
        dims={"features": 1},
        split_rule="chronological: last 24 months test, 24 before validation, first 96 train",
    )
