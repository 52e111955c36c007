"""Default training recipe of each model: what `zoo train NAME` does without options.

Each recipe was tuned on a 2-core CPU to reach the targets of ``benchmarks/accuracy.py`` in
well under 15 minutes; any option given on the command line replaces the recipe's value.
"""

import math
from dataclasses import dataclass, field, fields, replace
from typing import Any, Callable, Dict, List, Optional, Tuple

OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("constant", "cosine")


@dataclass(frozen=True)
class Recipe:
    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    optimizer: str = "adam"  # "adam" or "sgd"
    momentum: float = 0.0  # sgd only
    weight_decay: float = 0.0
    clip: Optional[float] = None  # max gradient norm
    bptt: int = 100  # window of truncated BPTT (language models)
    schedule: str = "constant"  # "constant" or "cosine" (decay to 0 over the run, per step)
    seed: int = 0
    # Classifiers: weight each class's loss by (its training frequency)^-power, normalised to a
    # mean of 1; 0 is the plain loss, 0.5 a common middle for unbalanced classes (names).
    class_weight_power: float = 0.0
    # Classifiers: train on logits + tau * log(class prior) (logit adjustment); 0 = off.
    logit_adjustment: float = 0.0
    label_smoothing: float = 0.0  # classification: Szegedy et al. 2016's smoothing of the targets
    # Images: move each training image by up to this many pixels (0 = off).
    shift_augment: int = 0
    # Config overrides the recipe trains with (the model's defaults are the tutorial's sizes).
    config: Dict[str, Any] = field(default_factory=dict)


_IMAGES = Recipe(epochs=30, batch_size=64, lr=2e-3, weight_decay=1e-4, schedule="cosine", shift_augment=2)
_SEQUENCE_CLASSIFIER = Recipe(epochs=8, batch_size=64, lr=2e-3, clip=1.0, schedule="cosine")

RECIPES: Dict[str, Recipe] = {
    "rnn-classifier": _SEQUENCE_CLASSIFIER,
    "lstm-classifier": _SEQUENCE_CLASSIFIER,
    "gru-classifier": _SEQUENCE_CLASSIFIER,
    "manual-rnn-classifier": _SEQUENCE_CLASSIFIER,
    "manual-lstm-classifier": _SEQUENCE_CLASSIFIER,
    "manual-gru-classifier": _SEQUENCE_CLASSIFIER,
    "birnn-bn-classifier": _SEQUENCE_CLASSIFIER,
    "stacked-lstm-classifier": _SEQUENCE_CLASSIFIER,
    "text-classifier": Recipe(epochs=10, batch_size=32, lr=1e-3, clip=5.0, schedule="cosine"),
    "sentiment-lstm": Recipe(epochs=12, batch_size=32, lr=1e-3, clip=5.0, schedule="cosine"),
    # Names are unbalanced (Russian ~47%): logit adjustment (tau 0.3) and label smoothing trade a
    # little plain accuracy for balanced accuracy; a wider GRU with dropout wins both back.
    "name-gru": Recipe(
        epochs=15, batch_size=64, lr=2e-3, clip=5.0, schedule="cosine", logit_adjustment=0.3,
        label_smoothing=0.1, config={"hidden_size": 200, "dropout": 0.3},
    ),
    "char-rnn": Recipe(epochs=4, batch_size=64, lr=2e-3, clip=5.0, bptt=100, schedule="cosine"),
    # One wide LSTM trains faster per quality on a CPU than char-rnn's 2x128: 10 epochs, ~12 min.
    "char-lstm": Recipe(
        epochs=10, batch_size=64, lr=3e-3, clip=5.0, bptt=100, schedule="cosine",
        config={"hidden_size": 512, "num_layers": 1, "embedding_dim": 64, "dropout": 0.2},
    ),
    "char-gru": Recipe(epochs=4, batch_size=64, lr=2e-3, clip=5.0, bptt=100, schedule="cosine"),
    # The course: Adam lr 0.1, 15 epochs; a few more steps make every seed's run converge.
    "hello-rnncell": Recipe(epochs=100, batch_size=1, lr=0.1, seed=2),
    "seq2seq-lstm": Recipe(epochs=10, batch_size=64, lr=3e-3, clip=1.0, schedule="cosine"),
    "lstm-forecaster": Recipe(epochs=600, batch_size=1, lr=3e-3, clip=1.0, schedule="cosine"),
    "linear-regression": Recipe(epochs=100, batch_size=16, lr=0.05, optimizer="sgd"),
    "logistic-regression": Recipe(epochs=100, batch_size=16, lr=0.5, optimizer="sgd"),
    "diabetes-mlp": Recipe(epochs=1000, batch_size=532, lr=0.005),  # full batch, as the course
    # The course trains 10 epochs of SGD (lr 0.01, momentum 0.5) on 60,000 images; on the 8,000
    # bundled ones that reaches ~96.8% (mnist-cnn). Adam, cosine decay and 2-pixel shifts: 99%.
    "mnist-mlp": _IMAGES,
    "mnist-cnn": _IMAGES,
    "mnist-inception": _IMAGES,
    "mnist-resnet": _IMAGES,
}


def recipe_for(name: str) -> Recipe:
    return RECIPES.get(name, Recipe())


def with_options(recipe: Recipe, **options: Any) -> Recipe:
    """The recipe with every option that was given (not None) replacing its value."""
    return replace(recipe, **{k: v for k, v in options.items() if v is not None})


# The recipe fields a command-line option replaces (``--batch-size`` for batch_size); ``config``
# is the model config, which ``--set`` changes.
OPTION_FIELDS: Tuple[str, ...] = tuple(f.name for f in fields(Recipe) if f.name != "config")


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# What each option accepts, as (test, the allowed values in words). Momentum 1 or more never
# forgets a gradient (the steps grow without bound); a smoothing of 1 leaves no target.
_ALLOWED: Dict[str, Tuple[Callable[[Any], bool], str]] = {
    "epochs": (lambda v: isinstance(v, int) and v >= 1, "an integer >= 1"),
    "batch_size": (lambda v: isinstance(v, int) and v >= 1, "an integer >= 1"),
    "lr": (lambda v: _finite(v) and v > 0, "a number > 0"),
    "optimizer": (lambda v: v in OPTIMIZERS, " or ".join(OPTIMIZERS)),
    "momentum": (lambda v: _finite(v) and 0 <= v < 1, "a number in [0, 1)"),
    "weight_decay": (lambda v: _finite(v) and v >= 0, "a number >= 0"),
    "clip": (lambda v: v is None or (_finite(v) and v > 0), "a number > 0 (or leave it out)"),
    "bptt": (lambda v: isinstance(v, int) and v >= 1, "an integer >= 1"),
    "schedule": (lambda v: v in SCHEDULES, " or ".join(SCHEDULES)),
    "seed": (lambda v: isinstance(v, int) and 0 <= v < 2**31, "an integer in [0, 2^31)"),
    "class_weight_power": (lambda v: _finite(v) and v >= 0, "a number >= 0"),
    "logit_adjustment": (lambda v: _finite(v) and v >= 0, "a number >= 0"),
    "label_smoothing": (lambda v: _finite(v) and 0 <= v < 1, "a number in [0, 1)"),
    "shift_augment": (lambda v: isinstance(v, int) and v >= 0, "an integer >= 0"),
}


def option_name(field_name: str) -> str:
    return "--" + field_name.replace("_", "-")


def check_recipe(recipe: Recipe) -> None:
    """Every option with a value it cannot take, in one line: the option, the value, what it
    accepts. Runs before anything is created, so a typo leaves no empty run directory."""
    problems: List[str] = []
    for name in OPTION_FIELDS:
        test, allowed = _ALLOWED[name]
        value = getattr(recipe, name)
        if not test(value):
            problems.append(f"{option_name(name)} {value}: use {allowed}")
    if problems:
        raise ValueError("; ".join(problems))
