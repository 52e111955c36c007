"""The README stays true: its zoo table is the registry's, every block is marked (run by
tests/test_readme_blocks.py or skipped with a reason), and CI runs its test command."""

import re
from pathlib import Path

from tests.readme_blocks import INSTALL, blocks, the_block
from zoo.cli.models import markdown_table
from zoo.registry import list_models

ROOT = Path(__file__).resolve().parents[1]


def _readme() -> str:
    return (ROOT / "README.md").read_text(encoding="utf-8")


def test_zoo_table_matches_the_registry():
    match = re.search(r"<!-- zoo-table:start -->\n(.*?)\n<!-- zoo-table:end -->", _readme(), re.S)
    assert match, "README.md lost its zoo-table markers"
    assert match.group(1) == markdown_table(), "regenerate with `zoo models list --markdown`"


def test_every_block_is_marked_and_ci_runs_the_readme_test_command_verbatim():
    found = blocks(_readme())
    unmarked = [b.line for b in found if not b.kind]
    assert not unmarked, f"README.md blocks at lines {unmarked} need a <!-- readme-test: run|skip: REASON --> line above"
    main, suite = (the_block(kind) for kind in ("main", "suite"))
    assert main.text.startswith(INSTALL) and suite.text.startswith(INSTALL), "both set-up commands install everything themselves"
    assert "pytest" in suite.text and len(main.lines) == len(suite.lines) == 1
    ci_lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert suite.text in ci_lines


def test_blocks_are_found_with_their_markers():
    text = "a\n<!-- readme-test: run -->\n```bash\necho 1\n```\n\n```text\nx\n```\n<!-- readme-test: skip: why -->\n```python\np\n```\n"
    assert [(b.kind, b.language, b.text, b.line) for b in blocks(text)] == [("run", "bash", "echo 1", 3), ("", "text", "x", 7), ("skip", "python", "p", 11)]


def test_compatibility_table_lists_every_model_as_passing():
    match = re.search(r"<!-- compat-table:start -->\n(.*?)\n<!-- compat-table:end -->", _readme(), re.S)
    assert match, "README.md lost its compat-table markers"
    rows = [line.split("|")[1:-1] for line in match.group(1).splitlines() if line.startswith("| ") and "---" not in line]
    listed = {cells[0].strip() for cells in rows[1:]}
    assert listed == set(list_models()), "regenerate with scripts/export_zoo.py --markdown"
    header = [cell.strip() for cell in rows[0]]
    status, pt2, aoti = header.index("status"), header.index("pt2"), header.index("aoti")
    assert all(cells[status].strip() == "pass" for cells in rows[1:])
    # Every model's torch.export program and AOTInductor package verified (the torchscript rows hold them).
    programs = [cells for cells in rows[1:] if cells[header.index("exporter")].strip() == "torchscript"]
    assert {cells[0].strip() for cells in programs} == set(list_models())
    assert all(cells[pt2].strip().startswith("pass") and cells[aoti].strip().startswith("pass") for cells in programs)
