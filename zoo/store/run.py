"""A run directory (``zoo train``'s), read without torch: its ``config.json`` and its weights.

    config.json          model name and config, data set and split, vocabulary/labels,
                         training arguments, library versions
    weights.safetensors  the weights that scored best on the validation split
    last/                weights, optimizer, scheduler, RNG and loop state for exact resume
    metrics.jsonl        one line per epoch, then (--grad-norms) one per gradient probe,
                         {"type": "gradnorms", ...}, then one for the test split
    curves.png           loss and the main metric per epoch
    confusion.png        classifiers: the test split's confusion matrix
    gradnorms.png        --grad-norms: dLoss/dh against the distance from the loss

``zoo.rebuild.load_run`` builds the model from these; ``zoo.train.rundir`` makes and replaces
run directories.
"""

from pathlib import Path
from typing import Any, Dict

from zoo.store.jsonio import read_json
from zoo.store.names import CONFIG, LAST, METRICS, WEIGHTS
from zoo.store.weights import Arrays, read_weights

# Every name a run directory holds (the checkpoint's staging and previous copies included);
# --overwrite deletes these and nothing else.
RUN_ENTRIES = {CONFIG, WEIGHTS, METRICS, LAST, LAST + ".tmp", LAST + ".old", "curves.png", "confusion.png", "gradnorms.png",
               "entities.md"}  # fmt: skip


class RunError(ValueError):
    """A directory that is not a run, or a run without usable weights."""


def read_run(run: Path) -> Dict[str, Any]:
    """The run's ``config.json``: a JSON object with at least ``model`` and ``config``."""
    path = run / CONFIG
    if not path.is_file():
        raise RunError(f"{run} is not a run directory: it has no {CONFIG} (make one with `zoo train`)")
    try:
        document = read_json(path)
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise RunError(f"{path} is not a valid run config ({exc}); retrain or restore it") from None
    if not isinstance(document, dict) or not isinstance(document.get("model"), str) or not isinstance(document.get("config"), dict):
        raise RunError(f"{path} is not a valid run config (no model name and config); retrain or restore it")
    return document


def read_run_weights(run: Path, name: str = WEIGHTS) -> Arrays:
    """The run's weights file ``name`` as numpy arrays. A missing file is a RunError; a corrupt
    one raises ``safetensors.SafetensorError`` (``zoo.rebuild.load_run`` words both)."""
    path = run / name
    if not path.is_file():
        raise RunError(f"{run} has no {name}: no epoch finished; resume the run with `zoo train --resume`")
    return read_weights(path)
