"""What `zoo compare` will train, checked before anything is written: the models (each a known
name, named once, all of one task), the one data set they all train on, the shared options,
and the folder the comparison goes to.

Every model is prepared exactly as `zoo train` prepares it (``zoo.train.setup.prepare``, which
writes nothing), so a model that cannot train on the data, a ``--set`` key one of them lacks or
an option out of range is one line naming it before the first model trains.
"""

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from zoo.config import parse_overrides
from zoo.data import DataSet
from zoo.recipe import OPTION_FIELDS, Recipe, option_name
from zoo.registry import ModelSpec, get_spec
from zoo.train import rundir
from zoo.train.batching import Shard
from zoo.train.request import TrainRequest, shown
from zoo.train.setup import device_for, prepare

# What a comparison folder holds besides one run directory per model.
COMPARE_JSON, COMPARE_MD, CURVES = "compare.json", "compare.md", "curves.png"
GRADNORMS = "gradnorms.png"  # with --grad-norms: each model's gradient norms, side by side
COMPARE_FILES = (COMPARE_JSON, COMPARE_MD, CURVES, GRADNORMS)

# The options whose value the notes under the table always state, given or not: they set the
# budget each model had (the others are named only where the models' recipes differ).
_ALWAYS_NOTED = ("epochs", "batch_size", "lr")


@dataclass
class CompareRequest:
    """What `zoo compare` was asked."""

    models: List[str]
    data: Optional[str] = None  # None: the default data set every model shares
    # The recipe options given ({field: value}, as Recipe names them), the same for every model;
    # an option left out is each model's own recipe's (the seed aside: one seed, one data set).
    options: Dict[str, Any] = field(default_factory=dict)
    settings: List[str] = field(default_factory=list)  # --set KEY=VALUE as typed, for every model
    time_limit: Optional[float] = None  # seconds, for each model
    limit_batches: Optional[int] = None  # at most this many training steps per epoch
    grad_norms: bool = False  # each model trains with `zoo train --grad-norms`
    device: str = "auto"  # where the models train (latency is always measured on the CPU)
    out: Optional[Path] = None
    overwrite: bool = False


@dataclass
class Entry:
    """One model of the comparison, prepared."""

    spec: ModelSpec
    request: TrainRequest  # what zoo.train.train is given
    recipe: Recipe  # the options it trains with
    config: Any  # its model config
    batch_size: int  # as used (a split smaller than the batch trains on all of it)


@dataclass
class Plan:
    request: CompareRequest
    out: Path
    data: DataSet  # what every model trains on (one copy, for the latency inputs)
    data_argument: str
    task: str
    metric: str  # the validation metric that picks each model's best epoch
    higher_is_better: bool
    device: str  # where the models train ("cpu", "cuda")
    entries: List[Entry]
    notes: List[str]  # how the options were set, for the table's notes


def default_out(models: List[str], data: str) -> Path:
    """runs/compare-rnn-classifier-vs-gru-classifier-on-copy-first-100: readable, and the same
    comparison lands in the same folder (--overwrite to redo it)."""
    name = Path(data).name if ("/" in data or "\\" in data) else data
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{'-vs-'.join(models)}-on-{name}").strip("-")
    return Path("runs") / f"compare-{slug}"


def check_folder(out: Path, overwrite: bool) -> None:
    """A new or empty folder, or (with --overwrite) a comparison's folder: its own files and a
    run directory per model, nothing else. Reads only."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file, not a folder; choose another --out")
    entries = sorted(out.iterdir()) if out.exists() else []
    if not entries:
        return
    if not overwrite:
        raise ValueError(f"{out} already exists; pass --overwrite to replace it or choose another --out")
    if not (out / COMPARE_JSON).is_file():
        raise ValueError(f"--out {out} holds no {COMPARE_JSON}, so it is not a comparison; --overwrite "
                         "replaces only a comparison's folder, so choose another --out")  # fmt: skip
    for entry in entries:
        if entry.is_dir():
            rundir.check_out(entry, resume=False, overwrite=True)  # a run, or it names what is not
        elif entry.name.partition(".tmp-")[0].lstrip(".") not in COMPARE_FILES:
            raise ValueError(f"--out {out} holds {entry.name}, which no comparison writes; --overwrite "
                             "replaces only a comparison's folder, so choose another --out")  # fmt: skip


def _specs(models: List[str]) -> List[ModelSpec]:
    if len(models) < 2:
        raise ValueError(f"zoo compare needs at least two models, got {len(models)}; name two or more")
    repeated = sorted({m for m in models if models.count(m) > 1})
    if repeated:
        raise ValueError(f"{', '.join(repeated)} is named more than once; name each model once "
                         "(to compare settings of one model, train each with `zoo train --set`)")  # fmt: skip
    specs = [get_spec(m) for m in models]  # an unknown name: one line with the close matches
    for spec in specs[1:]:
        if spec.task != specs[0].task:
            raise ValueError(f"{specs[0].name} ({specs[0].task}) and {spec.name} ({spec.task}) do different tasks; "
                             "compare models of one task, whose metrics are the same")  # fmt: skip
    return specs


def _data_argument(specs: List[ModelSpec], data: Optional[str]) -> str:
    """--data, or the default data set every model shares: all of them train on the same data."""
    if data is not None:
        return data
    defaults = {spec.default_data for spec in specs}
    if len(defaults) == 1 and None not in defaults:
        return defaults.pop()  # type: ignore[return-value]
    listed = ", ".join(f"{spec.name}: {spec.default_data or 'none'}" for spec in specs)
    raise ValueError(f"the models' default data sets differ ({listed}); pass --data NAME for all of them")


def _seed(specs: List[ModelSpec], given: Optional[int]) -> int:
    """One seed for every model: the seed draws a generated data set and its splits too, so
    models with different seeds would not see the same data. Left out: the seed the models'
    recipes share, or the zoo's default where they differ."""
    if given is not None:
        return given
    seeds = {spec.recipe.seed for spec in specs}
    return seeds.pop() if len(seeds) == 1 else Recipe().seed


def plan_compare(request: CompareRequest) -> Plan:
    """Every check of the comparison; writes nothing."""
    specs = _specs(request.models)
    data_argument = _data_argument(specs, request.data)
    out = Path(request.out) if request.out is not None else default_out(request.models, data_argument)
    check_folder(out, request.overwrite)
    unknown = sorted(set(request.options) - set(OPTION_FIELDS))
    if unknown:
        raise ValueError(f"unknown training options {unknown}; known: {', '.join(OPTION_FIELDS)}")
    options = {k: v for k, v in request.options.items() if v is not None}
    options["seed"] = _seed(specs, options.get("seed"))
    device = device_for(request.device)
    entries: List[Entry] = []
    datasets: List[DataSet] = []
    selection: List[Tuple[str, bool]] = []  # each model's task's (metric, higher is better)
    for spec in specs:
        train_request = TrainRequest(
            model=spec.name, data=data_argument, **options, overrides=parse_overrides(spec, request.settings),
            device=request.device, out=out / spec.name, time_limit=request.time_limit, limit_batches=request.limit_batches,
            grad_norms=request.grad_norms,
        )  # fmt: skip
        # overwrite: check_folder has allowed replacing the folder (the runs start fresh once
        # it is cleared); this checks everything else `zoo train` would.
        run = prepare(replace(train_request, overwrite=True), Shard(), device)
        if datasets and run.data.metadata() != datasets[0].metadata():
            raise ValueError(f"{spec.name} reads --data {data_argument} otherwise than {specs[0].name}; "
                             "compare models that read the data the same way")  # fmt: skip
        datasets = datasets or [run.data]
        selection.append((run.task.primary_metric, run.task.higher_is_better))
        entries.append(Entry(spec, train_request, run.recipe, run.config, run.batch_size))
        del run  # its model, optimizer and copy of the data
    if len(set(selection)) > 1:  # one task, one kind of data: one task class, so this is a bug
        raise RuntimeError(f"the models pick their best epochs by different metrics: {selection}")
    metric, higher = selection[0]
    return Plan(request, out, datasets[0], data_argument, specs[0].task, metric, higher, str(device), entries,
                _notes(request, entries))  # fmt: skip


def _notes(request: CompareRequest, entries: List[Entry]) -> List[str]:
    """How each training option was set: a given one for every model; the others from each
    model's recipe, stated where they set the budget or where the recipes differ."""
    notes: List[str] = []
    for name in OPTION_FIELDS:
        # The batch as used: a training split smaller than the batch trains on all of it.
        values = [e.batch_size if name == "batch_size" else getattr(e.recipe, name) for e in entries]
        same = all(v == values[0] for v in values)
        recipes = ", ".join(f"{e.spec.name} {shown(getattr(e.spec.recipe, name))}" for e in entries)
        if request.options.get(name) is not None:
            notes.append(f"{option_name(name)} {shown(values[0])} for every model (given)")
        elif name == "seed":  # always one seed: it draws generated data and splits
            agree = len({e.spec.recipe.seed for e in entries}) == 1
            where = "the models' recipes' seed" if agree else f"the zoo's default; the recipes differ: {recipes}"
            notes.append(f"--seed {values[0]} for every model ({where}); one seed, so the same data")
        elif not same:
            per_model = ", ".join(f"{e.spec.name} {shown(v)}" for e, v in zip(entries, values))
            notes.append(f"{option_name(name)} not given: each model's recipe ({per_model})")
        elif name in _ALWAYS_NOTED:
            notes.append(f"{option_name(name)} {shown(values[0])} for every model (not given: each model's recipe, the same for all)")
    if request.settings:
        notes.append(f"--set {' '.join(request.settings)} for every model")
    if request.time_limit is not None:
        notes.append(f"--time-limit {request.time_limit:g} s for each model")
    if request.limit_batches is not None:
        notes.append(f"--limit-batches {request.limit_batches}: at most that many training steps per epoch")
    return notes
