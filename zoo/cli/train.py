"""`zoo train MODEL` and `zoo evaluate RUN|BUNDLE`: thin wrappers over ``zoo.train`` and ``export.evaluate``.

The training options (``--epochs``, ``--lr``...) are the fields of ``zoo.recipe.Recipe``, made
into options by ``zoo.cli.fields``; ``--nproc N`` relaunches `zoo train` with the arguments it
was given, less ``--nproc`` (``TrainCommand`` keeps them).
"""

import re
import subprocess
from pathlib import Path
from typing import Annotated, Any, Dict, List, Optional, Sequence, get_type_hints

import typer
from rich.table import Table
from typer.core import TyperCommand

from zoo.cli.console import console, fail, user_errors
from zoo.cli.fields import options_from
from zoo.cli.models import print_settings
from zoo.config import parse_overrides
from zoo.recipe import Recipe, options
from zoo.registry import get_spec
from zoo.store import is_bundle
from zoo.train import distributed
from zoo.train.batching import Shard
from zoo.train.describe import announcement, config_settings, training_settings
from zoo.train.evaluate import evaluate_bundle, evaluate_run
from zoo.train.loop import TrainingFailed, TrainRequest, train
from zoo.train.request import stored_processes
from zoo.train.setup import Run, device_for, prepare

_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0}
_ARGUMENTS = "zoo.train.arguments"  # where TrainCommand keeps the arguments (the context's meta)
_NPROC = "--nproc"


class TrainCommand(TyperCommand):
    """`zoo train`: keeps its arguments as given, for the processes ``--nproc`` launches."""

    def parse_args(self, ctx: typer.Context, args: List[str]) -> List[str]:
        ctx.meta[_ARGUMENTS] = list(args)
        return super().parse_args(ctx, args)


def without_nproc(arguments: Sequence[str]) -> List[str]:
    """``arguments`` less every ``--nproc N`` and ``--nproc=N``: what each launched process is
    given (it is one process of the N; on --resume it checks N against the run's)."""
    kept: List[str] = []
    skip = False
    for argument in arguments:
        if skip:
            skip = False
        elif argument == _NPROC:
            skip = True  # and its value, the next argument
        elif not argument.startswith(_NPROC + "="):
            kept.append(argument)
    return kept


def parse_duration(text: str) -> float:
    """'90', '90s', '15m', '1.5h' -> seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text)
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"--time-limit {text!r}: give a positive duration such as 90s, 15m or 1.5h")
    return float(match.group(1)) * _UNITS[match.group(2)]


@options_from(options(), get_type_hints(Recipe), into="recipe")
def train_command(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(metavar="MODEL", help="Model name, as `zoo models list` shows it.")],
    data: Annotated[Optional[str], typer.Option(help="Data set name, or a path to your files in the default data set's format.")] = None,
    recipe: Optional[Dict[str, Any]] = None,  # one option per Recipe field, given here as {name: value or None}
    set_: Annotated[Optional[List[str]], typer.Option("--set", metavar="KEY=VALUE", help="Config override key=value (repeatable); see `zoo models info`.")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    out: Annotated[Optional[Path], typer.Option(help="Run directory (default runs/MODEL).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out from its last checkpoint, with its own options.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing run in --out (never a folder that is not a run).")] = False,
    time_limit: Annotated[Optional[str], typer.Option(help="Stop training after this long (90s, 15m, 1h), saving the step for --resume, then test.")] = None,
    limit_batches: Annotated[Optional[int], typer.Option(help="At most this many training steps per epoch (smoke tests).")] = None,
    embeddings: Annotated[Optional[Path], typer.Option(help="Pretrained word vectors, GloVe text format.")] = None,
    freeze_embeddings: Annotated[bool, typer.Option("--freeze-embeddings", help="Keep the pretrained vectors fixed.")] = False,
    grad_norms: Annotated[bool, typer.Option("--grad-norms", help="Record the norm of dLoss/dh at every step of every recurrent layer, on 64 validation examples, before training and after each epoch (metrics.jsonl, gradnorms.png).")] = False,
    nproc: Annotated[Optional[int], typer.Option(help="Processes for data-parallel training (torch.distributed.run); on --resume, the run's.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Make every check of a run and print what it would train (config, every training argument and where it came from), writing nothing.")] = False,
) -> None:  # fmt: skip
    """Train a model on its default data set (or --data) and write a run directory."""
    with user_errors():
        spec = get_spec(model)
        overrides = parse_overrides(spec, set_ or [])
        limit = parse_duration(time_limit) if time_limit else None
        request = TrainRequest(
            model=model, data=data, **(recipe or {}), overrides=overrides, device=device, out=out, resume=resume,
            overwrite=overwrite, time_limit=limit, limit_batches=limit_batches, embeddings=embeddings,
            freeze_embeddings=freeze_embeddings, grad_norms=grad_norms,
        )  # fmt: skip
        processes = 1 if distributed.launched() else _processes(request, nproc)  # launched: WORLD_SIZE
        if dry_run:
            # The checks of a real run, which all come before its first write (prepare).
            _print_plan(request, prepare(request, Shard(0, processes), device_for(request.device)))
            return
        if processes > 1:
            # Every check before the processes start: a mistake is one line, not N tracebacks.
            prepare(request, Shard(0, processes), device_for(request.device))
            arguments = without_nproc(ctx.meta[_ARGUMENTS])
            command = distributed.launcher_command(processes, ["train", *arguments])
            environment = distributed.launch_environment(spec)  # a model of your own: its module
            raise typer.Exit(subprocess.call(command, env=environment))
    try:
        with user_errors():
            result = train(request, console)
    except TrainingFailed as error:
        fail(str(error), code=1)
    if result.status == "interrupted":
        raise typer.Exit(130)


def _print_plan(request: TrainRequest, run: Run) -> None:
    """--dry-run: the run's first lines, then every config field and training argument with
    where its value came from."""
    for line in announcement(request, run):
        console.print(line, markup=False, highlight=False)
    if not request.resume:
        replaced = " (--overwrite replaces the run there)" if request.overwrite and run.out.exists() else ""
        console.print(f"output: {run.out}{replaced}", markup=False, highlight=False)
    print_settings(f"config ({run.spec.config_cls.__name__})", config_settings(request, run))
    print_settings("training", training_settings(request, run))
    console.print("dry run: every check passed; nothing was written (drop --dry-run to train)")


def _processes(request: TrainRequest, nproc: Optional[int]) -> int:
    """--nproc, or on --resume the run's own process count when it is left out."""
    if nproc is not None and nproc < 1:
        raise ValueError(f"--nproc {nproc}: use an integer >= 1")
    return nproc or stored_processes(request) or 1


def evaluate_command(
    path: Annotated[Path, typer.Argument(metavar="RUN|BUNDLE", help="A run directory written by `zoo train`, or a bundle written by `zoo export` (a folder holding manifest.json) of a trained run.")],
    split: Annotated[str, typer.Option(help="train, val or test.")] = "test",
    device: Annotated[str, typer.Option(help="auto, cpu or cuda (a run; a bundle runs on the CPU).")] = "auto",
    runtime: Annotated[Optional[str], typer.Option(help="A bundle: onnxruntime (model.onnx, the default) or torchscript (model.pt).")] = None,
    graph: Annotated[Optional[str], typer.Option(help="A bundle in onnxruntime: model (model.onnx, the default) or int8 (model.int8.onnx, from `zoo export --quantize int8`).")] = None,
) -> None:  # fmt: skip
    """Print the metrics of a run's best weights, or of its bundle, on one split of its data.

    A bundle runs in onnxruntime or TorchScript; the table is the same for both, to compare them."""

    with user_errors():
        if is_bundle(path):
            if device == "cuda":
                raise ValueError("--device cuda: a bundle is scored on the CPU; drop --device")
            runtime, graph = runtime or "onnxruntime", graph or "model"
            metrics = evaluate_bundle(path, split, runtime, graph)
            title = f"{path} ({runtime}, {graph} graph) on the {split} split"
        else:
            if runtime is not None or graph is not None:
                raise ValueError(f"--runtime and --graph choose what of a bundle runs; {path} holds no manifest.json, so it is not a bundle")
            metrics = evaluate_run(path, split, device)
            title = f"{path} on the {split} split"
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in metrics.items():
        if isinstance(value, float):
            table.add_row(key, f"{value:.4f}")
        elif isinstance(value, (int, str)):
            table.add_row(key, str(value))
    console.print(table)
