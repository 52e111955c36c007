"""A verification report on the console: the case x runtime table (`zoo verify`, `zoo export
--verbose`), with the rule each cell was held to, and the one line `zoo export` prints instead.

A cell shows the largest |value - reference| and, in brackets, how much of its allowance the
value nearest its bound used (``Row.allowance_used``): the allowance is atol + rtol * |reference|
plus float32's own rounding, value by value, so neither the max abs nor the max rel error alone
says whether a cell passed (a max rel error of 7e-3 next to "rtol 1e-4" read like a failure)."""

from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from rich import box
from rich.console import Console
from rich.table import Table

from export.parity import NOISE_FACTOR, STRUCTURE, ParityReport, Row

SHORT = {
    "eager-fp32": "eager fp32", "torchscript": "torchscript", "onnxruntime-cpu": "ort cpu",
    "onnx-reference": "onnx ref", "eager-cuda": "eager cuda", "torchscript-cuda": "ts cuda",
    "onnxruntime-cuda": "ort cuda", "onnxruntime-int8": "ort int8",
}  # fmt: skip
_NOISE_FROM = "eager-fp32"  # the runtime whose distance from the reference widens the others' allowance
Rule = Tuple[float, float, Optional[float]]  # atol, rtol, rms_rel


@dataclass
class _Cell:
    """The rows of one (graph, case) on one runtime: one per output."""

    max_abs: float = 0.0
    used: float = 0.0  # the largest Row.allowance_used
    passed: bool = True
    rms_rel: Optional[float] = None  # set when judged by RMS
    exact: bool = True  # every output had to be equal (atol = rtol = 0): token ids

    def add(self, row: Row) -> None:
        self.max_abs = max(self.max_abs, row.max_abs)
        self.used = max(self.used, row.allowance_used)
        self.passed = self.passed and row.passed
        self.rms_rel = row.rms_rel if row.rms_rel is not None else self.rms_rel
        self.exact = self.exact and _rule(row) == (0, 0, None)

    def text(self) -> str:
        mark = "[green]✓[/]" if self.passed else "[bold red]✗[/]"
        if self.rms_rel is not None:
            return f"rms {_number(self.used * self.rms_rel, '.1e')} ({percent(self.used)}) {mark}"
        if self.exact:
            return f"{'equal' if self.passed else 'differs'} {mark}"
        return f"{_number(self.max_abs, '.1e')} ({percent(self.used)}) {mark}"


def percent(used: float) -> str:
    """A share of an allowance, to two figures: 0.31%, 18%, 840%."""
    share = used * 100
    if share == 0 or share == float("inf"):
        return f"{share:.0f}%"
    if share < 0.01:
        return "<0.01%"
    return f"{share:.0f}%" if share >= 10 else f"{share:.2g}%"


def _number(value: float, spec: str = "") -> str:
    """0 as 0, and a tolerance as written in tolerances.json: 1e-05, 0.25 (not 0.0001: 1e-04)."""
    if value == 0:
        return "0"
    if spec:
        return format(value, spec)
    mantissa, exponent = f"{value:e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{exponent}" if abs(value) < 1e-3 else f"{value:g}"


def _rule(row: Row) -> Rule:
    return (row.atol, row.rtol, row.rms_rel)


def _compared(report: ParityReport) -> List[Row]:
    return [row for row in report.rows if row.runtime != STRUCTURE]  # the rest check the file


def _cells(report: ParityReport) -> Dict[Tuple[str, str], Dict[str, _Cell]]:
    cells: Dict[Tuple[str, str], Dict[str, _Cell]] = {}
    for row in _compared(report):
        cells.setdefault((row.graph, row.case), {}).setdefault(row.runtime, _Cell()).add(row)
    return cells


def _runtimes(report: ParityReport) -> List[str]:
    return list(dict.fromkeys(row.runtime for row in _compared(report)))


def _rule_text(rule: Rule, noise: bool) -> str:
    atol, rtol, rms_rel = rule
    if rms_rel is not None:
        return f"RMS(value − reference) ≤ {_number(rms_rel)}·RMS(reference), output by output; the cell shows that RMS ratio"
    if atol == 0 and rtol == 0:
        return "equal to the reference, value by value (no allowance)"
    text = f"|value − reference| ≤ {_number(atol)} + {_number(rtol)}·|reference|"
    if not noise:  # eager fp32 did not run (--device cuda)
        return text + ", value by value"
    return (f"{text} + {NOISE_FACTOR:g}·|eager fp32 − reference|, value by value (the last term: the model's own"
            " float32 rounding, as the eager fp32 column shows it)")  # fmt: skip


def rules(report: ParityReport) -> List[str]:
    """The rule each cell was held to, one line each: the most common one first, then each other
    one with the graphs or runtimes it applies to (token outputs, the int8 graph's RMS rule)."""
    compared = _compared(report)
    where: Dict[Rule, List[Row]] = {}
    for row in compared:
        where.setdefault(_rule(row), []).append(row)
    runtimes = _runtimes(report)
    lines = []
    for number, (rule, rows) in enumerate(sorted(where.items(), key=lambda item: -len(item[1]))):
        scope = ""
        if number > 0:  # the first is the rule everywhere else
            graphs = sorted({row.graph for row in rows})
            own = [r for r in runtimes if any(row.runtime == r for row in rows)]
            if graphs != sorted({row.graph for row in compared if row.runtime in own}):
                scope = ", ".join(graphs)  # not every graph those runtimes ran
            if own != [r for r in runtimes if any(row.runtime == r and row.graph in graphs for row in compared)]:
                scope += (" on " if scope else "") + ", ".join(SHORT.get(r, r) for r in own)
        lines.append(f"{scope or 'a value passes when'}: {_rule_text(rule, _NOISE_FROM in runtimes)}")
    return lines


def print_table(report: ParityReport, to: Console) -> None:
    """One row per (graph, case), one column per runtime, then the rules and the verdict."""
    cells = _cells(report)
    runtimes = _runtimes(report)
    timed = [case for graph, case in cells if graph == "forward" and "-t" in case]
    ragged = bool(timed) and all(case.endswith("-ragged") for case in timed)
    reference = "the float64 eager model" + ("; token outputs: eager fp32's" if any(g != "forward" for g, _ in cells) else "")
    title = f"{report.model}: error against {reference}" + (" (ragged batches)" if ragged else "")
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("case")
    for runtime in runtimes:
        table.add_column(SHORT.get(runtime, runtime), justify="right")
    for (graph, case), by_runtime in cells.items():
        shown_case = case.removesuffix("-ragged") if ragged else case
        shown = [by_runtime[r].text() if r in by_runtime else "" for r in runtimes]
        table.add_row(shown_case if graph == "forward" else f"{graph} {case}", *shown)
    to.print(table)
    to.print("each cell: the largest |value − reference|, then (in brackets) the share of its allowance used by the value nearest its bound; ✓ up to 100%", highlight=False)  # fmt: skip
    for line in rules(report):
        to.print(line, highlight=False, markup=False)
    for row in report.rows:
        if row.runtime == STRUCTURE:
            verdict = "[green]✓[/] the ONNX file holds the recurrent nodes the manifest names" if row.passed else f"[bold red]✗[/] {row.problem}"
            to.print(f"{row.graph} recurrent layers: {verdict}", highlight=False)
    for runtime, why in report.skipped.items():
        to.print(f"skipped {runtime}: {why}", highlight=False)
    summary = report.summary()
    verdict = "[green]passed[/]" if report.passed else "[bold red]FAILED[/]"
    to.print(f"{verdict}: {summary['comparisons'] - summary['failures']}/{summary['comparisons']} comparisons within tolerance")


def summary_line(report: ParityReport, bundle: str) -> str:
    """A passed verification in one line: what ran, the cell nearest its bound, where the table is."""
    cells = _cells(report)
    summary = report.summary()
    line = (f"verification passed: {len(cells)} cases x {len(_runtimes(report))} runtimes, "
            f"{summary['comparisons'] - summary['failures']}/{summary['comparisons']} comparisons within tolerance")  # fmt: skip
    nearest = max(((cell.used, graph, case, runtime) for (graph, case), by in cells.items() for runtime, cell in by.items()),
                  default=None, key=lambda item: item[0])  # fmt: skip
    if nearest is not None and nearest[0] > 0:
        used, graph, case, runtime = nearest
        where = case if graph == "forward" else f"{graph} {case}"
        line += f"; nearest its bound: {where} on {SHORT.get(runtime, runtime)}, at {percent(used)} of its allowance"
    worst = max((row.max_abs for row in _compared(report) if row.rms_rel is None), default=0.0)  # int8 aside
    line += f"; largest error {_number(worst, '.1e')}"
    if report.skipped:
        line += f"; skipped: {', '.join(report.skipped)}"
    return line + f"; full table: zoo verify {bundle} (or zoo export --verbose)"


def failure_line(report: ParityReport) -> str:
    """A failed verification in one line: how many comparisons failed, and the first one."""
    failures = report.failures()
    first = failures[0]
    elementwise = first.rms_rel is None and 1 < first.allowance_used < float("inf")
    share = f" (the worst at {percent(first.allowance_used)} of its allowance)" if elementwise else ""
    return (
        f"verification failed: {len(failures)} comparisons, first {first.graph} case {first.case} on "
        f"{first.runtime}, output {first.output}: {first.problem}{share}"
    )
