"""Speed of every recurrent model of the zoo on each runtime a bundle ships, against eager torch.

For each model with a time axis, its forward graph (default config, seeded weights, full
lengths) runs on eager torch, TorchScript, onnxruntime with native RNN/LSTM/GRU nodes, with
the ``loop`` translation, and with the int8 (dynamically quantized) native file, at batch x
steps 1x28, 1x100, 32x28, 256x100. It prints median milliseconds and each runtime's ratio to
eager, the rate of the native recurrent nodes in GFLOP/s beside a 2048^3 float32 ``torch.mm``,
whether onnxruntime's intra-op threads should spin, and the goals of the issue (ORT native
<= 0.6x eager at batch 1, <= 1.0x at batch 32 and 256; int8 LSTM models faster than float ORT at
batch 256) as met/missed. It never asserts a timing: read the ratios, measured side by side.
``--generate`` also times the ``generate``/``decode`` graphs, whose ONNX ``Loop`` steps a native
node or the loop translation once per token. ``--programs`` adds the torch.export runtimes:
the graph's program (``pt2``, ``ExportedProgram.module()``) and its AOTInductor package
(``aoti``), compiled once per graph first (tens of seconds each).

    python benchmarks/runtime_speed.py [--models 'name-gru,char-*'] [--threads 2] [--spinning both]
        [--repeats 15] [--budget 20] [--generate] [--programs] [--markdown PATH] [--json PATH]
    python benchmarks/runtime_speed.py --quick --models name-gru,char-lstm --generate   # smoke run
"""

import argparse
import json
import math
import os
import sys
from typing import Callable, Dict, List, Optional, Tuple

import onnx
import onnxruntime as ort
import torch
from torch import nn

from export.cases import has_time
from export.graphs import Args, Graph, call, graphs_of
from export.onnx_export import export_graph
from export.quantize import quantize_int8
from program_runtimes import RUNTIMES, program_callables, program_fn
from recurrent_speed import matmul_gflops, median_ms
from zoo.registry import ModelSpec, Signature, get_spec, list_models
from zoo.store import flatten, unflatten

SHAPES = [(1, 28), (1, 100), (32, 28), (256, 100)]  # (batch, steps)
GENERATE_SHAPES = [(1, 28), (32, 28)]  # (batch, prompt or source steps)
QUICK_SHAPES = [(1, 28), (32, 28)]
GOAL_RATIO = {1: 0.6, 32: 1.0, 256: 1.0}  # batch -> ORT native / eager at most
RECURRENT_OPS = ("LSTM", "GRU", "RNN")
Row = Dict[str, object]


def recurrent_specs(patterns: List[str]) -> List[ModelSpec]:
    """The models matching any pattern whose forward has a time axis (the recurrent ones)."""
    names = sorted({n for p in patterns for n in list_models(p)})
    specs = []
    for name in names:
        spec = get_spec(name)
        if has_time(graphs_of(spec, spec.make_config())[0]):
            specs.append(spec)
        else:
            print(f"skipped {name}: no time axis, not recurrent", file=sys.stderr)
    return specs


def full_lengths(args: Args, graph: Graph, signature: Signature) -> Args:
    """``args`` with every lengths input set to its sequence's full length (no ragged rows)."""
    names = [t.name for t in graph.inputs]
    flat = flatten(args)
    for lengths, sequence in signature.ragged:
        if lengths in names and sequence in names:
            i = names.index(lengths)
            flat[i] = torch.full_like(flat[i], flat[names.index(sequence)].size(1))
    return unflatten(args, flat)


def recurrent_weights(proto: onnx.ModelProto) -> Optional[int]:
    """Elements of W (D, G*H, I) and R (D, G*H, H) over the graph's RNN/LSTM/GRU nodes: one step
    of one row costs 2*D*G*H*(I+H) = 2*(|W|+|R|) FLOPs (G = 4 LSTM, 3 GRU, 1 RNN), biases and
    gates aside. None when a node's weights are not initializers (nothing to count)."""
    sizes = {i.name: math.prod(i.dims) for i in proto.graph.initializer}
    total = 0
    for node in proto.graph.node:
        if node.op_type in RECURRENT_OPS:
            if node.input[1] not in sizes or node.input[2] not in sizes:
                return None
            total += sizes[node.input[1]] + sizes[node.input[2]]
    return total or None


def session(proto: onnx.ModelProto, threads: int, spinning: str) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning == "on" else "0")
    return ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])


def ort_fn(sess: ort.InferenceSession, graph: Graph, args: Args) -> Callable[[], object]:
    wanted = {i.name for i in sess.get_inputs()}  # the exporter drops inputs the graph never reads
    feeds = {t.name: a.numpy() for t, a in zip(graph.inputs, flatten(args)) if t.name in wanted}
    return lambda: sess.run(None, feeds)


def torch_fn(model: nn.Module, graph: Graph, args: Args) -> Callable[[], object]:
    def run() -> object:
        with torch.inference_mode():
            return call(graph, model, args)

    return run


def bench_graph(spec: ModelSpec, graph_name: str, shapes: List[Tuple[int, int]], opts: argparse.Namespace) -> List[Row]:
    """One row per shape: median ms of every runtime ("native/on", ...) of one graph of ``spec``."""
    config = spec.make_config()
    torch.manual_seed(0)
    model = spec.build(config).eval()
    graph = next(g for g in graphs_of(spec, config) if g.name == graph_name)
    signature = spec.signature(config)
    trace = full_lengths(graph.example(2, 7, torch.Generator().manual_seed(0)), graph, signature)
    native, records = export_graph(model, graph, trace, "torchscript", 17, "native")
    protos = {"native": native, "loop": export_graph(model, graph, trace, "torchscript", 17, "loop")[0]}
    if graph_name == "forward":
        protos["int8"] = quantize_int8(native)[0]
    else:  # one step inside the Loop: the native node over one step ("native") or matrix products
        protos["native"] = export_graph(model, graph, trace, "torchscript", 17, "native", gemm_step=())[0]
        protos["gemm"] = export_graph(model, graph, trace, "torchscript", 17, "native", gemm_step=("lstm", "gru", "rnn"))[0]
    sessions = {f"{k}/{s}": session(p, opts.threads, s) for k, p in protos.items() for s in opts.spins}
    scripted = torch.jit.script(model)
    programs = program_callables(model, graph) if opts.programs else {}
    weights = recurrent_weights(native) if graph_name == "forward" else None
    lstm = any("LSTM" in r["onnx_nodes"] for r in records)
    rows = []
    for batch, steps in shapes:
        print(f"  {spec.name} {graph_name} b{batch} x {steps} ...", file=sys.stderr, flush=True)
        args = full_lengths(graph.example(batch, steps, torch.Generator().manual_seed(0)), graph, signature)
        fns = {"eager": torch_fn(model, graph, args), "torchscript": torch_fn(scripted, graph, args)}
        fns.update({k: ort_fn(s, graph, args) for k, s in sessions.items()})
        fns.update({k: program_fn(run, args) for k, run in programs.items()})
        budget = opts.budget / len(fns)
        ms = {k: median_ms(fn, opts.repeats, budget) for k, fn in fns.items()}
        gflop = 2 * batch * steps * weights / 1e9 if weights else None
        rows.append(dict(model=spec.name, graph=graph_name, batch=batch, steps=steps, lstm=lstm, ms=ms, gflop=gflop))
        print_row(rows[-1], opts.spins, list(protos), list(programs), flush=True)
    return rows


def header(runtimes: List[str], spins: List[str]) -> str:
    spin = "/".join(spins)
    cells = " ".join(f"{r + ' ' + spin if r not in ('torchscript', 'pt2', 'aoti') else r:>15}" for r in runtimes)
    line = f"{'model':24} {'graph':8} {'shape':>8} | {'eager ms':>9} | {cells} | {'native GFLOP/s':>14}"
    return line + "\n" + "-" * len(line)


def print_row(row: Row, spins: List[str], ort_runtimes: List[str], programs: List[str], flush: bool = False) -> None:
    ms = row["ms"]
    eager = ms["eager"]
    cells = [f"{ms['torchscript'] / eager:.2f}x"]
    cells += ["/".join(f"{ms[f'{r}/{s}'] / eager:.2f}" for s in spins) + "x" for r in ort_runtimes]
    cells += [f"{ms[r] / eager:.2f}x" for r in programs]
    rate = "-"
    if row["gflop"]:
        rate = "/".join(f"{row['gflop'] / (ms[f'native/{s}'] * 1e-3):.1f}" for s in spins)
    shape = f"{row['batch']}x{row['steps']}"
    print(f"{row['model']:24} {row['graph']:8} {shape:>8} | {eager:9.2f} | "
          + " ".join(f"{c:>15}" for c in cells) + f" | {rate:>14}", flush=flush)  # fmt: skip


def spinning_verdict(rows: List[Row], spins: List[str]) -> str:
    """Which spinning setting is faster over every ORT measurement (geometric mean of off/on)."""
    if len(spins) == 1:
        return spins[0]
    lines, logs = [], []
    for runtime in ("native", "loop", "int8"):
        pairs = [(r["ms"][f"{runtime}/off"], r["ms"][f"{runtime}/on"]) for r in rows if f"{runtime}/on" in r["ms"]]
        if not pairs:
            continue
        ratios = [math.log(off / on) for off, on in pairs]
        logs += ratios
        faster = sum(off < on for off, on in pairs)
        lines.append(f"{runtime} off/on {math.exp(sum(ratios) / len(ratios)):.2f}x (off faster in {faster}/{len(pairs)})")
    verdict = "off" if sum(logs) < 0 else "on"
    print(f"spinning: {'; '.join(lines)} -> spinning {verdict} is faster here")
    return verdict


def goals(rows: List[Row], spin: str) -> List[Row]:
    """The issue's goals per case (ORT timings with spinning ``spin``), met or missed."""
    found = []
    for r in rows:
        ms, case = r["ms"], f"{r['model']} {r['batch']}x{r['steps']}"
        native = ms[f"native/{spin}"]
        if r["batch"] in GOAL_RATIO:
            limit = GOAL_RATIO[r["batch"]]
            ratio = native / ms["eager"]
            found.append(dict(goal=f"ORT native <= {limit}x eager at batch {r['batch']}", case=case, value=ratio, met=ratio <= limit))
        if r["lstm"] and r["batch"] >= 256:
            ratio = ms[f"int8/{spin}"] / native
            found.append(dict(goal="int8 LSTM faster than fp32 ORT at batch 256", case=case, value=ratio, met=ratio < 1.0))
    return found


def print_goals(found: List[Row]) -> None:
    print("goals of the issue (measured here, not asserted):")
    for goal in dict.fromkeys(g["goal"] for g in found):
        cases = [g for g in found if g["goal"] == goal]
        missed = [f"{g['case']} ({g['value']:.2f}x)" for g in cases if not g["met"]]
        print(f"  {goal}: met {len(cases) - len(missed)}/{len(cases)}" + (f"; missed: {', '.join(missed)}" if missed else ""))
    if not any(g["goal"].startswith("int8") for g in found):
        print("  int8 LSTM faster than fp32 ORT at batch 256: no LSTM model at batch 256 in this run")


def markdown(rows: List[Row], spin: str, title: str, programs: List[str]) -> str:
    extra = "".join(f" {name} |" for name in programs)
    lines = [title, "", f"| model | batch x steps | eager ms | torchscript | ort native | ort loop | ort int8 |{extra}",
             "|---|---|---:|---:|---:|---:|---:|" + "---:|" * len(programs)]  # fmt: skip
    for r in rows:
        ms = r["ms"]
        ratios = [ms["torchscript"]] + [ms[f"{k}/{spin}"] for k in ("native", "loop", "int8")] + [ms[k] for k in programs]
        cells = " | ".join(f"{m / ms['eager']:.2f}x" for m in ratios)
        lines.append(f"| `{r['model']}` | {r['batch']} x {r['steps']} | {ms['eager']:.2f} | {cells} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="*", help="comma-separated names or shell patterns")
    parser.add_argument("--threads", type=int, default=2, help="torch threads and ORT intra-op threads")
    parser.add_argument("--spinning", choices=("on", "off", "both"), default="both", help="ORT intra-op spinning")
    parser.add_argument("--repeats", type=int, default=15, help="timed runs per runtime and case (median)")
    parser.add_argument("--budget", type=float, default=20.0, help="seconds per case, shared by its runtimes (after 3 runs each)")
    parser.add_argument("--quick", action="store_true", help=f"smoke run: shapes {QUICK_SHAPES}, 3 repeats, 2 s per case")
    parser.add_argument("--generate", action="store_true", help="also time the generate/decode graphs")
    parser.add_argument("--programs", action="store_true", help="also time the torch.export program (pt2) and its AOTInductor package (aoti)")
    parser.add_argument("--markdown", help="write the forward table as Markdown to this path")
    parser.add_argument("--json", help="write every number as JSON to this path")
    opts = parser.parse_args()
    shapes, generate_shapes = (QUICK_SHAPES, QUICK_SHAPES[:1]) if opts.quick else (SHAPES, GENERATE_SHAPES)
    if opts.quick:
        opts.repeats, opts.budget = min(opts.repeats, 3), min(opts.budget, 2.0)
    opts.spins = ["on", "off"] if opts.spinning == "both" else [opts.spinning]
    torch.set_num_threads(opts.threads)
    specs = recurrent_specs(opts.models.split(","))

    mm = matmul_gflops(opts.repeats)
    # The load average shows a busy machine: a parallel op waits for a core another process holds.
    top = (f"torch {torch.__version__}, onnxruntime {ort.__version__}, {opts.threads} threads, "
           f"ORT spinning {'/'.join(opts.spins)}, 2048^3 float32 torch.mm {mm:.1f} GFLOP/s, "
           f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    print(top)
    print("cells: median eager ms, then each runtime's time / eager; full lengths; GFLOP/s of the native RNN nodes")
    programs = list(RUNTIMES) if opts.programs else []
    print(header(["torchscript", "native", "loop", "int8", *programs], opts.spins))
    rows = [row for spec in specs for row in bench_graph(spec, "forward", shapes, opts)]
    spin = spinning_verdict(rows, opts.spins)
    found = goals(rows, spin)
    print_goals(found)

    generated: List[Row] = []
    if opts.generate:
        extra = [(s, g.name) for s in specs for g in graphs_of(s, s.make_config())[1:]]
        print("\ngenerate/decode graphs: inside the ONNX Loop each step runs the native node over one step (native), "
              "plain matrix products (gemm) or the loop translation (loop)")
        print(header(["torchscript", "native", "loop", "gemm", *programs], opts.spins))
        generated = [row for spec, name in extra for row in bench_graph(spec, name, generate_shapes, opts)]

    if opts.markdown:
        title = f"Median eager ms and each runtime's time / eager ({top}); ORT columns with spinning {spin}."
        with open(opts.markdown, "w") as f:
            f.write(markdown(rows, spin, title, programs))
    if opts.json:
        with open(opts.json, "w") as f:
            report = dict(torch=torch.__version__, onnxruntime=ort.__version__, threads=opts.threads, mm_gflops=mm,
                          spinning=opts.spins, faster_spinning=spin, forward=rows, goals=found, generate=generated)  # fmt: skip
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
