"""A comparison's results and the three files that hold them: ``compare.json`` (everything),
``compare.md`` (the table and its notes) and ``curves.png`` (each model's validation metric and
loss per epoch). Each is written whole or not at all (``zoo.store``), after every model, so an
interrupted comparison keeps the models it finished."""

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from zoo.compare.latency import BATCHES, MIN_RUNS, RUNS, WARMUP
from zoo.compare.plan import COMPARE_JSON, COMPARE_MD, CURVES, GRADNORMS, Plan
from zoo.store import write_atomic, write_json
from zoo.train.plots import draw_norms, pyplot

SCHEMA_VERSION = 1


@dataclass
class ModelResult:
    """One model's line of the table, and what the curves need."""

    model: str
    run: str  # its run directory, relative to the comparison's folder
    status: str  # "finished", "time-limit", or "failed: <why>"
    parameters: Optional[int] = None
    epochs: int = 0  # epochs done
    seconds_per_epoch: Optional[float] = None  # training only, validation excluded; mean of the epochs
    seconds: Optional[float] = None  # the whole run: data, epochs, validation, test
    best_epoch: Optional[int] = None
    best_val: Optional[Dict[str, Any]] = None  # the best epoch's validation metrics
    test: Optional[Dict[str, Any]] = None  # the best weights' test metrics
    latency_ms: Dict[int, float] = field(default_factory=dict)  # {batch: median ms per call}
    latency_runs: Dict[int, int] = field(default_factory=dict)
    history: List[Dict[str, Any]] = field(default_factory=list)  # {epoch, seconds, val: {...}} per epoch
    # --grad-norms: the first recurrent layer's ||dLoss/dh|| by distance from the loss, per probe
    # ({after_epoch, layer, norms}): the run's metrics.jsonl holds every layer's.
    grad_norms: List[Dict[str, Any]] = field(default_factory=list)


@dataclass
class Comparison:
    plan: Plan
    status: str = "running"  # "running", "finished", "interrupted"
    results: List[ModelResult] = field(default_factory=list)
    latency_examples: Optional[int] = None  # distinct validation examples the latency inputs came from
    threads: Optional[int] = None  # torch's CPU threads while timing


def _number(value: Optional[float], digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _figures(value: Optional[float]) -> str:
    """Three significant figures up to 100, whole units past it (0.0421, 1.23, 12.3, 1234),
    never e-notation: a tiny model's milliseconds are still told apart."""
    if value is None:
        return "-"
    return f"{value:.0f}" if value >= 100 else f"{value:#.3g}"


def _repeated(examples: Optional[int]) -> str:
    if examples is None or examples >= max(BATCHES):
        return ""
    return f" (the split holds {examples}, so a batch of more repeats them)"


def columns(plan: Plan) -> List[str]:
    metric = plan.metric
    return ["model", "parameters", "s/epoch", "epochs", f"best val {metric}", f"test {metric}",
            *(f"ms, batch {b} (CPU)" for b in BATCHES)]  # fmt: skip


def rows(comparison: Comparison) -> List[List[str]]:
    """The table's cells, the same in the terminal and in compare.md."""
    metric = comparison.plan.metric
    table = []
    for r in comparison.results:
        best = None if r.best_val is None else r.best_val.get(metric)
        test = None if r.test is None else r.test.get(metric)
        epochs = f"{r.epochs}" + (f" (best {r.best_epoch})" if r.best_epoch is not None else "")
        table.append([r.model, "-" if r.parameters is None else f"{r.parameters:,}", _number(r.seconds_per_epoch, 2),
                      epochs, _number(best), _number(test), *(_figures(r.latency_ms.get(b)) for b in BATCHES)])  # fmt: skip
    return table


def title(plan: Plan) -> str:
    return f"{' vs '.join(e.spec.name for e in plan.entries)} on {plan.data.name}"


def notes(comparison: Comparison) -> List[str]:
    """Under the table: how the models were trained and measured, and what did not finish."""
    plan = comparison.plan
    direction = "higher" if plan.higher_is_better else "lower"
    lines = [
        f"{plan.task}; the best epoch of each model is the one with the {direction} validation {plan.metric}, "
        f"and its weights give the test {plan.metric} and the latency",
        f"s/epoch: training time per epoch, validation excluded, mean over the epochs done, on {plan.device}",
        f"latency: eager PyTorch on the CPU, {comparison.threads} thread{'s' if comparison.threads != 1 else ''}, eval mode, no autograd; "
        f"the median of {MIN_RUNS}-{RUNS} calls after {WARMUP} warm-up calls, each call on the next validation "
        f"examples{_repeated(comparison.latency_examples)}",
        *plan.notes,
    ]
    for r in comparison.results:
        if r.status == "time-limit":
            lines.append(f"{r.model}: stopped by --time-limit after {r.epochs} epoch(s)")
        elif r.status.startswith("failed"):
            lines.append(f"{r.model}: {r.status}")
    done, total = len(comparison.results), len(plan.entries)
    if comparison.status != "finished":
        during = f" during {plan.entries[done].spec.name}" if comparison.status == "interrupted" else ""
        lines.append(f"{comparison.status}{during}: {done} of {total} models done")
    return lines


def document(comparison: Comparison) -> Dict[str, Any]:
    plan = comparison.plan
    return {
        "schema_version": SCHEMA_VERSION,
        "status": comparison.status,
        "models": [e.spec.name for e in plan.entries],
        "data": {**plan.data.metadata(), "argument": plan.data_argument},
        "task": plan.task,
        "metric": plan.metric,
        "higher_is_better": plan.higher_is_better,
        "training": {e.spec.name: {**asdict(e.recipe), "batch_size": e.batch_size} for e in plan.entries},
        "settings": plan.request.settings,
        "time_limit_s": plan.request.time_limit,
        "limit_batches": plan.request.limit_batches,
        "device": plan.device,
        "latency": {"device": "cpu", "threads": comparison.threads, "batches": list(BATCHES), "warmup": WARMUP,
                    "runs": RUNS, "examples": comparison.latency_examples},  # fmt: skip
        "columns": columns(plan),
        "rows": rows(comparison),
        "notes": notes(comparison),
        "results": [asdict(r) for r in comparison.results],
    }


def markdown(comparison: Comparison) -> str:
    head = columns(comparison.plan)
    aligned = ["---" if name == "model" else "---:" for name in head]
    lines = [f"# {title(comparison.plan)}", "", "| " + " | ".join(head) + " |", "| " + " | ".join(aligned) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows(comparison)]
    lines += ["", *(f"- {note}" for note in notes(comparison)), "", f"![validation curves]({CURVES})", ""]
    if comparison.plan.request.grad_norms:
        lines += [f"![gradient norms through time]({GRADNORMS})", ""]
    return "\n".join(lines)


def plot(path: Path, comparison: Comparison) -> None:
    """Left: each model's validation metric per epoch; right: its validation loss."""
    plt = pyplot()
    metric = comparison.plan.metric
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for r in comparison.results:
        epochs = [row["epoch"] for row in r.history]
        left.plot(epochs, [row["val"].get(metric, float("nan")) for row in r.history], marker="o", markersize=3, label=r.model)
        right.plot(epochs, [row["val"]["loss"] for row in r.history], marker="o", markersize=3, label=r.model)
    for axes, name in ((left, f"validation {metric}"), (right, "validation loss")):
        axes.xaxis.get_major_locator().set_params(integer=True)  # epochs: no 1.25
        axes.set_xlabel("epoch")
        axes.set_ylabel(name)
        axes.grid(alpha=0.3)
        if comparison.results:
            axes.legend()
    figure.suptitle(title(comparison.plan))
    figure.tight_layout()
    write_atomic(path, lambda p: figure.savefig(p, format="png", dpi=100))
    plt.close(figure)


def plot_grad_norms(path: Path, comparison: Comparison) -> None:
    """--grad-norms: one panel per model, side by side on one log scale: its first recurrent
    layer's ||dLoss/dh|| against the steps before the loss, one line per probe (darker: earlier)."""
    plt = pyplot()
    shown = [r for r in comparison.results if r.grad_norms]
    figure, grid = plt.subplots(1, max(len(shown), 1), figsize=(4.2 * max(len(shown), 1) + 1, 4), squeeze=False, sharey=True,
                                layout="constrained")  # fmt: skip
    colors = plt.get_cmap("viridis")
    for axes, result in zip(grid[0], shown):
        last = max(p["after_epoch"] for p in result.grad_norms)
        draw_norms(axes, [(p["after_epoch"], p["norms"]) for p in result.grad_norms], colors, last)
        axes.set_title(f"{result.model}\n{result.grad_norms[0]['layer']}", fontsize=9)
    grid[0][0].set_ylabel("||dLoss/dh||")
    scale = plt.cm.ScalarMappable(cmap=colors, norm=plt.Normalize(0, max((p["after_epoch"] for r in shown for p in r.grad_norms), default=1)))
    figure.colorbar(scale, ax=list(grid[0]), label="after epoch")
    figure.suptitle(f"{title(comparison.plan)}: gradient norms through time")
    write_atomic(path, lambda p: figure.savefig(p, format="png", dpi=100))
    plt.close(figure)


def write(comparison: Comparison) -> None:
    """The files, each replaced whole; the JSON last, so its status never runs ahead."""
    out = comparison.plan.out
    plot(out / CURVES, comparison)
    if comparison.plan.request.grad_norms:
        plot_grad_norms(out / GRADNORMS, comparison)
    text = markdown(comparison)
    write_atomic(out / COMPARE_MD, lambda p: p.write_text(text, encoding="utf-8"))
    write_json(out / COMPARE_JSON, document(comparison))
