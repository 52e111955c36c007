"""`zoo models ...`: what is in the zoo, and whether a model scripts."""

import dataclasses
import typing
from typing import Annotated, List, Optional

import typer
from rich import box
from rich.table import Table

from zoo.cli.console import console, fail, user_errors
from zoo.config import parse_overrides, type_name
from zoo.registry import TASKS, ModelSpec, get_spec, list_models, parameter_count
from zoo.scriptcheck import check_scripting

WIDE_TERMINAL = 120  # columns needed to show descriptions in `zoo models list`

app = typer.Typer(help="List, describe and check the registered models.", no_args_is_help=True)


def _parameters(spec: ModelSpec) -> int:
    return parameter_count(spec.build(spec.make_config()))


def markdown_table(pattern: Optional[str] = None) -> str:
    """The zoo as a Markdown table (the README's table is this text)."""
    lines = [
        "| model | task | parameters | default data | stateful | description | origin |",
        "|---|---|---:|---|---|---|---|",
    ]
    for spec in map(get_spec, list_models(pattern)):
        lines.append(
            f"| `{spec.name}` | {spec.task} | {_parameters(spec):,} | {spec.default_data or '-'} "
            f"| {'yes' if spec.stateful else 'no'} | {spec.description} | {spec.origin} |"
        )
    return "\n".join(lines)


@app.command("list")
def list_command(
    pattern: Annotated[
        Optional[str], typer.Argument(help="Shell-style filter, for example '*lstm*'.")
    ] = None,
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print a Markdown table (as in the README).")
    ] = False,
) -> None:
    """List the models: name, task, parameters (default config) and default data set."""
    names = list_models(pattern)
    if not names:
        fail(f"no model matches {pattern!r}; run `zoo models list` to see every name")
    if markdown:
        console.print(markdown_table(pattern), markup=False, highlight=False, soft_wrap=True)
        return
    # On a narrow terminal the stateful flag and the description are left out rather than
    # letting the names wrap or be cut (they are what users copy); `models info` and --markdown
    # show them.
    columns = ["name", "task", "params", "data"]
    if console.width >= WIDE_TERMINAL:
        columns += ["stateful", "description"]
    table = Table(
        title=f"zoo models ({len(names)})",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        padding=(0, 1),
        collapse_padding=True,
    )
    for column in columns:
        table.add_column(
            column,
            justify="right" if column == "params" else "left",
            no_wrap=column != "description",
            min_width=len(column),
        )
    for name in names:
        spec = get_spec(name)
        row = [
            name,
            spec.task,
            f"{_parameters(spec):,}",
            spec.default_data or "-",
            "yes" if spec.stateful else "no",
            spec.description,
        ]
        table.add_row(*row[: len(columns)])
    console.print(table)


@app.command("info")
def info_command(
    name: Annotated[str, typer.Argument(help="Model name, as `zoo models list` shows it.")],
) -> None:
    """Show a model's config fields (defaults and help) and its input/output signature."""
    with user_errors():
        spec = get_spec(name)
    config = spec.make_config()
    console.print(f"[bold]{spec.name}[/]: {spec.description}", markup=True, highlight=False)
    console.print(f"follows: {spec.origin}", markup=False, highlight=False)
    console.print(
        f"task: {spec.task} ({TASKS[spec.task]})   parameters: {_parameters(spec):,}   "
        f"default data: {spec.default_data or '-'}   stateful: {'yes' if spec.stateful else 'no'}",
        markup=False,
    )
    if spec.methods:
        console.print(f"scripted methods besides forward: {', '.join(spec.methods)}", markup=False)
    hints = typing.get_type_hints(spec.config_cls)
    fields = Table(title=f"config ({spec.config_cls.__name__}); change with --set key=value")
    for column in ("field", "type", "default", "help"):
        fields.add_column(column)
    for f in dataclasses.fields(spec.config_cls):
        kind = hints.get(f.name, str)
        fields.add_row(
            f.name,
            type_name(kind),
            repr(getattr(config, f.name)),
            f.metadata.get("help", ""),
        )
    console.print(fields)
    signature = spec.signature(config)
    io_table = Table(title="signature (flattened, in forward's order)")
    for column in ("", "name", "dtype", "shape", "meaning"):
        io_table.add_column(column)
    for role, tensors in (("input", signature.inputs), ("output", signature.outputs)):
        for t in tensors:
            shape = "(" + ", ".join(str(d) for d in t.shape) + ")"
            io_table.add_row(role, t.name, t.dtype, shape, t.doc)
    console.print(io_table)
    if signature.state_pairs:
        pairs = ", ".join(f"{i} <- {o}" for i, o in signature.state_pairs)
        console.print(f"state carried between calls: {pairs}")


@app.command("check")
def check_command(
    name: Annotated[str, typer.Argument(help="Model name, as `zoo models list` shows it.")],
    batch: Annotated[int, typer.Option(min=1, help="Batch size of the example input.")] = 2,
    time: Annotated[int, typer.Option(min=1, help="Time steps of the example input.")] = 7,
    seed: Annotated[int, typer.Option(help="Seed for weights and inputs.")] = 0,
    set_: Annotated[
        Optional[List[str]],
        typer.Option("--set", help="Config override key=value (repeatable), see `models info`."),
    ] = None,
) -> None:
    """Script a model with torch.jit.script, run it, save/reload it and compare with eager."""
    with user_errors():
        spec = get_spec(name)
        config = spec.make_config(**parse_overrides(spec, set_ or []))
        report = check_scripting(name, config, batch, time, seed)
    console.print(
        f"[bold]{name}[/] scripted in {report.script_seconds:.2f} s; batch {batch}, time {time}; "
        f"eager {report.eager_ms:.2f} ms, scripted {report.scripted_ms:.2f} ms (first call)"
    )
    table = Table(title="scripted vs eager, reloaded vs scripted")
    for column in ("output", "dtype", "shape", "max |scripted - eager|", "max |reloaded - scripted|"):
        table.add_column(column)
    for o in report.outputs:
        table.add_row(
            o.name, o.dtype, str(o.shape), f"{o.max_abs_diff:.2e}", f"{o.reload_max_abs_diff:.2e}"
        )
    console.print(table)
    if not report.passed:
        fail(f"{name}: scripted outputs differ from eager by more than {report.atol:g}", code=1)
    console.print("[green]ok[/]: scripted, saved, reloaded and equal to eager")
