"""Registered models, one family per file. Importing this package registers every model."""

from zoo.models import (  # noqa: F401  (each module registers its models on import)
    char_lm,
    classic,
    encoders,
    forecaster,
    mnist_cnn,
    seq2seq,
    sequence_classifiers,
    tagger,
    text,
)
