"""The CLI's consoles and its one way of reporting a user's mistake."""

from contextlib import contextmanager
from typing import Iterator, NoReturn

import typer
from rich.console import Console

console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = 2) -> NoReturn:
    """One line on stderr naming the problem (and the fix), then a non-zero exit."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turns the ValueErrors that library code raises for bad input into ``fail``."""
    try:
        yield
    except ValueError as exc:
        fail(str(exc))
