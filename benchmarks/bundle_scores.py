"""Score the exported bundles, not only the runs: each default recipe's run, then its bundle in
onnxruntime (fp32 ``model.onnx`` and int8 ``model.int8.onnx``) and TorchScript, on the same
split through the bundle's own vocabulary (`zoo evaluate BUNDLE`).

Goals (printed, never asserted): the fp32 bundle gives the run's metric to 0.1 point (accuracy)
or 0.1% (losses, RMSE); int8 stays within 1 point (1%). Each bundle is also verified
(`zoo verify`), so the int8 tolerance is checked on trained weights, not only seeded ones.

    .venv/bin/python benchmarks/bundle_scores.py [--runs DIR] [--models name-gru,char-lstm]

Without ``--runs`` it trains the recipes first (benchmarks/accuracy.py, about 16 minutes); with
it, it reads the runs ``accuracy.py --out DIR`` left in DIR.
"""

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Dict, List, Optional

from accuracy import TARGETS, run as train_recipe  # type: ignore[import-not-found]  # a sibling script

from export.bundle import export_bundle
from export.parity import verify_bundle
from export.source import from_run
from zoo.train.evaluate import evaluate_bundle, evaluate_run

# The metric each model is judged on, and the split it is measured on (char-lstm's target is
# its validation loss, see accuracy.py).
METRIC = {name: ("loss", "val") if t.metric == "val_loss" else (t.metric, "test") for name, t in TARGETS.items()}
POINTS = ("accuracy", "balanced_accuracy")  # compared in points; the rest relatively


def gap(metric: str, value: float, reference: float) -> float:
    """Accuracy points, or percent of the reference for losses and errors."""
    if metric in POINTS:
        return 100 * abs(value - reference)
    return 100 * abs(value - reference) / abs(reference)


def score(name: str, run: Path, out: Path) -> Dict[str, object]:
    metric, split = METRIC[name]
    bundle = export_bundle(from_run(run), out / name, format="all", quantize="int8", verify=False, overwrite=True).bundle
    start = time.perf_counter()
    report = verify_bundle(bundle, "cpu")
    int8_rows = [r for r in report.rows if r.runtime == "onnxruntime-int8"]
    row: Dict[str, object] = {
        "model": name, "metric": metric, "split": split, "verified": report.passed,
        "verify_s": time.perf_counter() - start, "failures": [f"{r.case} {r.runtime} {r.output}: {r.problem}" for r in report.failures()[:3]],
        "int8_worst_abs": max((r.max_abs for r in int8_rows), default=None),
        "run": evaluate_run(run, split, "cpu")[metric],
        "onnxruntime": evaluate_bundle(bundle, split, "onnxruntime", "model")[metric],
        "torchscript": evaluate_bundle(bundle, split, "torchscript", "model")[metric],
    }  # fmt: skip
    try:
        row["int8"] = evaluate_bundle(bundle, split, "onnxruntime", "int8")[metric]
    except ValueError as exc:  # seq2seq: its decode graph stays float, so int8 is not scored
        row["int8"], row["int8_note"] = None, str(exc)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(TARGETS), help="comma-separated model names")
    parser.add_argument("--runs", default=None, help="runs from `accuracy.py --out DIR` (default: train them now)")
    parser.add_argument("--out", default=None, help="where bundles go (default: a temporary folder)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    names: List[str] = [n.strip() for n in args.models.split(",") if n.strip()]
    out = Path(args.out or tempfile.mkdtemp(prefix="zoo-bundle-scores-"))
    runs = Path(args.runs) if args.runs else out / "runs"
    rows = []
    for name in names:
        if not args.runs:
            train_recipe(name, runs)
        row = score(name, runs / name, out / "bundles")
        rows.append(row)
        print(f"{name}: run {row['run']:.4f}, bundle fp32 {row['onnxruntime']:.4f}, torchscript {row['torchscript']:.4f}, "
              f"int8 {row['int8'] if row['int8'] is None else format(row['int8'], '.4f')}; verified {row['verified']}", flush=True)  # fmt: skip
        for failure in row["failures"]:  # type: ignore[attr-defined]
            print(f"    {failure}", flush=True)

    print("\n| model | metric (split) | run | bundle fp32 (ORT) | bundle TorchScript | bundle int8 (ORT) | int8 gap | int8 worst abs error | verified |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---|")
    misses = []
    for row in rows:
        metric, reference = str(row["metric"]), float(row["run"])  # type: ignore[arg-type]
        unit = "points" if metric in POINTS else "%"
        fp32_gap = max(gap(metric, float(row[k]), reference) for k in ("onnxruntime", "torchscript"))  # type: ignore[arg-type]
        int8: Optional[float] = row["int8"]  # type: ignore[assignment]
        int8_gap = None if int8 is None else gap(metric, int8, reference)
        if fp32_gap > 0.1:
            misses.append(f"{row['model']} fp32 {fp32_gap:.3f} {unit}")
        if int8_gap is not None and int8_gap > 1.0:
            misses.append(f"{row['model']} int8 {int8_gap:.2f} {unit}")
        worst = row["int8_worst_abs"]
        print(f"| `{row['model']}` | {metric} ({row['split']}) | {reference:.4f} | {float(row['onnxruntime']):.4f} | "  # type: ignore[arg-type]
              f"{float(row['torchscript']):.4f} | {'-' if int8 is None else f'{int8:.4f}'} | "  # type: ignore[arg-type]
              f"{'not scored' if int8_gap is None else f'{int8_gap:.2f} {unit}'} | "
              f"{'-' if worst is None else f'{worst:.1e}'} | {'yes' if row['verified'] else 'NO'} |")  # fmt: skip
    print("\ngoals: fp32 bundle within 0.1 point (0.1%) of the run, int8 within 1 point (1%): "
          + ("all met" if not misses else "missed: " + "; ".join(misses)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
