"""The CLI's consoles and its one way of reporting a user's mistake."""

import errno
import sys
from contextlib import contextmanager
from typing import Any, Iterator, NoReturn, Optional, Sequence

import typer
from rich.console import Console, ConsoleDimensions
from rich.markup import escape
# typer 0.29 carries its own copy of click and raises that copy's exceptions, not click's.
from typer._click.exceptions import BadParameter, ClickException, MissingParameter, NoArgsIsHelpError, NoSuchOption, UsageError
from typer.core import TyperGroup

# Where output is not a terminal (a log file, a pipe, CI), rich would wrap text at 80 columns,
# splitting a phrase across lines, and fold tables there. Text is written whole instead, and
# tables may grow this wide before they fold (COLUMNS, when set, still wins).
LOG_WIDTH = 240  # `zoo verify --device all`: 8 runtime columns, about 190


class _Console(Console):
    """A rich Console that, writing to anything but a terminal, never wraps text and lays tables
    out at ``LOG_WIDTH``. It asks at each print, since the same process may write to a terminal
    or not (CliRunner swaps sys.stdout)."""

    @property  # type: ignore[override]
    def soft_wrap(self) -> bool:
        return self._soft_wrap or not self.is_terminal

    @soft_wrap.setter
    def soft_wrap(self, value: bool) -> None:
        self._soft_wrap = value

    def _size(self) -> ConsoleDimensions:
        size = Console.size.fget(self)  # type: ignore[attr-defined]
        if self._width is None and "COLUMNS" not in self._environ and not self.is_terminal:
            return ConsoleDimensions(LOG_WIDTH, size.height)
        return size

    size = property(_size, Console.size.fset)  # type: ignore[assignment, attr-defined]


console = _Console()
err_console = _Console(stderr=True)

_IO_HINTS = {
    errno.ENOSPC: "free some space or choose another --out",
    errno.EDQUOT: "free some space or choose another --out",
    errno.EACCES: "choose a folder you may write to (--out) or fix its permissions",
    errno.EPERM: "choose a folder you may write to (--out) or fix its permissions",
    errno.EROFS: "the file system is read-only; choose another --out",
}


def error_line(message: str) -> None:
    # Escaped: a path or a value may hold [brackets], which rich would take for markup.
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


def fail(message: str, code: int = 2) -> NoReturn:
    """One line on stderr naming the problem (and the fix), then a non-zero exit."""
    error_line(message)
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


def usage_message(exc: UsageError, command: str) -> str:
    """Click's own usage error (a value out of range, not a number, a missing argument, an
    unknown option) as the one line every other error is: the option and the value given, what
    was wrong, then where the command's options are listed. ``command`` (such as `zoo train`)
    is named where click's error carries no context."""
    if isinstance(exc, BadParameter) and not isinstance(exc, MissingParameter) and exc.param is not None:
        option = exc.param.get_error_hint().replace("'", "")  # "'--batch'" -> "--batch"
        given = _given(exc)
        what = f"{option}{'' if given is None else f' {given}'}: {_sentence(exc.message)}"
    elif isinstance(exc, NoSuchOption) and exc.possibilities:
        what = f"{_sentence(exc.message)} (did you mean {' or '.join(sorted(exc.possibilities))}?)"
    else:
        what = _sentence(exc.format_message())
    where = exc.ctx.command_path if exc.ctx is not None else command
    return f"{what}; see `{where} --help`"


def _sentence(message: str) -> str:
    """Click's "Missing argument 'X'." as a clause of the error line: "missing argument 'X'"."""
    message = " ".join(message.split()).rstrip(".")
    return message[:1].lower() + message[1:]


def _given(exc: BadParameter) -> Optional[str]:
    """The value typed, which typer 0.29 keeps only in the validation error behind its message."""
    errors = getattr(exc.__cause__, "errors", None)
    try:
        value = errors()[0]["input"] if callable(errors) else None
    except (IndexError, KeyError, TypeError):
        return None
    return None if value is None else str(value)


def command_path(group: TyperGroup, prog_name: str, args: Sequence[str]) -> str:
    """`zoo models check` for ``models check NAME --batch``: the (sub)commands that ``args`` name."""
    path, command = [prog_name], group
    for token in args:
        if token.startswith("-"):
            continue
        commands = getattr(command, "commands", {})
        if token not in commands:
            break
        path.append(token)
        command = commands[token]
    return " ".join(path)


class Group(TyperGroup):
    """The root command. Typer shows click's usage errors in a boxed panel under a usage line,
    unlike the one-line ``error: ...`` of every other mistake; here they are that line too
    (exit 2), for the ``zoo`` script and for CliRunner alike. ``--help``, ``typer.Exit(code)``
    and Ctrl-C (exit 130) keep their exits."""

    def main(  # type: ignore[override]
        self,
        args: Optional[Sequence[str]] = None,
        prog_name: Optional[str] = None,
        complete_var: Optional[str] = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:  # the caller handles click's exceptions itself
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            # Not standalone, typer returns typer.Exit's code (or the command's return value,
            # None) and raises click's exceptions, which are printed here.
            code = super().main(args, prog_name, complete_var, False, **extra)
        except NoArgsIsHelpError as exc:  # the help was printed as it was raised
            sys.exit(exc.exit_code)
        except UsageError as exc:
            given = sys.argv[1:] if args is None else list(args)
            error_line(usage_message(exc, command_path(self, prog_name or self.name or "zoo", given)))
            sys.exit(exc.exit_code)
        except ClickException as exc:
            error_line(" ".join(exc.format_message().split()))
            sys.exit(exc.exit_code)
        except typer.Abort:  # EOF at a prompt
            error_line("aborted")
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)
