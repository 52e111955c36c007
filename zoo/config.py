"""The config a model is trained or exported with: its recipe's values, the sizes its data
dictates, and the user's overrides given as text (``--set key=value``), checked against the
config dataclass."""

import dataclasses
import typing
from typing import TYPE_CHECKING, Any, Dict, List

from zoo.registry import Config, ModelSpec

if TYPE_CHECKING:
    from zoo.data import DataSet

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def type_name(kind: Any) -> str:
    if typing.get_origin(kind) is tuple:
        return "comma-separated integers"
    return getattr(kind, "__name__", str(kind))


def _convert(spec: ModelSpec, field: dataclasses.Field, text: str) -> Any:
    kind = typing.get_type_hints(spec.config_cls).get(field.name, str)
    try:
        if kind is bool:
            lowered = text.strip().lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            raise ValueError
        if kind is int:
            return int(text)
        if kind is float:
            return float(text)
        if typing.get_origin(kind) is tuple:  # Tuple[int, ...]: "512,256,128"
            return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ValueError(
            f"--set {field.name}={text}: {field.name} takes a value of type {type_name(kind)}"
        ) from None
    return text


def parse_overrides(spec: ModelSpec, items: List[str]) -> Dict[str, Any]:
    """``["hidden_size=32", "bidirectional=true"]`` -> typed values, validated by field name."""
    fields = {f.name: f for f in spec.config_fields()}
    overrides: Dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"--set expects key=value, got {item!r}")
        if key not in fields:
            spec.make_config(**{key: value})  # raises the unknown-field error with a suggestion
        overrides[key] = _convert(spec, fields[key], value)
    return overrides


def model_config(
    spec: ModelSpec, data: "DataSet", recipe_config: Dict[str, Any], user: Dict[str, Any]
) -> Config:
    """The recipe's overrides, then the sizes the data dictates (the fields the spec's
    ``data_fields`` declare), then the user's ``--set``.

    A ``--set`` that contradicts the data (``num_classes=5`` for 18 languages) is refused.
    """
    fields = {f.name for f in spec.config_fields()}
    values = {k: v for k, v in recipe_config.items() if k in fields}
    for key, size in spec.data_config(data.dims).items():
        if key in user and user[key] != size:
            raise ValueError(
                f"--set {key}={user[key]} contradicts the data: {data.name} needs {key}={size}"
            )
        values[key] = size
    values.update(user)
    return spec.make_config(**values)
