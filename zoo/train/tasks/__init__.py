"""From a data set's examples to model calls, a loss and metrics: one small class per task.

The model's spec says what it computes (its task, and its signature's inputs, ragged pairs and
output meaning); the data set says what it holds (its kind). ``make_task`` pairs them through
each class's declarations and refuses a pairing that does not fit, naming both.

- ``base``: the ``Task`` base class, ``LossTerms``, forward's arguments by input name
- ``examples``: batching of independent examples (ids, images, vectors), shared by
  ``classification``, ``binary`` and ``regression``
- ``augment``: image shifts (``--shift-augment``)
- ``tagging`` (a tag per character pair, the hello model) and ``entity_tagging`` (named entities
  in ragged sentences): the two classes of the tagging task, picked by the data set's kind
- ``seq2seq``, ``language_model``, ``forecasting``: one class each
"""

from typing import Any, Dict, Optional, Tuple, Type

import torch

from zoo.data.base import DataSet
from zoo.registry import ModelSpec
from zoo.train.tasks.base import Batch, LossTerms, Task
from zoo.train.tasks.binary import BinaryClassificationTask
from zoo.train.tasks.classification import ClassificationTask
from zoo.train.tasks.entity_tagging import EntityTaggingTask
from zoo.train.tasks.examples import ExampleTask
from zoo.train.tasks.forecasting import ForecastTask
from zoo.train.tasks.language_model import LanguageModelTask
from zoo.train.tasks.regression import RegressionTask
from zoo.train.tasks.seq2seq import Seq2SeqTask
from zoo.train.tasks.tagging import TaggingTask

# The classes that train each task of zoo.registry.TASKS, each on its own kinds of data (an
# encoder has none: `zoo train` does not train it on its own). Tagging has two: the hello model's
# character pairs, and named entities in sentences, scored by whole entities.
_CLASSES = (ClassificationTask, BinaryClassificationTask, RegressionTask, TaggingTask, EntityTaggingTask,
            Seq2SeqTask, LanguageModelTask, ForecastTask)  # fmt: skip
TASK_CLASSES: Dict[str, Tuple[Type[Task], ...]] = {
    task: tuple(cls for cls in _CLASSES if cls.task == task) for task in dict.fromkeys(cls.task for cls in _CLASSES)
}


def task_class(task: str, kind: str) -> Optional[Type[Task]]:
    """The class that trains ``task`` on data of ``kind``; None where none does."""
    return next((cls for cls in TASK_CLASSES.get(task, ()) if kind in cls.kinds), None)


def _rule(cls: Type[Task]) -> str:
    metric, higher = cls.selection
    rule = f"{'highest' if higher else 'lowest'} validation {metric}"
    return rule if metric == "loss" else f"{rule} (a tie: the lower validation loss)"


def selection_rule(task: str, kind: Optional[str] = None) -> Optional[str]:
    """The best-epoch rule in words ("highest validation accuracy (...)") for ``task`` on data of
    ``kind`` (left out: every class of the task, each with its kinds where they differ); None for
    a task `zoo train` does not train (an encoder). `zoo models info`, `zoo train --dry-run` and
    the run's first lines all state it from here."""
    classes = TASK_CLASSES.get(task, ())
    if kind is not None:
        classes = tuple(cls for cls in classes if kind in cls.kinds)
    rules = list(dict.fromkeys(_rule(cls) for cls in classes))
    if len(rules) <= 1:
        return rules[0] if rules else None
    return "; ".join(f"{_rule(cls)} on {' or '.join(cls.kinds)} data" for cls in classes)


def make_task(spec: ModelSpec, config: Any, data: DataSet, device: torch.device) -> Task:
    """The task class for this model and data set; a mismatch fails naming both."""
    classes = TASK_CLASSES.get(spec.task)
    if not classes:
        raise ValueError(f"{spec.name} is an {spec.task}, which `zoo train` does not train on its own")
    cls = task_class(spec.task, data.kind)
    if cls is None:
        kinds = [kind for c in classes for kind in c.kinds]
        raise ValueError(
            f"{spec.name} ({spec.task}) cannot train on {data.name!r} ({data.kind}); "
            f"pick a data set of kind {' or '.join(kinds)}"
        )
    return cls(spec, config, data, device)


__all__ = [
    "Batch",
    "BinaryClassificationTask",
    "ClassificationTask",
    "EntityTaggingTask",
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
    "task_class",
]
