"""Session-wide set-up, shared by the loader tests and the README's blocks.

The README's blocks run in a temporary copy of the project (``tests/readme_blocks.py``), made
when a selected test first needs it. The C++ loaders (``zoo_check`` and ``zoo_aoti_check``, every
target of serve/cpp) are built there by the README's own cmake lines (about 30 s, parsing
libtorch's headers), in the background from the start, so that it overlaps the
tests before the loader tests instead of adding to the suite's time; the Node.js loader is
installed there by the README's own npm line. The loader tests and the README test use those
builds, so each is made once per session, exactly as the README says. The copy is removed when
the session ends (and one left by a killed session, by the next session)."""

import shutil
import subprocess
from pathlib import Path
from typing import Dict, List

import pytest

from tests.readme_blocks import make_copy, the_block

_session: Dict[str, object] = {}


def _missing(*tools: str) -> str:
    return ", ".join(t for t in tools if shutil.which(t) is None)


def cpp_build_lines() -> List[str]:
    """The README's C++ block without its last line (which runs the loader on a bundle)."""
    return the_block("run", "cmake").lines[:-1]


def node_install_line() -> str:
    return the_block("run", "(cd serve/node").lines[0]


def _start_cpp_build(copy: Path) -> subprocess.Popen:
    return subprocess.Popen(["bash", "-e", "-c", "\n".join(cpp_build_lines())], cwd=copy, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)  # fmt: skip


def pytest_collection_finish(session: pytest.Session) -> None:
    """Starts the C++ build once the tests are known, and only when a selected test needs it: a
    run of a few unrelated tests compiles nothing."""
    needed = {name for item in session.items for name in getattr(item, "fixturenames", ())}
    if "cpp_loader" in needed and not _missing("cmake", "g++", "make"):
        _session["cpp"] = _start_cpp_build(_copy())


def _copy() -> Path:
    if "copy" not in _session:
        _session["copy"] = make_copy()
    return _session["copy"]  # type: ignore[return-value]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    process = _session.pop("cpp", None)
    if isinstance(process, subprocess.Popen) and process.poll() is None:  # the loader tests were not selected
        process.terminate()
        process.wait()
    copy = _session.pop("copy", None)
    if isinstance(copy, Path):
        shutil.rmtree(copy, ignore_errors=True)


@pytest.fixture(scope="session")
def readme_copy() -> Path:
    """The temporary copy of the project the README's blocks run in."""
    return _copy()


@pytest.fixture(scope="session")
def cpp_loader(readme_copy: Path) -> Path:
    """The ``zoo_check`` binary the README's cmake lines built: waits for the background build."""
    missing = _missing("cmake", "g++", "make")
    if missing:
        pytest.skip(f"the C++ loader needs {missing}, not found on PATH")
    process = _session["cpp"]
    assert isinstance(process, subprocess.Popen)
    output, _ = process.communicate()
    if process.returncode != 0:
        pytest.fail(f"the README's C++ build lines fail:\n{output[-4000:]}")
    return readme_copy / "serve" / "cpp" / "build" / "zoo_check"


@pytest.fixture(scope="session")
def aoti_loader(cpp_loader: Path) -> Path:
    """``zoo_aoti_check``, built beside ``zoo_check`` by the same README lines (they build every
    target of serve/cpp); asking for it starts that build, as ``cpp_loader`` is among its fixtures."""
    return cpp_loader.parent / "zoo_aoti_check"


@pytest.fixture(scope="session")
def node_loader(readme_copy: Path) -> List[str]:
    """``node check.js``, installed in the copy by the README's npm line (its install script
    would fetch CUDA binaries from outside the registries: the README's line skips it, the CPU
    runtime ships in the package)."""
    missing = _missing("node", "npm")
    if missing:
        pytest.skip(f"the Node.js loader needs {missing}, not found on PATH")
    result = subprocess.run(["bash", "-e", "-c", node_install_line()], cwd=readme_copy, capture_output=True, text=True)
    if result.returncode != 0:
        pytest.fail(f"the README's npm line fails:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return ["node", str(readme_copy / "serve" / "node" / "check.js")]
