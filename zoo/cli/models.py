"""`zoo models ...`: what is in the zoo, and whether a model scripts."""

import dataclasses
import typing
from typing import Annotated, Dict, List, Optional

import typer
from rich import box
from rich.table import Table

from zoo.cli.console import console, fail, user_errors
from zoo.config import parse_overrides, type_name
from zoo.registry import TASKS, Config, ModelSpec, get_spec, list_models, parameter_count
from zoo.scriptcheck import check_scripting
from zoo.train.describe import SOURCES, Setting, best_epoch_rule, recipe_settings, shown, trained_config_sources, trained_configs

WIDE_TERMINAL = 120  # columns needed to show descriptions in `zoo models list`
BOTH_SIZES_TERMINAL = 88  # columns needed to show both parameter counts there, names whole

app = typer.Typer(help="List, describe and check the registered models.", no_args_is_help=True)


def _parameters(spec: ModelSpec, config: Optional[Config] = None) -> int:
    """Of ``config``, by default the model's default config."""
    return parameter_count(spec.build(spec.make_config() if config is None else config))


def print_settings(title: str, settings: List[Setting]) -> None:
    """Settings with where each came from (`models info`'s recipe, `train --dry-run`), then
    what each "from" means."""
    table = Table(title=title)
    for column in ("setting", "value", "from"):
        table.add_column(column)
    for s in settings:
        table.add_row(s.name, s.value, s.source)
    console.print(table)
    used = dict.fromkeys(s.source for s in settings)
    console.print("from: " + "; ".join(f"{source} = {SOURCES[source]}" for source in used), markup=False, highlight=False)


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
        Optional[str],
        typer.Argument(metavar="PATTERN", help="Part of the name ('gru') or a shell-style pattern ('*lstm*'); any case."),
    ] = None,
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print a Markdown table (as in the README).")
    ] = False,
) -> None:
    """List the models: name, task, parameters (default config, and as `zoo train` trains it)
    and default data set."""
    names = list_models(pattern)
    if not names:
        fail(f"no model matches {pattern!r}; run `zoo models list` to see every name")
    if markdown:
        console.print(markdown_table(pattern), markup=False, highlight=False, soft_wrap=True)
        return
    # On a narrow terminal the stateful flag and the description are left out, then the default
    # config's parameter count, rather than letting the names wrap or be cut (they are what users
    # copy); `models info` and --markdown show them.
    columns = ["name", "task", "params", "trained", "data"]
    if console.width < BOTH_SIZES_TERMINAL:
        columns.remove("params")
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
            justify="right" if column in ("params", "trained") else "left",
            no_wrap=column != "description",
            min_width=len(column),
        )
    specs = [get_spec(name) for name in names]
    trained = trained_configs(specs)
    for spec in specs:
        config = trained[spec.name]
        cells = {
            "name": spec.name,
            "task": spec.task,
            "params": f"{_parameters(spec):,}",
            "trained": "-" if config is None else f"{_parameters(spec, config):,}",
            "data": spec.default_data or "-",
            "stateful": "yes" if spec.stateful else "no",
            "description": spec.description,
        }
        table.add_row(*(cells[column] for column in columns))
    console.print(table)
    # Short lines: a log does not wrap them, and they fit the narrowest table.
    if "params" in columns:
        console.print("params: of the default config (`zoo models info NAME` shows it)", markup=False, highlight=False)
    console.print("trained: of what `zoo train NAME` trains (recipe, default data)", markup=False, highlight=False)


@app.command("info")
def info_command(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Model name, as `zoo models list` shows it.")],
) -> None:
    """Show a model's config (defaults, what its recipe trains, help), its training recipe, the
    metric that picks the best epoch, and its input/output signature."""
    with user_errors():
        spec = get_spec(name)
        trained = trained_configs([spec])[spec.name]
    config = spec.make_config()
    console.print(f"[bold]{spec.name}[/]: {spec.description}", markup=True, highlight=False)
    console.print(f"follows: {spec.origin}", markup=False, highlight=False)
    console.print(
        f"task: {spec.task} ({TASKS[spec.task]})   default data: {spec.default_data or '-'}   "
        f"stateful: {'yes' if spec.stateful else 'no'}",
        markup=False,
    )
    console.print(_parameters_line(spec, trained), markup=False, highlight=False)
    if spec.methods:
        console.print(f"scripted methods besides forward: {', '.join(spec.methods)}", markup=False)
    console.print(_config_table(spec, trained))
    rule = best_epoch_rule(spec)
    if trained is not None and rule:
        print_settings(f"training recipe (`zoo train {spec.name}`; an option replaces a value)", recipe_settings(spec))
        console.print(f"{rule}; its weights are the run's weights.safetensors", markup=False, highlight=False)
    else:
        console.print(f"training: none of its own; `zoo train` trains the models built on this {spec.task}", markup=False)
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


def _parameters_line(spec: ModelSpec, trained: Optional[Config]) -> str:
    line = f"parameters: {_parameters(spec):,} (default config)"
    if trained is not None:
        line += f", {_parameters(spec, trained):,} (as `zoo train {spec.name}` trains it: recipe + {spec.default_data} data)"
    return line


def _config_table(spec: ModelSpec, trained: Optional[Config]) -> Table:
    """Each field's type, default, the value the recipe trains where it differs (and whether
    the recipe or the data set sets it), and its help."""
    config = spec.make_config()
    sources: Dict[str, str] = trained_config_sources(spec, trained) if trained is not None else {}
    hints = typing.get_type_hints(spec.config_cls)
    title = f"config ({spec.config_cls.__name__}); change with --set key=value"
    if sources:
        title += "; recipe: what the recipe trains, where it differs"
    table = Table(title=title)
    for column in ("field", "type", "default", "recipe", "help"):
        table.add_column(column)
    for f in dataclasses.fields(spec.config_cls):
        trained_value = ""
        if f.name in sources:
            trained_value = shown(getattr(trained, f.name))
            trained_value += f" ({spec.default_data} data)" if sources[f.name] == "data" else ""
        table.add_row(
            f.name,
            type_name(hints.get(f.name, str)),
            repr(getattr(config, f.name)),
            trained_value,
            f.metadata.get("help", ""),
        )
    return table


@app.command("check")
def check_command(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Model name, as `zoo models list` shows it.")],
    batch: Annotated[int, typer.Option(min=1, help="Batch size of the example input.")] = 2,
    time: Annotated[int, typer.Option(min=1, help="Time steps of the example input.")] = 7,
    seed: Annotated[int, typer.Option(help="Seed for weights and inputs.")] = 0,
    set_: Annotated[
        Optional[List[str]],
        typer.Option("--set", metavar="KEY=VALUE", help="Config override key=value (repeatable), see `models info`."),
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
