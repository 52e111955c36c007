"""`zoo compare MODEL... --data NAME`: a thin wrapper over ``zoo.compare``.

The training options (``--epochs``, ``--lr``...) are the fields of ``zoo.recipe.Recipe``, as for
`zoo train` (``zoo.cli.fields``); given, one applies to every model.
"""

import copy
from dataclasses import Field
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Dict, List, Optional, get_type_hints

import typer
from rich.table import Table

from zoo.cli.console import console, user_errors
from zoo.cli.fields import options_from
from zoo.cli.train import parse_duration
from zoo.compare import CompareRequest, Comparison, columns, notes, plan_compare, rows, run_compare, title
from zoo.compare.plan import COMPARE_FILES
from zoo.recipe import Recipe, options


# Recipe's help for these speaks of `zoo train` alone (--resume, --nproc).
_HELP = {
    "epochs": "Epochs of every model (default: each model's recipe; --time-limit may end them sooner).",
    "batch_size": "Batch size of every model (default: each model's recipe).",
}


def _shared(declared: Field) -> Field:  # type: ignore[type-arg]
    """A recipe option as `zoo compare` takes it: the same field, for every model."""
    if declared.name not in _HELP:
        return declared
    shared = copy.copy(declared)
    shared.metadata = MappingProxyType({**declared.metadata, "help": _HELP[declared.name]})
    return shared


@options_from([_shared(f) for f in options()], get_type_hints(Recipe), into="recipe")
def compare_command(
    models: Annotated[List[str], typer.Argument(metavar="MODEL", help="Two or more model names of one task, as `zoo models list` shows them.")],
    data: Annotated[Optional[str], typer.Option(help="The data set every model trains on (a name, or a path in the models' default format); left out, the default data set they share.")] = None,
    recipe: Optional[Dict[str, Any]] = None,  # one option per Recipe field, given here as {name: value or None}
    set_: Annotated[Optional[List[str]], typer.Option("--set", metavar="KEY=VALUE", help="Config override key=value for every model (repeatable); a key one of them lacks is refused.")] = None,
    time_limit: Annotated[Optional[str], typer.Option(help="Each model's training budget (90s, 15m, 1h): it stops there and is tested with its best epoch.")] = None,
    limit_batches: Annotated[Optional[int], typer.Option(help="At most this many training steps per epoch (smoke tests).")] = None,
    grad_norms: Annotated[bool, typer.Option("--grad-norms", help="Train each model with `zoo train --grad-norms` and draw their gradient norms through time side by side (gradnorms.png).")] = False,
    device: Annotated[str, typer.Option(help="Where the models train: auto, cpu or cuda (latency is measured on the CPU).")] = "auto",
    out: Annotated[Optional[Path], typer.Option(help="Folder of the comparison (default runs/compare-MODELS-on-DATA).")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace the comparison in that folder (never a folder that is not a comparison).")] = False,
) -> None:  # fmt: skip
    """Train several models on the same data with the same budget and seed, and compare them.

    Each model trains as `zoo train` would, into its own run directory under the comparison's
    folder, which also gets compare.md (the table: parameters, seconds per epoch, best
    validation and test metric, CPU latency at batch 1 and 64, and notes on how each was
    trained), compare.json (all of it, with every epoch) and curves.png (the validation metric
    and loss per epoch, one line per model). A training option given applies to every model;
    one left out is each model's own recipe, and the notes say so. Everything is checked before
    the first model trains. Ctrl-C keeps the models already finished."""
    with user_errors():
        request = CompareRequest(
            models=models, data=data, options=recipe or {}, settings=set_ or [],
            time_limit=parse_duration(time_limit) if time_limit else None, limit_batches=limit_batches,
            grad_norms=grad_norms, device=device, out=out, overwrite=overwrite,
        )  # fmt: skip
        plan = plan_compare(request)
        comparison = run_compare(plan, console)
    print_comparison(comparison)
    if comparison.status == "interrupted":
        raise typer.Exit(130)


def print_comparison(comparison: Comparison) -> None:
    table = Table(title=title(comparison.plan))
    for name in columns(comparison.plan):
        table.add_column(name, justify="left" if name == "model" else "right")
    for row in rows(comparison):
        table.add_row(*row)
    console.print(table)
    for note in notes(comparison):
        console.print(f"- {note}", markup=False, highlight=False)
    written = [name for name in COMPARE_FILES if (comparison.plan.out / name).is_file()]  # gradnorms.png: with --grad-norms
    console.print(f"comparison saved in [bold]{comparison.plan.out}[/] ({', '.join(written)}, a run directory per model)")
