"""The CLI's consoles and its one way of reporting a user's mistake."""

import errno
from contextlib import contextmanager
from typing import Iterator, NoReturn

import typer
from rich.console import Console

console = Console()
err_console = Console(stderr=True)

_IO_HINTS = {
    errno.ENOSPC: "free some space or choose another --out",
    errno.EDQUOT: "free some space or choose another --out",
    errno.EACCES: "choose a folder you may write to (--out) or fix its permissions",
    errno.EPERM: "choose a folder you may write to (--out) or fix its permissions",
    errno.EROFS: "the file system is read-only; choose another --out",
}


def fail(message: str, code: int = 2) -> NoReturn:
    """One line on stderr naming the problem (and the fix), then a non-zero exit."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def io_message(exc: OSError) -> str:
    """An OSError as one line: the file, what went wrong, and what to do about it."""
    where = f"{exc.filename}: " if exc.filename else ""
    what = exc.strerror or (str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    hint = _IO_HINTS.get(exc.errno or 0)
    return f"{where}{what}" + (f"; {hint}" if hint else "")


@contextmanager
def user_errors() -> Iterator[None]:
    """Turns the ValueErrors that library code raises for bad input into ``fail`` (exit 2), and
    an I/O error (full disk, read-only folder) into one line and exit 1 instead of a traceback."""
    try:
        yield
    except ValueError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(io_message(exc), code=1)
