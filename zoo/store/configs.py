"""A model's config dataclass as the JSON object a run's ``config.json`` and a bundle's manifest
hold, and back (nanoGPT's ``model_args``: the config travels with the weights)."""

import dataclasses
import typing
from typing import TYPE_CHECKING, Any, Dict

if TYPE_CHECKING:  # the registry imports torch; this module only calls the spec it is given
    from zoo.registry import Config, ModelSpec


def config_to_dict(config: "Config") -> Dict[str, Any]:
    """The config's fields, tuples as lists (what JSON gives back)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()}


def config_from_dict(spec: "ModelSpec", values: Dict[str, Any]) -> "Config":
    """The config dataclass from JSON: lists back to tuples where the field is one; an unknown
    key fails as ``ModelSpec.make_config`` fails, with a suggestion."""
    hints = typing.get_type_hints(spec.config_cls)
    fixed = {
        k: tuple(v) if typing.get_origin(hints.get(k)) is tuple and isinstance(v, list) else v
        for k, v in values.items()
    }
    return spec.make_config(**fixed)
