"""What `zoo train` trains, in words: the recipe beside the bare defaults (`zoo models info`,
`zoo models list`) and every resolved setting with where it came from (`zoo train --dry-run`,
the run's first lines).

A model's defaults are its tutorial's sizes; its recipe (``ModelSpec.recipe``, in its model
file) may train another config, and the data set fixes the sizes the spec's ``data_fields``
name (vocabulary, classes). A user who saw only the
defaults could not tell why a run had four times the parameters, so every command that shows a
model or a run says which is which.
"""

from dataclasses import dataclass, fields
from typing import Any, Dict, List, Optional, Tuple

from zoo.config import model_config
from zoo.data import DataSet
from zoo.registry import Config, ModelSpec, parameter_count
from zoo.recipe import OPTION_FIELDS, Recipe, option_name
from zoo.train.request import TrainRequest, shown as request_shown
from zoo.train.setup import Run, resolve_data
from zoo.train.tasks import TASK_CLASSES, selection_rule

# Where a setting's value came from, as the tables and the run's first lines name it.
SOURCES = {
    "option": "given on this command line",
    "run": "the resumed run's config.json",
    "recipe": "the model's recipe",
    "data": "sized by the data set",
    "embeddings": "the size of the --embeddings vectors",
    "default": "the default (no option, recipe or data set changes it)",
}


@dataclass(frozen=True)
class Setting:
    """One resolved value: a config field or a training option, and its origin (SOURCES)."""

    name: str  # a config field ("hidden_size") or an option as typed ("--lr")
    value: str  # as the command line writes it
    source: str


def shown(value: Any) -> str:
    """A value as the command line writes it, "-" when it is not set."""
    return request_shown(value, missing="-")


def trained_configs(specs: List[ModelSpec]) -> Dict[str, Optional[Config]]:
    """``{name: the config `zoo train NAME` trains without options}``: the recipe's overrides,
    sized by the default data set (None for a model without one). Each data set loads once."""
    loaded: Dict[Tuple[Optional[str], int, bool], DataSet] = {}
    configs: Dict[str, Optional[Config]] = {}
    for spec in specs:
        if spec.default_data is None:
            configs[spec.name] = None
            continue
        recipe = spec.recipe
        key = (spec.default_data, recipe.seed, spec.task == "binary-classification")
        if key not in loaded:
            loaded[key] = resolve_data(spec, None, recipe.seed)
        configs[spec.name] = model_config(spec, loaded[key], recipe.config, {})
    return configs


def trained_config_sources(spec: ModelSpec, trained: Config) -> Dict[str, str]:
    """``{field: "recipe" or "data"}`` for each field the trained config changes from the
    default (the data's sizes win over the recipe, as in ``model_config``)."""
    default = spec.make_config()
    recipe = spec.recipe.config
    return {
        f.name: "recipe" if f.name in recipe and getattr(trained, f.name) == recipe[f.name] else "data"
        for f in spec.config_fields()
        if getattr(trained, f.name) != getattr(default, f.name)
    }


def _recipe_or_default(spec: ModelSpec, option: str) -> str:
    """"recipe" where the model's recipe sets its own value of ``option``, else "default"."""
    return "recipe" if getattr(spec.recipe, option) != getattr(Recipe(), option) else "default"


def recipe_settings(spec: ModelSpec) -> List[Setting]:
    """The recipe's training options and whether the recipe or the default sets each."""
    recipe = spec.recipe
    return [Setting(option_name(name), shown(getattr(recipe, name)), _recipe_or_default(spec, name)) for name in OPTION_FIELDS]


def best_epoch_rule(spec: ModelSpec, kind: Optional[str] = None) -> Optional[str]:
    """ "best epoch = highest validation accuracy (...)" on data of ``kind`` (left out: the
    model's default data, loaded only for a task whose rule depends on the data, as tagging's
    does), or None for a model `zoo train` does not train on its own."""
    if kind is None and spec.default_data is not None and len(TASK_CLASSES.get(spec.task, ())) > 1:
        kind = resolve_data(spec, None, spec.recipe.seed).kind
    rule = selection_rule(spec.task, kind)
    return f"best epoch = {rule}" if rule else None


def _is_set(value: Any) -> bool:
    return value is not None and value is not False  # not `in (None, False)`: 0 == False


def _option_source(name: str, given: TrainRequest, run: Run) -> str:
    """"option" when given here, "run" when --resume took it from the run, else "recipe" (the
    model's recipe sets its own value) or "default"."""
    if _is_set(getattr(given, name)):
        return "option"
    if given.resume and _is_set(getattr(run.request, name)):
        return "run"
    return _recipe_or_default(run.spec, name) if name in OPTION_FIELDS else "default"


def training_settings(given: TrainRequest, run: Run) -> List[Setting]:
    """Every training argument of ``run`` with its origin; ``given`` is the request as typed
    (before --resume filled it in from the run)."""
    settings = []
    for name in OPTION_FIELDS:
        value = shown(getattr(run.recipe, name))
        if name == "batch_size" and run.batch_size != run.recipe.batch_size:
            value += f" (uses {run.batch_size}: {run.task.train_size()} training items)"
        settings.append(Setting(option_name(name), value, _option_source(name, given, run)))
    request = run.request
    data = run.data.name + (f" from {request.data}" if request.data and request.data != run.data.name else "")
    time_limit = f"{request.time_limit:g} s" if request.time_limit is not None else None
    for name, value in (("data", data), ("limit_batches", request.limit_batches), ("time_limit", time_limit),
                        ("embeddings", request.embeddings), ("freeze_embeddings", request.freeze_embeddings),
                        ("grad_norms", request.grad_norms)):  # fmt: skip
        settings.append(Setting(option_name(name), shown(value), _option_source(name, given, run)))
    device = "option" if given.device != "auto" else "default"
    settings.append(Setting("--device", f"{run.device}" + (" (auto)" if device == "default" else ""), device))
    settings.append(Setting("--nproc", str(run.shard.world), "option" if run.shard.world > 1 else "default"))
    settings.append(Setting("--out", str(run.out), "option" if given.out is not None else "default"))
    return settings


def config_settings(given: TrainRequest, run: Run) -> List[Setting]:
    """Every config field of ``run`` with its origin: --set, the embeddings' size, the data,
    the recipe or the default (in ``model_config``'s order); on --resume, the run's."""
    default = run.spec.make_config()
    recipe = run.spec.recipe.config
    sized = run.spec.data_config(run.data.dims)
    settings = []
    for f in fields(run.config):
        value = getattr(run.config, f.name)
        if given.resume:
            source = "run"
        elif f.name in given.overrides:
            source = "option"
        elif f.name == run.spec.embedding_field and given.embeddings is not None:
            source = "embeddings"
        elif f.name in sized:
            source = "data"
        elif f.name in recipe:
            source = "recipe"
        else:
            source = "default"
        if source == "data" and value == getattr(default, f.name):
            source = "default"  # the data agrees with the default: nothing to point out
        settings.append(Setting(f.name, shown(value), source))
    return settings


def changed_config(given: TrainRequest, run: Run) -> str:
    """The fields that differ from the model's defaults, "hidden_size=200 (recipe), ...", for
    the run's first lines; "" when the run trains the default config."""
    default = run.spec.make_config()
    return ", ".join(
        f"{s.name}={s.value} ({s.source})"
        for s in config_settings(given, run)
        if shown(getattr(default, s.name)) != s.value
    )


def resume_note(run: Run) -> Optional[str]:
    """Where a resumed run continues: "resuming runs/x at epoch 3/10, step 120/400 (...)"."""
    position = run.resume_from
    if position is None:
        return None
    done, epochs = position["epoch"], run.recipe.epochs
    best = position.get("best_epoch")
    metric = run.task.primary_metric
    score = (position.get("best") or {}).get(metric)
    best_text = "none yet" if best is None else f"epoch {best}" + (f", {metric} {score:.4f}" if isinstance(score, float) else "")
    if done >= epochs:
        return f"resuming {run.out} after its last epoch ({done}/{epochs} done; best: {best_text}): testing the best weights"
    return (f"resuming {run.out} at epoch {done + 1}/{epochs}, step {position['step']}/{run.steps} "
            f"({done} epoch(s) done; best so far: {best_text})")  # fmt: skip


def announcement(given: TrainRequest, run: Run) -> List[str]:
    """The run's first lines (and --dry-run's): what trains on what, how big, for how long,
    which epoch it keeps, the config it changes, and where a resumed run continues."""
    sizes = ", ".join(f"{k} {v:,}" for k, v in run.data.sizes().items())
    parameters = parameter_count(run.model)
    lines = [f"{run.spec.name} on {run.data.name} ({sizes}); {parameters:,} parameters; "
             f"{run.recipe.epochs} epochs x {run.steps} steps of {run.batch_size}; {run.device}, "
             f"{run.shard.world} process(es)"]  # fmt: skip
    rule = best_epoch_rule(run.spec, run.data.kind)
    if rule:
        lines.append(rule)
    changed = changed_config(given, run)
    lines.append(f"config: {changed}" if changed else "config: the model's defaults")
    note = resume_note(run)
    if note:
        lines.append(note)
    if run.embedding_note:
        lines.append(f"pretrained embeddings: {run.embedding_note}")
    return lines
