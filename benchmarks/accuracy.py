"""Accuracy benchmark: train each default recipe on this machine and compare with its target.

Prints one row per model: the metric on the held-out test split, the target, the anchor (what
a plain recipe or a public baseline reaches), the wall time and metric/target. Never a timed
test: figures go to the README and the issue note.

    .venv/bin/python benchmarks/accuracy.py [--models name-gru,char-lstm] [--out bench-runs]
"""

import argparse
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List

import torch

from zoo.train.loop import TrainRequest, train

TIME_BUDGET_MIN = 15.0


@dataclass(frozen=True)
class Target:
    metric: str  # key of the test metrics
    goal: float
    higher_is_better: bool
    anchor: str
    # Extra requirement on the same test metrics (for example balanced accuracy).
    also: Callable[[Dict[str, float]], bool] = lambda metrics: True
    also_text: str = ""


TARGETS: Dict[str, Target] = {
    "name-gru": Target(
        "accuracy", 0.85, True,
        "plain 2-layer BiGRU + Adam: 83.6% / 51.7% balanced (3.5 min); public unidirectional RNN ~73%",
        lambda m: m["balanced_accuracy"] >= 0.57, "balanced accuracy >= 0.57",
    ),
    "char-lstm": Target(
        "val_loss", 1.50, False,
        "plain 1x512 nn.LSTM, batch 64x100, Adam+cosine: 1.527 (12 min); nanoGPT CPU model 1.88",
    ),
    "mnist-cnn": Target("accuracy", 0.98, True, "the course's recipe (SGD momentum 0.5) on 8,000 images: ~97.5%"),
    "sentiment-lstm": Target("accuracy", 0.78, True, "plain 2-layer BiLSTM: ~76%"),
    "diabetes-mlp": Target("accuracy", 0.77, True, "the course's 8-6-4-1 MLP: ~77%"),
    "bilstm-tagger": Target(
        "f1", 0.55, True,
        "entity micro F1 on the official test file: most-frequent-tag dictionary 0.350; plain BiLSTM "
        "tagger 0.504 (3 min); annotators' agreement 0.82-0.97 per type",
    ),
    "lstm-forecaster": Target(
        "rmse", 0.0, False, "seasonal naive (repeat last year's month) on 1959-1960",
        lambda m: m["rmse"] < m["seasonal_naive_rmse"], "below the seasonal naive RMSE",
    ),
}  # fmt: skip


def _goal(name: str, metrics: Dict[str, float]) -> float:
    """The number the metric is compared with (the forecaster's is the naive baseline's)."""
    target = TARGETS[name]
    return metrics["seasonal_naive_rmse"] if name == "lstm-forecaster" else target.goal


def run(name: str, out: Path) -> Dict[str, object]:
    start = time.perf_counter()
    result = train(TrainRequest(name, out=out / name, overwrite=True))
    minutes = (time.perf_counter() - start) / 60
    metrics = dict(result.test or {})
    if result.best is not None:
        metrics["val_loss"] = result.best["loss"]
    target = TARGETS[name]
    value, goal = metrics[target.metric], _goal(name, metrics)
    met = (value >= goal if target.higher_is_better else value <= goal) and target.also(metrics)
    return {"model": name, "metric": target.metric, "value": value, "goal": goal, "minutes": minutes,
            "met": met and minutes <= TIME_BUDGET_MIN, "metrics": metrics}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(TARGETS), help="comma-separated model names")
    parser.add_argument("--out", default=None, help="where the runs go (default: a temporary folder)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    names: List[str] = [n.strip() for n in args.models.split(",") if n.strip()]
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        print(f"no target for {', '.join(unknown)}; known: {', '.join(TARGETS)}", file=sys.stderr)
        return 2
    out = Path(args.out or tempfile.mkdtemp(prefix="zoo-accuracy-"))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; runs in {out}")
    rows = []
    for name in names:
        row = run(name, out)
        rows.append(row)
        print(f"{name}: {row['metric']} {row['value']:.4f} (goal {row['goal']:.4f}) in {row['minutes']:.1f} min "
              f"-> {'met' if row['met'] else 'MISSED'}", flush=True)  # fmt: skip
    print("\n| model | metric (test) | value | target | anchor | minutes | value/target |")
    print("|---|---|---:|---|---|---:|---:|")
    for row in rows:
        target = TARGETS[row["model"]]
        extra = ""
        if row["model"] == "name-gru":
            extra = f" (balanced {row['metrics']['balanced_accuracy']:.3f})"
        goal_text = f"{'>=' if target.higher_is_better else '<='} {row['goal']:.3f}"
        if target.also_text:
            goal_text += f"; {target.also_text}"
        print(f"| `{row['model']}` | {row['metric']} | {row['value']:.4f}{extra} | {goal_text} | {target.anchor} "
              f"| {row['minutes']:.1f} | {row['value'] / row['goal']:.3f} |")  # fmt: skip
    missed = [r["model"] for r in rows if not r["met"]]
    print(f"\n{len(rows) - len(missed)}/{len(rows)} targets met" + (f"; missed: {', '.join(missed)}" if missed else ""))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
