"""The one place a model meets its weights: built from its spec, config and a weights file's
arrays (``zoo.store``), and its state dict turned back into those arrays.

Training reloads its best weights here, export builds its source here, and ``zoo verify``
builds a bundle's reference here, so a run and its bundle hold the same numbers by
construction (nanoGPT's ``GPTConfig(**model_args)`` + ``load_state_dict``).
"""

from pathlib import Path
from typing import Any, Dict, Mapping, Tuple

import numpy as np
import torch
from safetensors import SafetensorError
from torch import Tensor, nn

from zoo.registry import Config, ModelSpec, get_spec
from zoo.store import CONFIG, WEIGHTS, RunError, config_from_dict, read_run, read_run_weights


def to_arrays(tensors: Mapping[str, Tensor]) -> Dict[str, np.ndarray]:
    """Tensors as contiguous CPU arrays, each its own copy (tied weights share storage, which a
    weights file must not)."""
    return {name: t.detach().cpu().contiguous().numpy().copy() for name, t in tensors.items()}


def to_tensors(arrays: Mapping[str, np.ndarray]) -> Dict[str, Tensor]:
    # np.require keeps a 0-d array 0-d (np.ascontiguousarray makes it shape (1,)).
    return {name: torch.from_numpy(np.require(array, requirements=["C", "W"])) for name, array in arrays.items()}


def weights_of(model: nn.Module) -> Dict[str, np.ndarray]:
    """The model's state dict, as ``zoo.store.write_weights`` stores it."""
    return to_arrays(model.state_dict())


def load_weights(model: nn.Module, weights: Mapping[str, np.ndarray]) -> None:
    """Every tensor of ``model``'s state from ``weights``; a missing, extra or misshapen one is a
    RuntimeError (``load_state_dict(strict=True)``)."""
    model.load_state_dict(to_tensors(weights))


def rebuild(spec: ModelSpec, config: Config, weights: Mapping[str, np.ndarray]) -> nn.Module:
    """``spec``'s model for ``config`` with ``weights``: float32, on the CPU, in eval mode."""
    model = spec.build(config)
    load_weights(model, weights)
    return model.eval()


def load_run(run: Path, weights: str = WEIGHTS) -> Tuple[Dict[str, Any], ModelSpec, Config, nn.Module]:
    """A run's config.json, spec, config and model with its weights file ``weights`` (the best
    by default). Each way a run can be unusable is one ``RunError`` line naming the fix."""
    document = read_run(run)
    try:
        spec = get_spec(document["model"])
        config = config_from_dict(spec, document["config"])
    except (ValueError, TypeError) as exc:  # an unknown model, or a config field it lacks
        raise RunError(f"{run / CONFIG} is not a valid run config ({exc}); retrain or restore it") from None
    try:
        return document, spec, config, rebuild(spec, config, read_run_weights(run, weights))  # RunError: no such file
    except (SafetensorError, RuntimeError, OSError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise RunError(f"{run / weights} is corrupt or does not fit {spec.name} ({first}); retrain or restore it") from None
