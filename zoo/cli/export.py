"""`zoo export SOURCE` and `zoo verify BUNDLE`: thin wrappers over the ``export`` package."""

import errno
import json
import signal
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Dict, Iterator, Optional

import typer
from rich.console import Console

from export import formats
from zoo.cli.console import console, err_console, fail, user_errors
from zoo.cli.parity_table import failure_line, print_table, summary_line

_READ_ONLY = (errno.EACCES, errno.EPERM, errno.EROFS)


class _Terminated(SystemExit):
    """Raised by the SIGTERM handler so that every ``finally`` on the way out runs."""


@contextmanager
def _terminate_unwinds(what: str) -> Iterator[None]:
    """SIGTERM's default action ends the process without unwinding, which would leave the
    export's temporary folder behind; here it raises instead, and a second SIGTERM is ignored
    so that it cannot cut that clean-up short."""

    def stop(signum: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise _Terminated(128 + signum)

    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers (and it is the one that receives signals)
        return
    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    except _Terminated:
        err_console.print(f"[bold red]error:[/] {what} stopped by SIGTERM; its temporary files were removed", highlight=False)
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)


def export_command(
    source: Annotated[str, typer.Argument(metavar="RUN|MODEL", help="A run directory from `zoo train`, or a model name (seeded fresh weights).")],
    format: Annotated[str, typer.Option("--format", help=formats.help_text())] = formats.ALL,
    out: Annotated[Optional[Path], typer.Option(help="Bundle directory (default artifacts/MODEL).")] = None,
    opset: Annotated[int, typer.Option(min=13, help="ONNX opset.")] = 17,
    exporter: Annotated[str, typer.Option(help="ONNX exporter: auto (torchscript), torchscript (the scripted model, recurrent layers as native ONNX nodes) or dynamo (the graph's torch.export program, time loops as ONNX Loops).")] = "auto",
    verify: Annotated[bool, typer.Option("--verify/--no-verify", help="Verify the bundle on the CPU before it replaces --out.")] = True,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace the bundle (or Triton model folder) in --out; nothing else is replaced.")] = False,
    keep_failed: Annotated[bool, typer.Option("--keep-failed", help="Keep a bundle that fails verification in OUT.failed (--format triton: REPO.MODEL.failed).")] = False,
    seed: Annotated[int, typer.Option(help="Seed of the fresh weights when SOURCE is a model name.")] = 0,
    recurrent: Annotated[str, typer.Option(help="How recurrent layers become ONNX: native (one ONNX RNN/LSTM/GRU node per layer, ragged batches through sequence_lens) or loop (the scripted time loop as an ONNX Loop, for comparison).")] = "native",
    quantize: Annotated[Optional[str], typer.Option(help="int8: also write model.int8.onnx (onnxruntime dynamic quantization), verified with its own tolerance.")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", help="Print the verification's whole case x runtime table (as `zoo verify` does), not its one-line summary.")] = False,
) -> None:  # fmt: skip
    """Export a trained run (or a registry model) to a self-checking bundle and verify it."""
    from export.bundle import VerificationFailed, export_bundle
    from export.source import load_source

    with user_errors(), _terminate_unwinds("export"):
        loaded = load_source(source, seed)
        target = out or Path("artifacts") / loaded.spec.name
        try:
            with console.status(f"exporting {loaded.spec.name}") as status:
                result = export_bundle(
                    loaded, target, format=format, exporter=exporter, opset=opset, verify=verify,
                    overwrite=overwrite, keep_failed=keep_failed, recurrent=recurrent, quantize=quantize,
                    progress=lambda step: status.update(f"{loaded.spec.name}: {step}"),
                )  # fmt: skip
        except VerificationFailed as failed:
            print_table(failed.report, console)  # the whole table: the failed bundle may not be kept
            kept = f"the failed bundle is in {failed.kept}" if failed.kept else "pass --keep-failed to keep the failed bundle for a look"
            fail(f"{failure_line(failed.report)}; {target} was left as it was; {kept}", code=1)
    files = ", ".join(sorted(p.name for p in result.bundle.iterdir() if p.is_file()))
    console.print(f"bundle [bold]{result.bundle}[/]: {files}, {len(_vector_dirs(result.files))} test vectors")
    for graph, ops in result.ops.items():
        console.print(f"  {graph}: ONNX opset {result.opsets[graph]} via {result.exporter}, {len(ops)} operator types", highlight=False)
    print_recurrent(result.manifest, console)
    if result.parity is not None and verbose:
        print_table(result.parity, console)
    elif result.parity is not None:
        console.print(summary_line(result.parity, str(result.bundle)), highlight=False)
    else:
        console.print("not verified (--no-verify); `zoo verify` it before serving it")


def verify_command(
    bundle: Annotated[Path, typer.Argument(metavar="BUNDLE", help="A bundle directory from `zoo export`.")],
    device: Annotated[str, typer.Option(help="cpu, cuda or all.")] = "cpu",
    report: Annotated[Optional[str], typer.Option("--report", help="Write the report to this file ('-': stdout) and leave the bundle untouched; by default it goes into the bundle (parity.json and the manifest's parity).")] = None,
) -> None:  # fmt: skip
    """Check a bundle's files and run it on every runtime present against the float64 reference."""
    from export.parity import verify_bundle
    from export.runtimes import RuntimeUnavailable

    shown = err_console if report == "-" else console  # stdout carries only the report then
    with user_errors(), _terminate_unwinds("verify"):
        if report not in (None, "-"):
            _check_report_path(Path(report), bundle)
        try:
            with shown.status(f"verifying {bundle}") as status:
                result = verify_bundle(bundle, device, write_report=False, progress=lambda step: status.update(f"verifying: {step}"))
        except RuntimeUnavailable as exc:
            fail(str(exc))
        print_table(result, shown)
        from zoo.store import read_manifest

        print_recurrent(read_manifest(bundle), shown)
        if report == "-":
            sys.stdout.write(json.dumps(result.to_dict(), indent=2) + "\n")
        elif report is not None:
            from zoo.store import write_json

            write_json(Path(report), result.to_dict())
        else:
            _record_unless_read_only(bundle, result)
    if not result.passed:
        fail(failure_line(result), code=1)


def print_recurrent(manifest: Dict[str, object], to: Console) -> None:
    """One line per recurrent layer of each ONNX graph: what it was exported as, and whether a
    torch.nn layer was replaced by its zoo.nn twin (nothing is substituted silently)."""
    for graph, entry in manifest["graphs"].items():  # type: ignore[union-attr]
        recurrent = entry.get("recurrent")
        try:
            layers = [(f"{graph} {l['module']}: {l['layer']}", list(l["onnx_nodes"]), l["implementation"], l["direction"],
                       f", replaced by its twin {l['twin']}" if l.get("replaced_by_twin") else "")
                      for l in (recurrent or {}).get("layers", [])]  # fmt: skip
        except (KeyError, TypeError, AttributeError):  # hand-edited: `zoo verify` reports it as a failure
            layers = []
        for where, nodes, implementation, direction, twin in layers:
            count = f"{len(nodes)} ONNX {nodes[0]} node{'s' if len(nodes) > 1 else ''}" if nodes else "no ONNX node"
            to.print(f"  {where} -> {count} ({implementation}, {direction}{twin})", highlight=False)
        int8 = entry.get("int8")
        if isinstance(int8, dict) and isinstance(int8.get("integer_ops"), dict) and isinstance(int8.get("kept_float"), dict):
            ints = ", ".join(f"{n} {op}" for op, n in int8["integer_ops"].items()) or "none"
            kept = ", ".join(f"{n} {op}" for op, n in int8["kept_float"].items()) or "none"
            to.print(f"  {graph} int8 ({int8['onnx']}): integer ops {ints}; float ops kept {kept}", highlight=False)


def _check_report_path(path: Path, bundle: Path) -> None:
    """A report inside the bundle would be a file its manifest does not list (and refused)."""
    if bundle.resolve() in path.resolve().parents:
        raise ValueError(f"--report {path} is inside the bundle; leave --report out to record the report in the bundle, or write it elsewhere")


def _record_unless_read_only(bundle: Path, result) -> None:  # type: ignore[no-untyped-def]
    """Records the result in the bundle; a bundle that may not be written is still verified."""
    from export.parity import record

    try:
        record(bundle, result)
    except OSError as exc:
        if exc.errno not in _READ_ONLY:
            raise
        console.print(
            f"note: the report was not written into {bundle} ({exc.strerror}); "
            "pass --report PATH to write it elsewhere",
            highlight=False, soft_wrap=True,
        )  # fmt: skip


def _vector_dirs(files: Dict[str, object]) -> set:
    return {f.split("/")[0] for f in files if f.startswith("test_data_set_")}
