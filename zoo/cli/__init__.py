"""The `zoo` command line: one Typer sub-app per noun, each a thin wrapper over the library."""

import re
from typing import Annotated, Optional

import typer
from typer.core import TyperArgument, TyperOption

import zoo
from zoo.cli import compare, export, models, predict, serve, train
from zoo.cli.console import Group, console, error_line
from zoo.registry import ModelModuleError, import_model_modules

# typer 0.29 added display_type; an older typer (the GPU machine's image has one) prints
# types its own way and is left as it is.
_typer_display_type = getattr(TyperOption, "display_type", None)


def _display_type(self: TyperArgument | TyperOption, ctx: typer.Context) -> Optional[str]:
    """The type typer 0.29's help prints after a parameter, without two oddities: a type after
    a flag (`--overwrite <bool>`, `--help <bool>`), which reads as if it took a value, and a
    Python annotation for a repeatable one (`<list[str]>`: `--set` is repeated, each a str)."""
    if isinstance(self, TyperOption) and self.is_flag:
        return None
    return re.sub(r"<list\[(\w+)\]>", lambda m: f"<{m.group(1).lower()}>", _typer_display_type(self, ctx))


if _typer_display_type is not None:
    TyperOption.display_type = TyperArgument.display_type = _display_type  # type: ignore[method-assign, assignment]

app = typer.Typer(
    name="zoo",
    cls=Group,  # click's usage errors as one `error:` line, like every other
    help="A zoo of recurrent models written for TorchScript and ONNX export.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(models.app, name="models")
app.command("train", cls=train.TrainCommand)(train.train_command)  # keeps its arguments for --nproc
app.command("evaluate")(train.evaluate_command)
app.command("export")(export.export_command)
app.command("verify")(export.verify_command)
app.command("predict")(predict.predict_command)
app.command("generate")(predict.generate_command)
app.command("serve")(serve.serve_command)
app.command("compare")(compare.compare_command)


def _print_version(value: bool) -> None:
    if value:
        console.print(f"zoo {zoo.__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        Optional[bool],
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version."),
    ] = None,
) -> None:
    """A zoo of recurrent models written for TorchScript and ONNX export."""


def main() -> None:
    try:  # the models of ZOO_MODULES first: a module that does not import is one line, exit 2
        import_model_modules()
    except ModelModuleError as exc:
        error_line(str(exc))
        raise SystemExit(2) from None
    app()
