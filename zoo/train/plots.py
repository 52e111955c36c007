"""The training curves and the confusion matrix, drawn as the tutorials draw them."""

from pathlib import Path
from typing import Any, Dict, List, Optional

from zoo.store import write_atomic


def pyplot() -> Any:
    """matplotlib's pyplot, imported when a plot is drawn: importing it costs a third of a
    second, which every `zoo` command would otherwise pay at start."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display; set before pyplot is imported
    import matplotlib.pyplot as plt

    return plt


def plot_curves(path: Path, history: List[Dict[str, Any]], metric: str, title: str) -> None:
    """Loss (train and validation) and the main validation metric against the epoch."""
    plt = pyplot()
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
    plt = pyplot()
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


def draw_norms(axes: Any, lines: List[Any], colors: Any, last: int) -> None:
    """One line of ||dLoss/dh|| per probe, (after epoch, norms by steps before the loss), coloured
    by the epoch out of ``last``, on a log axis (zero norms, steps the loss does not reach, are
    masked: a log axis has no place for them)."""
    for after, norms in lines:
        values = [n if n > 0 else float("nan") for n in norms]
        axes.plot(range(len(values)), values, color=colors(after / max(last, 1)), label=f"after epoch {after}")
    axes.set_yscale("log")
    axes.set_xlabel("steps before the loss")
    axes.grid(alpha=0.3, which="both")


def plot_grad_norms(path: Path, probes: List[Dict[str, Any]], title: str) -> None:
    """--grad-norms: ||dLoss/dh|| against the distance from the step the loss reads, log y, one
    line per probe (epochs done); one row of panels per recurrent layer, one column per direction."""
    panels: Dict[Any, List[Any]] = {}
    for probe in probes:
        for entry in probe["layers"]:
            key = (entry["module"], entry["layer"], entry["direction"])
            panels.setdefault(key, []).append((probe["after_epoch"], entry["norms"]))
    layers = list(dict.fromkeys((module, layer) for module, layer, _ in panels))
    directions = list(dict.fromkeys(direction for _, _, direction in panels))
    plt = pyplot()
    rows, columns = max(len(layers), 1), max(len(directions), 1)
    figure, grid = plt.subplots(rows, columns, figsize=(max(6.5, 5.5 * columns), 3.8 * rows), squeeze=False)
    colors = plt.get_cmap("viridis")
    last = max((p["after_epoch"] for p in probes), default=0)
    for (module, layer, direction), lines in panels.items():
        axes = grid[layers.index((module, layer))][directions.index(direction)]
        draw_norms(axes, lines, colors, last)
        axes.set_ylabel("||dLoss/dh||")
        axes.set_title(f"{module or 'model'} layer {layer}" + (f" ({direction})" if len(directions) > 1 else ""))
        if len(lines) <= 12:
            axes.legend(fontsize=7)
        else:  # too many lines to name: the colour scale says which epoch each is
            scale = plt.cm.ScalarMappable(cmap=colors, norm=plt.Normalize(0, max(last, 1)))
            figure.colorbar(scale, ax=axes, label="after epoch")
    figure.suptitle(f"{title}: gradient norms through time")
    figure.tight_layout()
    write_atomic(path, lambda p: figure.savefig(p, format="png", dpi=100))
    plt.close(figure)
