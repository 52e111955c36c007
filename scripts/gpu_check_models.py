"""Every registered model on CUDA against the CPU float64 reference; writes a JSON report.

Run on the GPU machine from the repository root (needs only torch):
    PYTHONPATH=. python scripts/gpu_check_models.py --out report.json
Exits non-zero when a model fails or no CUDA device is present.
"""

import argparse
import json
import sys
import time
import warnings

import torch

import zoo
from zoo.devicecheck import check_device

ATOL = 1e-4  # float32 on CUDA (TF32 off) vs float64 on the CPU, outputs of order 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="gpu_models_report.json")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    if not torch.cuda.is_available():
        print("no CUDA device", file=sys.stderr)
        return 2
    rows, failed = [], []
    for name in zoo.list_models():
        start = time.perf_counter()
        try:
            report = check_device(name, "cuda")
            passed = report.passed(ATOL)
            row = {"model": name, "passed": passed, "max_abs_error": report.max_abs_error,
                   "loops_equal": report.loops_equal, "problems": report.problems}
        except Exception as error:  # report every model, do not stop at the first
            passed, row = False, {"model": name, "passed": False, "error": f"{type(error).__name__}: {error}"}
        row["seconds"] = round(time.perf_counter() - start, 2)
        rows.append(row)
        worst = max(row.get("max_abs_error", {}).values(), default=float("nan"))
        print(f"{name:26s} {'ok  ' if passed else 'FAIL'} max abs error {worst:.2e} {row.get('error', '')}")
        if not passed:
            failed.append(name)
    summary = {"torch": torch.__version__, "device": torch.cuda.get_device_name(0), "atol": ATOL,
               "failed": failed, "models": rows}
    with open(args.out, "w", encoding="utf-8") as handle:
        json.dump(summary, handle, indent=2)
    print(f"{len(rows) - len(failed)}/{len(rows)} models equal on CUDA; report in {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
