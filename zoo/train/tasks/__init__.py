"""From a data set's examples to model calls, a loss and metrics: one small class per task.

The model's spec says what it computes (its task, and its signature's inputs, ragged pairs and
output meaning); the data set says what it holds (its kind). ``make_task`` pairs them through
each class's declarations and refuses a pairing that does not fit, naming both.

- ``base``: the ``Task`` base class, ``LossTerms``, forward's arguments by input name
- ``examples``: batching of independent examples (ids, images, vectors), shared by
  ``classification``, ``binary`` and ``regression``
- ``augment``: image shifts (``--shift-augment``)
- ``tagging``, ``seq2seq``, ``language_model``, ``forecasting``: one class each
"""

from typing import Any, Dict, Optional, Type

import torch

from zoo.data.base import DataSet
from zoo.registry import ModelSpec
from zoo.train.tasks.base import Batch, LossTerms, Task
from zoo.train.tasks.binary import BinaryClassificationTask
from zoo.train.tasks.classification import ClassificationTask
from zoo.train.tasks.examples import ExampleTask
from zoo.train.tasks.forecasting import ForecastTask
from zoo.train.tasks.language_model import LanguageModelTask
from zoo.train.tasks.regression import RegressionTask
from zoo.train.tasks.seq2seq import Seq2SeqTask
from zoo.train.tasks.tagging import TaggingTask

# The class that trains each task of zoo.registry.TASKS (an encoder has none: `zoo train`
# does not train it on its own).
TASK_CLASSES: Dict[str, Type[Task]] = {
    cls.task: cls
    for cls in (ClassificationTask, BinaryClassificationTask, RegressionTask, TaggingTask, Seq2SeqTask,
                LanguageModelTask, ForecastTask)  # fmt: skip
}


def selection_rule(task: str) -> Optional[str]:
    """The best-epoch rule in words ("highest validation accuracy (...)"); None for a task
    `zoo train` does not train (an encoder). `zoo models info`, `zoo train --dry-run` and the
    run's first lines all state it from here."""
    if task not in TASK_CLASSES:
        return None
    metric, higher = TASK_CLASSES[task].selection
    rule = f"{'highest' if higher else 'lowest'} validation {metric}"
    return rule if metric == "loss" else f"{rule} (a tie: the lower validation loss)"


def make_task(spec: ModelSpec, config: Any, data: DataSet, device: torch.device) -> Task:
    """The task class for this model and data set; a mismatch fails naming both."""
    cls = TASK_CLASSES.get(spec.task)
    if cls is None:
        raise ValueError(f"{spec.name} is an {spec.task}, which `zoo train` does not train on its own")
    if data.kind not in cls.kinds:
        raise ValueError(
            f"{spec.name} ({spec.task}) cannot train on {data.name!r} ({data.kind}); "
            f"pick a data set of kind {' or '.join(cls.kinds)}"
        )
    return cls(spec, config, data, device)


__all__ = [
    "Batch",
    "BinaryClassificationTask",
    "ClassificationTask",
    "ExampleTask",
    "ForecastTask",
    "LanguageModelTask",
    "LossTerms",
    "RegressionTask",
    "Seq2SeqTask",
    "TASK_CLASSES",
    "TaggingTask",
    "Task",
    "make_task",
    "selection_rule",
]
