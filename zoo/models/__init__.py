"""Registered models. Importing this package registers every model file below."""

from zoo.models import encoders  # noqa: F401  (registers on import)
