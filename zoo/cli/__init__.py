"""The `zoo` command line: one Typer sub-app per noun, each a thin wrapper over the library."""

from typing import Annotated, Optional

import typer

import zoo
from zoo.cli import export, models, serve, train
from zoo.cli.console import console

app = typer.Typer(
    name="zoo",
    help="A zoo of recurrent models written for TorchScript and ONNX export.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(models.app, name="models")
app.command("train")(train.train_command)
app.command("evaluate")(train.evaluate_command)
app.command("export")(export.export_command)
app.command("verify")(export.verify_command)
app.command("serve")(serve.serve_command)


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
    app()
