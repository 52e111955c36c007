"""The README stays true: its zoo table is the registry's, and CI runs its test command."""

import re
from pathlib import Path

from zoo.cli.models import markdown_table
from zoo.registry import list_models

ROOT = Path(__file__).resolve().parents[1]


def _readme() -> str:
    return (ROOT / "README.md").read_text(encoding="utf-8")


def test_zoo_table_matches_the_registry():
    match = re.search(r"<!-- zoo-table:start -->\n(.*?)\n<!-- zoo-table:end -->", _readme(), re.S)
    assert match, "README.md lost its zoo-table markers"
    assert match.group(1) == markdown_table(), "regenerate with `zoo models list --markdown`"


def test_ci_runs_the_readme_test_command_verbatim():
    commands = re.findall(r"```bash\n(.*?)\n```", _readme(), re.S)
    assert len(commands) == 2, "the README holds exactly two commands"
    test_command = commands[1]
    assert "pytest" in test_command
    ci_lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert test_command in ci_lines


def test_compatibility_table_lists_every_model_as_passing():
    match = re.search(r"<!-- compat-table:start -->\n(.*?)\n<!-- compat-table:end -->", _readme(), re.S)
    assert match, "README.md lost its compat-table markers"
    rows = [line.split("|")[1:-1] for line in match.group(1).splitlines() if line.startswith("| ") and "---" not in line]
    listed = {cells[0].strip() for cells in rows[1:]}
    assert listed == set(list_models()), "regenerate with scripts/export_zoo.py --markdown"
    assert all(cells[-1].strip() == "pass" for cells in rows[1:])
