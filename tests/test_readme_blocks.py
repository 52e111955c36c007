"""Every command block of the README runs as pasted, in the order written, in a temporary copy of
the project (``tests/readme_blocks.py``): each block's prerequisites are what the blocks before
it made, starting with the main command's run and bundle.

Two changes, both checked against the README's text so that they cannot drift from it: the main
command runs without its install (the copy uses this project's virtual environment) and with its
training cut to one short epoch of a smaller model (its full run is what `scripts/readme_timings.py` times on a
fresh clone); the serving block listens on a free port instead of 8000, which may be taken on
the machine running the suite. The C++ block's build lines and the Node.js block's install line
ran in the copy already, as they are written, for the loader tests (``tests/conftest.py``): here
the rest of those blocks runs."""

import json
import subprocess

import pytest

from tests.conftest import cpp_build_lines, node_install_line
from tests.readme_blocks import INSTALL, readme_blocks, run_shell
from tests.serve.conftest import free_port

SHORT_TRAINING = ("zoo train name-gru --overwrite", "zoo train name-gru --overwrite --epochs 1 --limit-batches 20 --set hidden_size=32")
BLOCK_TIMEOUT_S = 600


def _runnable(block, port: int) -> str:
    if block.kind == "main":
        assert block.text.startswith(INSTALL) and SHORT_TRAINING[0] in block.text, "the main command changed; update this test"
        return block.text[len(INSTALL) :].replace(*SHORT_TRAINING)
    if "zoo serve" in block.text:
        assert "--port 8000" in block.text
        return block.text.replace("8000", str(port))
    for ran_already in (cpp_build_lines(), [node_install_line()]):  # by the loader fixtures
        if block.lines[: len(ran_already)] == ran_already:
            return "\n".join(block.lines[len(ran_already) :])
    return block.text


@pytest.mark.slow
def test_readme_blocks_run_as_pasted(readme_copy, cpp_loader, node_loader):
    port = free_port()
    ran = []
    for block in readme_blocks():
        if block.kind not in ("main", "run"):
            continue
        text = _runnable(block, port)
        if block.language == "python":
            result = subprocess.run([str(readme_copy / ".venv" / "bin" / "python"), "-"], input=text, cwd=readme_copy,
                                    capture_output=True, text=True, timeout=BLOCK_TIMEOUT_S)  # fmt: skip
            output = result.stdout + result.stderr
        else:
            assert block.language == "bash", f"README.md line {block.line}: mark a {block.language!r} block skip, or make it bash"
            result = run_shell(text, readme_copy, BLOCK_TIMEOUT_S)
            output = result.stdout
        assert result.returncode == 0, f"README.md line {block.line} failed:\n{text}\n---\n{output[-3000:]}"
        assert "Traceback" not in output and '"error"' not in output, f"README.md line {block.line}:\n{output[-3000:]}"
        ran.append((block, output))
    outputs = {block.text.split("\n")[0][:40]: output for block, output in ran}
    # What the blocks printed agrees with itself: `zoo predict` and the plain onnxruntime
    # example give the same label for the same name.
    predicted = subprocess.run([str(readme_copy / ".venv" / "bin" / "zoo"), "predict", "artifacts/name-gru", "Schmidt", "--json"],
                               cwd=readme_copy, capture_output=True, text=True, check=True).stdout  # fmt: skip
    label = json.loads(predicted)["label"]
    assert any(f"Schmidt: {label} (" in output for output in outputs.values()), outputs.keys()
    assert len(ran) == sum(b.kind in ("main", "run") for b in readme_blocks()) >= 7
