"""Times the README's two set-up commands as a new user meets them, and prints each beside this
machine's matrix-product rate (a slower or busier machine takes proportionally longer).

Each command runs as written (``tests/readme_blocks.py`` reads it from README.md) in its own fresh
`git clone` of HEAD in a temporary folder, so the install is part of its time. The float32
matrix-product rate is measured before and after with this project's torch: if they differ by
more than 10%, or the load average says another job shares the machine, the figures are marked
unreliable. ``--update-readme`` writes the two figures into README.md's timing markers
(``<!-- timing:main -->...<!-- /timing -->``).

    .venv/bin/python scripts/readme_timings.py [--update-readme] [--keep DIR]
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Tuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.readme_blocks import README, the_block  # noqa: E402

BUSY_LOAD = 0.5  # 1-minute load average above which another job is using the cores
SIZE = 1024  # matrices of the rate measurement


def matmul_gflops(seconds: float = 3.0) -> float:
    """The best float32 SIZE x SIZE matrix-product rate over ``seconds``, torch's default threads."""
    import torch

    a, b = torch.randn(SIZE, SIZE), torch.randn(SIZE, SIZE)
    best = float("inf")
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * SIZE**3 / best / 1e9


def minutes(seconds: float) -> str:
    return f"{int(seconds // 60)} min {int(round(seconds % 60))} s"


def run_in_fresh_clone(command: str, keep: Path | None) -> Tuple[float, int, str]:
    folder = Path(tempfile.mkdtemp(prefix="zoo-timing-", dir=keep))
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(folder / "zoo")], check=True)
    start = time.perf_counter()
    result = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", command], cwd=folder / "zoo", capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if keep is None:
        shutil.rmtree(folder, ignore_errors=True)
    return seconds, result.returncode, (result.stdout + result.stderr)[-3000:]


def update_readme(main: float, suite: float, rate: float) -> None:
    text = README.read_text(encoding="utf-8")
    figures = {
        "main": f"{minutes(main)} on 2 CPU cores at {rate:.0f} GFLOP/s, install included",
        "suite": f"{minutes(suite)} on 2 cores at {rate:.0f} GFLOP/s, install included",
    }
    for key, figure in figures.items():
        text, count = re.subn(rf"(<!-- timing:{key} -->).*?(<!-- /timing -->)", rf"\g<1>{figure}\g<2>", text, flags=re.S)
        if count != 1:
            raise SystemExit(f"README.md has {count} <!-- timing:{key} --> markers; expected 1")
    README.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--update-readme", action="store_true", help="write the figures into README.md's timing markers")
    parser.add_argument("--keep", type=Path, help="make the clones under DIR and keep them")
    args = parser.parse_args()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    print(f"commit {commit}{' (uncommitted changes are not in the clones)' if dirty else ''}; {os.cpu_count()} cores", flush=True)
    load = os.getloadavg()[0]
    before = matmul_gflops()
    print(f"float32 {SIZE}x{SIZE} matrix product: {before:.1f} GFLOP/s; load average {load:.2f}", flush=True)
    timings = {}
    for kind in ("main", "suite"):
        command = the_block(kind).text
        seconds, code, tail = run_in_fresh_clone(command, args.keep)
        timings[kind] = seconds
        print(f"{kind} command: {minutes(seconds)} ({seconds:.0f} s), exit {code}", flush=True)
        if code != 0:
            print(tail)
            raise SystemExit(f"the README's {kind} command failed")
    after = matmul_gflops()
    steady = abs(after - before) <= 0.1 * before and load <= BUSY_LOAD
    print(f"float32 matrix product after: {after:.1f} GFLOP/s" + ("" if steady else "  -- the machine was busy: these timings are not the idle machine's"))
    if args.update_readme:
        if not steady:
            raise SystemExit("not writing README.md: the machine was busy")
        update_readme(timings["main"], timings["suite"], (before + after) / 2)
        print("README.md updated")


if __name__ == "__main__":
    main()
