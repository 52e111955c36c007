"""`zoo export SOURCE` and `zoo verify BUNDLE`: thin wrappers over the ``export`` package."""

from pathlib import Path
from typing import Annotated, Dict, List, Optional, Tuple

import typer
from rich import box
from rich.table import Table

from zoo.cli.console import console, fail, user_errors


def export_command(
    source: Annotated[str, typer.Argument(help="A run directory from `zoo train`, or a model name (seeded fresh weights).")],
    format: Annotated[str, typer.Option("--format", help="torchscript, onnx, triton (a Triton model repository at --out) or all.")] = "all",
    out: Annotated[Optional[Path], typer.Option(help="Bundle directory (default artifacts/MODEL).")] = None,
    opset: Annotated[int, typer.Option(min=13, help="ONNX opset.")] = 17,
    exporter: Annotated[str, typer.Option(help="ONNX exporter: auto, torchscript (keeps loops dynamic) or dynamo (loop-free models).")] = "auto",
    verify: Annotated[bool, typer.Option("--verify/--no-verify", help="Verify the bundle on the CPU after export.")] = True,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing bundle in --out.")] = False,
    seed: Annotated[int, typer.Option(help="Seed of the fresh weights when SOURCE is a model name.")] = 0,
) -> None:  # fmt: skip
    """Export a trained run (or a registry model) to a self-checking bundle and verify it."""
    from export.bundle import export_bundle
    from export.source import load_source

    with user_errors():
        loaded = load_source(source, seed)
        target = out or Path("artifacts") / loaded.spec.name
        with console.status(f"exporting {loaded.spec.name}") as status:
            result = export_bundle(
                loaded, target, format=format, exporter=exporter, opset=opset, verify=verify,
                overwrite=overwrite, progress=lambda step: status.update(f"{loaded.spec.name}: {step}"),
            )  # fmt: skip
    files = ", ".join(sorted(p.name for p in result.bundle.iterdir() if p.is_file()))
    console.print(f"bundle [bold]{result.bundle}[/]: {files}, {len(_vector_dirs(result.files))} test vectors")
    for graph, ops in result.ops.items():
        console.print(f"  {graph}: ONNX opset {result.opsets[graph]} via {result.exporter}, {len(ops)} operator types", highlight=False)
    if result.parity is not None:
        _print_report(result.parity)
        if not result.parity.passed:
            fail(_failure_line(result.parity), code=1)
    else:
        console.print("not verified (--no-verify); run `zoo verify` on it")


def verify_command(
    bundle: Annotated[Path, typer.Argument(help="A bundle directory from `zoo export`.")],
    device: Annotated[str, typer.Option(help="cpu, cuda or all.")] = "cpu",
) -> None:  # fmt: skip
    """Check a bundle's files and run it on every runtime present against the float64 reference."""
    from export.parity import verify_bundle
    from export.runtimes import RuntimeUnavailable

    with user_errors():
        try:
            with console.status(f"verifying {bundle}") as status:
                report = verify_bundle(bundle, device, progress=lambda step: status.update(f"verifying: {step}"))
        except RuntimeUnavailable as exc:
            fail(str(exc))
    _print_report(report)
    if not report.passed:
        fail(_failure_line(report), code=1)


def _vector_dirs(files: Dict[str, object]) -> set:
    return {f.split("/")[0] for f in files if f.startswith("test_data_set_")}


def _failure_line(report) -> str:  # type: ignore[no-untyped-def]
    failures = report.failures()
    first = failures[0]
    return (
        f"verification failed: {len(failures)} comparisons, first {first.graph} case {first.case} on "
        f"{first.runtime}, output {first.output}: {first.problem}; see parity.json"
    )


_SHORT = {
    "eager-fp32": "eager fp32", "torchscript": "torchscript", "onnxruntime-cpu": "ort cpu",
    "onnx-reference": "onnx ref", "eager-cuda": "eager cuda", "torchscript-cuda": "ts cuda",
    "onnxruntime-cuda": "ort cuda",
}  # fmt: skip


def _print_report(report) -> None:  # type: ignore[no-untyped-def]
    """One row per (graph, case), one column per runtime: worst abs / rel error over outputs."""
    runtimes: List[str] = []
    cells: Dict[Tuple[str, str], Dict[str, Tuple[float, float, bool]]] = {}
    for row in report.rows:
        if row.runtime not in runtimes:
            runtimes.append(row.runtime)
        cell = cells.setdefault((row.graph, row.case), {})
        abs_, rel, ok = cell.get(row.runtime, (0.0, 0.0, True))
        cell[row.runtime] = (max(abs_, row.max_abs), max(rel, row.max_rel), ok and row.passed)
    ragged = all(case.endswith("-ragged") for graph, case in cells if graph == "forward" and "-t" in case)
    title = f"{report.model}: max abs / max rel error against the reference" + (" (ragged batches)" if ragged else "")
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("case")
    for runtime in runtimes:
        table.add_column(_SHORT.get(runtime, runtime), justify="right")
    for (graph, case), by_runtime in cells.items():
        shown = []
        for runtime in runtimes:
            if runtime not in by_runtime:
                shown.append("")
                continue
            abs_, rel, ok = by_runtime[runtime]
            mark = "[green]✓[/]" if ok else "[bold red]✗[/]"
            shown.append(f"{abs_:.0e}/{rel:.0e} {mark}")
        shown_case = case.removesuffix("-ragged") if ragged else case
        table.add_row(shown_case if graph == "forward" else f"{graph} {case}", *shown)
    console.print(table)
    for runtime, why in report.skipped.items():
        console.print(f"skipped {runtime}: {why}", highlight=False)
    summary = report.summary()
    verdict = "[green]passed[/]" if report.passed else "[bold red]FAILED[/]"
    console.print(f"{verdict}: {summary['comparisons'] - summary['failures']}/{summary['comparisons']} comparisons within tolerance")
