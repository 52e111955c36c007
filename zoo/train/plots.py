"""The training curves and the confusion matrix, drawn as the tutorials draw them."""

from pathlib import Path
from typing import Any, Dict, List, Optional

from zoo.store import write_atomic


def _pyplot() -> Any:
    """matplotlib's pyplot, imported when a plot is drawn: importing it costs a third of a
    second, which every `zoo` command would otherwise pay at start."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display; set before pyplot is imported
    import matplotlib.pyplot as plt

    return plt


def plot_curves(path: Path, history: List[Dict[str, Any]], metric: str, title: str) -> None:
    """Loss (train and validation) and the main validation metric against the epoch."""
    plt = _pyplot()
    epochs = [row["epoch"] for row in history]
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(epochs, [row["train_loss"] for row in history], marker="o", label="train")
    left.plot(epochs, [row["val"]["loss"] for row in history], marker="o", label="validation")
    left.set_xlabel("epoch")
    left.set_ylabel("loss")
    left.legend()
    left.grid(alpha=0.3)
    right.plot(epochs, [row["val"].get(metric, float("nan")) for row in history], marker="o", color="C2")
    right.set_xlabel("epoch")
    right.set_ylabel(f"validation {metric}")
    right.grid(alpha=0.3)
    figure.suptitle(title)
    figure.tight_layout()
    write_atomic(path, lambda p: figure.savefig(p, format="png", dpi=100))
    plt.close(figure)


def plot_confusion(path: Path, confusion: List[List[int]], labels: Optional[List[str]], title: str) -> None:
    """Rows: true class; columns: predicted; each row normalised (the names tutorial's plot)."""
    size = len(confusion)
    names = labels if labels and len(labels) == size else [str(i) for i in range(size)]
    rows = [[c / max(sum(row), 1) for c in row] for row in confusion]
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(2 + 0.45 * size, 1.5 + 0.45 * size))
    image = axes.imshow(rows, cmap="Blues", vmin=0.0, vmax=1.0)
    figure.colorbar(image)
    axes.set_xticks(range(size), names, rotation=90)
    axes.set_yticks(range(size), names)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title)
    figure.tight_layout()
    write_atomic(path, lambda p: figure.savefig(p, format="png", dpi=100))
    plt.close(figure)
