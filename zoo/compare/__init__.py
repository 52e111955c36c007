"""`zoo compare MODEL... --data NAME`: several models trained on the same data with the same
budget and seed, then one table (parameters, seconds per epoch, best validation and test
metric, CPU latency at batch 1 and 64) and one plot of their validation curves.

- ``plan``: every check, before anything is written (``plan_compare``)
- ``run``: each model trained by ``zoo.train.train`` into its own run directory, then timed
- ``latency``: the CPU timing of a trained model on validation inputs
- ``report``: compare.json, compare.md and curves.png
"""

from zoo.compare.plan import CompareRequest, Plan, plan_compare
from zoo.compare.report import Comparison, ModelResult, columns, notes, rows, title
from zoo.compare.run import run_compare

__all__ = ["CompareRequest", "Comparison", "ModelResult", "Plan", "columns", "notes", "plan_compare", "rows",
           "run_compare", "title"]  # fmt: skip
