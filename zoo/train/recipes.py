"""Default training recipe of each model: what `zoo train NAME` does without options.

Each recipe was tuned on a 2-core CPU to reach the targets of ``benchmarks/accuracy.py`` in
well under 15 minutes; any option given on the command line replaces the recipe's value.
"""

from dataclasses import dataclass, field, replace
from typing import Any, Dict, Optional


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
    # Config overrides the recipe trains with (the model's defaults are the tutorial's sizes).
    config: Dict[str, Any] = field(default_factory=dict)


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
    "name-gru": Recipe(epochs=12, batch_size=64, lr=3e-3, clip=5.0, schedule="cosine"),
    "char-rnn": Recipe(epochs=4, batch_size=64, lr=2e-3, clip=5.0, bptt=100, schedule="cosine"),
    "char-lstm": Recipe(epochs=4, batch_size=64, lr=2e-3, clip=5.0, bptt=100, schedule="cosine"),
    "char-gru": Recipe(epochs=4, batch_size=64, lr=2e-3, clip=5.0, bptt=100, schedule="cosine"),
    # The course: Adam lr 0.1, 15 epochs; a few more steps make every seed's run converge.
    "hello-rnncell": Recipe(epochs=100, batch_size=1, lr=0.1, seed=2),
    "seq2seq-lstm": Recipe(epochs=10, batch_size=64, lr=3e-3, clip=1.0, schedule="cosine"),
    "lstm-forecaster": Recipe(epochs=400, batch_size=1, lr=1e-2, clip=1.0, schedule="cosine"),
    "linear-regression": Recipe(epochs=100, batch_size=16, lr=0.05, optimizer="sgd"),
    "logistic-regression": Recipe(epochs=100, batch_size=16, lr=0.5, optimizer="sgd"),
    "diabetes-mlp": Recipe(epochs=200, batch_size=32, lr=0.01, schedule="cosine"),
    "mnist-mlp": Recipe(epochs=10, batch_size=64, lr=0.01, optimizer="sgd", momentum=0.5),
    "mnist-cnn": Recipe(epochs=10, batch_size=64, lr=0.01, optimizer="sgd", momentum=0.5),
    "mnist-inception": Recipe(epochs=10, batch_size=64, lr=0.01, optimizer="sgd", momentum=0.5),
    "mnist-resnet": Recipe(epochs=10, batch_size=64, lr=0.01, optimizer="sgd", momentum=0.5),
}


def recipe_for(name: str) -> Recipe:
    return RECIPES.get(name, Recipe())


def with_options(recipe: Recipe, **options: Any) -> Recipe:
    """The recipe with every option that was given (not None) replacing its value."""
    return replace(recipe, **{k: v for k, v in options.items() if v is not None})
