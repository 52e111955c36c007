"""The README's command blocks and the temporary copy of the project they run in.

Every fenced block of README.md is marked by the comment line above it:
``<!-- readme-test: main -->`` (the main job), ``<!-- readme-test: suite -->`` (the test
command, which `.ci/run` runs), ``<!-- readme-test: run -->`` (run by the suite, in order, in a
copy of the project), or ``<!-- readme-test: skip: REASON -->``.
"""

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import List

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.M | re.S)
MARKER = re.compile(r"<!-- readme-test: (main|suite|run|skip: .+?) -->\n$")
INSTALL = "python3 -m venv .venv && .venv/bin/pip install -q -e '.[dev]' && "
COPY_PREFIX = "zoo-readme-"


@dataclass(frozen=True)
class Block:
    kind: str  # main, suite, run, skip
    language: str
    text: str
    line: int  # of the opening fence, 1-based

    @property
    def lines(self) -> List[str]:
        return self.text.splitlines()


def blocks(text: str) -> List[Block]:
    """Every fenced block with its marker (kind "" when it has none)."""
    found = []
    for match in FENCE.finditer(text):
        before = text[: match.start()]
        previous = before[before.rstrip("\n").rfind("\n") + 1 :]
        marker = MARKER.search(previous)
        kind = marker.group(1).split(":")[0] if marker else ""
        found.append(Block(kind, match.group(1), match.group(2).rstrip("\n"), before.count("\n") + 1))
    return found


def readme_blocks() -> List[Block]:
    return blocks(README.read_text(encoding="utf-8"))


def the_block(kind: str, first_word: str = "") -> Block:
    """The one block of ``kind`` whose first line starts with ``first_word``."""
    (found,) = [b for b in readme_blocks() if b.kind == kind and b.text.startswith(first_word)]
    return found


def make_copy() -> Path:
    """The project's files as a fresh clone has them (tracked, plus new files not ignored), in a
    temporary folder, with ``.venv`` linked to this project's: the README's commands run there
    and write their runs and artifacts there, never into the project. Copies left by a killed
    session (their process gone) are removed first."""
    temporary = Path(tempfile.gettempdir())
    for stale in temporary.glob(COPY_PREFIX + "*"):
        pid = stale.name[len(COPY_PREFIX) :].split("-")[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(stale, ignore_errors=True)
    copy = Path(tempfile.mkdtemp(prefix=f"{COPY_PREFIX}{os.getpid()}-"))
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():  # a file deleted in the working tree but still tracked is left out
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    (copy / ".venv").symlink_to(ROOT / ".venv", target_is_directory=True)
    return copy


def run_shell(text: str, cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    """A bash block as a user would paste it, stopping at the first failing command; the whole
    process group (a server started with ``&``) is stopped afterwards."""
    process = subprocess.Popen(["bash", "-e", "-o", "pipefail", "-c", text], cwd=cwd, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)  # fmt: skip
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
        output, _ = process.communicate()
        output += f"\n[stopped after {timeout:g} s]"
    finally:
        try:
            os.killpg(process.pid, 9)
        except ProcessLookupError:
            pass
    return subprocess.CompletedProcess(process.args, process.returncode, output)
