"""Training the models of a plan one after the other, each with ``zoo.train.train`` into its own
run directory, and measuring each one's best weights; the comparison's files are rewritten
after every model (``report.write``)."""

from pathlib import Path
from statistics import mean
from time import perf_counter
from typing import Any, Dict, List, Optional

import torch
from rich.console import Console

from zoo.compare.latency import THREADS, examples, measure
from zoo.compare.plan import COMPARE_JSON, Entry, Plan
from zoo.compare.report import Comparison, ModelResult, document, write
from zoo.rebuild import load_run
from zoo.registry import parameter_count
from zoo.store import METRICS, read_jsonl, write_json
from zoo.train import rundir
from zoo.train.loop import TrainingFailed, train
from zoo.train.tasks import Task, make_task


def _start_folder(out: Path) -> None:
    """After ``plan.check_folder``: the folder is new, empty, or a comparison --overwrite
    replaces. Its compare.json is deleted last and written again first, so that a comparison
    stopped at any point (even killed) leaves a folder --overwrite recognises."""
    rundir.empty_folder(out, last=COMPARE_JSON)


def _metrics(run: Path) -> List[Dict[str, Any]]:
    """The run's metrics.jsonl rows (none before its first epoch ends)."""
    path = run / METRICS
    return read_jsonl(path) if path.is_file() else []


def _epoch_rows(rows: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The rows of finished epochs: not the test row, nor any other kind a run may add."""
    return [row for row in rows if "epoch" in row and isinstance(row.get("val"), dict)]


def _first_layer_norms(rows: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """--grad-norms probe rows, reduced to the first recurrent layer (forward direction)."""
    reduced = []
    for row in rows:
        if row.get("type") == "gradnorms" and row.get("layers"):
            first = row["layers"][0]
            name = f"{first['module'] or 'model'} layer {first['layer']}, {first['direction']}"
            reduced.append({"after_epoch": row["after_epoch"], "layer": name, "norms": first["norms"]})
    return reduced


def _best_epoch(rows: List[Dict[str, Any]]) -> Optional[int]:
    return next((row["best_epoch"] for row in rows if row.get("split") == "test"), None)


def _latency_task(plan: Plan, entry: Entry) -> Task:
    """The model's task on the plan's copy of the data, on the CPU: what builds its inputs."""
    task = make_task(entry.spec, entry.config, plan.data, torch.device("cpu"))
    task.configure(entry.recipe)
    return task


def _train_one(plan: Plan, entry: Entry, console: Console) -> Optional[ModelResult]:
    """The model trained, tested and timed; None when a signal stopped its training."""
    run = Path(entry.request.out)
    result = ModelResult(entry.spec.name, run.name, "finished", parameters=parameter_count(entry.spec.build(entry.config)))
    started = perf_counter()
    try:
        trained = train(entry.request, console)
    except TrainingFailed as error:  # a diverging model is a result of the comparison, not its end
        result.status = f"failed: {error}"
        trained = None
    result.seconds = round(perf_counter() - started, 2)
    rows = _metrics(run)
    result.history = _epoch_rows(rows)
    result.grad_norms = _first_layer_norms(rows)
    result.epochs = len(result.history)
    if result.history:
        result.seconds_per_epoch = mean(row["seconds"] for row in result.history)
    if trained is None:
        return result
    if trained.status == "interrupted":
        return None
    result.status = trained.status
    if trained.best is not None:
        result.best_val, result.test, result.best_epoch = trained.best, trained.test, _best_epoch(rows)
        latency = measure(load_run(run)[3], _latency_task(plan, entry))
        result.latency_ms, result.latency_runs = latency.milliseconds, latency.runs
    return result


def _summary(plan: Plan, result: ModelResult) -> str:
    if result.best_val is None:
        return f"{result.status} ({result.epochs} epochs)"
    metric = plan.metric
    latency = ", ".join(f"{ms:.3g} ms at batch {batch}" for batch, ms in result.latency_ms.items())
    test = (result.test or {}).get(metric)
    return (f"{result.status}: best validation {metric} {result.best_val[metric]:.4f} (epoch {result.best_epoch}), "
            f"test {metric} {'-' if test is None else f'{test:.4f}'}; {latency}")  # fmt: skip


def run_compare(plan: Plan, console: Console) -> Comparison:
    """Trains, tests and times every model of ``plan`` into ``plan.out``. Ctrl-C (or SIGTERM
    during training) stops it: the files then hold the models finished before it."""
    first = plan.entries[0]
    comparison = Comparison(plan, threads=THREADS, latency_examples=examples(_latency_task(plan, first)))
    _start_folder(plan.out)
    write_json(plan.out / COMPARE_JSON, document(comparison))
    total = len(plan.entries)
    try:
        for index, entry in enumerate(plan.entries, start=1):
            say = f"[{index}/{total}] {entry.spec.name}"
            console.print(f"{say}: training on {plan.data.name} into {entry.request.out}", markup=False, highlight=False)
            result = _train_one(plan, entry, console)
            if result is None:  # training's own handler caught the signal and saved a checkpoint
                break
            comparison.results.append(result)
            console.print(f"{say}: {_summary(plan, result)}", markup=False, highlight=False)
            if index < total:  # the last one's are written below, with the final status
                write(comparison)
    except KeyboardInterrupt:  # outside training's own handler: loading, testing, timing
        pass
    comparison.status = "finished" if len(comparison.results) == total else "interrupted"
    write(comparison)
    return comparison
