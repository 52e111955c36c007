"""Session-wide set-up: the C++ loader's build (about 30 s on a fresh clone, parsing libtorch's
headers) starts in the background when the session starts, on one core, so that it overlaps
the tests that run before the loader tests instead of adding to the suite's time. cmake picks
an interrupted build up where it stopped, so a killed session leaves nothing in the way."""

import shutil
import subprocess
from pathlib import Path
from typing import Dict

import pytest

CPP = Path(__file__).resolve().parents[1] / "serve" / "cpp"
BUILD = CPP / "build"  # kept between runs (git-ignored): cmake rebuilds only what changed
_build: Dict[str, subprocess.Popen] = {}


def _cpp_tools_missing() -> str:
    return ", ".join(t for t in ("cmake", "g++", "make") if shutil.which(t) is None)


def _start_cpp_build(jobs: int) -> subprocess.Popen:
    import torch

    steps = []
    if not (BUILD / "CMakeCache.txt").exists():
        steps.append(["cmake", "-S", str(CPP), "-B", str(BUILD), "-DCMAKE_BUILD_TYPE=Release",
                      f"-DCMAKE_PREFIX_PATH={torch.utils.cmake_prefix_path}"])  # fmt: skip
    steps.append(["cmake", "--build", str(BUILD), f"-j{jobs}"])
    command = " && ".join(subprocess.list2cmdline(step) for step in steps)
    return subprocess.Popen(["sh", "-c", command], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def pytest_sessionstart(session: pytest.Session) -> None:
    if not _cpp_tools_missing():
        _build["cpp"] = _start_cpp_build(jobs=1)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    process = _build.pop("cpp", None)
    if process is not None and process.poll() is None:  # the loader tests were not selected
        process.terminate()
        process.wait()


@pytest.fixture(scope="session")
def cpp_loader() -> Path:
    """The built ``zoo_check`` binary: waits for the background build (or builds now)."""
    missing = _cpp_tools_missing()
    if missing:
        pytest.skip(f"the C++ loader needs {missing}, not found on PATH")
    process = _build.get("cpp") or _start_cpp_build(jobs=2)
    output, _ = process.communicate()
    if process.returncode != 0:
        # Built again in the foreground, so that a failure names its cause rather than a
        # background process's state.
        again = subprocess.run(["cmake", "--build", str(BUILD), "-j2"], capture_output=True, text=True)
        if again.returncode != 0:
            pytest.fail(f"the C++ loader does not build:\n{output[-2000:]}\n{again.stdout[-2000:]}{again.stderr[-2000:]}")
    return BUILD / "zoo_check"
