"""Every mistake on the command line reads the same: one `error: ...` line on stderr, exit 2,
whether the CLI found it or click did (a range check, a bad number, an unknown option, a missing
argument); help names no type after a flag; output to a log or a pipe is not wrapped."""

import io
import os
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest
import typer.main
from rich.table import Table
from typer.testing import CliRunner

from zoo.cli import app
from zoo.cli.console import LOG_WIDTH, _Console

runner = CliRunner()
ZOO = Path(sys.executable).with_name("zoo")


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0]


@pytest.mark.parametrize(
    "arguments, line",
    [
        (["models", "check", "hello-rnncell", "--batch", "0"],
         "error: --batch 0: input should be greater than or equal to 1; see `zoo models check --help`"),
        (["models", "check", "hello-rnncell", "--batch", "two"], "error: --batch two: input should be a valid integer"),
        (["serve", "b", "--max-delay-ms", "soon"], "error: --max-delay-ms soon: input should be a valid number"),
        (["serve", "b", "--port", "70000"], "error: --port 70000: input should be less than or equal to 65535; see `zoo serve --help`"),
        (["export", "linear-regression", "--bogus"], "error: no such option: --bogus"),
        (["export"], "error: missing argument 'RUN|MODEL'; see `zoo export --help`"),
        (["export", "linear-regression", "--out"], "error: option '--out' requires an argument; see `zoo export --help`"),
        (["verify", "a", "b"], "error: got unexpected extra argument(s) (b); see `zoo verify --help`"),
        (["exprot"], "error: no such command 'exprot'"),
    ],
)  # fmt: skip
def test_click_usage_errors_are_one_line(arguments: List[str], line: str) -> None:
    result = runner.invoke(app, arguments)
    assert result.exit_code == 2, result.output
    assert _one_error_line(result.stderr).startswith(line)
    assert result.stdout == ""


def test_the_cli_own_errors_read_the_same() -> None:
    result = runner.invoke(app, ["models", "list", "nothing*"])
    assert result.exit_code == 2
    assert _one_error_line(result.stderr).startswith("error: no model matches 'nothing*'")


@pytest.mark.parametrize(
    "command, line",
    [
        ([str(ZOO), "models", "check", "hello-rnncell", "--batch", "0"], "error: --batch 0: input should be greater than or equal to 1"),
        ([sys.executable, "-m", "zoo", "export", "--bogus", "x"], "error: no such option: --bogus"),
    ],
)  # fmt: skip
def test_the_installed_entry_points_print_one_line(command: List[str], line: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert _one_error_line(result.stderr).startswith(line)


def test_help_version_exit_codes_and_ctrl_c(monkeypatch: pytest.MonkeyPatch) -> None:
    assert runner.invoke(app, ["export", "--help"]).exit_code == 0
    assert runner.invoke(app, ["--version"]).exit_code == 0
    bare = runner.invoke(app, [])  # no command: the help, as a usage error
    assert bare.exit_code == 2 and "Usage" in bare.output

    def interrupted(pattern: object = None) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("zoo.cli.models.list_models", interrupted)
    assert runner.invoke(app, ["models", "list"]).exit_code == 130


def _commands(command: typer.main.TyperGroup, path: List[str]) -> List[List[str]]:
    found = [path]
    for name, sub in getattr(command, "commands", {}).items():
        found += _commands(sub, [*path, name])
    return found


@pytest.mark.parametrize("path", _commands(typer.main.get_command(app), []), ids=lambda p: " ".join(p) or "zoo")
def test_help_shows_no_type_after_a_flag(path: List[str]) -> None:
    result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output and "<list[" not in result.output
    assert "--help" in result.output


def test_output_to_a_pipe_is_not_wrapped() -> None:
    """A long line stays one line and a wide table keeps one line per row, however narrow the
    terminal the command was started from (COLUMNS unset, as in a log)."""
    script = (
        "from rich.table import Table\n"
        "from zoo.cli.console import console\n"
        "console.print('serving name-gru (onnxruntime) on http://127.0.0.1:8000 ' + 'x' * 150 + ' (metrics: /metrics)')\n"
        "table = Table('case', 'runtime a', 'runtime b')\n"
        "table.add_row('b64-t256', 'y' * 60, 'z' * 60)\n"
        "console.print(table)\n"
    )  # fmt: skip
    env = {key: value for key, value in os.environ.items() if key not in ("COLUMNS", "FORCE_COLOR", "TTY_COMPATIBLE")}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("serving name-gru") and lines[0].endswith("(metrics: /metrics)")
    row = [line for line in lines if "b64-t256" in line]
    assert len(row) == 1 and "y" * 60 in row[0] and "z" * 60 in row[0]


def test_a_terminal_still_wraps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    out = io.StringIO()
    terminal = _Console(file=out, force_terminal=True, width=40)
    terminal.print("word " * 20)
    assert len(out.getvalue().splitlines()) > 1
    log = _Console(file=io.StringIO())
    assert log.soft_wrap and log.width == LOG_WIDTH
    table = Table("a", "b")
    table.add_row("x" * 90, "y" * 90)
    log.print(table)
    assert any("x" * 90 in line and "y" * 90 in line for line in log.file.getvalue().splitlines())  # type: ignore[attr-defined]
