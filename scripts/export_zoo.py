"""Export every zoo model (seeded weights) by every ONNX exporter it supports, verify each
bundle, and write one report: JSON, plus the README's compatibility table in Markdown, with
each format of ``export.formats`` under it (what it writes, the runtimes that verify it).

    python scripts/export_zoo.py [--device cpu|cuda|all] [--models a,b] [--out DIR] [--no-aoti]
                                 [--recurrent native|loop] [--json report.json] [--markdown table.md]

The ``pt2`` and ``aoti`` columns are each model's torch.export programs and their AOTInductor
packages (compiled for every model unless ``--no-aoti``: tens of seconds per graph), verified
with the rest of the bundle; a graph that does not compile shows AOTInductor's error.

On the GPU machine, ``--device all`` adds torch CUDA, TorchScript CUDA and onnxruntime's
CUDAExecutionProvider to every comparison (scripts/gpu_verify.sh runs it there).
"""

import argparse
import json
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Dict, List, Optional

from export import formats
from export.bundle import export_bundle
from export.errors import one_line
from export.onnx_export import EXPORTERS
from export.parity import verify_bundle
from export.programs import ProgramError
from export.source import from_registry
from zoo.registry import get_spec, list_models

# Why a model does not offer an exporter (the table lists it rather than hiding it).
_NOT_OFFERED = "the model's spec does not list it (ModelSpec.onnx_exporters)"


def run_model(name: str, exporter: str, device: str, out: Path, recurrent: str = "native", aoti: bool = True) -> Dict[str, Any]:
    start = time.perf_counter()
    row: Dict[str, Any] = {"model": name, "exporter": exporter}
    try:
        # Every format with the default exporter; another ONNX exporter changes the ONNX files only.
        chosen = f"{formats.ALL},pt2" + (",aoti" if aoti else "") if exporter == "torchscript" else "onnx"
        try:
            result = export_bundle(from_registry(name), out / f"{name}-{exporter}", format=chosen,
                                   exporter=exporter, verify=False, overwrite=True, recurrent=recurrent)  # fmt: skip
        except ProgramError as exc:  # torch.export failed: the other formats still get their row
            row["program_error"] = str(exc)
            result = export_bundle(from_registry(name), out / f"{name}-{exporter}", format=formats.ALL,
                                   exporter=exporter, verify=False, overwrite=True, recurrent=recurrent)  # fmt: skip
        report = verify_bundle(result.bundle, device)
        layers = result.manifest["graphs"]["forward"]["recurrent"]["layers"]
        row.update(
            status="pass" if report.passed else "FAIL",
            formats=formats.with_requirements(result.formats),
            ops={g: ops for g, ops in result.ops.items()},
            worst=report.worst(),
            comparisons=len(report.rows),
            failures=[f"{r.graph} {r.case} {r.runtime} {r.output}: {r.problem}" for r in report.failures()[:5]],
            skipped=report.skipped,
            layers=layers,
            # The programs are the torchscript row's (another exporter's bundle holds only ONNX files).
            programs=_programs(result.manifest, report, row.get("program_error")) if exporter == "torchscript" else {},
        )
    except Exception as exc:  # one model's failure must not hide the others'
        row.update(status="FAIL", error=one_line(exc), trace=traceback.format_exc(limit=3))
    row["seconds"] = round(time.perf_counter() - start, 1)
    return row


def _programs(manifest: Dict[str, Any], report: Any, program_error: Optional[str] = None) -> Dict[str, str]:
    """The ``pt2`` and ``aoti`` cells: verified (worst error over the graphs, a time loop kept as a
    while_loop, AOTInductor's compile time), failed, or why there is none."""
    if program_error:
        return {"pt2": f"FAIL: {program_error}", "aoti": "no program to compile"}
    graphs = manifest["graphs"]
    worst, failed = report.worst(), {r.runtime for r in report.failures()}
    cells = {}
    for runtime in ("pt2", "aoti"):
        entries = {name: entry.get(runtime) for name, entry in graphs.items()}
        if not any(entries.values()):
            cells[runtime] = "not exported"
            continue
        reasons = [f"{name}: {e['reason']}" for name, e in entries.items() if e and not e.get("file")]
        verified = "FAIL" if runtime in failed else (f"pass {worst[runtime]:.1e}" if runtime in worst else "not run")
        if runtime == "pt2":
            loops = [name for name, e in entries.items() if e and e.get("loop")]
            verified += f" ({', '.join(loops)}: while_loop)" if loops else ""
        else:
            seconds = sum(e.get("compile_seconds", 0) for e in entries.values() if e and e.get("file"))
            verified += f", compiled in {seconds:.0f} s" if seconds else ""
        cells[runtime] = "; ".join(([verified] if runtime in worst or runtime in failed else []) + reasons)
    return cells


def markdown(rows: List[Dict[str, Any]]) -> str:
    lines = [
        "| model | format | exporter | ONNX ops (forward) | extra graphs | max abs error | status | pt2 | aoti |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    not_offered: Dict[str, List[str]] = {}
    for row in rows:
        if row["status"] == "not offered":
            not_offered.setdefault(row["exporter"], []).append(row["model"])
            continue
        written = " + ".join(row.get("formats", ["onnx"]))
        ops = row.get("ops", {})
        loops = ", ".join(o for o in ops.get("forward", []) if o in ("Loop", "Scan", "LSTM", "GRU", "RNN"))
        count = len(ops.get("forward", []))
        forward = f"{count} type{'s' if count != 1 else ''}" + (f" incl. {loops}" if loops else "")
        extra = ", ".join(f"{g} ({'Loop' if 'Loop' in o else 'no loop'})" for g, o in ops.items() if g != "forward")
        worst = max(row.get("worst", {}).values(), default=float("nan"))
        status = row["status"] if "error" not in row else f"FAIL: {row['error']}"
        for layer in row.get("layers", []):
            nodes = layer["onnx_nodes"]
            twin = f" via its twin {layer['twin']}" if layer.get("replaced_by_twin") else ""
            forward += f"; {layer['layer']}: {len(nodes)} {nodes[0]} ({layer['implementation']}{twin})"
        programs = row.get("programs", {})
        cells = " | ".join(programs.get(k, "-") for k in ("pt2", "aoti"))
        lines.append(f"| {row['model']} | {written} | {row['exporter']} | {forward} | {extra} | {worst:.1e} | {status} | {cells} |")
    for exporter, models in not_offered.items():
        lines += ["", f"Not offered by `{exporter}` ({len(models)} models: {', '.join(models)}): {_NOT_OFFERED}."]
    return "\n".join(lines + format_lines()) + "\n"


def format_lines() -> List[str]:
    """The formats' table (``export.formats``): what each writes and what verifies it."""
    lines = ["", "Formats (`zoo export --format`, one module each in `export/formats/`):", ""]
    for each in formats.FORMATS.values():
        if each.runtimes:
            verified = f"verified on {', '.join(each.runtimes)}"
        else:
            verified = f"no runtime of its own: verified as the {' and '.join(each.requires)} files it is made from"
        lines.append(f"- `{each.name}`: {each.summary}; {verified}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda", "all"))
    parser.add_argument("--models", default=None, help="comma-separated names (default: all)")
    parser.add_argument("--out", default=None, help="where bundles go (default: a temporary folder)")
    parser.add_argument("--recurrent", default="native", choices=("native", "loop"), help="how recurrent layers are exported")
    parser.add_argument("--no-aoti", action="store_true", help="leave out the AOTInductor packages (the slow part)")
    parser.add_argument("--json", default=None, help="write the full report here")
    parser.add_argument("--markdown", default=None, help="write the compatibility table here")
    args = parser.parse_args()
    names = args.models.split(",") if args.models else list_models()
    out = Path(args.out or tempfile.mkdtemp(prefix="zoo-export-"))
    rows = []
    for name in names:
        for exporter in EXPORTERS:
            if exporter not in get_spec(name).onnx_exporters:
                rows.append({"model": name, "exporter": exporter, "status": "not offered"})
                continue
            row = run_model(name, exporter, args.device, out, args.recurrent, aoti=not args.no_aoti)
            rows.append(row)
            worst = ", ".join(f"{k} {v:.1e}" for k, v in row.get("worst", {}).items())
            print(f"{name:24s} {exporter:11s} {row['status']:5s} {row['seconds']:6.1f}s  {worst or row.get('error', '')}", flush=True)
            for failure in row.get("failures", []):
                print(f"    {failure}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    table = markdown(rows)
    if args.markdown:
        Path(args.markdown).write_text(table, encoding="utf-8")
    print(table)
    return 0 if all(r["status"] in ("pass", "not offered") and "program_error" not in r for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
