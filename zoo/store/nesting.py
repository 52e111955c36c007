"""Nested arguments and outputs (tuples of tuples of tensors, or of input names) to a flat list
and back, in the depth-first order ONNX export and a bundle's manifest (``arguments``) use."""

from typing import Any, Iterator, List, Sequence, Tuple

_END = object()  # what an exhausted iterator gives back below


def flatten(value: Any) -> List[Any]:
    """The leaves of ``value``, depth first: tuples and lists nest, anything else is a leaf."""
    if isinstance(value, (tuple, list)):
        return [leaf for item in value for leaf in flatten(item)]
    return [value]


def unflatten(template: Sequence[Any], flat: Sequence[Any]) -> Tuple[Any, ...]:
    """``template``'s nesting filled, leaf by leaf, from ``flat``, which must hold exactly as many
    values as the template has leaves; every nest comes back as a tuple.
    ``unflatten(["tokens", ["h_0", "c_0"]], [x, h, c]) == (x, (h, c))``."""
    items: Iterator[Any] = iter(flat)
    wanted = len(flatten(list(template)))

    def build(value: Any) -> Any:
        if isinstance(value, (tuple, list)):
            return tuple(build(v) for v in value)
        leaf = next(items, _END)
        if leaf is _END:
            raise ValueError(f"{len(flat)} values for a template of {wanted} leaves")
        return leaf

    built = tuple(build(v) for v in template)
    if next(items, _END) is not _END:
        raise ValueError(f"{len(flat)} values for a template of {wanted} leaves")
    return built
