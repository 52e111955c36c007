"""Typer options made from dataclass fields, so that an option set is declared once: as the
fields of the dataclass the library reads (``zoo.recipe.Recipe``), each with its help text in
its metadata (``field(metadata={"help": ...})``).

``options_from(fields, into="options")`` replaces the command's ``options`` parameter with one
``--field-name`` option per field (None unless given) and hands the command the values as one
dict, ``{field name: value}``.
"""

import functools
import inspect
from dataclasses import Field
from typing import Annotated, Any, Callable, Dict, Optional, Sequence, TypeVar

import typer

Command = TypeVar("Command", bound=Callable[..., Any])


def options_from(declared: Sequence[Field], types: Dict[str, Any], into: str) -> Callable[[Command], Command]:  # type: ignore[type-arg]
    """A decorator for a Typer command: ``declared`` (each with ``metadata["help"]``, its type in
    ``types``, as ``typing.get_type_hints`` gives them) become options where the command has
    its ``into`` parameter."""
    names = [f.name for f in declared]

    def decorate(command: Command) -> Command:
        signature = inspect.signature(command)
        generated = [
            inspect.Parameter(f.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None,
                              annotation=Annotated[Optional[types[f.name]], typer.Option(help=f.metadata["help"])])
            for f in declared
        ]  # fmt: skip
        parameters = []
        for parameter in signature.parameters.values():
            parameters += generated if parameter.name == into else [parameter]
        if len(parameters) != len(signature.parameters) + len(generated) - 1:
            raise TypeError(f"{command.__name__} has no parameter {into!r} to replace with options")

        @functools.wraps(command)
        def with_options(**given: Any) -> Any:
            given[into] = {name: given.pop(name) for name in names}
            return command(**given)

        with_options.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
        return with_options  # type: ignore[return-value]

    return decorate
