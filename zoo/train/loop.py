"""`zoo train`: one training run from a model name to a finished run directory.

The loop: seeded model and data order; Adam or SGD, optional cosine decay, gradient clipping;
validation every epoch with the best weights kept; a checkpoint of everything (``last/``) at
each epoch end and whenever the run is stopped (Ctrl-C, SIGTERM, ``--time-limit``), so that
``--resume`` continues exactly where it stopped; a NaN/inf loss stops the run and keeps the
last good checkpoint. Only rank 0 writes files.
"""

import itertools
import math
import signal
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from torch import nn

from zoo.data import dataset_names, load_dataset
from zoo.registry import get_spec
from zoo.train import distributed, rundir
from zoo.train.batching import Shard
from zoo.train.checkpoint import load_checkpoint, save_checkpoint, save_weights, write_json, write_jsonl
from zoo.train.embeddings import read_vectors, vector_size
from zoo.train.plots import plot_confusion, plot_curves
from zoo.train.recipes import Recipe, recipe_for, with_options
from zoo.train.tasks import LanguageModelTask, Task, make_task


REPORT_EVERY_S = 3.0  # shortest interval between two epoch reports (and curve redraws)


class TrainingFailed(RuntimeError):
    """The run cannot go on (a NaN loss); the last good checkpoint is kept."""


@dataclass
class TrainRequest:
    model: str
    data: Optional[str] = None  # a data set name, or a path in the default data set's format
    epochs: Optional[int] = None  # None: the model's recipe decides
    batch_size: Optional[int] = None
    lr: Optional[float] = None
    optimizer: Optional[str] = None
    momentum: Optional[float] = None
    weight_decay: Optional[float] = None
    clip: Optional[float] = None
    bptt: Optional[int] = None
    schedule: Optional[str] = None
    seed: Optional[int] = None
    class_weight_power: Optional[float] = None
    logit_adjustment: Optional[float] = None
    shift_augment: Optional[int] = None
    label_smoothing: Optional[float] = None
    overrides: Dict[str, Any] = field(default_factory=dict)  # --set, already typed
    device: str = "auto"
    out: Optional[Path] = None
    resume: bool = False
    overwrite: bool = False
    time_limit: Optional[float] = None  # seconds
    limit_batches: Optional[int] = None  # at most this many training steps per epoch
    embeddings: Optional[Path] = None
    freeze_embeddings: bool = False


@dataclass
class TrainResult:
    run: Path
    status: str  # "finished", "time-limit", "interrupted"
    epochs_done: int
    best: Optional[Dict[str, Any]] = None  # the best validation row
    test: Optional[Dict[str, Any]] = None
    sample: Optional[str] = None


def _device(choice: str) -> torch.device:
    if choice not in ("auto", "cpu", "cuda"):
        raise ValueError(f"--device must be auto, cpu or cuda, got {choice!r}")
    if choice == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available here; use --device cpu")
    if choice == "cpu" or (choice == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    return distributed.local_cuda_device() if distributed.launched() else torch.device("cuda")


def _resolve_data(spec_name: str, default: Optional[str], argument: Optional[str], binary: bool, seed: int):  # type: ignore[no-untyped-def]
    if argument is None or argument in dataset_names():
        name = argument or default
        if name is None:
            raise ValueError(f"{spec_name} has no default data set (it is a building block); pass --data NAME")
        return load_dataset(name, None, seed, binary)
    if not Path(argument).expanduser().exists():
        raise ValueError(
            f"--data {argument}: neither a data set ({', '.join(dataset_names())}) nor an existing path"
        )
    if default is None:
        raise ValueError(f"{spec_name} has no default data format; pass --data NAME")
    return load_dataset(default, argument, seed, binary)


def _optimizer(model: nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if recipe.optimizer == "adam":
        return torch.optim.Adam(params, lr=recipe.lr, weight_decay=recipe.weight_decay)
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(params, lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay)
    raise ValueError(f"--optimizer must be adam or sgd, got {recipe.optimizer!r}")


def _scheduler(optimizer: torch.optim.Optimizer, recipe: Recipe, total_steps: int):  # type: ignore[no-untyped-def]
    if recipe.schedule == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    if recipe.schedule == "cosine":
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: 0.5 * (1.0 + math.cos(math.pi * min(step, total_steps) / total_steps))
        )
    raise ValueError(f"--schedule must be constant or cosine, got {recipe.schedule!r}")


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


def _pretrained(model: nn.Module, request: TrainRequest, vocab: Any, seed: int) -> Optional[str]:
    if request.embeddings is None:
        return None
    if not hasattr(model, "use_pretrained_embeddings") or vocab is None:
        raise ValueError(f"{request.model} has no word embedding to initialise; drop --embeddings")
    size = model.embedding.weight.size(1)
    matrix, found = read_vectors(request.embeddings, vocab, size, seed)
    model.use_pretrained_embeddings(matrix, request.freeze_embeddings)
    return f"{found}/{len(vocab)} words found in {request.embeddings}"


def train(request: TrainRequest, console: Optional[Console] = None) -> TrainResult:
    console = console or Console(quiet=True)
    spec = get_spec(request.model)
    recipe = with_options(
        recipe_for(spec.name), epochs=request.epochs, batch_size=request.batch_size, lr=request.lr,
        optimizer=request.optimizer, momentum=request.momentum, weight_decay=request.weight_decay,
        clip=request.clip, bptt=request.bptt, schedule=request.schedule, seed=request.seed,
        class_weight_power=request.class_weight_power, logit_adjustment=request.logit_adjustment,
        shift_augment=request.shift_augment, label_smoothing=request.label_smoothing,
    )  # fmt: skip
    if recipe.epochs < 1 or recipe.batch_size < 1 or not recipe.lr > 0:
        raise ValueError("--epochs and --batch-size must be >= 1 and --lr > 0")
    out = Path(request.out or Path("runs") / spec.name)
    device = _device(request.device)
    shard = distributed.join(device)
    writer = shard.rank == 0
    data = _resolve_data(spec.name, spec.default_data, request.data, spec.task == "binary-classification", recipe.seed)
    overrides = dict(request.overrides)
    if request.embeddings is not None and "embedding_dim" not in overrides:
        overrides["embedding_dim"] = vector_size(request.embeddings)
    config = rundir.model_config(spec, data, recipe.config, overrides)
    if writer:
        rundir.prepare_out(out, request.resume, request.overwrite)
    if request.resume:
        rundir.check_same_model(out, spec.name, config)
    distributed.barrier()

    torch.manual_seed(recipe.seed)
    model = spec.build(config)
    embedding_note = _pretrained(model, request, data.vocab, recipe.seed)
    model.to(device)
    task = make_task(spec, config, data, device)
    if isinstance(task, LanguageModelTask):
        task.set_bptt(recipe.bptt)
    if recipe.class_weight_power or recipe.logit_adjustment:
        task.weight_classes(recipe.class_weight_power)
        task.adjust_logits(recipe.logit_adjustment)
    if recipe.shift_augment:
        task.augment_shift(recipe.shift_augment)
    if recipe.label_smoothing:
        if not hasattr(task, "label_smoothing") or spec.task != "classification":
            raise ValueError(f"label smoothing needs a multi-class classifier, not {spec.task}")
        task.label_smoothing = recipe.label_smoothing
    batch_size = task.batch_size(recipe.batch_size, shard)
    shard.check_batch(batch_size)
    steps = task.steps_per_epoch(batch_size)
    if request.limit_batches is not None:
        if request.limit_batches < 1:
            raise ValueError(f"--limit-batches must be >= 1, got {request.limit_batches}")
        steps = min(steps, request.limit_batches)
    optimizer = _optimizer(model, recipe)
    scheduler = _scheduler(optimizer, recipe, recipe.epochs * steps)

    loop: Dict[str, Any] = {"epoch": 0, "step": 0, "global_step": 0, "loss_sum": 0.0, "items": 0,
                            "history": [], "best": None, "best_epoch": None}  # fmt: skip
    if request.resume:
        loop, carried = load_checkpoint(out / rundir.LAST, model, optimizer, scheduler)
        task.restore_carried_state(carried)
    training = {**asdict(recipe), "device": str(device), "world_size": shard.world,
                "batch_size": batch_size, "steps_per_epoch": steps, "limit_batches": request.limit_batches,
                "data_argument": request.data,
                "embeddings": str(request.embeddings) if request.embeddings else None,
                "freeze_embeddings": request.freeze_embeddings}  # fmt: skip
    if writer:
        write_json(out / rundir.CONFIG, rundir.run_document(spec, config, data, request.data, training))
    ddp_model: nn.Module = model
    if distributed.launched():
        ddp_model = nn.parallel.DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)

    if writer:
        sizes = ", ".join(f"{k} {v:,}" for k, v in data.sizes().items())
        console.print(f"[bold]{spec.name}[/] on {data.name} ({sizes}); {sum(p.numel() for p in model.parameters()):,} parameters; "
                      f"{recipe.epochs} epochs x {steps} steps of {batch_size}; {device}, {shard.world} process(es)")  # fmt: skip
        if embedding_note:
            console.print(f"pretrained embeddings: {embedding_note}")
    status = _run_epochs(ddp_model, model, task, optimizer, scheduler, recipe, loop, steps, batch_size, shard,
                         device, out, request.time_limit, console, writer)  # fmt: skip
    result = TrainResult(out, status, loop["epoch"], loop["best"])
    if status == "interrupted":
        distributed.leave()
        return result
    result.test, result.sample = _finish(model, task, out, loop, spec.name, data, console, writer)
    distributed.leave()
    return result


def _run_epochs(ddp_model, model, task: Task, optimizer, scheduler, recipe: Recipe, loop: Dict[str, Any],  # type: ignore[no-untyped-def]
                steps: int, batch_size: int, shard: Shard, device, out: Path, time_limit, console, writer) -> str:  # fmt: skip
    started = time.perf_counter()
    stop: Dict[str, Any] = {}
    shown: Dict[str, float] = {"last_epoch": recipe.epochs}
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("loss {task.fields[loss]:.4f}  {task.fields[rate]:,.0f} items/s"), TimeElapsedColumn()]  # fmt: skip
    with _stop_signals(stop), Progress(*columns, console=console, disable=not writer) as progress:
        while loop["epoch"] < recipe.epochs:
            epoch = loop["epoch"]
            if loop["step"] == 0:
                task.start_epoch()
                loop["loss_sum"], loop["items"] = 0.0, 0
            bar = progress.add_task(f"epoch {epoch + 1}/{recipe.epochs}", total=steps, completed=loop["step"], loss=0.0, rate=0.0)
            epoch_start, items_now = time.perf_counter(), 0
            ddp_model.train()
            for batch in itertools.islice(task.train_batches(batch_size, recipe.seed, epoch, shard, loop["step"]),
                                          steps - loop["step"]):  # fmt: skip
                loss, items = task.loss(ddp_model, batch)
                value = distributed.mean_over_ranks(loss.detach()).item()
                if not math.isfinite(value):
                    raise TrainingFailed(
                        f"the loss became {value} at epoch {epoch + 1}, step {loop['step'] + 1}; stopped, "
                        f"the last good checkpoint is in {out / rundir.LAST} (try a lower --lr or --clip 1)"
                    )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if recipe.clip:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), recipe.clip)
                optimizer.step()
                scheduler.step()
                loop["step"] += 1
                loop["global_step"] += 1
                loop["loss_sum"] += value * items
                loop["items"] += items
                items_now += items * shard.world
                rate = items_now / max(time.perf_counter() - epoch_start, 1e-9)
                progress.update(bar, advance=1, loss=loop["loss_sum"] / max(loop["items"], 1), rate=rate)
                over_time = time_limit is not None and time.perf_counter() - started > time_limit
                if distributed.any_rank("signal" in stop, device):
                    _save_last(model, optimizer, scheduler, loop, task, out, writer)
                    if writer:
                        console.print(f"stopped by {stop.get('signal', 'a signal')}; checkpoint in {out / rundir.LAST}; "
                                      "continue with --resume")  # fmt: skip
                    return "interrupted"
                if distributed.any_rank(over_time, device):
                    break
            progress.remove_task(bar)
            _end_epoch(model, task, optimizer, scheduler, loop, out, console, writer,
                       time.perf_counter() - epoch_start, shown)  # fmt: skip
            if time_limit is not None and time.perf_counter() - started > time_limit:
                if writer:
                    console.print(f"--time-limit reached after {loop['epoch']} epoch(s)")
                return "time-limit"
    return "finished"


def _save_last(model, optimizer, scheduler, loop, task: Task, out: Path, writer: bool) -> None:  # type: ignore[no-untyped-def]
    if writer:
        save_checkpoint(out / rundir.LAST, model, optimizer, scheduler, loop, task.carried_state())
    distributed.barrier()


def _better(task: Task, new: Dict[str, Any], old: Dict[str, Any]) -> bool:
    """A better main metric, or the same one with a lower loss."""
    sign = 1.0 if task.higher_is_better else -1.0
    key_new = (sign * new[task.primary_metric], -new["loss"])
    key_old = (sign * old[task.primary_metric], -old["loss"])
    return key_new > key_old


def _end_epoch(model, task: Task, optimizer, scheduler, loop, out: Path, console, writer: bool, seconds: float,  # type: ignore[no-untyped-def]
               shown: Dict[str, float]) -> None:  # fmt: skip
    model.eval()
    val = task.evaluate(model, "val")
    row = {"epoch": loop["epoch"] + 1, "train_loss": loop["loss_sum"] / max(loop["items"], 1),
           "val": {k: v for k, v in val.items() if k != "confusion"}, "lr": scheduler.get_last_lr()[0],
           "seconds": round(seconds, 2), "steps": loop["step"]}  # fmt: skip
    improved = loop["best"] is None or _better(task, val, loop["best"])
    loop["history"].append(row)
    loop["epoch"] += 1
    loop["step"] = 0
    if improved:
        loop["best"], loop["best_epoch"] = row["val"], row["epoch"]
        if writer:
            save_weights(out / rundir.WEIGHTS, model)
    if writer:
        write_jsonl(out / rundir.METRICS, loop["history"])
        # Short epochs (the toy models run hundreds) would flood the terminal and redraw the
        # plot hundreds of times: report and plot at most every few seconds, and at the end.
        now = time.perf_counter()
        if now - shown.get("at", -1e9) >= REPORT_EVERY_S or loop["epoch"] == shown["last_epoch"]:
            shown["at"] = now
            plot_curves(out / "curves.png", loop["history"], task.primary_metric, f"{task.spec.name} on {task.data.name}")
            console.print(f"epoch {row['epoch']}: train loss {row['train_loss']:.4f}; validation "
                          f"{_format(row['val'])}{'  (best)' if improved else ''}  [{seconds:.1f} s]")  # fmt: skip
    _save_last(model, optimizer, scheduler, loop, task, out, writer)


def _format(metrics: Dict[str, Any]) -> str:
    return ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v!r}" for k, v in metrics.items())


def _finish(model, task: Task, out: Path, loop, name: str, data, console, writer: bool):  # type: ignore[no-untyped-def]
    """Tests the best weights; writes the test line, the confusion matrix and a sample."""
    if loop["best_epoch"] is None:
        return None, None
    best_model = rundir.load_run(out)[3].to(task.device) if writer else model
    test = task.evaluate(best_model, "test")
    sample = task.sample(best_model) if isinstance(task, LanguageModelTask) and writer else None
    if writer:
        confusion = test.pop("confusion", None)
        rows: List[Dict[str, Any]] = loop["history"] + [{"split": "test", "best_epoch": loop["best_epoch"], **test}]
        write_jsonl(out / rundir.METRICS, rows)
        if confusion is not None:
            plot_confusion(out / "confusion.png", confusion, data.labels, f"{name}: test split")
        console.print(f"test (best epoch {loop['best_epoch']}): {_format(test)}")
        if sample:
            console.print(f"sample: {sample[:200]!r}")
        console.print(f"run saved in [bold]{out}[/]")
    return test, sample
