"""`zoo train`: one training run from a model name to a finished run directory.

The loop: seeded model and data order; Adam or SGD, optional cosine decay, gradient clipping;
validation every epoch with the best weights kept; a checkpoint of everything (``last/``) at
each epoch end and whenever the run is stopped (Ctrl-C, SIGTERM, ``--time-limit``: mid-epoch,
with the step), so that ``--resume`` continues exactly where it stopped; a NaN/inf loss stops
the run and keeps the last good checkpoint. Only rank 0 writes files. With ``--grad-norms``,
``zoo.train.gradnorms`` probes the gradient through time before the first step and after each
epoch (rows in metrics.jsonl, gradnorms.png).
"""

import itertools
import math
import signal
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter
from typing import Any, Dict, Iterator, List, Optional, Tuple

import torch
from rich.console import Console
from torch import nn

from zoo.rebuild import load_run, weights_of
from zoo.store import CONFIG, LAST, METRICS, WEIGHTS, write_atomic, write_json, write_jsonl, write_weights
from zoo.train import distributed, rundir
from zoo.train.checkpoint import RankStates, load_checkpoint, save_checkpoint
from zoo.train.describe import announcement
from zoo.train.gradnorms import probe_row
from zoo.train.plots import plot_confusion, plot_curves, plot_grad_norms
from zoo.train.progress import EpochProgress, open_progress
from zoo.train.request import TrainRequest
from zoo.train.setup import Run, device_for, prepare
from zoo.train.tasks import LanguageModelTask, Task

__all__ = ["TrainRequest", "TrainResult", "TrainingFailed", "train"]

REPORT_EVERY_S = 3.0  # on a terminal, shortest interval between two epoch lines (and curve redraws)


class TrainingFailed(RuntimeError):
    """The run cannot go on (a NaN loss); the last good checkpoint is kept."""


@dataclass
class TrainResult:
    run: Path
    status: str  # "finished", "time-limit", "interrupted"
    epochs_done: int
    best: Optional[Dict[str, Any]] = None  # the best validation row
    test: Optional[Dict[str, Any]] = None
    sample: Optional[str] = None


@contextmanager
def _stop_signals(state: Dict[str, Any]) -> Iterator[None]:
    """SIGINT/SIGTERM set a flag; the loop saves a checkpoint and returns at the next step."""

    def handler(signum: int, frame: Any) -> None:
        state["signal"] = signal.Signals(signum).name

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _new_loop() -> Dict[str, Any]:
    """The loop's state, saved in every checkpoint (trainer.json)."""
    return {"epoch": 0, "step": 0, "global_step": 0, "loss_sum": 0.0, "items": 0.0,
            "history": [], "best": None, "best_epoch": None}  # fmt: skip


def train(request: TrainRequest, console: Optional[Console] = None) -> TrainResult:
    console = console or Console(quiet=True)
    device = device_for(request.device)
    shard = distributed.join(device)
    run = prepare(request, shard, device)  # every check; nothing written yet
    if run.writer:
        rundir.prepare_out(run.out, request.resume, request.overwrite)
    distributed.barrier()
    loop = _new_loop()
    if request.resume:
        loop, carried = load_checkpoint(run.out / LAST, run.model, run.optimizer, run.scheduler, shard.rank)
        run.task.restore_carried_state(carried)
    if run.writer:
        document = rundir.run_document(run.spec, run.config, run.data, run.request.data, run.training_record())
        write_json(run.out / CONFIG, document)
    ddp_model: nn.Module = run.model
    if distributed.launched():
        ddp_model = nn.parallel.DistributedDataParallel(run.model, device_ids=[device] if device.type == "cuda" else None)
    if run.writer:
        for line in announcement(request, run):
            console.print(line, markup=False, highlight=False)
    status = _run_epochs(run, ddp_model, loop, console)
    result = TrainResult(run.out, status, loop["epoch"], loop["best"])
    if status != "interrupted":
        result.test, result.sample = _finish(run, loop, console)
    del ddp_model  # its reducer holds the process group: gone before the group is
    distributed.leave()
    return result


def _over_time(run: Run, started: float) -> bool:
    """True on every process once any of them is past --time-limit (they stop together)."""
    limit = run.request.time_limit
    return limit is not None and distributed.any_rank(perf_counter() - started > limit, run.device)


def _run_epochs(run: Run, ddp_model: nn.Module, loop: Dict[str, Any], console: Console) -> str:
    started = perf_counter()
    stop: Dict[str, Any] = {}
    shown: Dict[str, Any] = {"last_epoch": run.recipe.epochs}
    status, note = "finished", None
    if loop["epoch"] == 0 and loop["step"] == 0:
        _probe(run, loop)  # before the first step: the gradients at initialisation
    with _stop_signals(stop), open_progress(console, run.writer) as progress:
        while status == "finished" and loop["epoch"] < run.recipe.epochs:
            if loop["step"] == 0:
                run.task.start_epoch()
                loop["loss_sum"], loop["items"] = 0.0, 0.0
            epoch_start = perf_counter()
            status, note = _train_epoch(run, ddp_model, loop, progress, started, stop)
            if status != "finished":
                break
            progress.end_epoch()
            _end_epoch(run, loop, console, perf_counter() - epoch_start, shown)
            if loop["epoch"] < run.recipe.epochs and _over_time(run, started):
                status, note = "time-limit", f"--time-limit reached after {loop['epoch']} epoch(s); continue with --resume"
    # Printed once the display is closed: the bar's last frame used to come after this line.
    if note and run.writer:
        console.print(note, markup=False, highlight=False)
    return status


def _train_epoch(run: Run, ddp_model: nn.Module, loop: Dict[str, Any], progress: EpochProgress,
                 started: float, stop: Dict[str, Any]) -> Tuple[str, Optional[str]]:  # fmt: skip
    """The rest of the current epoch's steps; stops early, with a checkpoint, for a signal
    (``stop`` holds it) or --time-limit (counted from ``started``). Returns (status, the line
    to print last, if any)."""
    progress.start_epoch(loop["epoch"] + 1, run.recipe.epochs, loop["step"], run.steps)
    epoch_start, items_now = perf_counter(), 0
    ddp_model.train()
    batches = run.task.train_batches(run.batch_size, run.recipe.seed, loop["epoch"], run.shard, loop["step"])
    for batch in itertools.islice(batches, run.steps - loop["step"]):
        items_now += _step(run, ddp_model, loop, batch) * run.shard.world
        rate = items_now / max(perf_counter() - epoch_start, 1e-9)
        progress.advance(loop["step"], loop["loss_sum"] / max(loop["items"], 1e-12), rate)
        if distributed.any_rank("signal" in stop, run.device):
            _save_last(run, loop)
            return "interrupted", (f"stopped by {stop.get('signal', 'a signal')}; checkpoint in "
                                   f"{run.out / LAST}; continue with --resume")  # fmt: skip
        if loop["step"] < run.steps and _over_time(run, started):
            # Saved with its step, as for a signal: --resume finishes this epoch.
            _save_last(run, loop)
            return "time-limit", (f"--time-limit reached at epoch {loop['epoch'] + 1}, step {loop['step']}/{run.steps}; "
                                  f"checkpoint in {run.out / LAST}; continue with --resume")  # fmt: skip
    return "finished", None


def _step(run: Run, ddp_model: nn.Module, loop: Dict[str, Any], batch: Any) -> int:
    """One optimizer step on this process's share of a global batch; returns the items it held."""
    terms = run.task.loss(ddp_model, batch)
    # Each share's sum over the whole batch's count, times the number of processes: the mean
    # DistributedDataParallel takes of the gradients is then the gradient of the global mean.
    sums = distributed.sum_over_ranks(torch.stack([terms.total.detach().float(), terms.count.detach().float()]))
    total, count = sums.tolist()
    value = total / count
    if not math.isfinite(value):
        raise TrainingFailed(
            f"the loss became {value} at epoch {loop['epoch'] + 1}, step {loop['step'] + 1}; stopped, "
            f"the last good checkpoint is in {run.out / LAST} (try a lower --lr or --clip 1)"
        )
    loss = terms.total * (run.shard.world / count)
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if run.recipe.clip:
        torch.nn.utils.clip_grad_norm_(run.model.parameters(), run.recipe.clip)
    run.optimizer.step()
    run.scheduler.step()
    loop["step"] += 1
    loop["global_step"] += 1
    loop["loss_sum"] += total
    loop["items"] += count
    return terms.items


def _rng_state(device: torch.device) -> Dict[str, torch.Tensor]:
    state = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _save_last(run: Run, loop: Dict[str, Any]) -> None:
    """last/: every process's RNG and carried state, gathered, then written by rank 0."""
    ranks = RankStates(rng=distributed.gather_states(_rng_state(run.device), run.device),
                       carried=distributed.gather_states(run.task.carried_state(), run.device))  # fmt: skip
    if run.writer:
        save_checkpoint(run.out / LAST, run.model, run.optimizer, run.scheduler, loop, ranks)
    distributed.barrier()


def _better(task: Task, new: Dict[str, Any], old: Dict[str, Any]) -> bool:
    """A better main metric, or the same one with a lower loss."""
    sign = 1.0 if task.higher_is_better else -1.0
    key_new = (sign * new[task.primary_metric], -new["loss"])
    key_old = (sign * old[task.primary_metric], -old["loss"])
    return key_new > key_old


def _end_epoch(run: Run, loop: Dict[str, Any], console: Console, seconds: float, shown: Dict[str, Any]) -> None:
    run.model.eval()
    task = run.task
    val = task.evaluate(run.model, "val")
    row = {"epoch": loop["epoch"] + 1, "train_loss": loop["loss_sum"] / max(loop["items"], 1e-12),
           "val": {k: v for k, v in val.items() if k != "confusion"}, "lr": run.scheduler.get_last_lr()[0],
           "seconds": round(seconds, 2), "steps": loop["step"]}  # fmt: skip
    improved = loop["best"] is None or _better(task, val, loop["best"])
    mark = _best_mark(task, val, loop["best"]) if improved else ""
    loop["history"].append(row)
    loop["epoch"] += 1
    loop["step"] = 0
    _probe(run, loop)
    if improved:
        loop["best"], loop["best_epoch"] = row["val"], row["epoch"]
        if run.writer:
            write_weights(run.out / WEIGHTS, weights_of(run.model))
    if run.writer:
        write_jsonl(run.out / METRICS, _rows(loop))
        _report_epoch(run, console, loop, mark, shown)
    _save_last(run, loop)


def _probe(run: Run, loop: Dict[str, Any]) -> None:
    """--grad-norms: the gradient norms after ``loop["epoch"]`` epochs, once (a resumed run
    has its earlier probes in its loop state); rank 0 alone measures, on its own copy."""
    if not run.request.grad_norms:
        return  # off: the loop state and metrics.jsonl stay as they always were
    probes = loop.setdefault("gradnorms", [])
    if run.writer and all(p["after_epoch"] != loop["epoch"] for p in probes):
        probes.append(probe_row(run.task, run.model, loop["epoch"], loop["global_step"]))


def _rows(loop: Dict[str, Any]) -> List[Dict[str, Any]]:
    """metrics.jsonl before the test: the epochs, then the gradient probes (--grad-norms)."""
    return loop["history"] + loop.get("gradnorms", [])


def _best_mark(task: Task, new: Dict[str, Any], old: Optional[Dict[str, Any]]) -> str:
    """What made an epoch the best, named (users could not tell which metric "(best)" meant)."""
    metric = task.primary_metric
    if old is None or new[metric] != old[metric] or metric == "loss":
        return f"  (best {metric})"
    return f"  (best: {metric} tied, lower loss)"


def _report_epoch(run: Run, console: Console, loop: Dict[str, Any], mark: str, shown: Dict[str, Any]) -> None:
    """The epoch's line, and the curves redrawn. Short epochs (the toy models run hundreds)
    would redraw the plot hundreds of times and flood a terminal: there both happen at most
    every few seconds, and at the end, saying so once. A log gets every epoch's line."""
    history = loop["history"]
    row, now = history[-1], perf_counter()
    due = now - shown.get("at", -1e9) >= REPORT_EVERY_S or row["epoch"] == shown["last_epoch"]
    if due:
        shown["at"] = now
        title = f"{run.spec.name} on {run.data.name}"
        plot_curves(run.out / "curves.png", history, run.task.primary_metric, title)
        if loop.get("gradnorms"):
            plot_grad_norms(run.out / "gradnorms.png", loop["gradnorms"], title)
    if due or not console.is_terminal:
        console.print(f"epoch {row['epoch']}: train loss {row['train_loss']:.4f}; validation "
                      f"{_format(row['val'])}{mark}  [{row['seconds']:.1f} s]", markup=False, highlight=False)  # fmt: skip
    elif not shown.get("said"):
        shown["said"] = True
        console.print(f"(epochs this short are shown at most every {REPORT_EVERY_S:g} s here; {METRICS} "
                      "holds every one)", markup=False, highlight=False)  # fmt: skip


def _format(metrics: Dict[str, Any]) -> str:
    """The scalar metrics in one line; tables (the entity tagger's per-type scores) have their own."""
    return ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v!r}" for k, v in metrics.items()
                     if not isinstance(v, (dict, list)))  # fmt: skip


def _finish(run: Run, loop: Dict[str, Any], console: Console) -> Tuple[Optional[Dict[str, Any]], Optional[str]]:
    """Tests the best weights; writes the test line, the confusion matrix and a sample."""
    if loop["best_epoch"] is None:
        return None, None
    task = run.task
    best_model = load_run(run.out)[3].to(task.device) if run.writer else run.model
    test = task.evaluate(best_model, "test")
    sample = task.sample(best_model) if isinstance(task, LanguageModelTask) and run.writer else None
    if run.writer:
        confusion = test.pop("confusion", None)
        rows: List[Dict[str, Any]] = _rows(loop) + [{"split": "test", "best_epoch": loop["best_epoch"], **test}]
        write_jsonl(run.out / METRICS, rows)
        if confusion is not None:
            plot_confusion(run.out / "confusion.png", confusion, run.data.labels, f"{run.spec.name}: test split")
        console.print(f"test (best epoch {loop['best_epoch']}): {_format(test)}")
        for name, text in task.tables(test).items():  # the entity tagger's per-type scores
            write_atomic(run.out / name, lambda path, text=text: path.write_text(text, encoding="utf-8"))
            console.print(text, markup=False, highlight=False)
        if sample:
            console.print(f"sample: {sample[:200]!r}")
        console.print(f"run saved in [bold]{run.out}[/]")
    return test, sample
