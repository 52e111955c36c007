"""A model's training recipe: what `zoo train MODEL` does without options. Each model's spec
holds its own (``ModelSpec.recipe``); any option given on the command line replaces a value.

Each training option is declared once, here, as a field of ``Recipe``: its default, its
``--help`` text and the values it accepts travel in the field (``option``). `zoo train`'s
options (``zoo.cli.fields``), the request (``zoo.train.request.TrainRequest``), the checks
(``check_recipe``) and the run's ``config.json`` (its "training" section) all read these fields.

Torch-free, so the registry, the CLI's help and a run's ``config.json`` can all read it.
"""

import math
from dataclasses import Field, dataclass, field, fields, replace
from typing import Any, Callable, Dict, List, Optional, Tuple

OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("constant", "cosine")

Test = Callable[[Any], bool]


def option(default: Any, help: str, accepts: Tuple[Test, str]) -> Any:
    """A recipe field that `zoo train` takes as ``--field-name``: its default, its help text and
    what it accepts (a test and the allowed values in words, for the error that refuses one)."""
    test, allowed = accepts
    return field(default=default, metadata={"help": help, "test": test, "allowed": allowed})


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _integer(low: int) -> Tuple[Test, str]:
    return (lambda v: isinstance(v, int) and v >= low), f"an integer >= {low}"


def _at_least_zero() -> Tuple[Test, str]:
    return (lambda v: _finite(v) and v >= 0), "a number >= 0"


def _fraction() -> Tuple[Test, str]:
    return (lambda v: _finite(v) and 0 <= v < 1), "a number in [0, 1)"


def _one_of(choices: Tuple[str, ...]) -> Tuple[Test, str]:
    return (lambda v: v in choices), " or ".join(choices)


@dataclass(frozen=True)
class Recipe:
    epochs: int = option(10, "Epochs (default: the model's recipe; on --resume, the run's).", _integer(1))
    batch_size: int = option(64, "Global batch size (split across --nproc processes).", _integer(1))
    lr: float = option(1e-3, "Learning rate.", ((lambda v: _finite(v) and v > 0), "a number > 0"))
    optimizer: str = option("adam", "adam or sgd.", _one_of(OPTIMIZERS))
    # Momentum 1 or more never forgets a gradient (the steps grow without bound).
    momentum: float = option(0.0, "SGD momentum.", _fraction())
    weight_decay: float = option(0.0, "L2 weight decay.", _at_least_zero())
    clip: Optional[float] = option(None, "Clip the gradient norm to this value.",
                                   ((lambda v: v is None or (_finite(v) and v > 0)), "a number > 0 (or leave it out)"))  # fmt: skip
    bptt: int = option(100, "Truncated-BPTT window (language models).", _integer(1))
    # "cosine" decays to 0 over the run, per step.
    schedule: str = option("constant", "Learning-rate schedule: constant or cosine.", _one_of(SCHEDULES))
    seed: int = option(0, "Seed for weights, data order and dropout.",
                       ((lambda v: isinstance(v, int) and 0 <= v < 2**31), "an integer in [0, 2^31)"))  # fmt: skip
    # Weights each class's loss by (its training frequency)^-power, normalised to a mean of 1; 0
    # is the plain loss, 0.5 a common middle for unbalanced classes (surnames by language).
    class_weight_power: float = option(0.0, "Classifiers: weight each class by frequency^-power (0 = plain, 0.5 for unbalanced data).",
                                       _at_least_zero())  # fmt: skip
    # Trains on logits + tau * log(class prior) (logit adjustment, Menon et al. 2021).
    logit_adjustment: float = option(0.0, "Classifiers: train on logits + TAU*log(class prior) for balanced accuracy (0 = off).",
                                     _at_least_zero())  # fmt: skip
    # Szegedy et al. 2016's smoothing of the targets; a smoothing of 1 leaves no target.
    label_smoothing: float = option(0.0, "Classifiers: smooth the training targets by this much (0 = off).", _fraction())
    shift_augment: int = option(0, "Images: move each training image by up to N pixels (0 = off).", _integer(0))
    # Config overrides the recipe trains with (the model's defaults are the tutorial's sizes);
    # not an option: `zoo train --set` changes the config.
    config: Dict[str, Any] = field(default_factory=dict)


def options() -> Tuple[Field, ...]:  # type: ignore[type-arg]
    """The recipe's fields that `zoo train` takes as options, in declaration order."""
    return tuple(f for f in fields(Recipe) if "help" in f.metadata)


# Their names (``batch_size`` is ``--batch-size``).
OPTION_FIELDS: Tuple[str, ...] = tuple(f.name for f in options())


def option_name(field_name: str) -> str:
    return "--" + field_name.replace("_", "-")


def with_options(recipe: Recipe, **given: Any) -> Recipe:
    """The recipe with every option that was given (not None) replacing its value."""
    return replace(recipe, **{k: v for k, v in given.items() if v is not None})


def check_recipe(recipe: Recipe) -> None:
    """Every option with a value it cannot take, in one line: the option, the value, what it
    accepts. Runs before anything is created, so a typo leaves no empty run directory."""
    problems: List[str] = []
    for f in options():
        value = getattr(recipe, f.name)
        if not f.metadata["test"](value):
            problems.append(f"{option_name(f.name)} {value}: use {f.metadata['allowed']}")
    if problems:
        raise ValueError("; ".join(problems))
