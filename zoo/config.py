"""Config overrides given as text (``--set key=value``), checked against a config dataclass."""

import dataclasses
import typing
from typing import Any, Dict, List

from zoo.registry import ModelSpec

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
